"""Hypothesis strategies for access requests, and access policies beside the shipped one."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

RESTRICTED = ["CN", "IR", "KP", "RU"]
CLEAN = ["DE", "GB", "SG", "US", "NL", "AE", "KY", "FR"]
# How callers may spell a country: alpha-2, alpha-3, name (normalised by the evaluator).
SPELLINGS = {
    "CN": ["CN", "CHN", "China", "cn"],
    "IR": ["IR", "IRN", "Iran"],
    "KP": ["KP", "PRK", "DPRK"],
    "RU": ["RU", "RUS", "Russia"],
    "DE": ["DE", "DEU", "Germany"],
    "GB": ["GB", "GBR", "United Kingdom", "UK"],
    "SG": ["SG", "SGP", "Singapore"],
    "US": ["US", "USA", "United States"],
    "NL": ["NL", "NLD", "Netherlands"],
    "AE": ["AE", "ARE"],
    "KY": ["KY", "CYM"],
    "FR": ["FR", "FRA", "France"],
}
COUNTRY_SIGNALS = ["billing_country", "phone_country", "id_document_country", "ip_country"]
FLAGS = ["ip_is_vpn", "ip_is_proxy", "ip_is_hosting"]
RANK = {"allow": 0, "review": 1, "deny": 2}

# Access policies beside the shipped one, so that the properties and the engine parity
# also run the rules' other branches (every effect, fewer flags, unknown signals read
# as review or deny).
VARIANT_POLICIES: dict[str, dict[str, Any]] = {
    "strict": {
        "signal_effects": {
            "billing_country": "deny",
            "phone_country": "deny",
            "id_document_country": "deny",
            "ip_country": "deny",
            "reseller_country": "review",
            "reseller_end_customer_country": "deny",
        },
        "anonymiser_effect": "deny",
        "unknown_country_effects": {
            "billing_country": "review",
            "phone_country": "none",
            "id_document_country": "none",
            "ip_country": "review",
            "reseller_country": "none",
            "reseller_end_customer_country": "deny",
        },
    },
    "lenient": {
        "ownership_decision_effects": {"allow": "none", "deny": "deny", "review": "none"},
        "signal_effects": {
            "billing_country": "review",
            "phone_country": "none",
            "id_document_country": "review",
            "ip_country": "none",
            "reseller_country": "none",
            "reseller_end_customer_country": "review",
        },
        "anonymiser_flags": ["ip_is_vpn"],
        "anonymiser_signals": ["ip_country", "phone_country"],
    },
    "no_anonymiser_rule": {"anonymiser_effect": "none", "anonymiser_flags": []},
}
POLICIES = ["terms_of_service", *VARIANT_POLICIES]


def with_variant_policies(data: dict[str, Any]) -> dict[str, Any]:
    """The rules' data with VARIANT_POLICIES added next to the shipped access policy."""
    data = copy.deepcopy(data)
    policies = data["access"]["policies"]
    base = policies["terms_of_service"]
    for name, changes in VARIANT_POLICIES.items():
        policies[name] = {**copy.deepcopy(base), **changes}
    return data


def countries(pool: list[str], unknown: bool = True) -> st.SearchStrategy[str | None]:
    """A country from `pool`, spelled in one of the ways callers spell it; or None (unknown)."""
    spelled = st.sampled_from(pool).flatmap(lambda code: st.sampled_from(SPELLINGS[code]))
    return st.one_of(st.none(), spelled) if unknown else spelled


@st.composite
def signals(draw: st.DrawFn, clean_only: bool = False, flags: bool | None = None) -> dict[str, Any]:
    """The `signals` object of a request; keys are sometimes left out (unknown / not flagged).
    flags=None: any flags; False: none set; True: every one set."""
    pool = CLEAN if clean_only else CLEAN + RESTRICTED
    out: dict[str, Any] = {}
    for name in COUNTRY_SIGNALS:
        if draw(st.integers(0, 5)) > 0:
            out[name] = draw(countries(pool))
    for name in FLAGS:
        value = draw(st.booleans()) if flags is None else flags
        if value or draw(st.booleans()):
            out[name] = value
    if draw(st.booleans()):
        reseller: dict[str, Any] = {"name": draw(st.sampled_from(["Nimbus Cloud", "Stratus Marketplace", "Reseller"]))}
        for key in ("country", "end_customer_country"):
            if draw(st.integers(0, 3)) > 0:
                reseller[key] = draw(countries(pool))
        out["reseller"] = reseller
    elif draw(st.booleans()):
        out["reseller"] = None
    return out


def request(organisation: str | None, signal_values: dict[str, Any]) -> dict[str, Any]:
    return {"organisation": organisation, "signals": signal_values}
