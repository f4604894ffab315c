# METADATA
# title: Ownership restriction
# description: >-
#   Decides whether one organisation is restricted under the terms of service,
#   from its own countries and the links held in it by owners that are already
#   restricted. The evaluator runs this step to a fixpoint over the ownership
#   graph, so indirect ownership through restricted intermediaries is covered.
# related_resources:
#   - description: Terms of Service, section 3.2 (restricted regions and ownership)
#     ref: https://example.com/terms-of-service#section-3-2
# custom:
#   rule_id: TOS-OWN
#   version: 2.0.0
#   effective_date: "2025-09-05"
package ownership

# The step input (schemas/step-input.schema.json):
#   profile  name of the profile under data.ownership.profiles
#   reading  "lower" reads unknown facts in the least restrictive way,
#            "upper" in the most restrictive way
#   scale    integer units per percentage point in links[].min / max
#   entity   {type, headquarters, jurisdiction}; a country may be null (unknown)
#   links    links held in the entity by owners restricted in this reading:
#            {index, kind, owner_type, min, min_exclusive, max, max_exclusive, group};
#            index is the link's position in links

# METADATA
# title: Decision for one entity
# description: Restricted when any rule below gives a reason.
# custom:
#   rule_id: TOS-OWN-STEP
step := decide(input)

# METADATA
# title: Decisions for a batch of entities
# description: The same step for every item of input.items, in order.
# custom:
#   rule_id: TOS-OWN-BATCH
batch := [decide(item) | some item in input.items]

decide(item) := _verdict(_reasons(item, data.ownership.profiles[item.profile]))

_verdict(reasons) := {"restricted": count(reasons) > 0, "reasons": reasons}

# Only organisations are restricted; a type listed as never restricting (a
# person) is not, whatever links point at it.
_reasons(item, profile) := set() if not is_organisation(item.entity.type, profile, item.reading)

_reasons(item, profile) := reasons if {
	is_organisation(item.entity.type, profile, item.reading)
	reasons := ((root_reasons(item, profile) | ownership_reasons(item, profile)) | control_reasons(item, profile)) | branch_reasons(item, profile)
}

# An organisation is any entity whose type is not listed as never restricting
# (persons, under the terms of service). New entity types count by default.
# A type listed as unknown may be either, so only the upper reading counts it.
is_organisation(type, profile, _) if {
	not type in profile.non_restricting_types
	not type in profile.unknown_types
}

is_organisation(type, profile, "upper") if {
	not type in profile.non_restricting_types
	type in profile.unknown_types
}

# METADATA
# title: Rule 1 - restricted root
# description: >-
#   An organisation whose headquarters or country of incorporation is in a
#   restricted region is restricted. An unknown country may be restricted, so
#   it leads to review, never to allow.
# related_resources:
#   - description: Terms of Service, section 3.2 (restricted regions and ownership)
#     ref: https://example.com/terms-of-service#section-3-2
# custom:
#   rule_id: TOS-OWN-1
root_reasons(item, profile) := {reason |
	is_organisation(item.entity.type, profile, item.reading)
	is_restricted_root(item, profile)
	some field in _fields_reading_restricted(item, profile)
	reason := _root_reason(field, object.get(item.entity, field, null))
}

is_restricted_root(item, profile) if {
	profile.root_country_match == "any"
	count(_fields_reading_restricted(item, profile)) > 0
}

is_restricted_root(item, profile) if {
	profile.root_country_match == "all"
	count(_fields_reading_restricted(item, profile)) == count(profile.root_country_fields)
}

_fields_reading_restricted(item, profile) := {field |
	some field in profile.root_country_fields
	_country_reads_restricted(object.get(item.entity, field, null), item.reading, profile)
}

_country_reads_restricted(country, _, profile) if country in profile.restricted_countries

_country_reads_restricted(null, "upper", _)

_root_reason(field, null) := {"code": "COUNTRY_UNKNOWN", "rule_id": "TOS-OWN-1", "field": field, "country": null}

_root_reason(field, country) := {"code": "RESTRICTED_COUNTRY", "rule_id": "TOS-OWN-1", "field": field, "country": country} if {
	country != null
}

# METADATA
# title: Rule 2 - owned 50% or more by restricted owners
# description: >-
#   An entity is restricted when the stakes held in it by restricted
#   organisations, summed over all of them, reach the threshold. A restricted
#   intermediary's whole stake counts. A stake given as a range restricts only
#   if its lowest value does; if only its highest value does, the answer is
#   review.
# related_resources:
#   - description: Terms of Service, section 3.2 (restricted regions and ownership)
#     ref: https://example.com/terms-of-service#section-3-2
# custom:
#   rule_id: TOS-OWN-2
ownership_reasons(item, profile) := {reason |
	some group in {_group(link, profile) | some link in _stake_links(item, profile)}
	indices := sort([link.index |
		some link in item.links
		_is_stake(link, profile, item.reading)
		_group(link, profile) == group
	])
	total_min := sum([item.links[i].min | some i in indices])
	total_max := sum([item.links[i].max | some i in indices])
	_meets_threshold(item, profile, indices, total_min, total_max)
	reason := {
		"code": "OWNED_BY_RESTRICTED",
		"rule_id": "TOS-OWN-2",
		"links": indices,
		"share_min": total_min,
		"share_max": total_max,
		"scale": item.scale,
		"threshold_percent": profile.threshold_percent,
	}
}

_stake_links(item, profile) := [link | some link in item.links; _is_stake(link, profile, item.reading)]

_is_stake(link, profile, reading) if {
	_effect(link, profile) == "stake"
	is_organisation(link.owner_type, profile, reading)
}

# Owners are aggregated unless the profile says otherwise; then only owners
# sharing a group (acting jointly) are added up.
_group(_, profile) := "all" if profile.aggregate_owners

_group(link, profile) := sprintf("%v", [link.group]) if not profile.aggregate_owners

_threshold(item, profile) := profile.threshold_percent * item.scale

# Lower reading: restricted only if every value in the ranges meets the threshold.
_meets_threshold(item, profile, _, total_min, _) if {
	item.reading == "lower"
	profile.threshold_inclusive
	total_min >= _threshold(item, profile)
}

_meets_threshold(item, profile, _, total_min, _) if {
	item.reading == "lower"
	not profile.threshold_inclusive
	total_min > _threshold(item, profile)
}

_meets_threshold(item, profile, indices, total_min, _) if {
	item.reading == "lower"
	not profile.threshold_inclusive
	total_min == _threshold(item, profile)
	some i in indices
	item.links[i].min_exclusive
}

# Upper reading: restricted if some value in the ranges meets the threshold.
_meets_threshold(item, profile, _, _, total_max) if {
	item.reading == "upper"
	total_max > _threshold(item, profile)
}

_meets_threshold(item, profile, indices, _, total_max) if {
	item.reading == "upper"
	profile.threshold_inclusive
	total_max == _threshold(item, profile)
	every i in indices {
		not item.links[i].max_exclusive
	}
}

# METADATA
# title: Rule 3 - control without shares
# description: >-
#   Consolidation by, or majority voting control from, a restricted
#   organisation restricts. Other influence (board appointment rights,
#   significant influence) leads to review. Link kinds the profile does not
#   name lead to review.
# related_resources:
#   - description: Terms of Service, section 3.2 (restricted regions and ownership)
#     ref: https://example.com/terms-of-service#section-3-2
# custom:
#   rule_id: TOS-OWN-3
control_reasons(item, profile) := {reason |
	some link in item.links
	is_organisation(link.owner_type, profile, item.reading)
	effect := _effect(link, profile)
	_control_applies(effect, item.reading)
	reason := {"code": _control_code[effect], "rule_id": "TOS-OWN-3", "links": [link.index], "kind": link.kind}
}

_control_code := {"restricts": "CONTROLLED_BY_RESTRICTED", "review": "INFLUENCED_BY_RESTRICTED"}

_control_applies("restricts", _)

_control_applies("review", "upper")

# METADATA
# title: Rule 4 - branches
# description: >-
#   A branch is the same legal person as its head office: the branch of a
#   restricted organisation is restricted.
# related_resources:
#   - description: Terms of Service, section 3.2 (restricted regions and ownership)
#     ref: https://example.com/terms-of-service#section-3-2
# custom:
#   rule_id: TOS-OWN-4
branch_reasons(item, profile) := {reason |
	some link in item.links
	is_organisation(link.owner_type, profile, item.reading)
	_effect(link, profile) == "same_person"
	reason := {"code": "BRANCH_OF_RESTRICTED", "rule_id": "TOS-OWN-4", "links": [link.index]}
}

# A link kind the profile does not name is read with caution: review.
_effect(link, profile) := object.get(profile.link_effects, link.kind, "review")
