package ownership_test

import data.ownership

# Helpers: build step inputs the way the evaluator does (evaluator/steps.py).

# Fully disclosed: the tests of rules 1-4 are not about undisclosed holders (rule 5).
_org(hq, jur) := {"type": "company", "headquarters": hq, "jurisdiction": jur, "disclosure": ["full"], "remainder": 0, "remainder_exclusive": false}

# Nothing disclosed: `remainder` units of it are held by nobody the facts name.
_undisclosed(remainder) := object.union(_sg, {"disclosure": [], "remainder": remainder})

_person(hq, jur) := {"type": "person", "headquarters": hq, "jurisdiction": jur}

_sg := _org("SG", "SG")

# A fixture profile: the tests pin the mechanism, not the shipped profile
# (profiles/terms_of_service), which a lawyer may change without touching a
# test. What the shipped profile decides is pinned in case data (tests/corpus).
_fixture := {
	"restricted_countries": [
		"CN",
		"IR",
		"KP",
		"RU",
	],
	"root_country_fields": [
		"headquarters",
		"jurisdiction",
	],
	"root_country_match": "any",
	"non_restricting_types": [
		"person",
	],
	"unknown_types": [
		"unknown",
	],
	"threshold_percent": 50,
	"threshold_inclusive": true,
	"aggregate_owners": true,
	"complete_disclosures": [
		"full",
		"branch",
	],
	"link_effects": {
		"shareholding": "stake",
		"nominee": "stake",
		"held_as_nominee": "review",
		"branch": "same_person",
		"consolidation": "restricts",
		"voting_majority": "restricts",
		"board_appointment": "review",
		"significant_influence": "review",
	},
}

# The fixture profile with some fields replaced.
_fixture_with(changes) := object.union(_fixture, changes)

# The step's result for one entity under the fixture profile (changed by `changes`).
_decide_with(changes, reading, scale, entity, links) := result if {
	result := ownership.step with input as _step(reading, scale, entity, links)
		with ownership.profile as _fixture_with(changes)
		with data.regions as _fixture_four
}

# The fixture regions: the four countries the terms name, nothing for review.
_fixture_four := {"restricted": ["CN", "IR", "KP", "RU"], "review": []}

_decide(reading, scale, entity, links) := _decide_with({}, reading, scale, entity, links)

_step(reading, scale, entity, links) := {
	"profile": "terms_of_service",
	"reading": reading,
	"scale": scale,
	"entity": entity,
	"links": links,
}

# A link of `kind` held by a restricted company, with an exact value.
_link(index, kind, value) := _band(index, kind, value, false, value, false)

_stake(index, value) := _link(index, "shareholding", value)

# A stake given as a range [min, max], each end possibly exclusive.
_band(index, kind, min, min_x, max, max_x) := {
	"index": index,
	"kind": kind,
	"owner_type": "company",
	"min": min,
	"min_exclusive": min_x,
	"max": max,
	"max_exclusive": max_x,
	"group": index,
}

_held_by_person(link) := object.union(link, {"owner_type": "person"})

_in_group(link, group) := object.union(link, {"group": group})

_codes(result) := {reason.code | some reason in result.reasons}

_restricted(reading, scale, entity, links) if _restricted_with({}, reading, scale, entity, links)

_unrestricted(reading, scale, entity, links) if _unrestricted_with({}, reading, scale, entity, links)

_restricted_with(changes, reading, scale, entity, links) if _decide_with(changes, reading, scale, entity, links).restricted

_unrestricted_with(changes, reading, scale, entity, links) if {
	_decide_with(changes, reading, scale, entity, links) == {"restricted": false, "reasons": set()}
}

# Rule 1 (TOS-OWN-1): restricted root

test_headquarters_in_cn_restricts if {
	result := _decide("lower", 1, _org("CN", "SG"), [])
	result == {"restricted": true, "reasons": {{"code": "RESTRICTED_COUNTRY", "rule_id": "TOS-OWN-1", "field": "headquarters", "country": "CN"}}}
}

test_cayman_incorporated_but_beijing_headquartered_company_is_restricted if {
	every reading in ["lower", "upper"] {
		result := _decide(reading, 1, _org("CN", "KY"), [])
		result.restricted
		result.reasons == {{"code": "RESTRICTED_COUNTRY", "rule_id": "TOS-OWN-1", "field": "headquarters", "country": "CN"}}
	}
}

test_jurisdiction_alone_in_a_restricted_region_restricts if {
	result := _decide("lower", 1, _org("SG", "RU"), [])
	result.reasons == {{"code": "RESTRICTED_COUNTRY", "rule_id": "TOS-OWN-1", "field": "jurisdiction", "country": "RU"}}
}

test_both_countries_restricted_give_two_reasons if {
	result := _decide("lower", 1, _org("IR", "KP"), [])
	count(result.reasons) == 2
	{reason.field | some reason in result.reasons} == {"headquarters", "jurisdiction"}
}

test_sg_company_with_no_links_is_not_restricted if {
	_unrestricted("lower", 1, _sg, [])
	_unrestricted("upper", 1, _sg, [])
}

test_unknown_headquarters_is_not_restricted_in_the_lower_reading if {
	_unrestricted("lower", 1, _org(null, "SG"), [])
}

test_unknown_headquarters_is_restricted_in_the_upper_reading_as_country_unknown if {
	result := _decide("upper", 1, _org(null, "SG"), [])
	result == {"restricted": true, "reasons": {{"code": "COUNTRY_UNKNOWN", "rule_id": "TOS-OWN-1", "field": "headquarters", "country": null}}}
}

test_absent_country_reads_as_unknown if {
	_unrestricted("lower", 1, {"type": "company", "jurisdiction": "SG"}, [])
	result := _decide("upper", 1, {"type": "company", "jurisdiction": "SG"}, [])
	_codes(result) == {"COUNTRY_UNKNOWN"}
}

test_person_in_a_restricted_region_is_never_a_root if {
	_unrestricted("lower", 1, _person("CN", "CN"), [])
	_unrestricted("upper", 1, _person("CN", "CN"), [])
	_unrestricted("upper", 1, _person(null, null), [])
}

test_person_is_never_restricted_whatever_links_point_at_it if {
	links := [_stake(0, 60), _link(1, "consolidation", 0), _link(2, "branch", 0), _link(3, "other_control", 0)]
	_unrestricted("lower", 1, _person("SG", "SG"), links)
	_unrestricted("upper", 1, _person(null, null), links)
}

test_new_entity_types_count_as_organisations if {
	_restricted("lower", 1, {"type": "trust", "headquarters": "CN", "jurisdiction": "KY"}, [])
}

# Regions: the shared list (data.regions), here fixture lists, not the live ones.
_fixture_regions := {"restricted": ["XA", "XB-01"], "review": ["XC", "XB-02"]}

_place(hq, hq_sub, jur) := {"type": "company", "headquarters": hq, "headquarters_subdivision": hq_sub, "jurisdiction": jur}

_decided(reading, entity, review_regions) := result if {
	result := ownership.step with input as _step(reading, 1, object.union(entity, {"disclosure": ["full"]}), [])
		with data.regions as _fixture_regions
		with data.ownership.profiles.terms_of_service.review_regions as review_regions
}

test_the_restricted_regions_are_the_shared_list if {
	not _decided("lower", _org("CN", "KY"), true).restricted
	_decided("lower", _org("XA", "SG"), true).restricted
}

test_a_restricted_subdivision_restricts_and_is_named if {
	result := _decided("lower", _place("XB", "XB-01", "SG"), true)
	result.reasons == {{"code": "RESTRICTED_COUNTRY", "rule_id": "TOS-OWN-1", "field": "headquarters", "country": "XB", "subdivision": "XB-01"}}
}

test_a_review_region_is_review_only_where_the_profile_reads_review_regions if {
	not _decided("lower", _org("XC", "SG"), true).restricted
	result := _decided("upper", _org("XC", "SG"), true)
	result.reasons == {{"code": "REVIEW_REGION", "rule_id": "TOS-OWN-1", "field": "headquarters", "country": "XC"}}
	not _decided("upper", _org("XC", "SG"), false).restricted
}

test_a_country_with_listed_subdivisions_and_none_given_is_review if {
	result_unknown := _decided("upper", _org("XB", "SG"), true)
	result_unknown.reasons == {{"code": "SUBDIVISION_UNKNOWN", "rule_id": "TOS-OWN-1", "field": "headquarters", "country": "XB"}}
	not _decided("upper", _place("XB", "XB-03", "SG"), true).restricted
	result := _decided("upper", _place("XB", "XB-02", "SG"), true)
	result.reasons == {{"code": "REVIEW_REGION", "rule_id": "TOS-OWN-1", "field": "headquarters", "country": "XB", "subdivision": "XB-02"}}
}

test_only_headquarters_counts_when_jurisdiction_is_dropped_from_root_country_fields if {
	_unrestricted_with({"root_country_fields": ["headquarters"]}, "lower", 1, _org("SG", "RU"), [])
	_unrestricted_with({"root_country_fields": ["headquarters"]}, "upper", 1, _org("SG", null), [])
	_restricted_with({"root_country_fields": ["headquarters"]}, "lower", 1, _org("CN", "KY"), [])
}

test_match_all_needs_every_country_in_a_restricted_region if {
	_unrestricted_with({"root_country_match": "all"}, "lower", 1, _org("CN", "KY"), [])
	_unrestricted_with({"root_country_match": "all"}, "upper", 1, _org("CN", "KY"), [])
	result := _decide_with({"root_country_match": "all"}, "lower", 1, _org("CN", "RU"), [])
	count(result.reasons) == 2
}

test_match_all_with_one_unknown_country_restricts_only_in_the_upper_reading if {
	_unrestricted_with({"root_country_match": "all"}, "lower", 1, _org(null, "CN"), [])
	result := _decide_with({"root_country_match": "all"}, "upper", 1, _org(null, "CN"), [])
	_codes(result) == {"COUNTRY_UNKNOWN", "RESTRICTED_COUNTRY"}
}

# Rule 2 (TOS-OWN-2): ownership by restricted owners reaching the threshold

test_stakes_of_30_and_25_aggregate_to_55_and_restrict if {
	every reading in ["lower", "upper"] {
		result := _decide(reading, 1, _sg, [_stake(0, 30), _stake(1, 25)])
		result == {"restricted": true, "reasons": {{
			"code": "OWNED_BY_RESTRICTED",
			"rule_id": "TOS-OWN-2",
			"links": [0, 1],
			"share_min": 55,
			"share_max": 55,
			"scale": 1,
			"threshold_percent": 50,
		}}}
	}
}

test_stake_of_49_99_does_not_restrict if {
	_unrestricted("lower", 100, _sg, [_stake(0, 4999)])
	_unrestricted("upper", 100, _sg, [_stake(0, 4999)])
}

test_stake_of_exactly_50_restricts_when_the_threshold_is_inclusive if {
	_restricted("lower", 1, _sg, [_stake(0, 50)])
	_restricted("upper", 1, _sg, [_stake(0, 50)])
}

test_stake_of_exactly_50_does_not_restrict_when_the_threshold_is_exclusive if {
	_unrestricted_with({"threshold_inclusive": false}, "lower", 1, _sg, [_stake(0, 50)])
	_unrestricted_with({"threshold_inclusive": false}, "upper", 1, _sg, [_stake(0, 50)])
	_restricted_with({"threshold_inclusive": false}, "lower", 100, _sg, [_stake(0, 5001)])
}

test_stakes_of_16_67_16_67_16_66_sum_to_exactly_50_and_restrict if {
	result := _decide("lower", 100, _sg, [_stake(0, 1667), _stake(1, 1667), _stake(2, 1666)])
	[reason] := [r | some r in result.reasons]
	reason.links == [0, 1, 2]
	reason.share_min == 5000
	reason.scale == 100
}

test_threshold_percent_is_data if {
	_restricted_with({"threshold_percent": 25}, "lower", 1, _sg, [_stake(0, 25)])
	_unrestricted_with({"threshold_percent": 51}, "upper", 1, _sg, [_stake(0, 50)])
}

test_two_bands_more_than_25_at_most_50_restrict_in_the_lower_reading if {
	links := [_band(0, "shareholding", 25, true, 50, false), _band(1, "shareholding", 25, true, 50, false)]
	result := _decide("lower", 1, _sg, links)
	[reason] := [r | some r in result.reasons]
	reason.share_min == 50
	reason.share_max == 100
}

test_single_band_25_to_50_restricts_only_in_the_upper_reading if {
	links := [_band(0, "shareholding", 25, false, 50, false)]
	_unrestricted("lower", 1, _sg, links)
	_restricted("upper", 1, _sg, links)
}

test_band_below_an_exclusive_max_of_50_does_not_restrict_even_in_the_upper_reading if {
	links := [_band(0, "shareholding", 25, false, 50, true)]
	_unrestricted("upper", 1, _sg, links)
}

test_exclusive_threshold_is_met_by_an_exclusive_min_at_the_threshold_in_the_lower_reading if {
	links := [_stake(0, 20), _band(1, "shareholding", 30, true, 40, false)]
	_restricted_with({"threshold_inclusive": false}, "lower", 1, _sg, links)
	_unrestricted_with({"threshold_inclusive": false}, "lower", 1, _sg, [_stake(0, 20), _stake(1, 30)])
}

test_exclusive_threshold_in_the_upper_reading_needs_a_max_above_it if {
	_unrestricted_with({"threshold_inclusive": false}, "upper", 1, _sg, [_band(0, "shareholding", 25, false, 50, false)])
	_restricted_with({"threshold_inclusive": false}, "upper", 1, _sg, [_band(0, "shareholding", 25, false, 51, false)])
}

test_without_aggregation_only_owners_sharing_a_group_are_added if {
	apart := [_stake(0, 30), _stake(1, 25)]
	_unrestricted_with({"aggregate_owners": false}, "lower", 1, _sg, apart)
	_unrestricted_with({"aggregate_owners": false}, "upper", 1, _sg, apart)

	jointly := [_in_group(_stake(0, 30), 7), _stake(1, 10), _in_group(_stake(2, 25), 7)]
	result := _decide_with({"aggregate_owners": false}, "lower", 1, _sg, jointly)
	[reason] := [r | some r in result.reasons]
	reason.links == [0, 2]
	reason.share_min == 55
}

test_stakes_held_by_persons_never_count if {
	links := [_held_by_person(_stake(0, 60)), _stake(1, 30)]
	_unrestricted("lower", 1, _sg, links)
	_unrestricted("upper", 1, _sg, links)
}

test_removing_person_from_non_restricting_types_makes_persons_count if {
	_restricted_with({"non_restricting_types": []}, "lower", 1, _person("CN", "CN"), [])
	result := _decide_with({"non_restricting_types": []}, "lower", 1, _sg, [_held_by_person(_stake(0, 60))])
	_codes(result) == {"OWNED_BY_RESTRICTED"}
}

test_control_links_are_not_stakes if {
	result := _decide("lower", 1, _sg, [_link(0, "consolidation", 100), _stake(1, 10)])
	_codes(result) == {"CONTROLLED_BY_RESTRICTED"}
}

# Rule 3 (TOS-OWN-3): control without shares

test_consolidation_and_voting_majority_restrict_in_both_readings if {
	every kind in ["consolidation", "voting_majority"] {
		every reading in ["lower", "upper"] {
			result := _decide(reading, 1, _sg, [_link(0, kind, 0)])
			result == {"restricted": true, "reasons": {{"code": "CONTROLLED_BY_RESTRICTED", "rule_id": "TOS-OWN-3", "links": [0], "kind": kind}}}
		}
	}
}

test_board_appointment_and_significant_influence_restrict_only_in_the_upper_reading if {
	every kind in ["board_appointment", "significant_influence"] {
		_unrestricted("lower", 1, _sg, [_link(0, kind, 0)])
		result := _decide("upper", 1, _sg, [_link(0, kind, 0)])
		result == {"restricted": true, "reasons": {{"code": "INFLUENCED_BY_RESTRICTED", "rule_id": "TOS-OWN-3", "links": [0], "kind": kind}}}
	}
}

test_an_unlisted_link_kind_leads_to_review if {
	_unrestricted("lower", 1, _sg, [_link(0, "other_control", 0)])
	result := _decide("upper", 1, _sg, [_link(0, "other_control", 0)])
	result.reasons == {{"code": "INFLUENCED_BY_RESTRICTED", "rule_id": "TOS-OWN-3", "links": [0], "kind": "other_control"}}
}

test_ignore_effect_gives_no_reason if {
	links := [_link(0, "board_appointment", 0), _link(1, "consolidation", 0)]
	effects := {"board_appointment": "ignore", "consolidation": "ignore"}
	_unrestricted_with({"link_effects": effects}, "upper", 1, _sg, links)
}

test_control_by_persons_never_counts if {
	links := [_held_by_person(_link(0, "consolidation", 0)), _held_by_person(_link(1, "other_control", 0))]
	_unrestricted("lower", 1, _sg, links)
	_unrestricted("upper", 1, _sg, links)
}

# Shares held for a principal: the principal's stake (nominee), the holder's title (held_as_nominee)

test_shares_a_nominee_holds_for_a_restricted_principal_are_its_stake if {
	every reading in ["lower", "upper"] {
		result := _decide(reading, 1, _sg, [_link(0, "nominee", 40), _stake(1, 10)])
		result.reasons == {{
			"code": "OWNED_BY_RESTRICTED", "rule_id": "TOS-OWN-2", "links": [0, 1],
			"share_min": 50, "share_max": 50, "scale": 1, "threshold_percent": 50,
		}}
	}
}

test_a_restricted_nominee_leads_to_review_and_is_not_a_second_stake if {
	_unrestricted("lower", 1, _sg, [_link(0, "held_as_nominee", 60)])
	result := _decide("upper", 1, _sg, [_link(0, "held_as_nominee", 60)])
	result.reasons == {{"code": "INFLUENCED_BY_RESTRICTED", "rule_id": "TOS-OWN-3", "links": [0], "kind": "held_as_nominee"}}

	# The principal's 30% and the same shares seen from its nominee are 30%, not 60%.
	both := [_link(0, "nominee", 30), _link(1, "held_as_nominee", 30)]
	_unrestricted("lower", 1, _sg, both)
}

# Rule 4 (TOS-OWN-4): branches

test_branch_of_a_restricted_head_office_is_restricted if {
	every reading in ["lower", "upper"] {
		result := _decide(reading, 1, _sg, [_link(0, "branch", 0)])
		result == {"restricted": true, "reasons": {{"code": "BRANCH_OF_RESTRICTED", "rule_id": "TOS-OWN-4", "links": [0]}}}
	}
}

# Several rules at once, and batches

test_every_rule_that_applies_gives_its_reason if {
	links := [_stake(0, 60), _link(1, "consolidation", 0), _link(2, "branch", 0), _link(3, "board_appointment", 0)]
	result := _decide("upper", 1, _org("CN", "KY"), links)
	_codes(result) == {"RESTRICTED_COUNTRY", "OWNED_BY_RESTRICTED", "CONTROLLED_BY_RESTRICTED", "BRANCH_OF_RESTRICTED", "INFLUENCED_BY_RESTRICTED"}
}

_item(scale, entity, links) := {"scale": scale, "entity": entity, "links": links}

test_batch_returns_results_in_order if {
	items := [
		_item(1, _sg, []),
		_item(1, _org("CN", "KY"), []),
		_item(1, _org(null, "SG"), []),
		_item(1, _sg, [_stake(0, 30), _stake(1, 25)]),
	]
	lower := ownership.batch with input as {"profile": "terms_of_service", "reading": "lower", "items": items}
		with ownership.profile as _fixture
		with data.regions as _fixture_four
	[result.restricted | some result in lower] == [false, true, false, true]
	_codes(lower[3]) == {"OWNED_BY_RESTRICTED"}
	upper := ownership.batch with input as {"profile": "terms_of_service", "reading": "upper", "items": items}
		with ownership.profile as _fixture
		with data.regions as _fixture_four
	[result.restricted | some result in upper] == [false, true, true, true]
	_codes(upper[2]) == {"COUNTRY_UNKNOWN"}
}

test_batch_of_no_items_is_empty if {
	ownership.batch == [] with input as {"profile": "terms_of_service", "reading": "lower", "items": []}
		with ownership.profile as _fixture
}

# An entity of unknown type may be a person or an organisation: review.

test_unknown_type_in_cn_is_restricted_only_in_the_upper_reading if {
	entity := {"type": "unknown", "headquarters": "CN", "jurisdiction": "CN"}
	_unrestricted("lower", 1, entity, [])
	_restricted("upper", 1, entity, [])
}

test_stake_held_by_an_unknown_type_counts_only_in_the_upper_reading if {
	link := object.union(_stake(0, 60), {"owner_type": "unknown"})
	_unrestricted("lower", 1, _sg, [link])
	_restricted("upper", 1, _sg, [link])
}

test_an_unknown_profile_decides_nothing if {
	not ownership.step with input as object.union(_step("lower", 1, _org("CN", "CN"), []), {"profile": "no_such_profile"})
	not ownership.batch with input as {"profile": "no_such_profile", "reading": "lower", "items": [_item(1, _sg, [])]}
}

test_a_reading_other_than_lower_or_upper_decides_nothing if {
	every reading in ["LOWER", "Upper", "", "strict", null] {
		not ownership.step with input as _step(reading, 1, _sg, [_stake(0, 90)])
			with ownership.profile as _fixture
		not ownership.batch with input as {"profile": "terms_of_service", "reading": reading, "items": [_item(1, _sg, [_stake(0, 90)])]}
			with ownership.profile as _fixture
	}
}

# Rule 5 (TOS-OWN-5): undisclosed ownership

_undisclosed_reason(result) := [reason | some reason in result.reasons; reason.code == "OWNERSHIP_UNDISCLOSED"][0]

test_nothing_known_of_the_owners_is_review_only if {
	_unrestricted("lower", 1, _undisclosed(100), [])
	result := _decide("upper", 1, _undisclosed(100), [])
	result.restricted
	_undisclosed_reason(result) == {
		"code": "OWNERSHIP_UNDISCLOSED", "rule_id": "TOS-OWN-5", "links": [], "share_min": 0, "undisclosed": 100,
		"share_max": 100, "scale": 1, "threshold_percent": 50, "disclosure": [],
	}
}

test_an_entity_without_remainder_or_disclosure_fields_reads_as_wholly_undisclosed if {
	_restricted("upper", 1, {"type": "company", "headquarters": "SG", "jurisdiction": "SG"}, [])
}

test_a_full_disclosure_leaves_nothing_undisclosed if {
	_unrestricted("upper", 1, object.union(_undisclosed(100), {"disclosure": ["full"]}), [])
	_unrestricted("upper", 1, object.union(_undisclosed(55), {"disclosure": ["full", "partial"]}), [_stake(0, 45)])
}

test_restricted_45_percent_beside_an_undisclosed_55_is_review if {
	result := _decide("upper", 1, _undisclosed(55), [_stake(0, 45)])
	reason := _undisclosed_reason(result)
	[reason.share_min, reason.known_min, reason.undisclosed, reason.share_max, reason.links] == [45, 45, 55, 100, [0]]
	_unrestricted("lower", 1, _undisclosed(55), [_stake(0, 45)])
}

test_known_holders_of_60_percent_leave_too_little_to_reach_50 if {
	_unrestricted("upper", 1, _undisclosed(40), [])
	_restricted("upper", 1, _undisclosed(50), [])
}

test_an_exclusive_known_minimum_makes_the_remainder_fall_short_of_the_threshold if {
	# another holder has more than 50%: the remainder is less than 50%
	_unrestricted("upper", 1, object.union(_undisclosed(50), {"remainder_exclusive": true}), [])

	# ...unless the exclusive minimum is the restricted owner's own, counted here
	exclusive_own := object.union(_undisclosed(40), {"remainder_exclusive": true})
	_restricted("upper", 1, exclusive_own, [_band(0, "shareholding", 10, true, 20, false)])
}

test_an_exclusive_threshold_needs_more_than_it_undisclosed if {
	_unrestricted_with({"threshold_inclusive": false}, "upper", 1, _undisclosed(50), [])
	_restricted_with({"threshold_inclusive": false}, "upper", 1, _undisclosed(51), [])
}

test_which_disclosures_are_complete_is_data if {
	natural := object.union(_undisclosed(100), {"disclosure": ["gleif:NATURAL_PERSONS", "partial"]})
	_restricted("upper", 1, natural, [])
	_unrestricted_with({"complete_disclosures": ["gleif:NATURAL_PERSONS"]}, "upper", 1, natural, [])
	_restricted_with({"complete_disclosures": []}, "upper", 1, object.union(_undisclosed(100), {"disclosure": ["full"]}), [])
}

test_without_aggregation_the_remainder_joins_the_largest_group if {
	links := [_stake(0, 20), _stake(1, 25)]
	_unrestricted_with({"aggregate_owners": false}, "upper", 1, _undisclosed(10), links)
	_restricted_with({"aggregate_owners": false}, "upper", 1, _undisclosed(25), links)
	_restricted("upper", 1, _undisclosed(10), links)

	# The largest by value, not as text ("9" sorts after "30"): 30 + 25 reaches 50.
	_restricted_with({"aggregate_owners": false}, "upper", 1, _undisclosed(25), [_stake(0, 9), _stake(1, 30)])
}

test_other_rules_speak_first if {
	result := _decide("upper", 1, object.union(_undisclosed(100), {"headquarters": null}), [])
	_codes(result) == {"COUNTRY_UNKNOWN"}
}

test_a_person_has_no_undisclosed_owners_that_matter if {
	_unrestricted("upper", 1, object.union(_undisclosed(100), {"type": "person"}), [])
}

test_the_profile_is_the_one_the_input_names if {
	profiles := {"strict": _fixture_with({"threshold_percent": 10}), "lenient": _fixture}
	entity_links := [_stake(0, 20)]
	ownership.step.restricted with input as object.union(_step("lower", 1, _sg, entity_links), {"profile": "strict"})
		with data.ownership.profiles as profiles
		with data.regions as _fixture_four
	not ownership.step.restricted with input as object.union(_step("lower", 1, _sg, entity_links), {"profile": "lenient"})
		with data.ownership.profiles as profiles
}

# Rule 2 with votes apart from the economic share (profile stake_measure)

# A restricted company's stake with votes given apart: 40% of the shares, 60% of the votes.
_split(index, economic, votes) := object.union(_stake(index, economic), {
	"voting_min": votes, "voting_max": votes,
	"voting_min_exclusive": false, "voting_max_exclusive": false,
})

test_the_measure_the_profile_names_decides if {
	links := [_split(0, 40, 60)]
	_unrestricted_with({"stake_measure": "economic"}, "upper", 1, _sg, links)
	_restricted_with({"stake_measure": "voting"}, "lower", 1, _sg, links)
	_restricted_with({"stake_measure": "larger"}, "lower", 1, _sg, links)
	reasons := _decide_with({"stake_measure": "larger"}, "lower", 1, _sg, links).reasons
	reasons == {{
		"code": "OWNED_BY_RESTRICTED", "rule_id": "TOS-OWN-2", "links": [0], "share_min": 60, "share_max": 60,
		"scale": 1, "threshold_percent": 50, "measure": "voting",
	}}
}

test_a_profile_without_a_measure_reads_both if {
	_restricted("lower", 1, _sg, [_split(0, 40, 60)])
	_restricted("lower", 1, _sg, [_split(0, 60, 40)])
}

test_votes_without_economic_rights_do_not_count_where_the_profile_counts_shares if {
	_unrestricted_with({"stake_measure": "economic"}, "upper", 1, _sg, [_split(0, 0, 100)])
	_unrestricted_with({"stake_measure": "voting"}, "upper", 1, _sg, [_split(0, 100, 0)])
}

test_each_measure_is_summed_on_its_own if {
	# 30 votes + 10 shares and 10 votes + 30 shares: 40% of either, never 60%.
	links := [_split(0, 10, 30), _split(1, 30, 10)]
	_unrestricted_with({"stake_measure": "larger"}, "upper", 1, _sg, links)
}

test_exclusive_vote_bounds_are_read_as_such if {
	band := object.union(_stake(0, 10), {
		"voting_min": 25, "voting_max": 50,
		"voting_min_exclusive": true, "voting_max_exclusive": true,
	})
	_unrestricted_with({"stake_measure": "voting"}, "upper", 1, _sg, [band])
	_restricted_with({"stake_measure": "voting", "threshold_inclusive": false, "threshold_percent": 25}, "lower", 1, _sg, [band])
	exact := object.union(band, {"voting_max_exclusive": false})
	_restricted_with({"stake_measure": "voting"}, "upper", 1, _sg, [exact])
}

test_the_undisclosed_remainder_is_read_in_each_measure if {
	# 45% of the votes known restricted, 10% of the votes undisclosed; 45% of the shares, none undisclosed.
	entity := object.union(_undisclosed(0), {"voting_remainder": 10, "voting_remainder_exclusive": false})
	links := [_split(0, 45, 45)]
	_unrestricted_with({"stake_measure": "economic"}, "upper", 1, entity, links)
	result := _decide_with({"stake_measure": "voting"}, "upper", 1, entity, links)
	reason := _undisclosed_reason(result)
	[reason.measure, reason.undisclosed, reason.share_max] == ["voting", 10, 55]
	exclusive := object.union(entity, {"voting_remainder": 5, "voting_remainder_exclusive": true})
	_unrestricted_with({"stake_measure": "voting"}, "upper", 1, exclusive, links)
}

# Rule 6 (TOS-OWN-6): facts that do not add up

_flagged(entity, flags) := object.union(entity, {"flags": flags})

test_stakes_over_the_whole_are_review_and_prove_nothing if {
	over := _flagged(_sg, ["stakes_over_100"])
	_unrestricted("lower", 1, over, [_stake(0, 60)])
	result := _decide("upper", 1, over, [_stake(0, 60)])
	_codes(result) == {"OWNED_BY_RESTRICTED", "FACTS_INCONSISTENT"}
	result.reasons[{"code": "FACTS_INCONSISTENT", "rule_id": "TOS-OWN-6", "flag": "stakes_over_100"}]
}

test_a_restricted_root_with_stakes_over_the_whole_is_still_denied if {
	_restricted("lower", 1, _flagged(_org("CN", "CN"), ["stakes_over_100"]), [])
}

test_ratios_and_a_person_held_by_a_company_are_review_whatever_the_type if {
	_unrestricted("lower", 1, _flagged(_sg, ["ratio_not_percent"]), [])
	_restricted("upper", 1, _flagged(_sg, ["ratio_not_percent"]), [])
	person := _flagged(_person("SG", "SG"), ["person_owned"])
	_unrestricted("lower", 1, person, [])
	result := _decide("upper", 1, person, [])
	result.reasons == {{"code": "FACTS_INCONSISTENT", "rule_id": "TOS-OWN-6", "flag": "person_owned"}}
}

# Method look_through: the evaluator supplies the effective share (`effective`),
# bracketing the exact fraction in scale units; the rule compares it with the
# fixture profile's threshold.

_look_through := {"method": "look_through"}

# The effective share [min, max] in units, each end exclusive when the exact share is strictly inside.
_effective(min, min_x, max, max_x) := {"min": min, "min_exclusive": min_x, "max": max, "max_exclusive": max_x}

_decide_look_through(changes, reading, scale, entity, links, effective) := result if {
	result := ownership.step with input as object.union(_step(reading, scale, entity, links), {"effective": effective})
		with ownership.profile as _fixture_with(object.union(_look_through, changes))
		with data.regions as _fixture_four
}

_exactly(value) := _effective(value, false, value, false)

test_look_through_worked_example_36_percent_is_allowed_where_whole_stake_denies if {
	# CN holds 60% of X, X holds 60% of Y. Whole stake: X is restricted, so its 60% of Y counts whole.
	_restricted("lower", 1, _sg, [_stake(0, 60)])

	# Look-through: Y is 60% x 60% = 36% restricted-owned (scale 10000: 36.0000%).
	every reading in ["lower", "upper"] {
		result := _decide_look_through({}, reading, 10000, _sg, [], _exactly(360000))
		result == {"restricted": false, "reasons": set(), "whole": false}
	}
}

test_look_through_effective_share_at_the_threshold_restricts if {
	result := _decide_look_through({}, "lower", 10000, _sg, [], _exactly(600000))
	result.restricted
	result.whole == false
	result.reasons == {{
		"code": "EFFECTIVELY_OWNED_BY_RESTRICTED", "rule_id": "TOS-OWN-2", "links": [],
		"share_min": 600000, "share_max": 600000, "scale": 10000, "threshold_percent": 50,
	}}
	_decide_look_through({}, "lower", 1, _sg, [], _exactly(50)).restricted
	not _decide_look_through({"threshold_inclusive": false}, "lower", 1, _sg, [], _exactly(50)).restricted
}

test_look_through_stakes_of_restricted_owners_do_not_count_whole if {
	# The 60% stake is held by a restricted owner, but only the effective share counts.
	result := _decide_look_through({}, "lower", 1, _sg, [_stake(0, 60)], _exactly(36))
	result == {"restricted": false, "reasons": set(), "whole": false}
}

test_look_through_a_bracketed_share_decides_exactly_at_the_threshold if {
	# Exactly 50% rounds to itself; a share just above 50% rounds down to 50, marked exclusive.
	not _decide_look_through({"threshold_inclusive": false}, "lower", 1, _sg, [], _exactly(50)).restricted
	_decide_look_through({"threshold_inclusive": false}, "lower", 1, _sg, [], _effective(50, true, 51, true)).restricted

	# Just below 50%: rounded up to 50 in the upper reading, marked exclusive, so not 50% or more.
	not _decide_look_through({}, "upper", 1, _sg, [], _effective(49, true, 50, true)).restricted
	_decide_look_through({}, "upper", 1, _sg, [], _exactly(50)).restricted
}

test_look_through_a_range_of_shares_is_review if {
	not _decide_look_through({}, "lower", 1, _sg, [], _effective(40, false, 40, false)).restricted
	_decide_look_through({}, "upper", 1, _sg, [], _effective(60, false, 60, false)).restricted
}

test_look_through_a_missing_share_may_be_anything if {
	not _decide_with(_look_through, "lower", 1, _sg, []).restricted
	_codes(_decide_with(_look_through, "upper", 1, _sg, [])) == {"EFFECTIVELY_OWNED_BY_RESTRICTED"}
}

test_look_through_roots_control_and_branches_count_whole if {
	_decide_look_through({}, "lower", 1, _org("CN", "SG"), [], _exactly(0)).whole
	_decide_look_through({}, "lower", 1, _sg, [_link(0, "consolidation", 0)], _exactly(0)).whole
	_decide_look_through({}, "lower", 1, _sg, [_link(0, "branch", 0)], _exactly(0)).whole
	_decide_look_through({}, "lower", 1, _sg, [], _exactly(0)) == {"restricted": false, "reasons": set(), "whole": false}
}

test_look_through_undisclosed_remainder_beside_the_effective_share_is_review if {
	# At most 30% effective, 25% undisclosed: restricted organisations could hold 55%.
	result := _decide_look_through({}, "upper", 1, _undisclosed(25), [], _effective(20, false, 30, false))
	_codes(result) == {"OWNERSHIP_UNDISCLOSED"}
	result.whole == false
	reason := _undisclosed_reason(result)
	[reason.share_min, reason.undisclosed, reason.share_max] == [30, 25, 55]
	not _decide_look_through({}, "lower", 1, _undisclosed(25), [], _effective(20, false, 30, false)).restricted
	not _decide_look_through({}, "upper", 1, _undisclosed(15), [], _effective(20, false, 30, false)).restricted

	# A ranged stake's highest value and the remainder may overlap: never more than the whole.
	capped := _undisclosed_reason(_decide_look_through({}, "upper", 1, _undisclosed(80), [], _effective(20, false, 30, false)))
	capped.share_max == 100
}

test_look_through_votes_given_apart_count_in_their_measure if {
	share := object.union(_exactly(30), {"voting_min": 60, "voting_min_exclusive": false, "voting_max": 60, "voting_max_exclusive": false})
	result := _decide_look_through({}, "lower", 1, _sg, [], share)
	{[reason.code, reason.measure] | some reason in result.reasons} == {["EFFECTIVELY_OWNED_BY_RESTRICTED", "voting"]}
	not _decide_look_through({"stake_measure": "economic"}, "lower", 1, _sg, [], share).restricted
}

test_look_through_unproven_stakes_give_no_effective_share_in_the_lower_reading if {
	flagged := object.union(_sg, {"flags": ["stakes_over_100"]})
	not _decide_look_through({}, "lower", 1, flagged, [], _exactly(60)).restricted
}

test_whole_stake_results_carry_no_whole_field if {
	result := _decide_with({"method": "whole_stake"}, "lower", 1, _org("CN", "SG"), [])
	object.keys(result) == {"restricted", "reasons"}
}

test_an_unknown_method_leaves_the_step_undefined if {
	not _decide_with({"method": "multiply"}, "lower", 1, _org("CN", "SG"), [])
}

# What the rules considered (`considered`): why an entity no rule restricts is not restricted.

_considered_with(changes, scale, entity, links) := notes if {
	batch := {"profile": "terms_of_service", "reading": "upper", "items": [{"scale": scale, "entity": entity, "links": links}]}
	notes := ownership.considered[0] with input as batch
		with ownership.profile as _fixture_with(changes)
		with data.regions as _fixture_four
}

_considered(scale, entity, links) := _considered_with({}, scale, entity, links)

test_considered_states_the_restricted_share_against_the_threshold if {
	notes := _considered(1, _undisclosed(10), [_stake(0, 30), _stake(1, 15)])
	notes == {
		{"code": "COUNTRY_NOT_RESTRICTED", "rule_id": "TOS-OWN-1", "field": "headquarters", "country": "SG"},
		{"code": "COUNTRY_NOT_RESTRICTED", "rule_id": "TOS-OWN-1", "field": "jurisdiction", "country": "SG"},
		{
			"code": "BELOW_THRESHOLD", "rule_id": "TOS-OWN-2", "links": [0, 1],
			"share_min": 45, "share_max": 45, "scale": 1, "threshold_percent": 50,
		},
		{
			"code": "UNDISCLOSED_BELOW_THRESHOLD", "rule_id": "TOS-OWN-5", "undisclosed": 10, "share_max": 55,
			"scale": 1, "threshold_percent": 50, "disclosure": [],
		},
	}
}

test_considered_says_when_no_restricted_owner_holds_a_stake_and_ownership_is_disclosed if {
	notes := _considered(1, _sg, [])
	{"code": "NO_RESTRICTED_STAKE", "rule_id": "TOS-OWN-2", "threshold_percent": 50} in notes
	{"code": "OWNERSHIP_DISCLOSED", "rule_id": "TOS-OWN-5", "disclosure": ["full"]} in notes
	count([note | some note in notes; note.rule_id == "TOS-OWN-5"]) == 1
}

test_considered_counts_each_group_where_owners_are_not_added_up if {
	links := [_in_group(_stake(0, 30), 0), _in_group(_stake(1, 15), 1)]
	notes := _considered_with({"aggregate_owners": false}, 1, _sg, links)
	shares := {note.share_min | some note in notes; note.code == "BELOW_THRESHOLD"}
	shares == {30, 15}
}

test_considered_names_the_measure_where_votes_are_given_apart if {
	link := object.union(_stake(0, 20), {
		"voting_min": 40, "voting_max": 40,
		"voting_min_exclusive": false, "voting_max_exclusive": false,
	})
	notes := _considered(1, _sg, [link])
	{note.measure: note.share_min | some note in notes; note.code == "BELOW_THRESHOLD"} == {"economic": 20, "voting": 40}
}

test_considered_names_a_subdivision_and_says_nothing_of_a_person_but_its_type if {
	crimea_free := object.union(_sg, {"headquarters": "UA", "headquarters_subdivision": "UA-30"})
	notes := _considered(1, crimea_free, [])
	{"code": "COUNTRY_NOT_RESTRICTED", "rule_id": "TOS-OWN-1", "field": "headquarters", "country": "UA", "subdivision": "UA-30"} in notes
	_considered(1, _person("CN", "CN"), [_stake(0, 60)]) == {{"code": "NOT_AN_ORGANISATION", "rule_id": "TOS-OWN-CONSIDERED", "type": "person"}}
	_considered(1, _person("CN", "CN"), []) == {{"code": "NOT_AN_ORGANISATION", "rule_id": "TOS-OWN-CONSIDERED", "type": "person"}}
}

test_considered_is_undefined_for_an_unknown_reading if {
	batch := {"profile": "terms_of_service", "reading": "sideways", "items": []}
	not ownership.considered with input as batch with ownership.profile as _fixture
}

test_considered_leaves_the_effective_share_of_look_through_to_the_evaluator if {
	notes := _considered_with({"method": "look_through"}, 1, _undisclosed(10), [_stake(0, 30)])
	count([note | some note in notes; note.rule_id in {"TOS-OWN-2", "TOS-OWN-5"}]) == 0
}
