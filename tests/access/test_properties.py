"""The issue's guarantees as properties, over random requests and ownership graphs:

1. a restricted organisation is never allowed, whatever the request's signals say;
2. a clean organisation with all-clean signals is always allowed;
3. adding a VPN (or proxy, or hosting) flag never turns deny into allow, nor lowers any decision.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tos_policy.access import AccessDecision, decide_access, request_from_document
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.facts.load import facts_from_document
from tos_policy.policy.ruleset import RuleSet

from ..conftest import AS_OF
from ..strategies import ownership_graphs
from .strategies import CLEAN, FLAGS, POLICIES, RANK, RESTRICTED, request, signals

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ORGANISATION_TYPES = ["company", "organization", "public_body"]


def decide(
    document: dict[str, Any], facts: dict[str, Any] | None, rules: RuleSet, engine: EmbeddedEngine, policy: str
) -> AccessDecision:
    loaded = facts_from_document(facts) if facts is not None else None
    return decide_access(request_from_document(document), loaded, rules, engine, as_of=AS_OF, policy=policy)


@st.composite
def restricted_applicants(draw: st.DrawFn) -> dict[str, Any]:
    """A random, unrelated ownership graph, plus the organisation "applicant", restricted in one of the
    ways the ownership rules know: its own countries, a majority stake (direct, aggregated or through a
    restricted intermediary), control, or being a restricted organisation's branch."""
    graph = draw(ownership_graphs(max_entities=6))
    country = draw(st.sampled_from(RESTRICTED))
    clean = draw(st.sampled_from(CLEAN))
    applicant = {"id": "applicant", "type": draw(st.sampled_from(ORGANISATION_TYPES))}
    root = {"id": "root", "type": "company", "headquarters": country, "jurisdiction": draw(st.sampled_from(CLEAN))}
    how = draw(
        st.sampled_from(["headquarters", "jurisdiction", "stake", "aggregated", "chain", "control", "branch"])
    )
    entities, links = [applicant], []
    applicant.update(headquarters=clean, jurisdiction=clean)
    if how in ("headquarters", "jurisdiction"):
        applicant[how] = country
    else:
        entities.append(root)
    if how == "stake":
        links.append({"owner": "root", "asset": "applicant", "percentage": str(draw(st.integers(50, 100)))})
    elif how == "aggregated":
        first = draw(st.integers(1, 49))
        second = draw(st.integers(50 - first, 100 - first))
        other = {"id": "root2", "type": "company", "headquarters": draw(st.sampled_from(RESTRICTED))}
        entities.append(other)
        links += [
            {"owner": "root", "asset": "applicant", "percentage": str(first)},
            {"owner": "root2", "asset": "applicant", "percentage": str(second)},
        ]
    elif how == "chain":
        entities.append({"id": "middle", "type": "company", "headquarters": clean, "jurisdiction": clean})
        links += [
            {"owner": "root", "asset": "middle", "percentage": str(draw(st.integers(50, 100)))},
            {"owner": "middle", "asset": "applicant", "percentage": str(draw(st.integers(50, 100)))},
        ]
    elif how == "control":
        kind = draw(st.sampled_from(["consolidation", "voting_majority"]))
        links.append({"owner": "root", "asset": "applicant", "kind": kind})
    elif how == "branch":
        links.append({"owner": "root", "asset": "applicant", "kind": "branch"})
    return {"entities": graph["entities"] + entities, "ownership": graph["ownership"] + links}


@SETTINGS
@given(facts=restricted_applicants(), signal_values=signals(), data=st.data())
def test_a_restricted_organisation_is_never_allowed_whatever_the_signals_say(
    access_rules: RuleSet, access_engine: EmbeddedEngine, facts: dict[str, Any], signal_values: dict[str, Any],
    data: st.DataObject,
) -> None:
    policy = data.draw(st.sampled_from(POLICIES))  # every policy variant denies on an ownership deny
    outcome = decide(request("applicant", signal_values), facts, access_rules, access_engine, policy)
    event(f"signals alone would give {len(outcome.reasons) - 1} more reason(s)")
    assert outcome.organisation is not None and outcome.organisation["decision"] == "deny"
    assert outcome.decision == "deny"
    assert {"rule_id": "TOS-ACC-1", "signal": "organisation", "effect": "deny"}.items() <= outcome.reasons[0].items()


@SETTINGS
@given(facts=ownership_graphs(max_entities=8, clean_only=True), signal_values=signals(clean_only=True), data=st.data())
def test_a_clean_organisation_with_clean_signals_is_always_allowed(
    rules: RuleSet, engine: EmbeddedEngine, facts: dict[str, Any], signal_values: dict[str, Any], data: st.DataObject
) -> None:
    # Clean signals: every country outside the restricted regions or unknown; any VPN/proxy/hosting flags
    # (a flag alone is not a reason), any reseller with clean countries.
    organisation = data.draw(st.sampled_from([None, *(entity["id"] for entity in facts["entities"])]))
    outcome = decide(request(organisation, signal_values), facts, rules, engine, "terms_of_service")
    assert outcome.decision == "allow", outcome.reasons
    assert outcome.reasons == []
    if organisation is not None:
        assert outcome.organisation is not None and outcome.organisation["decision"] == "allow"


# Organisations of every ownership outcome, for property 3.
MIXED_FACTS = {
    "entities": [
        {"id": "clean", "type": "company", "headquarters": "DE", "jurisdiction": "DE", "disclosure": "full"},
        {"id": "restricted", "type": "company", "headquarters": "CN", "jurisdiction": "KY"},
        {"id": "owned", "type": "company", "headquarters": "SG", "jurisdiction": "SG"},
        {"id": "unknown-hq", "type": "company", "headquarters": None, "jurisdiction": "SG"},
    ],
    "ownership": [{"owner": "restricted", "asset": "owned", "percentage": "50"}],
}


@SETTINGS
@given(
    organisation=st.sampled_from([None, "clean", "restricted", "owned", "unknown-hq"]),
    signal_values=signals(flags=False),
    added=st.lists(st.sampled_from(FLAGS), min_size=1, unique=True),
    policy=st.sampled_from(POLICIES),
)
# Flags that do change the decision (allow -> review; review -> deny under a stricter policy).
@example(
    organisation=None,
    signal_values={"reseller": {"name": "R", "country": "CN", "end_customer_country": "US"}},
    added=["ip_is_proxy"],
    policy="terms_of_service",
)
@example(
    organisation="clean",
    signal_values={"reseller": {"name": "R", "country": "RU", "end_customer_country": "US"}},
    added=["ip_is_vpn"],
    policy="strict",
)
@example(
    organisation="owned", signal_values={"ip_country": "Russia"}, added=["ip_is_hosting"], policy="terms_of_service"
)
def test_adding_a_vpn_flag_never_turns_deny_into_allow(
    access_rules: RuleSet,
    access_engine: EmbeddedEngine,
    organisation: str | None,
    signal_values: dict[str, Any],
    added: list[str],
    policy: str,
) -> None:
    before = decide(request(organisation, signal_values), MIXED_FACTS, access_rules, access_engine, policy)
    flagged = copy.deepcopy(signal_values)
    flagged.update(dict.fromkeys(added, True))
    after = decide(request(organisation, flagged), MIXED_FACTS, access_rules, access_engine, policy)
    event(f"{before.decision} -> {after.decision}")
    if before.decision == "deny":
        assert after.decision == "deny"
    assert RANK[after.decision] >= RANK[before.decision]
    # A flag only adds reasons: every reason of the unflagged request is still there.
    assert all(reason in after.reasons for reason in before.reasons)
