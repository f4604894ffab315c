"""The machinery reads link and type meanings from the profile, never from their names:
which link kinds are stakes (link_effects) for share totals and wording, and which entity
types are unknown (unknown_types) for explanations. Checked with a fixture profile whose
meanings differ from the shipped ones."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date
from typing import Any

import pytest

from tos_policy import evaluate, facts_from_document
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.records import explain_text

AS_OF = date(2025, 10, 1)
SHIPPED = "terms_of_service"


@pytest.fixture(scope="module")
def variant(rules: RuleSet) -> tuple[RuleSet, EmbeddedEngine]:
    """The shipped rules plus a profile `variant`: consolidation counts as a stake, trusts are unknown."""
    data = copy.deepcopy(rules.data)
    profile: dict[str, Any] = copy.deepcopy(data["ownership"]["profiles"][SHIPPED])
    profile["link_effects"] = {**profile["link_effects"], "consolidation": "stake"}
    profile["unknown_types"] = ["trust"]
    data["ownership"]["profiles"]["variant"] = profile
    changed = dataclasses.replace(rules, data=data)
    return changed, EmbeddedEngine(changed)


def _facts(*links: dict[str, Any], asset_type: str = "company") -> Any:
    entities = [
        {"id": "cn", "type": "company", "name": "CN Parent", "headquarters": "CN", "jurisdiction": "CN"},
        {"id": "cn2", "type": "company", "headquarters": "CN", "jurisdiction": "CN"},
        {"id": "sg", "type": asset_type, "name": "SG Sub", "headquarters": "SG", "jurisdiction": "SG"},
    ]
    return facts_from_document({"entities": entities, "ownership": list(links)})


def test_a_kind_the_profile_counts_as_a_stake_is_worded_and_summed_as_one(
    variant: tuple[RuleSet, EmbeddedEngine],
) -> None:
    rules, engine = variant
    facts = _facts({"owner": "cn", "asset": "sg", "kind": "consolidation", "percentage": "60"})
    report = evaluate(facts, rules, engine, as_of=AS_OF, profile="variant", entity_ids=["sg"])
    item = report.decisions[0]
    assert [reason["code"] for reason in item.reasons] == ["OWNED_BY_RESTRICTED"]
    text = explain_text(report, item)
    assert "CN Parent (cn) holds 60%" in text
    assert "--60%-->" in text
    shipped = evaluate(facts, rules, engine, as_of=AS_OF, profile=SHIPPED, entity_ids=["sg"])
    assert "--consolidation-->" in explain_text(shipped, shipped.decisions[0])


def test_share_totals_count_the_profiles_stake_kinds(variant: tuple[RuleSet, EmbeddedEngine]) -> None:
    rules, engine = variant
    links = (
        {"owner": "cn", "asset": "sg", "kind": "consolidation", "percentage": "60"},
        {"owner": "cn2", "asset": "sg", "kind": "consolidation", "percentage": "60"},
    )
    facts = _facts(*links)
    shipped = evaluate(facts, rules, engine, as_of=AS_OF, profile=SHIPPED, entity_ids=["sg"])
    assert "FACTS_INCONSISTENT" not in [r["code"] for r in shipped.decisions[0].reasons]  # not shares here
    variant_report = evaluate(facts, rules, engine, as_of=AS_OF, profile="variant", entity_ids=["sg"])
    [decision] = variant_report.decisions  # shares there: 120% is flagged on "sg" alone, never an error
    assert decision.decision == "review"
    assert [r.get("flag") for r in decision.reasons if r["code"] == "FACTS_INCONSISTENT"] == ["stakes_over_100"]


def test_an_unknown_type_is_the_profiles(variant: tuple[RuleSet, EmbeddedEngine]) -> None:
    rules, engine = variant
    facts = _facts({"owner": "cn", "asset": "sg", "percentage": "60"}, asset_type="trust")
    report = evaluate(facts, rules, engine, as_of=AS_OF, profile="variant", entity_ids=["sg"])
    assert report.decisions[0].decision == "review"
    assert "Its type is unknown" in explain_text(report, report.decisions[0])
