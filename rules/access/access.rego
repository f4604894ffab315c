# METADATA
# title: Access requests
# description: >-
#   Decides a sign-up or API-key request under the terms of service: from the
#   ownership decision of the account's organisation (computed by the evaluator
#   with the ownership rules) and the request's signals (billing, phone,
#   identity-document and IP countries, VPN/proxy/hosting flags, reseller).
#   Deny overrides review, review overrides allow. Every reason names the
#   signal that gave it.
# related_resources:
#   - description: Terms of Service, section 3.3 (access from restricted regions)
#     ref: https://example.com/terms-of-service#section-3-3
# custom:
#   rule_id: TOS-ACC
#   words:
#     billing_country: The billing country
#     phone_country: The phone number's country
#     id_document_country: The identity document's issuing country
#     ip_country: The IP address's country
#     reseller_country: The reseller's country
#     reseller_end_customer_country: The reseller's end customer's country
#     ip_is_vpn: a known VPN exit
#     ip_is_proxy: a known proxy
#     ip_is_hosting: a hosting address
#     deny: denied
#     review: left for review
#   version: 2.0.0
#   effective_date: "2026-12-01"
package access

import data.regions

# Input of `result` (schemas/access-input.schema.json; the evaluator builds it
# from REQUEST.json, schemas/access-request.schema.json):
#   policy        name of a policy under data.access.policies
#   organisation  null (an individual), or {id, decision, reasons}: the
#                 account's organisation and its ownership decision
#                 (allow | deny | review) with the ownership reasons, or
#                 {id} alone: the decision is looked up by id or identifier
#                 alias in data.access.organisations (screened decisions
#                 packed into the bundle); one not found there is review
#   signals       {billing_country, phone_country, id_document_country,
#                  ip_country, ip_is_vpn, ip_is_proxy, ip_is_hosting, reseller}
#                 every key present; a country is an ISO 3166-1 alpha-2 code or
#                 null (unknown); reseller is null (a direct request) or
#                 {name, country, end_customer_country}
# An unknown policy or an input without every signal leaves `result`
# undefined: an error, never an allow.

# METADATA
# title: Access decision
# description: >-
#   The decision (deny, review or allow) and every reason behind it, sorted.
# entrypoint: true
# schemas:
#   - input: schema["access-input.schema"]
# custom:
#   rule_id: TOS-ACC-RESULT
result := {
	"policy": input.policy,
	"decision": decision,
	"reasons": sort([reason | some reason in reasons]),
} if _well_formed

# METADATA
# title: Access policy in force
# description: The policy data named by input.policy (data.access.policies).
# custom:
#   rule_id: TOS-ACC-POLICY
policy := data.access.policies[input.policy]

_well_formed if {
	is_object(policy)
	is_object(input.signals)
	count(_missing_signals) == 0
	_is_organisation_input(input.organisation)
}

_signal_fields := [
	"billing_country",
	"phone_country",
	"id_document_country",
	"ip_country",
	"ip_is_vpn",
	"ip_is_proxy",
	"ip_is_hosting",
	"reseller",
]

_missing_signals := {field |
	some field in _signal_fields
	not field in object.keys(input.signals)
}

_is_organisation_input(null)

_is_organisation_input(organisation) if {
	is_string(organisation.id)
	is_string(organisation.decision)
}

_is_organisation_input(organisation) if {
	is_string(organisation.id)
	not "decision" in object.keys(organisation)
}

# METADATA
# title: The organisation's ownership decision
# description: >-
#   As the input gives it, or, for an organisation given by id alone, as
#   screened and packed into the bundle (data.access.organisations), found by
#   its id or any identifier alias. An organisation the bundle does not hold
#   has not been screened: its decision is review, never allow.
# custom:
#   rule_id: TOS-ACC-ORGANISATION
organisation := input.organisation if {
	is_string(input.organisation.decision)
} else := _screened(input.organisation.id)

# (object.get rather than indexing by a variable bound by another lookup,
# which the embedded engine's compiler cannot take.)
_screened(id) := object.union(entry, {"id": key, "screened": true}) if {
	key := object.get(data.access.organisations.aliases, id, null)
	entry := data.access.organisations.decisions[key]
} else := {
	"id": id,
	"decision": "review",
	"screened": false,
	"reasons": [{"rule_id": "TOS-ACC-1", "code": "ORGANISATION_NOT_SCREENED"}],
}

# METADATA
# title: Every reason
# description: The reasons of rules 1 to 6 together.
# custom:
#   rule_id: TOS-ACC-REASONS
reasons := ((((organisation_reasons | declared_country_reasons) | ip_location_reasons) | anonymised_ip_reasons) | reseller_reasons) | unknown_country_reasons

# METADATA
# title: Reasons to deny
# description: Reasons whose effect is deny.
# custom:
#   rule_id: TOS-ACC-DENY
deny contains reason if {
	some reason in reasons
	reason.effect == "deny"
}

# METADATA
# title: Reasons to review
# description: >-
#   Every other reason. An effect the rules do not know is read as review,
#   never as allow.
# custom:
#   rule_id: TOS-ACC-REVIEW
review contains reason if {
	some reason in reasons
	reason.effect != "deny"
}

# METADATA
# title: Deny overrides review, review overrides allow
# description: Deny when any reason denies; else review when any reason remains; else allow.
# custom:
#   rule_id: TOS-ACC-DECISION
decision := "deny" if {
	count(deny) > 0
} else := "review" if {
	count(review) > 0
} else := "allow"

# The country signals of the request, by name. The reseller's signals are
# present only when the request came through a reseller, so a direct request
# never has an "unknown" reseller country.
_country_signals := object.union(_direct_country_signals, _reseller_country_signals)

_direct_country_signals := {
	"billing_country": input.signals.billing_country,
	"phone_country": input.signals.phone_country,
	"id_document_country": input.signals.id_document_country,
	"ip_country": input.signals.ip_country,
}

_reseller_country_signals := {
	"reseller_country": object.get(input.signals.reseller, "country", null),
	"reseller_end_customer_country": object.get(input.signals.reseller, "end_customer_country", null),
} if {
	is_object(input.signals.reseller)
} else := {}

# A signal's place: its country and, when the request gave one, its ISO 3166-2
# subdivision (input.signals.subdivisions, by signal name). The regions are
# the shared list (data.regions), the same the ownership rules read.
_signal_subdivision(signal) := object.get(object.get(input.signals, "subdivisions", {}), signal, null)

_in_restricted_region(signal) if regions.in_restricted_region(_country_signals[signal], _signal_subdivision(signal))

# What a signal in a restricted region does (deny, review or none). A signal
# the policy does not name is read with caution: review.
_signal_effect(signal) := object.get(policy.signal_effects, signal, "review")

# A reason when `signal` is in a restricted region and the policy gives that
# signal an effect; or, when it is in a review region (Legal has not decided
# whether it is restricted) and the signal has an effect, a review.
_restricted_signal_reason(rule_id, code, signal) := reason if {
	_in_restricted_region(signal)
	effect := _signal_effect(signal)
	effect != "none"
	reason := _place_reason({"rule_id": rule_id, "code": code, "effect": effect}, signal)
}

_restricted_signal_reason(rule_id, _, signal) := reason if {
	regions.in_review_region(_country_signals[signal], _signal_subdivision(signal))
	_signal_effect(signal) != "none"
	code := regions.review_code(_country_signals[signal], _signal_subdivision(signal))
	reason := _place_reason({"rule_id": rule_id, "code": code, "effect": "review"}, signal)
}

_place_reason(base, signal) := object.union(base, {"signal": signal, "country": _country_signals[signal]}) if {
	_signal_subdivision(signal) == null
} else := object.union(base, {"signal": signal, "country": _country_signals[signal], "subdivision": _signal_subdivision(signal)})

# METADATA
# title: Rule 1 - organisation restricted by ownership
# description: >-
#   The account's organisation is decided by the ownership rules (TOS-OWN-*).
#   What its ownership decision means for access is policy data: by default an
#   ownership deny denies and an ownership review leads to review. An
#   individual (no organisation) is decided from the signals only.
# related_resources:
#   - description: Terms of Service, section 3.3 (access from restricted regions)
#     ref: https://example.com/terms-of-service#section-3-3
# custom:
#   rule_id: TOS-ACC-1
#   messages:
#     OWNERSHIP_DECISION: >-
#       The organisation {organisation} is {ownership_decision_words} by the
#       ownership rules ({ownership_rule_ids_list}).
organisation_reasons contains reason if {
	is_object(organisation)
	effect := _organisation_effect
	effect != "none"
	reason := {
		"rule_id": "TOS-ACC-1",
		"code": _organisation_code,
		"effect": effect,
		"signal": "organisation",
		"organisation": organisation.id,
		"ownership_decision": organisation.decision,
		"ownership_rule_ids": _ownership_rule_ids(organisation),
	}
}

# An organisation the bundle does not hold is review at least, whatever the
# policy maps ownership decisions to: an unknown is never an allow.
_organisation_effect := "review" if {
	organisation.screened == false
	object.get(policy.ownership_decision_effects, "review", "review") != "deny"
} else := object.get(policy.ownership_decision_effects, organisation.decision, "review")

_organisation_code := "ORGANISATION_NOT_SCREENED" if {
	organisation.screened == false
} else := "OWNERSHIP_DECISION"

_ownership_rule_ids(organisation) := sort({rule_id |
	some ownership_reason in object.get(organisation, "reasons", [])
	rule_id := ownership_reason.rule_id
})

# METADATA
# title: Rule 2 - declared country in a restricted region
# description: >-
#   A billing, phone or identity-document country in a restricted region
#   denies by default: the customer has told us where they are.
# related_resources:
#   - description: Terms of Service, section 3.3 (access from restricted regions)
#     ref: https://example.com/terms-of-service#section-3-3
# custom:
#   rule_id: TOS-ACC-2
#   messages:
#     RESTRICTED_DECLARED_COUNTRY:
#       - "{signal_words} is {subdivision}, a restricted region."
#       - "{signal_words} is {country}, a restricted region."
#     REVIEW_REGION:
#       - "{signal_words} is {subdivision}, a region listed for review (Legal has not decided)."
#       - "{signal_words} is {country}, a region listed for review (Legal has not decided)."
#     SUBDIVISION_UNKNOWN: >-
#       {signal_words} is {country}, but its subdivision is unknown; some
#       subdivisions of that country are restricted or listed for review.
declared_country_reasons contains reason if {
	some signal in ["billing_country", "phone_country", "id_document_country"]
	reason := _restricted_signal_reason("TOS-ACC-2", "RESTRICTED_DECLARED_COUNTRY", signal)
}

# METADATA
# title: Rule 3 - IP address in a restricted region
# description: >-
#   An IP address that geolocates to a restricted region leads to review by
#   default: geolocation is an estimate, and travel or roaming can explain it.
# related_resources:
#   - description: Terms of Service, section 3.3 (access from restricted regions)
#     ref: https://example.com/terms-of-service#section-3-3
# custom:
#   rule_id: TOS-ACC-3
#   messages:
#     RESTRICTED_IP_LOCATION: "The IP address geolocates to {country}, a restricted region."
#     REVIEW_REGION:
#       - "{signal_words} is {subdivision}, a region listed for review (Legal has not decided)."
#       - "{signal_words} is {country}, a region listed for review (Legal has not decided)."
#     SUBDIVISION_UNKNOWN: >-
#       {signal_words} is {country}, but its subdivision is unknown; some
#       subdivisions of that country are restricted or listed for review.
ip_location_reasons contains reason if {
	reason := _restricted_signal_reason("TOS-ACC-3", "RESTRICTED_IP_LOCATION", "ip_country")
}

# METADATA
# title: Rule 4 - VPN, proxy or hosting address with a restricted-region signal
# description: >-
#   An IP address known as a VPN, proxy or hosting address, together with any
#   country signal in a restricted region, leads to review by default: the
#   address may hide where the request really comes from. A flag alone does
#   not.
# related_resources:
#   - description: Terms of Service, section 3.3 (access from restricted regions)
#     ref: https://example.com/terms-of-service#section-3-3
# custom:
#   rule_id: TOS-ACC-4
#   messages:
#     ANONYMISED_IP_WITH_RESTRICTED_SIGNAL: >-
#       The IP address is {signal_words}, and a country signal is in a
#       restricted region ({restricted_signals_list}).
anonymised_ip_reasons contains reason if {
	some flag in policy.anonymiser_flags
	input.signals[flag] == true
	count(_restricted_region_signals) > 0
	policy.anonymiser_effect != "none"
	reason := {
		"rule_id": "TOS-ACC-4",
		"code": "ANONYMISED_IP_WITH_RESTRICTED_SIGNAL",
		"effect": policy.anonymiser_effect,
		"signal": flag,
		"restricted_signals": sort(_restricted_region_signals),
	}
}

# The country signals, among those the policy counts for rule 4, that are in a
# restricted region.
_restricted_region_signals := {signal |
	some signal in policy.anonymiser_signals
	_in_restricted_region(signal)
}

# METADATA
# title: Rule 5 - reseller's end customer in a restricted region
# description: >-
#   A request through a reseller or cloud platform whose end customer is in a
#   restricted region is denied by default. The reseller's own country has no
#   effect by default, but counts for rule 4.
# related_resources:
#   - description: Terms of Service, section 3.3 (access from restricted regions)
#     ref: https://example.com/terms-of-service#section-3-3
# custom:
#   rule_id: TOS-ACC-5
#   messages:
#     RESTRICTED_END_CUSTOMER: "The end customer of {reseller} is in {country}, a restricted region."
#     RESTRICTED_RESELLER: "The request came through {reseller}, in {country}, a restricted region."
#     REVIEW_REGION: "{signal_words} is {country}, a region listed for review (Legal has not decided)."
#     SUBDIVISION_UNKNOWN: "{signal_words} is {country}, but its subdivision is unknown."
reseller_reasons contains reason if {
	some signal in ["reseller_end_customer_country", "reseller_country"]
	found := _restricted_signal_reason("TOS-ACC-5", _reseller_codes[signal], signal)
	reason := object.union(found, {"reseller": input.signals.reseller.name})
}

_reseller_codes := {
	"reseller_end_customer_country": "RESTRICTED_END_CUSTOMER",
	"reseller_country": "RESTRICTED_RESELLER",
}

# METADATA
# title: Rule 6 - unknown country signals
# description: >-
#   An unknown (missing) country signal is not by itself a reason by default.
#   The policy may name signals whose absence leads to review or deny.
# related_resources:
#   - description: Terms of Service, section 3.3 (access from restricted regions)
#     ref: https://example.com/terms-of-service#section-3-3
# custom:
#   rule_id: TOS-ACC-6
#   messages:
#     COUNTRY_UNKNOWN: "{signal_words} is unknown."
unknown_country_reasons contains reason if {
	some signal in object.keys(_country_signals)
	_country_signals[signal] == null
	effect := object.get(policy.unknown_country_effects, signal, "none")
	effect != "none"
	reason := {"rule_id": "TOS-ACC-6", "code": "COUNTRY_UNKNOWN", "effect": effect, "signal": signal, "country": null}
}
