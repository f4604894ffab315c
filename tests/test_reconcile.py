"""Reconciliation before deciding: one stake reported several times is one stake, and facts
that still do not add up put their own entity under review, never the whole registry."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tos_policy import evaluate
from tos_policy.cli.main import main
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.facts.load import load_facts
from tos_policy.policy.ruleset import RuleSet

from .conftest import AS_OF
from .strategies import ownership_graphs

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _company(entity_id: str, country: str, **extra: Any) -> dict[str, Any]:
    return {"id": entity_id, "type": "company", "headquarters": country, "jurisdiction": country, **extra}


def _reasons(document: dict[str, Any], tmp_path: Path, entity: str) -> tuple[str, list[dict[str, Any]]]:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(document))
    result = CliRunner().invoke(main, ["evaluate", str(path), "--as-of", "2025-10-01", "--entity", entity])
    assert result.exit_code == 0, result.stderr
    [decision] = json.loads(result.stdout)["decisions"]
    return decision["decision"], decision["reasons"]


def test_the_same_stake_from_two_sources_is_one_stake_not_a_sum(decide: Any) -> None:
    entities = [_company("cn", "CN"), _company("gb", "GB", disclosure="full")]
    once = {"entities": entities, "ownership": [{"owner": "cn", "asset": "gb", "percentage": "30"}]}
    twice = copy.deepcopy(once)
    twice["ownership"].append({"owner": "cn", "asset": "gb", "percentage": "30", "start_date": "2020-01-01"})
    assert decide(once)["gb"] == decide(twice)["gb"] == "allow"  # 30%, not 60%


def test_a_restated_stake_is_the_range_of_its_reports(decide: Any) -> None:
    entities = [_company("cn", "CN"), _company("gb", "GB", disclosure="full")]
    restated = {
        "entities": entities,
        "ownership": [
            {"owner": "cn", "asset": "gb", "percentage": "30"},
            {"owner": "cn", "asset": "gb", "percentage": "55"},
        ],
    }
    # 30% or 55%, never 85%: the sources disagree about the threshold, so review.
    assert decide(restated)["gb"] == "review"


def test_stakes_over_the_whole_review_that_company_alone(tmp_path: Path, decide: Any) -> None:
    document = {
        "entities": [
            _company("cn", "CN"),
            _company("us", "US", disclosure="full"),
            _company("sg", "SG", disclosure="full"),
            _company("de", "DE", disclosure="full"),
        ],
        "ownership": [
            {"owner": "cn", "asset": "sg", "percentage": "60"},
            {"owner": "us", "asset": "sg", "percentage": "60"},
            {"owner": "us", "asset": "de", "percentage": "100"},
        ],
    }
    decisions = decide(document)
    assert decisions == {"cn": "deny", "us": "allow", "sg": "review", "de": "allow"}
    decision, reasons = _reasons(document, tmp_path, "sg")
    flagged = [reason for reason in reasons if reason["code"] == "FACTS_INCONSISTENT"]
    assert decision == "review" and flagged[0]["flag"] == "stakes_over_100"


def test_ratios_and_a_person_held_by_a_company_are_flagged(decide: Any) -> None:
    document = {
        "entities": [
            _company("us", "US", disclosure="full"),
            _company("fr", "FR", disclosure="full"),
            _company("ratios", "GB", disclosure="full"),
            {"id": "mistyped", "type": "person", "headquarters": "GB", "jurisdiction": "GB"},
        ],
        "ownership": [
            {"owner": "us", "asset": "ratios", "percentage": "0.6"},
            {"owner": "fr", "asset": "ratios", "percentage": "0.4"},
            {"owner": "us", "asset": "mistyped", "percentage": "100"},
        ],
    }
    decisions = decide(document)
    assert decisions["ratios"] == "review"
    assert decisions["mistyped"] == "review"
    assert decisions["us"] == decisions["fr"] == "allow"


@SETTINGS
@given(graph=ownership_graphs(), data=st.data())
def test_adding_a_duplicate_report_of_any_stake_never_changes_any_decision(
    decide: Any, graph: dict[str, Any], data: st.DataObject
) -> None:
    stakes = [link for link in graph["ownership"] if link.get("kind", "shareholding") == "shareholding"]
    if not stakes:
        return
    again = copy.deepcopy(data.draw(st.sampled_from(stakes)))
    grown = {"entities": graph["entities"], "ownership": [*graph["ownership"], again]}
    assert decide(grown) == decide(graph)


@SETTINGS
@given(graph=ownership_graphs(), data=st.data())
def test_the_order_of_files_never_changes_any_decision(
    tmp_path_factory: Any, rules: RuleSet, engine: EmbeddedEngine, graph: dict[str, Any], data: st.DataObject
) -> None:
    directory = tmp_path_factory.mktemp("order")
    ownership = data.draw(st.permutations(graph["ownership"]))
    cut = data.draw(st.integers(0, len(ownership)))
    parts = [
        {"entities": graph["entities"], "ownership": ownership[:cut]},
        {"entities": [], "ownership": ownership[cut:]},
    ]
    names = []
    for index, part in enumerate(parts):
        path = directory / f"part{index}.json"
        path.write_text(json.dumps(part, default=str))
        names.append(path)
    outputs = []
    for order in (names, names[::-1]):
        report = evaluate(load_facts(order), rules, engine, as_of=AS_OF)
        outputs.append(sorted((item.entity.id, item.decision) for item in report.decisions))
    assert outputs[0] == outputs[1]
