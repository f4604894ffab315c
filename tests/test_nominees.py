"""Shares held for a principal (link kind nominee): read as the principal's stake and the
registered holder's title, an undisclosed principal as an unknown owner, the same way by
every plan and every reader. Decided with the fixture rules (nominee: stake,
held_as_nominee: review); what the shipped profiles decide is in tests/corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from tos_policy import facts_from_document
from tos_policy.cli.main import main
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.facts.streaming import load_streaming
from tos_policy.ownership.columnar import ColumnarFixpoint
from tos_policy.ownership.pipeline import evaluate
from tos_policy.ownership.screening import screen
from tos_policy.policy.ruleset import RuleSet

from .conftest import AS_OF


def _company(entity_id: str, country: str, **extra: Any) -> dict[str, Any]:
    return {"id": entity_id, "type": "company", "headquarters": country, "jurisdiction": country, **extra}


def _held(holder: str, asset: str, principal: str | None, percentage: int) -> dict[str, Any]:
    return {"owner": holder, "asset": asset, "kind": "nominee", "principal": principal, "percentage": percentage}


FACTS: dict[str, Any] = {
    "entities": [
        _company("cn", "CN"),
        _company("cn-nominee", "CN"),
        _company("nominee", "SG", disclosure="full"),
        _company("custodian", "GB", disclosure="full"),
        {"id": "founder", "type": "person", "headquarters": "SG"},
        *(
            _company(name, "SG", disclosure="full")
            for name in ("via-nominee", "two-nominees", "restricted-nominee", "undisclosed", "undisclosed-minority")
        ),
    ],
    "ownership": [
        _held("nominee", "via-nominee", "cn", 60),
        {"owner": "founder", "asset": "via-nominee", "percentage": 40},
        _held("nominee", "two-nominees", "cn", 30),
        _held("custodian", "two-nominees", "cn", 30),
        {"owner": "founder", "asset": "two-nominees", "percentage": 40},
        _held("cn-nominee", "restricted-nominee", "founder", 60),
        {"owner": "founder", "asset": "restricted-nominee", "percentage": 40},
        _held("nominee", "undisclosed", None, 60),
        {"owner": "founder", "asset": "undisclosed", "percentage": 40},
        _held("custodian", "undisclosed-minority", None, 30),
        {"owner": "founder", "asset": "undisclosed-minority", "percentage": 70},
    ],
}
EXPECTED = {
    "cn": "deny",
    "cn-nominee": "deny",
    "nominee": "allow",
    "custodian": "allow",
    "founder": "allow",
    "via-nominee": "deny",  # the principal's 60%
    "two-nominees": "deny",  # 30% + 30% through two holders: two stakes, not one reported twice
    "restricted-nominee": "review",  # a restricted holder: its title alone never allows
    "undisclosed": "review",  # an unknown owner may hold 60%
    "undisclosed-minority": "allow",  # an unknown owner of 30% beside a known 70%
}


def test_the_principal_holds_the_shares_and_the_holder_never_allows(decide: Any) -> None:
    assert decide(FACTS) == EXPECTED


def test_the_holder_is_not_a_second_owner_of_the_same_shares(decide: Any) -> None:
    """A restricted holder holding 30% for a restricted principal: 30%, not 60%, and review for the title."""
    document = {
        "entities": [_company("cn", "CN"), _company("cn-nominee", "CN"), _company("target", "SG", disclosure="full")],
        "ownership": [_held("cn-nominee", "target", "cn", 30)],
    }
    assert decide(document)["target"] == "review"
    document["ownership"][0]["percentage"] = 50
    assert decide(document)["target"] == "deny"


def test_reports_cite_the_principal_with_its_registered_holder(rules: RuleSet, engine: EmbeddedEngine) -> None:
    report = evaluate(facts_from_document(FACTS), rules, engine, as_of=AS_OF, entity_ids=["via-nominee", "undisclosed"])
    for item in report.decisions:
        owners = [owner for reason in item.reasons for owner in reason.get("owners", ())]
        assert [owner["held_by"] for owner in owners] == ["nominee"]
        principal = owners[0]["id"]
        assert principal == "cn" if item.entity.id == "via-nominee" else principal not in FACTS["entities"]
    assert [item.entity.id for item in report.decisions] == ["via-nominee", "undisclosed"]  # no placeholder decided


def test_the_columnar_plan_and_screen_decide_alike(rules: RuleSet, engine: EmbeddedEngine, tmp_path: Path) -> None:
    columnar = evaluate(facts_from_document(FACTS), rules, engine, as_of=AS_OF, driver=ColumnarFixpoint())
    assert {item.entity.id: item.decision for item in columnar.decisions} == EXPECTED
    lines = [orjson.dumps(record) for record in (*FACTS["entities"], *FACTS["ownership"])]
    (tmp_path / "facts.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    for workers in (1, 2):
        out = tmp_path / f"out{workers}.jsonl"
        screen(load_streaming([tmp_path / "facts.jsonl"]), rules, EmbeddedEngine, as_of=AS_OF, out=out, workers=workers)
        records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert {record["entity"]: record["decision"] for record in records} == EXPECTED


@pytest.mark.parametrize(
    ("link", "path", "value"),
    [
        ({"owner": "nominee", "asset": "target", "kind": "nominee", "percentage": 60}, "$.ownership[0]", "principal"),
        ({"owner": "nominee", "asset": "target", "principal": "cn", "percentage": 60}, "$.ownership[0]", "cn"),
        (_held("nominee", "target", "nobody", 60), "$.ownership[0].principal", "nobody"),
    ],
)
def test_a_principal_missing_misplaced_or_unknown_is_refused(
    tmp_path: Path, link: dict[str, Any], path: str, value: str
) -> None:
    document = {
        "entities": [_company("cn", "CN"), _company("nominee", "SG"), _company("target", "SG")],
        "ownership": [link],
    }
    file = tmp_path / "facts.json"
    file.write_text(json.dumps(document))
    result = CliRunner().invoke(main, ["evaluate", str(file), "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert f": {path}" in line and value in line
