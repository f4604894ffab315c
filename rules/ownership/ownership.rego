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
#   words:
#     headquarters: headquartered in
#     jurisdiction: incorporated in
#     economic: shares
#     voting: voting rights
#     held_as_nominee: holds shares for another party (as nominee, custodian or trustee) in
#   version: 5.1.0
#   effective_date: "2026-12-02"
package ownership

import data.regions

# Input of `step`: one entity.
#   profile  name of the profile under data.ownership.profiles
#   reading  "lower" reads unknown facts in the least restrictive way,
#            "upper" in the most restrictive way
#   scale    integer units per percentage point in links[].min / max
#   entity   {type, headquarters, jurisdiction, disclosure, remainder,
#            remainder_exclusive}; a country may be null (unknown);
#            disclosure lists the statuses and register statements of its
#            disclosure facts; remainder (units, like min and max) is 100% less
#            the lowest values of every known stake in it, whoever holds them,
#            strictly less when remainder_exclusive
#   links    links held in the entity by owners restricted in this reading:
#            {index, kind, owner_type, min, min_exclusive, max, max_exclusive, group};
#            index is the link's position in links; min/max are the stake's
#            economic share, and its votes too unless voting_min, voting_max,
#            voting_min_exclusive, voting_max_exclusive give them apart (the
#            entity's voting_remainder and voting_remainder_exclusive likewise)
#   effective (method look_through) the restricted organisations' effective
#            share of the entity in this reading (products of stakes along
#            chains, summed over paths), in units like min and max bracketing
#            the exact fraction: {min, min_exclusive, max, max_exclusive}, and
#            voting_* as for a link when some stake gives its votes apart
# Input of `batch`: {profile, reading, items}, each item {scale, entity, links}.
# (schemas/step-input.schema.json, schemas/batch-input.schema.json; each result:
# schemas/step-result.schema.json)

# METADATA
# title: Decision for one entity
# description: Restricted when any rule below gives a reason.
# entrypoint: true
# schemas:
#   - input: schema["step-input.schema"]
# custom:
#   rule_id: TOS-OWN-STEP
step := decide(input) if _well_formed

# METADATA
# title: Decisions for a batch of entities
# description: The same step for every item of input.items, in order.
# entrypoint: true
# schemas:
#   - input: schema["batch-input.schema"]
# custom:
#   rule_id: TOS-OWN-BATCH
batch := [decide(item) | some item in input.items] if _well_formed

# METADATA
# title: What the rules considered
# description: >-
#   For each item of input.items (a batch, read as `batch` reads it), what each
#   rule found short of restricting the entity: its countries, the stakes of
#   restricted owners against the threshold, and how much of its ownership the
#   facts do not name. It explains an allow; it decides nothing.
# entrypoint: true
# schemas:
#   - input: schema["batch-input.schema"]
# custom:
#   rule_id: TOS-OWN-CONSIDERED
#   messages:
#     NOT_AN_ORGANISATION: >-
#       {entity} is of type {type}, which the terms do not restrict, whatever
#       owns it.
considered := [_considered(item) | some item in input.items] if _well_formed

_considered(item) := ((country_considered(item) | ownership_considered(item)) | undisclosed_considered(item)) | _type_considered(item)

_type_considered(item) := set() if {
	is_organisation(item.entity.type)
} else := {{"code": "NOT_AN_ORGANISATION", "rule_id": "TOS-OWN-CONSIDERED", "type": item.entity.type}}

# The profile and reading apply to the whole query, so they are looked up once.
# An unknown profile or a reading other than "lower" or "upper" leaves step and
# batch undefined: an error, never an allow.
profile := data.ownership.profiles[input.profile]

reading := input.reading

_well_formed if {
	is_object(profile)
	reading in {"lower", "upper"}
	method in {"whole_stake", "look_through"}
}

# How restricted ownership travels down a chain (profile method): whole_stake, a
# restricted intermediary's whole stake; look_through, the product of the
# stakes along each chain, summed over the chains, supplied by the evaluator.
method := object.get(profile, "method", "whole_stake")

decide(item) := object.union({"restricted": count(reasons) > 0, "reasons": reasons}, _whole(reasons)) if {
	reasons := _reasons(item)
}

# Under look_through the evaluator asks which restricted entities count whole
# for the chains below them: those restricted on their own place, by control,
# as a branch or by facts that do not add up; not those restricted only by the
# effective share they carry, which passes on multiplied.
_whole(reasons) := {"whole": count(reasons - _by_share(reasons)) > 0} if {
	method == "look_through"
} else := {}

_by_share(reasons) := {reason | some reason in reasons; reason.rule_id in {"TOS-OWN-2", "TOS-OWN-5"}}

# Only organisations are restricted; a type listed as never restricting (a
# person) is not, whatever links point at it.
_reasons(item) := _organisation_reasons(item) | inconsistent_reasons(item)

_organisation_reasons(item) := reasons if {
	is_organisation(item.entity.type)
	found := ((root_reasons(item) | ownership_reasons(item)) | control_reasons(item)) | branch_reasons(item)
	reasons := _or_undisclosed(found, item)
} else := set()

# Rule 5 is the last word: it speaks only when no other rule restricts.
_or_undisclosed(found, _) := found if count(found) > 0

_or_undisclosed(found, item) := undisclosed_reasons(item) if count(found) == 0

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
#   restricted region (the shared list of regions: a country or an ISO 3166-2
#   subdivision) is restricted. An unknown country may be restricted, so it
#   leads to review, never to allow. Where the profile reads the review
#   regions, a place in one (or in a country some of whose subdivisions are
#   listed, the subdivision not given) leads to review.
# related_resources:
#   - description: Terms of Service, section 3.2 (restricted regions and ownership)
#     ref: https://example.com/terms-of-service#section-3-2
# custom:
#   rule_id: TOS-OWN-1
#   messages:
#     RESTRICTED_COUNTRY:
#       - "{entity} is {field_words} {subdivision}, a restricted region."
#       - "{entity} is {field_words} {country}, a restricted region."
#     COUNTRY_UNKNOWN: "{entity} has no known {field} country; it may be in a restricted region."
#     REVIEW_REGION:
#       - "{entity} is {field_words} {subdivision}, a region listed for review (Legal has not decided)."
#       - "{entity} is {field_words} {country}, a region listed for review (Legal has not decided)."
#     SUBDIVISION_UNKNOWN: >-
#       {entity} is {field_words} {country}, but its subdivision is unknown; some
#       subdivisions of that country are restricted or listed for review.
#     COUNTRY_NOT_RESTRICTED:
#       - "{entity} is {field_words} {subdivision}, not a restricted region."
#       - "{entity} is {field_words} {country}, not a restricted region."
root_reasons(item) := {reason |
	fields := _fields_reading_restricted(item)
	is_restricted_root(fields)
	some field in fields
	reason := _root_reason(item.entity, field)
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
	_place_reads_restricted(item.entity, field)
}

# A place is the field's country and, when the facts give one, its ISO 3166-2
# subdivision (field "headquarters_subdivision" for "headquarters").
_country(entity, field) := object.get(entity, field, null)

_subdivision(entity, field) := object.get(entity, concat("_", [field, "subdivision"]), null)

_place_reads_restricted(entity, field) if regions.in_restricted_region(_country(entity, field), _subdivision(entity, field))

_place_reads_restricted(entity, field) if {
	reading == "upper"
	_country(entity, field) == null
}

_place_reads_restricted(entity, field) if {
	reading == "upper"
	profile.review_regions
	regions.in_review_region(_country(entity, field), _subdivision(entity, field))
}

_root_reason(entity, field) := _with_subdivision(
	{"code": "COUNTRY_UNKNOWN", "rule_id": "TOS-OWN-1", "field": field, "country": null},
	entity, field,
) if {
	_country(entity, field) == null
} else := _with_subdivision(
	{"code": "RESTRICTED_COUNTRY", "rule_id": "TOS-OWN-1", "field": field, "country": _country(entity, field)},
	entity, field,
) if {
	regions.in_restricted_region(_country(entity, field), _subdivision(entity, field))
} else := _with_subdivision(
	{
		"code": regions.review_code(_country(entity, field), _subdivision(entity, field)),
		"rule_id": "TOS-OWN-1", "field": field, "country": _country(entity, field),
	},
	entity, field,
)

# What rule 1 considered (`considered`): each of the organisation's countries that
# does not make it a restricted root.
country_considered(item) := {note |
	is_organisation(item.entity.type)
	some field in profile.root_country_fields
	not _place_reads_restricted(item.entity, field)
	note := _with_subdivision(
		{"code": "COUNTRY_NOT_RESTRICTED", "rule_id": "TOS-OWN-1", "field": field, "country": _country(item.entity, field)},
		item.entity, field,
	)
}

_with_subdivision(reason, entity, field) := reason if {
	_subdivision(entity, field) == null
} else := object.union(reason, {"subdivision": _subdivision(entity, field)})

# METADATA
# title: Rule 2 - ownership by restricted owners reaching the threshold
# description: >-
#   An entity is restricted when the stakes held in it by restricted
#   organisations, summed over all of them, reach the threshold. Under the
#   profile's method whole_stake, a restricted intermediary's whole stake
#   counts; under look_through, the restricted organisations' effective share:
#   the stakes multiplied along each chain from them and added up over the
#   chains, computed exactly by the evaluator. A stake given as a range
#   restricts only if its lowest value does; if only its highest value does,
#   the answer is review. The profile's stake_measure says what a stake is: its share of the
#   economic rights (economic), of the votes (voting), or either one reaching
#   the threshold (larger). Shares a nominee, custodian or trustee holds for a
#   principal are the principal's stake (link kind nominee); an undisclosed
#   principal is an owner of unknown type and countries.
# related_resources:
#   - description: Terms of Service, section 3.2 (restricted regions and ownership)
#     ref: https://example.com/terms-of-service#section-3-2
# custom:
#   rule_id: TOS-OWN-2
#   messages:
#     OWNED_BY_RESTRICTED:
#       - >-
#         Restricted owners hold {total} of the {measure_words} of {entity}
#         together (threshold {threshold_percent}%): {owners}.
#       - >-
#         Restricted owners hold {total} of {entity} together
#         (threshold {threshold_percent}%): {owners}.
#     EFFECTIVELY_OWNED_BY_RESTRICTED:
#       - >-
#         Restricted organisations hold {total} of the {measure_words} of
#         {entity} through their holdings, multiplied along each chain and
#         added up (look-through; threshold {threshold_percent}%).
#       - >-
#         Restricted organisations hold {total} of {entity} through their
#         holdings, multiplied along each chain and added up (look-through;
#         threshold {threshold_percent}%).
#     BELOW_THRESHOLD:
#       - >-
#         Owners that are or may be restricted hold {total} of the
#         {measure_words} of {entity} together, below the threshold of
#         {threshold_percent}%: {owners}.
#       - >-
#         Owners that are or may be restricted hold {total} of {entity}
#         together, below the threshold of {threshold_percent}%: {owners}.
#     NO_RESTRICTED_STAKE: >-
#       No owner that is or may be restricted holds a stake in {entity}
#       (threshold {threshold_percent}%).
ownership_reasons(item) := _whole_stake_reasons(item) if {
	method == "whole_stake"
} else := _look_through_reasons(item)

_whole_stake_reasons(item) := {reason |
	not _stakes_unproven(item)
	stakes := [link | some link in item.links; _is_stake(link)]
	some group in _stake_groups(stakes)
	held := _held_by_group(stakes, group)
	some measure in _measures
	total_min := sum([_low(link, measure) | some link in held])
	total_max := sum([_high(link, measure) | some link in held])
	_meets_threshold(held, measure, total_min, total_max, profile.threshold_percent * item.scale)
	reason := object.union(
		{
			"code": "OWNED_BY_RESTRICTED",
			"rule_id": "TOS-OWN-2",
			"links": [link.index | some link in held],
			"share_min": total_min,
			"share_max": total_max,
			"scale": item.scale,
			"threshold_percent": profile.threshold_percent,
		},
		_measure_named(held, measure),
	)
}

# Look-through: the effective share the evaluator supplies, compared like one
# stake. A missing one may be anything: none in the lower reading, all in the upper.
_look_through_reasons(item) := {reason |
	not _stakes_unproven(item)
	share := _effective(item)
	some measure in _measures
	total_min := _low(share, measure)
	total_max := _high(share, measure)
	_meets_threshold([share], measure, total_min, total_max, profile.threshold_percent * item.scale)
	reason := object.union(
		{
			"code": "EFFECTIVELY_OWNED_BY_RESTRICTED",
			"rule_id": "TOS-OWN-2",
			"links": [],
			"share_min": total_min,
			"share_max": total_max,
			"scale": item.scale,
			"threshold_percent": profile.threshold_percent,
		},
		_measure_named([share], measure),
	)
}

_effective(item) := object.get(item, "effective", {
	"min": 0, "min_exclusive": false,
	"max": 100 * item.scale, "max_exclusive": false,
})

# What rule 2 considered (`considered`): the stakes of restricted owners, summed as
# the rule sums them, short of the threshold; or that there are none. (Under
# look_through the effective share is the evaluator's: nothing is said here.)
ownership_considered(item) := {note |
	is_organisation(item.entity.type)
	stakes := [link | some link in item.links; _is_stake(link)]
	some group in _stake_groups(stakes)
	held := _held_by_group(stakes, group)
	some measure in _measures
	note := object.union(
		{
			"code": "BELOW_THRESHOLD",
			"rule_id": "TOS-OWN-2",
			"links": [link.index | some link in held],
			"share_min": sum([_low(link, measure) | some link in held]),
			"share_max": sum([_high(link, measure) | some link in held]),
			"scale": item.scale,
			"threshold_percent": profile.threshold_percent,
		},
		_measure_named(held, measure),
	)
} if {
	method == "whole_stake"
	some link in item.links
	_is_stake(link)
} else := {{"code": "NO_RESTRICTED_STAKE", "rule_id": "TOS-OWN-2", "threshold_percent": profile.threshold_percent}} if {
	method == "whole_stake"
	is_organisation(item.entity.type)
} else := set()

# What a stake is (profile stake_measure): its economic share, its votes, or
# both, either restricting ("larger"). A profile that does not say reads both.
_measures := {"economic", "voting"} if {
	object.get(profile, "stake_measure", "larger") == "larger"
} else := {profile.stake_measure}

# A link's bounds in one measure: votes given apart, or the economic share.
_low(link, measure) := object.get(link, "voting_min", link.min) if {
	measure == "voting"
} else := link.min

_high(link, measure) := object.get(link, "voting_max", link.max) if {
	measure == "voting"
} else := link.max

_low_exclusive(link, measure) := object.get(link, "voting_min_exclusive", link.min_exclusive) if {
	measure == "voting"
} else := link.min_exclusive

_high_exclusive(link, measure) := object.get(link, "voting_max_exclusive", link.max_exclusive) if {
	measure == "voting"
} else := link.max_exclusive

# A reason names its measure only where some stake's votes and economic share differ.
_measure_named(links, measure) := {"measure": measure} if {
	some link in links
	"voting_min" in object.keys(link)
} else := {}

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
_meets_threshold(_, _, total_min, _, threshold) if {
	reading == "lower"
	profile.threshold_inclusive
	total_min >= threshold
}

_meets_threshold(_, _, total_min, _, threshold) if {
	reading == "lower"
	not profile.threshold_inclusive
	total_min > threshold
}

_meets_threshold(held, measure, total_min, _, threshold) if {
	reading == "lower"
	not profile.threshold_inclusive
	total_min == threshold
	some link in held
	_low_exclusive(link, measure)
}

# Upper reading: restricted if some value in the ranges meets the threshold.
_meets_threshold(_, _, _, total_max, threshold) if {
	reading == "upper"
	total_max > threshold
}

_meets_threshold(held, measure, _, total_max, threshold) if {
	reading == "upper"
	profile.threshold_inclusive
	total_max == threshold
	not _any_max_exclusive(held, measure)
}

# (Written with `some` rather than `every ... { not ... }`: rego-cpp 1.5 gets
# negation inside `every` wrong; tests/opa keeps the case as a regression.)
_any_max_exclusive(links, measure) if {
	some link in links
	_high_exclusive(link, measure)
}

# METADATA
# title: Rule 3 - control without shares
# description: >-
#   Consolidation by, or majority voting control from, a restricted
#   organisation restricts. Other influence (board appointment rights,
#   significant influence) leads to review. Link kinds the profile does not
#   name lead to review. A restricted nominee, custodian or trustee holding
#   shares for another party (link kind held_as_nominee) has legal title only:
#   review, never a second stake in the same shares.
# related_resources:
#   - description: Terms of Service, section 3.2 (restricted regions and ownership)
#     ref: https://example.com/terms-of-service#section-3-2
# custom:
#   rule_id: TOS-OWN-3
#   messages:
#     CONTROLLED_BY_RESTRICTED:
#       - "A restricted organisation {kind_words} {entity}, which the profile reads as control: {owners}."
#       - "{entity} is controlled by a restricted organisation: {owners}."
#     INFLUENCED_BY_RESTRICTED:
#       - >-
#         A restricted organisation {kind_words} {entity}: {owners}. Its legal
#         title alone does not decide.
#       - >-
#         A restricted organisation has influence over {entity} without a
#         decisive stake: {owners}.
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
#   messages:
#     BRANCH_OF_RESTRICTED: >-
#       {entity} is a branch, the same legal person as its restricted head
#       office: {owners}.
branch_reasons(item) := {reason |
	some link in item.links
	_effect(link) == "same_person"
	is_organisation(link.owner_type)
	reason := {"code": "BRANCH_OF_RESTRICTED", "rule_id": "TOS-OWN-4", "links": [link.index]}
}

# A link kind the profile does not name is read with caution: review.
_effect(link) := object.get(profile.link_effects, link.kind, "review")

# METADATA
# title: Rule 5 - undisclosed ownership
# description: >-
#   Unless the entity's ownership is disclosed in a way the profile counts as
#   complete (complete_disclosures: by default only an explicit full
#   disclosure), the part of it no known holder holds (the whole less the
#   known stakes, all of it when nothing is known) may be held by restricted
#   owners.
#   When that undisclosed remainder, with what restricted owners are known to
#   hold, could reach the threshold, the facts cannot decide: review, never
#   allow. The rule reads unknown facts against the entity, so it applies in
#   the strict reading only and never denies on its own.
# related_resources:
#   - description: Terms of Service, section 3.2 (restricted regions and ownership)
#     ref: https://example.com/terms-of-service#section-3-2
# custom:
#   rule_id: TOS-OWN-5
#   messages:
#     OWNERSHIP_UNDISCLOSED:
#       - >-
#         Up to {undisclosed}% of {entity} is held by owners the facts do not
#         name; with the {known_min}% restricted owners are known to hold
#         ({owners}), restricted owners could hold up to {share_max}%
#         (threshold {threshold_percent}%). Its ownership is not disclosed in a
#         way the profile counts as complete (disclosure: {disclosure_list}).
#       - >-
#         Up to {undisclosed}% of {entity} is held by owners the facts do not
#         name, so restricted owners could hold up to {share_max}% (threshold
#         {threshold_percent}%). Its ownership is not disclosed in a way the
#         profile counts as complete (disclosure: {disclosure_list}).
#     UNDISCLOSED_BELOW_THRESHOLD: >-
#       Up to {undisclosed}% of {entity} is held by owners the facts do not
#       name; with them, restricted owners could hold at most {share_max}%,
#       below the threshold of {threshold_percent}% (disclosure:
#       {disclosure_list}).
#     OWNERSHIP_DISCLOSED: >-
#       The ownership of {entity} is disclosed in a way the profile counts as
#       complete (disclosure: {disclosure_list}).
undisclosed_reasons(item) := {reason |
	reading == "upper"
	not _fully_disclosed(item.entity)
	stakes := [link | some link in item.links; _is_stake(link)]
	some measure in _measures
	held := _held_beside_remainder(item, stakes, measure)
	remainder := _remainder(item, measure)
	exclusive := _remainder_exclusive(item.entity, stakes, measure)
	_may_reach_threshold(held + remainder, exclusive, profile.threshold_percent * item.scale)
	reason := object.union(
		{
			"code": "OWNERSHIP_UNDISCLOSED",
			"rule_id": "TOS-OWN-5",
			"links": [link.index | some link in stakes],
			"share_min": held,
			"undisclosed": remainder,
			"share_max": _at_most(held + remainder, 100 * item.scale),
			"scale": item.scale,
			"threshold_percent": profile.threshold_percent,
			"disclosure": object.get(item.entity, "disclosure", []),
		},
		object.union(_known_restricted(stakes, held), _measure_named(stakes, measure)),
	)
}

# What restricted owners may hold beside the remainder: the known stakes, or
# under look_through the effective share at most.
_held_beside_remainder(_, stakes, measure) := _known_restricted_min(stakes, measure) if method == "whole_stake"

_held_beside_remainder(item, _, measure) := _high(_effective(item), measure) if method == "look_through"

# What rule 5 considered (`considered`): ownership disclosed as complete, or the
# undisclosed remainder, with what restricted owners may hold beside it, short
# of the threshold.
undisclosed_considered(item) := {{"code": "OWNERSHIP_DISCLOSED", "rule_id": "TOS-OWN-5", "disclosure": item.entity.disclosure}} if {
	is_organisation(item.entity.type)
	_fully_disclosed(item.entity)
} else := {note |
	method == "whole_stake" # under look_through what restricted owners hold is the evaluator's
	is_organisation(item.entity.type)
	stakes := [link | some link in item.links; _is_stake(link)]
	some measure in _measures
	held := _held_beside_remainder(item, stakes, measure)
	remainder := _remainder(item, measure)
	remainder > 0
	note := object.union(
		{
			"code": "UNDISCLOSED_BELOW_THRESHOLD",
			"rule_id": "TOS-OWN-5",
			"undisclosed": remainder,
			"share_max": _at_most(held + remainder, 100 * item.scale),
			"scale": item.scale,
			"threshold_percent": profile.threshold_percent,
			"disclosure": object.get(item.entity, "disclosure", []),
		},
		_measure_named(stakes, measure),
	)
}

# The smaller of two numbers. (Not `min([a, b])`: rego-cpp 1.5, the embedded
# engine, compares numbers as text there, so the engines gave different reasons.)
_at_most(a, b) := a if a <= b

_at_most(a, b) := b if a > b

# The undisclosed remainder in one measure (votes given apart, or the economic one).
_remainder(item, measure) := object.get(item.entity, "voting_remainder", _economic_remainder(item)) if {
	measure == "voting"
} else := _economic_remainder(item)

_economic_remainder(item) := object.get(item.entity, "remainder", 100 * item.scale)

# What restricted owners are known to hold, when some are (for the wording).
_known_restricted(stakes, held) := {"known_min": held} if count(stakes) > 0

_known_restricted(stakes, _) := {} if count(stakes) == 0

# Complete when one of its disclosure facts is of a kind the profile accepts: a
# full disclosure lists every holder, whatever less complete registers say.
_fully_disclosed(entity) if {
	some term in object.get(entity, "disclosure", [])
	term in profile.complete_disclosures
}

# What restricted owners are known to hold at least: all of them together, or
# the largest group acting jointly where the profile does not aggregate (the
# remainder may be one more member of it).
_known_restricted_min(stakes, _) := 0 if count(stakes) == 0

_known_restricted_min(stakes, measure) := _largest([sum([_low(link, measure) | some link in _held_by_group(stakes, group)]) |
	some group in _stake_groups(stakes)
]) if {
	count(stakes) > 0
}

# The largest of some numbers. (Not `max`: rego-cpp 1.5, the embedded engine,
# compares numbers as text in max, min and sort, so max([5, 10]) is 5 there.)
_largest(values) := value if {
	some value in values
	count([other | some other in values; other > value]) == 0
}

# Strictly less than the sum only when an exclusive lower bound of a holder that
# is not counted here made the remainder exclusive; otherwise read it as reachable.
_remainder_exclusive(entity, stakes, measure) if {
	_remainder_exclusive_field(entity, measure)
	not _any_min_exclusive(stakes, measure)
} else := false

_remainder_exclusive_field(entity, measure) := object.get(
	entity, "voting_remainder_exclusive",
	object.get(entity, "remainder_exclusive", false),
) if {
	measure == "voting"
} else := object.get(entity, "remainder_exclusive", false)

_any_min_exclusive(links, measure) if {
	some link in links
	_low_exclusive(link, measure)
}

_may_reach_threshold(possible, _, threshold) if possible > threshold

_may_reach_threshold(possible, exclusive, threshold) if {
	profile.threshold_inclusive
	possible == threshold
	not exclusive
}

# METADATA
# title: Rule 6 - facts that do not add up
# description: >-
#   Facts about an entity that cannot all be true leave it open, whatever its
#   type: the stakes held in it add up to more than the whole once the reports
#   of one owner's stake are read as one stake, its stakes look like ratios
#   from 0 to 1 rather than percentages, or it is a person that an
#   organisation holds or controls. The answer is review, for that entity
#   alone. Where the stakes add up to more than the whole, none of them is
#   taken as proven, so none of them denies on its own.
# related_resources:
#   - description: Terms of Service, section 3.2 (restricted regions and ownership)
#     ref: https://example.com/terms-of-service#section-3-2
# custom:
#   rule_id: TOS-OWN-6
#   words:
#     stakes_over_100: the stakes held in it add up to more than the whole, even reading the reports of one owner's stake as one stake
#     ratio_not_percent: its stakes add up to exactly 1, so they may be ratios from 0 to 1 rather than percentages
#     person_owned: it is recorded as a person but an organisation holds or controls it, so it may be an organisation
#   messages:
#     FACTS_INCONSISTENT: >-
#       The facts about {entity} do not add up: {flag_words}.
inconsistent_reasons(item) := {reason |
	reading == "upper"
	some flag in object.get(item.entity, "flags", [])
	reason := {"code": "FACTS_INCONSISTENT", "rule_id": "TOS-OWN-6", "flag": flag}
}

_stakes_unproven(item) if {
	reading == "lower"
	"stakes_over_100" in object.get(item.entity, "flags", [])
}
