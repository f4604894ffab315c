"""A profile may name what its ownership reasons cite (`clause`, its regime's source): every
reason decided under it cites that; a profile without one keeps each rule's own clause (its
METADATA)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

from tos_policy.api import Policy
from tos_policy.facts.load import facts_from_document

from .fixture_rules import fixture_rules_dir

CLAUSE = "A regime's guidance, paragraph 4"
FACTS = {
    "entities": [
        {"id": "parent", "type": "company", "headquarters": "CN", "jurisdiction": "CN", "disclosure": "full"},
        {"id": "owned", "type": "company", "headquarters": "DE", "jurisdiction": "DE", "disclosure": "full"},
    ],
    "ownership": [{"owner": "parent", "asset": "owned", "percentage": "60"}],
}


def _rules_with_clause(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(fixture_rules_dir(), rules)
    profile = rules / "ownership" / "profiles" / "terms_of_service" / "data.json"
    data = json.loads(profile.read_text())
    data["clause"] = CLAUSE
    profile.write_text(json.dumps(data))
    return rules


def _clauses(rules: Path | None) -> set[str]:
    policy = Policy.load(rules) if rules is not None else Policy.load()
    report = policy.decide_batch(facts_from_document(FACTS), as_of=date(2026, 12, 1))
    found = {reason.get("clause") for record in report for reason in record["reasons"]}
    assert found, "the facts must give reasons"
    return {str(clause) for clause in found}


def test_a_profile_clause_is_what_its_reasons_cite(tmp_path: Path) -> None:
    assert _clauses(_rules_with_clause(tmp_path)) == {CLAUSE}


def test_without_a_profile_clause_each_rule_cites_its_own() -> None:
    policy = Policy.load()
    expected = {info.clause for info in policy.rules.rules.values() if info.clause}
    clauses = _clauses(None)
    assert clauses and clauses <= expected and CLAUSE not in clauses
