package access_test

import data.access

# Helpers: build access inputs the way the evaluator does (evaluator/access.py).

_clean_signals := {
	"billing_country": "DE",
	"phone_country": "DE",
	"id_document_country": "DE",
	"ip_country": "DE",
	"ip_is_vpn": false,
	"ip_is_proxy": false,
	"ip_is_hosting": false,
	"reseller": null,
}

_unknown_signals := object.union(_clean_signals, {
	"billing_country": null,
	"phone_country": null,
	"id_document_country": null,
	"ip_country": null,
})

_input(organisation, changes) := {
	"policy": "terms_of_service",
	"organisation": organisation,
	"signals": object.union(_clean_signals, changes),
}

_organisation(decision) := {
	"id": "org-1",
	"decision": decision,
	"reasons": [{"rule_id": "TOS-OWN-2", "code": "OWNED_BY_RESTRICTED"}, {"rule_id": "TOS-OWN-1", "code": "RESTRICTED_COUNTRY"}],
}

_reseller(country, end_customer) := {"name": "Example Cloud", "country": country, "end_customer_country": end_customer}

# A fixture policy: the tests pin the mechanism, not the shipped policy data
# (rules/access/policies), which a lawyer may change without touching a test.
# What the shipped policy decides is pinned in case data (tests/corpus).
_fixture := {
	"ownership_profile": "terms_of_service",
	"restricted_countries": [
		"CN",
		"IR",
		"KP",
		"RU",
	],
	"ownership_decision_effects": {
		"allow": "none",
		"deny": "deny",
		"review": "review",
	},
	"signal_effects": {
		"billing_country": "deny",
		"phone_country": "deny",
		"id_document_country": "deny",
		"ip_country": "review",
		"reseller_end_customer_country": "deny",
		"reseller_country": "none",
	},
	"anonymiser_flags": [
		"ip_is_vpn",
		"ip_is_proxy",
		"ip_is_hosting",
	],
	"anonymiser_signals": [
		"billing_country",
		"phone_country",
		"id_document_country",
		"ip_country",
		"reseller_end_customer_country",
		"reseller_country",
	],
	"anonymiser_effect": "review",
	"unknown_country_effects": {
		"billing_country": "none",
		"phone_country": "none",
		"id_document_country": "none",
		"ip_country": "none",
		"reseller_end_customer_country": "none",
		"reseller_country": "none",
	},
}

# The fixture regions: the four countries the terms name, nothing for review.
_fixture_four := {"restricted": ["CN", "IR", "KP", "RU"], "review": []}

# The fixture policy with some top-level fields replaced (object.union alone
# would merge nested objects, never drop a key from them).
_policy_with(changes) := object.union(object.remove(_fixture, object.keys(changes)), changes)

_decide(organisation, changes) := result if {
	result := access.result with input as _input(organisation, changes)
		with data.access.policies.terms_of_service as _fixture
		with data.regions as _fixture_four
}

_decide_with_policy(policy, organisation, changes) := result if {
	result := access.result with input as _input(organisation, changes)
		with data.access.policies.terms_of_service as policy
		with data.regions as _fixture_four
}

_rule_ids(result) := {reason.rule_id | some reason in result.reasons}

_signals(result) := {reason.signal | some reason in result.reasons}

# Allow: nothing restricted

test_clean_individual_is_allowed_with_no_reasons if {
	_decide(null, {}) == {"policy": "terms_of_service", "decision": "allow", "reasons": []}
}

test_organisation_allowed_by_ownership_with_clean_signals_is_allowed if {
	result := _decide(_organisation("allow"), {})
	result.decision == "allow"
	result.reasons == []
}

test_vpn_proxy_and_hosting_flags_alone_are_allowed if {
	result := _decide(null, {"ip_is_vpn": true, "ip_is_proxy": true, "ip_is_hosting": true})
	result.decision == "allow"
}

test_unknown_countries_are_not_by_themselves_a_reason if {
	result := access.result with input as {"policy": "terms_of_service", "organisation": null, "signals": _unknown_signals}
		with data.access.policies.terms_of_service as _fixture
		with data.regions as _fixture_four
	result.decision == "allow"
	result.reasons == []
}

test_reseller_with_unknown_end_customer_country_is_allowed if {
	_decide(null, {"reseller": _reseller("US", null)}).decision == "allow"
}

test_reseller_with_clean_end_customer_is_allowed if {
	_decide(null, {"reseller": _reseller("US", "GB")}).decision == "allow"
}

# Rule 1 (TOS-ACC-1): organisation restricted by ownership

test_organisation_denied_by_ownership_is_denied_naming_the_ownership_rules if {
	result := _decide(_organisation("deny"), {})
	result.decision == "deny"
	result.reasons == [{
		"rule_id": "TOS-ACC-1",
		"code": "OWNERSHIP_DECISION",
		"effect": "deny",
		"signal": "organisation",
		"organisation": "org-1",
		"ownership_decision": "deny",
		"ownership_rule_ids": ["TOS-OWN-1", "TOS-OWN-2"],
	}]
}

test_organisation_in_ownership_review_leads_to_review if {
	result := _decide(_organisation("review"), {})
	result.decision == "review"
	_rule_ids(result) == {"TOS-ACC-1"}
}

test_organisation_denied_by_ownership_stays_denied_with_clean_signals_and_a_vpn if {
	_decide(_organisation("deny"), {"ip_is_vpn": true, "reseller": _reseller("US", "US")}).decision == "deny"
}

test_organisation_without_ownership_reasons_names_no_ownership_rules if {
	result := _decide({"id": "org-1", "decision": "deny"}, {})
	result.reasons[0].ownership_rule_ids == []
}

test_ownership_decision_the_policy_does_not_name_leads_to_review if {
	_decide({"id": "org-1", "decision": "undecided", "reasons": []}, {}).decision == "review"
}

test_policy_may_let_an_ownership_review_pass if {
	policy := _policy_with({"ownership_decision_effects": {"allow": "none", "deny": "deny", "review": "none"}})
	_decide_with_policy(policy, _organisation("review"), {}).decision == "allow"
}

# Rule 2 (TOS-ACC-2): declared country in a restricted region

test_billing_country_in_restricted_region_denies if {
	result := _decide(null, {"billing_country": "IR"})
	result.decision == "deny"
	result.reasons == [{
		"rule_id": "TOS-ACC-2",
		"code": "RESTRICTED_DECLARED_COUNTRY",
		"effect": "deny",
		"signal": "billing_country",
		"country": "IR",
	}]
}

test_phone_country_in_restricted_region_denies if {
	result := _decide(null, {"phone_country": "KP"})
	result.decision == "deny"
	_signals(result) == {"phone_country"}
}

test_identity_document_from_restricted_region_denies if {
	result := _decide(_organisation("allow"), {"id_document_country": "RU"})
	result.decision == "deny"
	_signals(result) == {"id_document_country"}
}

test_every_restricted_declared_country_is_a_reason if {
	result := _decide(null, {"billing_country": "CN", "phone_country": "RU", "id_document_country": "IR"})
	result.decision == "deny"
	_signals(result) == {"billing_country", "phone_country", "id_document_country"}
}

test_signal_the_policy_does_not_name_is_read_as_review if {
	policy := _policy_with({"signal_effects": object.remove(_fixture.signal_effects, ["billing_country"])})
	result := _decide_with_policy(policy, null, {"billing_country": "CN"})
	result.decision == "review"
}

test_effect_the_rules_do_not_know_is_read_as_review if {
	policy := _policy_with({"signal_effects": object.union(_fixture.signal_effects, {"phone_country": "block"})})
	result := _decide_with_policy(policy, null, {"phone_country": "CN"})
	result.decision == "review"
}

# Regions (the shared list, data.regions): fixture lists, not the live ones.
_fixture_regions := {"restricted": ["XA", "XB-01"], "review": ["XC"]}

_decide_in_regions(organisation, changes) := result if {
	result := access.result with input as _input(organisation, changes)
		with data.regions as _fixture_regions
}

test_the_access_rules_read_the_shared_regions_list if {
	_decide_in_regions(null, {"billing_country": "CN"}).decision == "allow"
	_decide_in_regions(null, {"billing_country": "XA"}).decision == "deny"
}

test_a_restricted_subdivision_signal_denies_and_names_the_subdivision if {
	result := _decide_in_regions(null, {"billing_country": "XB", "subdivisions": {"billing_country": "XB-01"}})
	result.decision == "deny"
	result.reasons == [{
		"rule_id": "TOS-ACC-2",
		"code": "RESTRICTED_DECLARED_COUNTRY",
		"effect": "deny",
		"signal": "billing_country",
		"country": "XB",
		"subdivision": "XB-01",
	}]
}

test_an_individual_in_a_review_region_is_reviewed if {
	result := _decide_in_regions(null, {"id_document_country": "XC"})
	result.decision == "review"
	result.reasons == [{
		"rule_id": "TOS-ACC-2",
		"code": "REVIEW_REGION",
		"effect": "review",
		"signal": "id_document_country",
		"country": "XC",
	}]
}

test_a_review_region_signal_without_effect_gives_no_reason if {
	policy := _policy_with({"signal_effects": object.union(_fixture.signal_effects, {"phone_country": "none"})})
	result := access.result with input as _input(null, {"phone_country": "XC"})
		with data.access.policies.terms_of_service as policy
		with data.regions as _fixture_regions
	result.decision == "allow"
}

# Rule 3 (TOS-ACC-3): IP address in a restricted region

test_ip_in_restricted_region_with_clean_other_signals_leads_to_review if {
	result := _decide(null, {"ip_country": "RU"})
	result.decision == "review"
	result.reasons == [{
		"rule_id": "TOS-ACC-3",
		"code": "RESTRICTED_IP_LOCATION",
		"effect": "review",
		"signal": "ip_country",
		"country": "RU",
	}]
}

test_ip_in_restricted_region_with_restricted_billing_country_is_denied_with_both_reasons if {
	result := _decide(null, {"ip_country": "RU", "billing_country": "RU"})
	result.decision == "deny"
	_rule_ids(result) == {"TOS-ACC-2", "TOS-ACC-3"}
}

test_policy_may_make_ip_location_deny if {
	policy := _policy_with({"signal_effects": object.union(_fixture.signal_effects, {"ip_country": "deny"})})
	_decide_with_policy(policy, null, {"ip_country": "CN"}).decision == "deny"
}

# Rule 4 (TOS-ACC-4): VPN, proxy or hosting address with a restricted-region signal

test_vpn_with_restricted_ip_location_leads_to_review_naming_the_flag_and_the_signal if {
	result := _decide(null, {"ip_country": "CN", "ip_is_vpn": true})
	result.decision == "review"
	result.reasons == [
		{
			"rule_id": "TOS-ACC-4",
			"code": "ANONYMISED_IP_WITH_RESTRICTED_SIGNAL",
			"effect": "review",
			"signal": "ip_is_vpn",
			"restricted_signals": ["ip_country"],
		},
		{
			"rule_id": "TOS-ACC-3",
			"code": "RESTRICTED_IP_LOCATION",
			"effect": "review",
			"signal": "ip_country",
			"country": "CN",
		},
	]
}

test_proxy_through_a_reseller_in_a_restricted_region_leads_to_review if {
	result := _decide(null, {"ip_is_proxy": true, "reseller": _reseller("CN", "US")})
	result.decision == "review"
	result.reasons == [{
		"rule_id": "TOS-ACC-4",
		"code": "ANONYMISED_IP_WITH_RESTRICTED_SIGNAL",
		"effect": "review",
		"signal": "ip_is_proxy",
		"restricted_signals": ["reseller_country"],
	}]
}

test_every_flag_set_is_a_reason if {
	result := _decide(null, {"ip_country": "KP", "ip_is_vpn": true, "ip_is_proxy": true, "ip_is_hosting": true})
	_signals(result) == {"ip_country", "ip_is_vpn", "ip_is_proxy", "ip_is_hosting"}
}

test_vpn_never_turns_a_deny_into_review if {
	result := _decide(null, {"billing_country": "CN", "ip_is_vpn": true})
	result.decision == "deny"
	_rule_ids(result) == {"TOS-ACC-2", "TOS-ACC-4"}
}

test_policy_may_disregard_hosting_addresses if {
	policy := _policy_with({"anonymiser_flags": ["ip_is_vpn", "ip_is_proxy"]})
	result := _decide_with_policy(policy, null, {"ip_is_hosting": true, "reseller": _reseller("RU", "US")})
	result.decision == "allow"
}

test_policy_may_turn_rule_4_off if {
	policy := _policy_with({"anonymiser_effect": "none"})
	result := _decide_with_policy(policy, null, {"ip_is_vpn": true, "reseller": _reseller("RU", "US")})
	result.decision == "allow"
}

# Rule 5 (TOS-ACC-5): reseller's end customer in a restricted region

test_restricted_end_customer_of_a_reseller_is_denied_naming_the_reseller if {
	result := _decide(_organisation("allow"), {"reseller": _reseller("US", "IR")})
	result.decision == "deny"
	result.reasons == [{
		"rule_id": "TOS-ACC-5",
		"code": "RESTRICTED_END_CUSTOMER",
		"effect": "deny",
		"signal": "reseller_end_customer_country",
		"country": "IR",
		"reseller": "Example Cloud",
	}]
}

test_reseller_in_restricted_region_with_clean_end_customer_is_allowed if {
	_decide(null, {"reseller": _reseller("CN", "US")}).decision == "allow"
}

test_policy_may_make_a_restricted_reseller_lead_to_review if {
	policy := _policy_with({"signal_effects": object.union(_fixture.signal_effects, {"reseller_country": "review"})})
	result := _decide_with_policy(policy, null, {"reseller": _reseller("CN", "US")})
	result.decision == "review"
	result.reasons[0].code == "RESTRICTED_RESELLER"
}

# Rule 6 (TOS-ACC-6): unknown country signals

test_policy_may_make_an_unknown_billing_country_lead_to_review if {
	unknown := object.union(_fixture.unknown_country_effects, {"billing_country": "review"})
	policy := _policy_with({"unknown_country_effects": unknown})
	result := _decide_with_policy(policy, null, {"billing_country": null})
	result.decision == "review"
	result.reasons == [{
		"rule_id": "TOS-ACC-6",
		"code": "COUNTRY_UNKNOWN",
		"effect": "review",
		"signal": "billing_country",
		"country": null,
	}]
}

test_a_direct_request_has_no_unknown_reseller_signals if {
	unknown := object.union(_fixture.unknown_country_effects, {"reseller_end_customer_country": "review"})
	policy := _policy_with({"unknown_country_effects": unknown})
	_decide_with_policy(policy, null, {}).decision == "allow"
	_decide_with_policy(policy, null, {"reseller": _reseller("US", null)}).decision == "review"
}

test_unknown_country_the_policy_does_not_name_is_not_a_reason if {
	policy := _policy_with({"unknown_country_effects": {}})
	_decide_with_policy(policy, null, {"ip_country": null}).decision == "allow"
}

# Malformed input decides nothing (the evaluator reports an engine error)

test_unknown_policy_decides_nothing if {
	not access.result with input as object.union(_input(null, {}), {"policy": "no_such_policy"})
}

test_input_missing_a_signal_decides_nothing if {
	not access.result with input as {"policy": "terms_of_service", "organisation": null, "signals": object.remove(_clean_signals, ["ip_is_vpn"])}
		with data.access.policies.terms_of_service as _fixture
		with data.regions as _fixture_four
}

test_input_without_signals_decides_nothing if {
	not access.result with input as {"policy": "terms_of_service", "organisation": null, "signals": "none"}
		with data.access.policies.terms_of_service as _fixture
		with data.regions as _fixture_four
}

test_organisation_without_an_id_decides_nothing if {
	not access.result with input as _input({"decision": "allow"}, {})
		with data.access.policies.terms_of_service as _fixture
		with data.regions as _fixture_four
}

# The organisation given by id alone: its screened decision from the bundle
# (data.access.organisations), by id or identifier alias; not screened is review.

_screened_organisations := {
	"decisions": {
		"org-deny": {"decision": "deny", "reasons": [{"rule_id": "TOS-OWN-2", "code": "OWNED_BY_RESTRICTED"}]},
		"org-allow": {"decision": "allow", "reasons": []},
	},
	"aliases": {
		"org-deny": "org-deny",
		"XI-LEI:5493001KJTIIGC8Y1R12": "org-deny",
		"org-allow": "org-allow",
	},
}

_decide_by_id(id, changes) := result if {
	result := access.result with input as _input({"id": id}, changes)
		with data.access.policies.terms_of_service as _fixture
		with data.regions as _fixture_four
		with data.access.organisations as _screened_organisations
}

test_organisation_by_alias_takes_its_screened_decision if {
	result := _decide_by_id("XI-LEI:5493001KJTIIGC8Y1R12", {})
	result.decision == "deny"
	some reason in result.reasons
	reason.organisation == "org-deny"
	reason.code == "OWNERSHIP_DECISION"
	reason.ownership_rule_ids == ["TOS-OWN-2"]
}

test_screened_allowed_organisation_is_decided_by_its_signals if {
	_decide_by_id("org-allow", {}).decision == "allow"
	_decide_by_id("org-allow", {"billing_country": "RU"}).decision == "deny"
}

test_organisation_not_in_the_bundle_is_review_never_allow if {
	result := _decide_by_id("unknown-org", {})
	result.decision == "review"
	some reason in result.reasons
	reason.code == "ORGANISATION_NOT_SCREENED"
	reason.effect == "review"
}

test_organisation_not_screened_is_review_even_if_review_is_mapped_to_none if {
	policy := _policy_with({"ownership_decision_effects": {"allow": "none", "deny": "deny", "review": "none"}})
	result := access.result with input as _input({"id": "unknown-org"}, {})
		with data.access.policies.terms_of_service as policy
		with data.regions as _fixture_four
		with data.access.organisations as _screened_organisations
	result.decision == "review"
}

test_organisation_not_screened_is_denied_where_review_is_mapped_to_deny if {
	policy := _policy_with({"ownership_decision_effects": {"allow": "none", "deny": "deny", "review": "deny"}})
	result := access.result with input as _input({"id": "unknown-org"}, {})
		with data.access.policies.terms_of_service as policy
		with data.regions as _fixture_four
	result.decision == "deny"
}

test_organisation_with_a_decision_and_an_id_only_input_are_not_mixed if {
	not access.result with input as _input({"id": 7}, {})
	not access.result with input as _input({"id": "org-1", "decision": 1}, {})
}
