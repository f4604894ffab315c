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
#   version: 1.0.0
package ownership

# Input of `step`: one entity.
#   profile  name of the profile under data.ownership.profiles
#   reading  "lower" reads unknown facts in the least restrictive way,
#            "upper" in the most restrictive way
#   scale    integer units per percentage point in links[].min / max
#   entity   {type, headquarters, jurisdiction}; a country may be null (unknown)
#   links    links held in the entity by owners restricted in this reading:
#            {index, kind, owner_type, min, min_exclusive, max, max_exclusive, group};
#            index is the link's position in links
# Input of `batch`: {profile, reading, items}, each item {scale, entity, links}.
# (schemas/step-input.schema.json)

# METADATA
# title: Decision for one entity
# description: Restricted when any rule below gives a reason.
# custom:
#   rule_id: TOS-OWN-STEP
step := decide(input) if is_object(profile)

# METADATA
# title: Decisions for a batch of entities
# description: The same step for every item of input.items, in order.
# custom:
#   rule_id: TOS-OWN-BATCH
batch := [decide(item) | some item in input.items] if is_object(profile)

# The profile and reading apply to the whole query, so they are looked up once.
# An unknown profile leaves step and batch undefined: an error, never an allow.
profile := data.ownership.profiles[input.profile]

reading := input.reading

decide(item) := {"restricted": count(reasons) > 0, "reasons": reasons} if {
	reasons := _reasons(item)
}

# Only organisations are restricted; a type listed as never restricting (a
# person) is not, whatever links point at it.
_reasons(item) := reasons if {
	is_organisation(item.entity.type)
	reasons := ((root_reasons(item) | ownership_reasons(item)) | control_reasons(item)) | branch_reasons(item)
} else := set()

# An organisation is any entity whose type is not listed as never restricting
# (persons, under the terms of service). New entity types count by default.
# A type listed as unknown may be either, so only the upper reading counts it.
is_organisation(type) if {
	not type in profile.non_restricting_types
	not type in profile.unknown_types
}

is_organisation(type) if {
	reading == "upper"
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
root_reasons(item) := {reason |
	fields := _fields_reading_restricted(item)
	is_restricted_root(fields)
	some field in fields
	reason := _root_reason(field, object.get(item.entity, field, null))
}

is_restricted_root(fields) if {
	profile.root_country_match == "any"
	count(fields) > 0
}

is_restricted_root(fields) if {
	profile.root_country_match == "all"
	count(fields) == count(profile.root_country_fields)
}

_fields_reading_restricted(item) := {field |
	some field in profile.root_country_fields
	_country_reads_restricted(object.get(item.entity, field, null))
}

_country_reads_restricted(country) if country in profile.restricted_countries

_country_reads_restricted(null) if reading == "upper"

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
ownership_reasons(item) := {reason |
	stakes := [link | some link in item.links; _is_stake(link)]
	some group in _stake_groups(stakes)
	held := _held_by_group(stakes, group)
	total_min := sum([link.min | some link in held])
	total_max := sum([link.max | some link in held])
	_meets_threshold(held, total_min, total_max, profile.threshold_percent * item.scale)
	reason := {
		"code": "OWNED_BY_RESTRICTED",
		"rule_id": "TOS-OWN-2",
		"links": [link.index | some link in held],
		"share_min": total_min,
		"share_max": total_max,
		"scale": item.scale,
		"threshold_percent": profile.threshold_percent,
	}
}

_is_stake(link) if {
	_effect(link) == "stake"
	is_organisation(link.owner_type)
}

# Owners are aggregated unless the profile says otherwise; then only owners
# sharing a group (acting jointly) are added up.
_stake_groups(stakes) := {"all"} if {
	profile.aggregate_owners
	count(stakes) > 0
} else := {link.group | some link in stakes}

_held_by_group(stakes, _) := stakes if profile.aggregate_owners

_held_by_group(stakes, group) := [link | some link in stakes; link.group == group] if not profile.aggregate_owners

# Lower reading: restricted only if every value in the ranges meets the threshold.
_meets_threshold(_, total_min, _, threshold) if {
	reading == "lower"
	profile.threshold_inclusive
	total_min >= threshold
}

_meets_threshold(_, total_min, _, threshold) if {
	reading == "lower"
	not profile.threshold_inclusive
	total_min > threshold
}

_meets_threshold(held, total_min, _, threshold) if {
	reading == "lower"
	not profile.threshold_inclusive
	total_min == threshold
	some link in held
	link.min_exclusive
}

# Upper reading: restricted if some value in the ranges meets the threshold.
_meets_threshold(_, _, total_max, threshold) if {
	reading == "upper"
	total_max > threshold
}

_meets_threshold(held, _, total_max, threshold) if {
	reading == "upper"
	profile.threshold_inclusive
	total_max == threshold
	not _any_max_exclusive(held)
}

# (Written with `some` rather than `every ... { not ... }`: rego-cpp 1.5 gets
# negation inside `every` wrong; tests/opa keeps the case as a regression.)
_any_max_exclusive(links) if {
	some link in links
	link.max_exclusive
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
control_reasons(item) := {reason |
	some link in item.links
	effect := _effect(link)
	_control_applies(effect)
	is_organisation(link.owner_type)
	reason := {"code": _control_code[effect], "rule_id": "TOS-OWN-3", "links": [link.index], "kind": link.kind}
}

_control_code := {"restricts": "CONTROLLED_BY_RESTRICTED", "review": "INFLUENCED_BY_RESTRICTED"}

_control_applies("restricts")

_control_applies("review") if reading == "upper"

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
branch_reasons(item) := {reason |
	some link in item.links
	_effect(link) == "same_person"
	is_organisation(link.owner_type)
	reason := {"code": "BRANCH_OF_RESTRICTED", "rule_id": "TOS-OWN-4", "links": [link.index]}
}

# A link kind the profile does not name is read with caution: review.
_effect(link) := object.get(profile.link_effects, link.kind, "review")
