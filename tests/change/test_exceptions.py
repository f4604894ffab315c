"""Exceptions granted by Legal: named, time-limited, one entity and one rule each; cited by
the decisions they change, never inherited by the entities below, listed in every report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ..conftest import uncited
from .conftest import ROOT, run

FACTS = {
    "entities": [
        {"id": "cn-parent", "type": "company", "name": "Beijing Parent Co", "headquarters": "CN", "jurisdiction": "CN"},
        {
            "id": "sg-hold",
            "type": "company",
            "name": "Singapore Holdings Pte Ltd",
            "headquarters": "SG",
            "jurisdiction": "SG",
        },
        {
            "id": "sg-sub",
            "type": "company",
            "name": "Singapore Operations Pte Ltd",
            "headquarters": "SG",
            "jurisdiction": "SG",
        },
        {
            "id": "sc-unknown-hq",
            "type": "company",
            "name": "Seychelles Unknown Ltd",
            "headquarters": None,
            "jurisdiction": "SC",
        },
        {"id": "gb-band", "type": "company", "name": "Banded Ltd", "headquarters": "GB", "jurisdiction": "GB"},
    ],
    "ownership": [
        {"owner": "cn-parent", "asset": "sg-hold", "percentage": "60"},
        {"owner": "sg-hold", "asset": "sg-sub", "percentage": "100"},
        {"owner": "cn-parent", "asset": "sc-unknown-hq", "percentage": "60"},
        {
            "owner": "cn-parent",
            "asset": "gb-band",
            "percentage_min": "25",
            "min_exclusive": True,
            "percentage_max": "50",
        },
    ],
}


def grant(entity: str, rule: str = "TOS-OWN-2", id: str = "EXC-2026-001", **extra: str) -> dict[str, Any]:
    return {
        "id": id,
        "entity": entity,
        "rule_id": rule,
        "reason": "Divestment agreed; licence GL-12 covers the wind-down",
        "approver": "Dana Counsel, General Counsel",
        "granted": "2026-01-01",
        "expires": "2027-01-01",
        **extra,
    }


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(FACTS))
    return path


def with_exceptions(repo: Path, *granted: dict[str, Any]) -> Path:
    (repo / "rules" / "exceptions" / "data.json").write_text(json.dumps({"granted": list(granted)}))
    return repo / "rules"


def evaluate(facts: Path, rules: Path, as_of: str = "2026-11-25", *extra: str) -> dict[str, Any]:
    code, out, err = run("evaluate", str(facts), "--rules", str(rules), "--as-of", as_of, *extra)
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["entity"]: item for item in report["decisions"]}


def test_an_exception_allows_its_entity_and_cites_itself(repo: Path, facts: Path) -> None:
    rules = with_exceptions(repo, grant("sg-hold"))
    report = evaluate(facts, rules)
    hold = by_id(report)["sg-hold"]
    assert hold["decision"] == "allow" and hold["reasons"] == [] and hold["paths"] == []
    [record] = hold["exceptions"]
    assert record["id"] == "EXC-2026-001" and record["approver"] == "Dana Counsel, General Counsel"
    assert record["note"].startswith("EXCEPTED: exception EXC-2026-001 (approved by Dana Counsel, General Counsel")
    assert [reason["code"] for reason in record["waived"]] == ["OWNED_BY_RESTRICTED"]
    assert record["waived"][0]["owners"][0]["id"] == "cn-parent"
    assert report["summary"]["excepted"] == 1
    assert report["exceptions"]["in_force"] == 1
    assert report["exceptions"]["exceptions"][0]["applied_to"] == ["sg-hold"]


def test_an_exception_is_not_inherited_by_the_entities_below(repo: Path, facts: Path) -> None:
    rules = with_exceptions(repo, grant("sg-hold"))
    sub = by_id(evaluate(facts, rules))["sg-sub"]
    assert sub["decision"] == "deny" and sub["exceptions"] == []
    assert sub["paths"] == [["cn-parent", "sg-hold", "sg-sub"]]
    code, out, err = run("explain", str(facts), "--rules", str(rules), "--as-of", "2026-11-25", "--entity", "sg-sub")
    assert code == 0, err
    assert "Singapore Operations Pte Ltd (sg-sub): DENY" in out
    assert (
        "Note: Singapore Holdings Pte Ltd (sg-hold) holds exception EXC-2026-001 (TOS-OWN-2); an exception covers only the entity it names"
        in out
    )
    code, out, err = run("explain", str(facts), "--rules", str(rules), "--as-of", "2026-11-25", "--entity", "sg-hold")
    assert out.startswith("Singapore Holdings Pte Ltd (sg-hold): ALLOW\n")
    assert "EXCEPTED: exception EXC-2026-001" in out and "  waived: Rule TOS-OWN-2: Restricted owners hold 60%" in out


@pytest.mark.parametrize(
    ("as_of", "decision", "status"),
    [
        ("2025-12-31", "deny", "not_yet_in_force"),  # before `granted`
        ("2026-01-01", "allow", "in_force"),  # `granted` is the first day
        ("2026-12-31", "allow", "in_force"),  # the last day
        ("2027-01-01", "deny", "expired"),  # `expires` is exclusive: no longer applies
    ],
)
def test_an_exception_applies_from_granted_until_the_day_before_expires(
    repo: Path, facts: Path, as_of: str, decision: str, status: str
) -> None:
    report = evaluate(facts, with_exceptions(repo, grant("sg-hold")), as_of)
    assert by_id(report)["sg-hold"]["decision"] == decision
    assert report["exceptions"]["exceptions"][0]["status"] == status
    assert report["exceptions"][status] == 1  # counted whatever its status: none hides


def test_only_the_excepted_rule_is_waived(repo: Path, facts: Path) -> None:
    rules = with_exceptions(
        repo,
        grant("cn-parent", id="EXC-2026-002"),  # the parent is restricted by Rule 1, not Rule 2
        grant("sc-unknown-hq", id="EXC-2026-003"),  # denied by Rule 2; unknown headquarters remains
        grant("gb-band", id="EXC-2026-004"),  # review by Rule 2 only
    )
    report = evaluate(facts, rules)
    decisions = by_id(report)
    assert decisions["cn-parent"]["decision"] == "deny" and decisions["cn-parent"]["exceptions"] == []
    unknown = decisions["sc-unknown-hq"]
    assert unknown["decision"] == "review"
    assert [reason["code"] for reason in unknown["reasons"]] == ["COUNTRY_UNKNOWN"]
    assert [record["id"] for record in unknown["exceptions"]] == ["EXC-2026-003"]
    assert decisions["gb-band"]["decision"] == "allow"
    listed = {record["id"]: record["applied_to"] for record in report["exceptions"]["exceptions"]}
    assert listed == {"EXC-2026-002": [], "EXC-2026-003": ["sc-unknown-hq"], "EXC-2026-004": ["gb-band"]}
    assert report["summary"] == {
        "allow": 1,
        "deny": 3,
        "review": 1,
        "excepted": 2,
        "undisclosed": 0,
        "not_screened": {"persons": 0, "placeholders": 0},
    }


def test_table_and_screen_list_the_exceptions(repo: Path, facts: Path, tmp_path: Path) -> None:
    rules = with_exceptions(repo, grant("sg-hold"), grant("gb-band", id="EXC-2025-009", expires="2026-02-01"))
    code, out, err = run("evaluate", str(facts), "--rules", str(rules), "--as-of", "2026-11-25", "--format", "table")
    assert code == 0, err
    assert "EXCEPTED EXC-2026-001 (TOS-OWN-2)" in out
    assert "Exceptions: 1 in force, 1 expired, 0 not yet in force; 1 decision(s) excepted." in out
    assert "EXC-2025-009 TOS-OWN-2 for gb-band (expired; granted 2026-01-01, expires 2026-02-01" in out
    target = tmp_path / "screen.jsonl"
    code, _, err = run("screen", str(facts), "--rules", str(rules), "--as-of", "2026-11-25", "--out", str(target))
    assert code == 0, err
    records = {record["entity"]: record for record in map(json.loads, target.read_text().splitlines())}
    assert records["sg-hold"]["decision"] == "allow" and records["sg-hold"]["exceptions"][0]["id"] == "EXC-2026-001"
    assert records["gb-band"]["decision"] == "review"  # its exception expired
    assert "exceptions: 1 in force, 1 decision(s) excepted" in err
    summary = json.loads(err.strip().splitlines()[-1])
    assert summary["exceptions"]["in_force"] == 1 and summary["exceptions"]["expired"] == 1
    assert records == {item["entity"]: uncited(item) for item in evaluate(facts, rules)["decisions"]}


@pytest.mark.parametrize(
    ("granted", "message"),
    [
        (
            [grant("x", rule="TOS-OWN-9")],
            "no such rule in the rules (known: TOS-OWN-1, TOS-OWN-2, ",  # every rule id the rules have, listed
        ),
        ([grant("x", expires="2026-01-01")], "an exception must expire after it is granted"),
        ([grant("x"), grant("y")], "exception id used twice"),
        ([{key: value for key, value in grant("x").items() if key != "approver"}], "'approver' is a required property"),
        ([grant("x", granted="2026-02-30")], "2026-02-30"),
        ([grant("x", rule="TOS-ACC-2")], "does not match"),
    ],
)
def test_bad_exceptions_are_refused(repo: Path, facts: Path, granted: list[dict[str, Any]], message: str) -> None:
    rules = with_exceptions(repo, *granted)
    for command in (["validate", "--rules", str(rules)], ["evaluate", str(facts), "--rules", str(rules)]):
        code, out, err = run(*command)
        assert code == 2, out
        assert "rules/exceptions/data.json" in err and message in err


def test_the_shipped_exceptions_validate() -> None:
    code, out, err = run("validate")
    assert code == 0, err
    assert "OK" in out


def test_an_access_request_sees_the_organisations_exception(repo: Path) -> None:
    examples = ROOT / "examples" / "access"
    request, facts = examples / "subsidiary-request.json", examples / "facts.json"
    command = ["decide", str(request), "--facts", str(facts), "--as-of", "2026-11-25"]
    code, out, err = run(*command, "--rules", str(repo / "rules"))
    assert code == 0, err
    assert json.loads(out)["decision"] == "deny"
    rules = with_exceptions(repo, grant("sg-trading"))
    code, out, err = run(*command, "--rules", str(rules))
    assert code == 0, err
    document = json.loads(out)
    assert document["decision"] == "allow"
    assert document["organisation"]["decision"] == "allow"
    assert document["organisation"]["exceptions"][0]["id"] == "EXC-2026-001"
