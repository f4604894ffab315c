"""An allow says what the rules considered, and every engine says the same: the embedded engine,
the shipped Wasm module and a real OPA server give one record (data.ownership.considered)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from tos_policy import evaluate, facts_from_document
from tos_policy.engines import compiled
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.engines.opa import OpaEngine
from tos_policy.engines.wasm import WasmEngine
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.records import decision_record

pytestmark = pytest.mark.opa


def _facts(threshold: int) -> dict[str, Any]:
    """A restricted company holds 5 points below the threshold; 3% of the rest is undisclosed."""
    held = threshold - 5
    return {
        "entities": [
            {"id": "cn", "type": "company", "headquarters": "CN", "jurisdiction": "CN"},
            {"id": "us", "type": "company", "headquarters": "US", "jurisdiction": "US", "disclosure": "full"},
            {"id": "de", "type": "company", "headquarters": "DE", "jurisdiction": "DE"},
        ],
        "ownership": [
            {"owner": "cn", "asset": "de", "percentage": held},
            {"owner": "us", "asset": "de", "percentage": 100 - held - 3},
        ],
    }


def test_every_engine_gives_the_same_considered_record(rules: RuleSet, opa_server: Any) -> None:
    threshold = int(rules.profile(str(rules.policy_set["default_profile"]))["threshold_percent"])
    facts = facts_from_document(_facts(threshold))
    module = compiled.module_for(rules, build=False)
    assert module is not None, "no shipped Wasm module for the rules: run scripts/build-wasm"
    records = []
    for engine in (EmbeddedEngine(rules), WasmEngine(rules, module), OpaEngine(rules, opa_server.url, timeout=10.0)):
        try:
            report = evaluate(facts, rules, engine, as_of=date(2026, 12, 1), entity_ids=["de"])
        finally:
            engine.close()
        records.append(json.loads(json.dumps(decision_record(report, report.decisions[0]))))
    assert records[0]["decision"] == "allow"
    assert records[0]["considered"] and records[1:] == records[:1] * 2
    (below,) = [note for note in records[0]["considered"] if note["code"] == "BELOW_THRESHOLD"]
    assert (below["share_min"], below["threshold_percent"]) == (str(threshold - 5), threshold)
    (missing,) = [note for note in records[0]["considered"] if note["code"] == "UNDISCLOSED_BELOW_THRESHOLD"]
    assert (missing["undisclosed"], missing["share_max"]) == ("3", str(threshold - 2))
