"""Determinations: a reviewer's finding, recorded as data, applied over the facts before
deciding. It settles a review either way, is cited by every decision it touches, is
counted, and lapses back to review on expiry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tos_policy.cli.main import main
from tos_policy.resources import default_rules_dir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _rules_with(tmp_path: Path, determinations: dict[str, Any]) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    (rules / "determinations").mkdir(exist_ok=True)
    (rules / "determinations" / "findings.json").write_text(json.dumps(determinations))
    return rules


def _finding(entity: str, fact: dict[str, Any], expires: str = "2026-01-01") -> dict[str, Any]:
    return {
        "entity": entity,
        "fact": fact,
        "determined_by": "reviewer@example.com",
        "determined_on": "2025-09-01",
        "evidence": "declaration of 2025-08-30",
        "expires": expires,
    }


def _queue(rules: Path | None, as_of: str) -> dict[str, dict[str, Any]]:
    args = ["review-queue", str(EXAMPLES / "unknown-owner.json"), "--as-of", as_of]
    if rules is not None:
        args += ["--rules", str(rules)]
    result = run(*args)
    assert result.exit_code == 0, result.output
    return {item["entity"]: item for item in json.loads(result.stdout)["queue"]}


def _decisions(db: Path) -> dict[str, dict[str, Any]]:
    from tos_policy.operations.store import Store

    with Store.open(db) as store:
        latest = store.latest()
        assert latest is not None
        return store.decisions(latest.load_id)


@pytest.mark.parametrize("country", ["FR", "CN"])
def test_a_country_finding_settles_the_review_either_way_and_lapses(tmp_path: Path, country: str) -> None:
    before = _queue(None, "2025-10-01")
    assert "mystery-holdco" in before and "uk-applicant" in before
    rules = _rules_with(
        tmp_path, {"DET-1": _finding("mystery-holdco", {"country": {"field": "headquarters", "value": country}})}
    )
    db = tmp_path / "r.duckdb"
    run("store", "init", str(db))
    loaded = run(
        "store",
        "load",
        str(db),
        str(EXAMPLES / "unknown-owner.json"),
        "--known-on",
        "2025-10-01",
        "--rules",
        str(rules),
    )
    assert loaded.exit_code == 0, loaded.output
    decided = _decisions(db)
    # settled one way or the other, not left to review; the subsidiary follows its owner
    assert decided["mystery-holdco"]["decision"] != "review"
    assert decided["uk-applicant"]["decision"] == decided["mystery-holdco"]["decision"]
    for entity in ("mystery-holdco", "uk-applicant"):  # the finding and everything below it cite it
        assert [d["id"] for d in decided[entity]["determinations"]] == ["DET-1"]
        assert decided[entity]["determinations"][0]["evidence"] == "declaration of 2025-08-30"
    assert decided["uk-banded"]["determinations"] == []
    # on expiry the decision lapses back to review, and the alert says why
    lapsed = run(
        "store",
        "load",
        str(db),
        str(EXAMPLES / "unknown-owner.json"),
        "--known-on",
        "2026-01-01",
        "--rules",
        str(rules),
    )
    assert lapsed.exit_code == 0, lapsed.output
    after = _decisions(db)
    assert after["mystery-holdco"]["decision"] == "review" and after["mystery-holdco"]["determinations"] == []
    alerts = [json.loads(line) for line in run("alerts", "--store", str(db), "--since", "1").stdout.splitlines()]
    assert {item["entity"] for item in alerts} == {"mystery-holdco", "uk-applicant"}
    assert all(item["new_decision"] == "review" for item in alerts)
    assert any("determinations" in why for item in alerts for cause in item["causes"] for why in cause["why"])


def test_findings_settle_a_review_to_deny_as_well_as_to_allow(tmp_path: Path) -> None:
    settled = set()
    for country in ("FR", "CN"):
        rules = _rules_with(
            tmp_path / country,
            {"DET-1": _finding("mystery-holdco", {"country": {"field": "headquarters", "value": country}})},
        )
        result = json.loads(
            run("evaluate", str(EXAMPLES / "unknown-owner.json"), "--as-of", "2025-10-01", "--rules", str(rules)).stdout
        )
        settled.add({d["entity"]: d["decision"] for d in result["decisions"]}["mystery-holdco"])
    assert settled == {"allow", "deny"}


def test_a_stake_finding_settles_a_band(tmp_path: Path) -> None:
    rules = _rules_with(
        tmp_path,
        {
            "DET-2": _finding("uk-banded", {"stake": {"owner": "cn-band-owner", "percentage": "30"}}),
        },
    )
    queue = _queue(rules, "2025-10-01")
    assert "uk-banded" not in queue
    assert "uk-banded" in _queue(rules, "2026-01-01")  # expired: back in the queue


def test_a_determination_for_other_facts_touches_nothing(tmp_path: Path) -> None:
    rules = _rules_with(tmp_path, {"DET-3": _finding("not-in-these-facts", {"type": "person"})})
    assert _queue(rules, "2025-10-01") == _queue(None, "2025-10-01")


@pytest.mark.parametrize(
    ("finding", "message"),
    [
        ({"entity": "x"}, "required property"),
        ({**_finding("x", {"type": "person"}), "expires": "2025-01-01"}, "expires must come after"),
        (_finding("x", {"country": {"field": "headquarters", "value": "Narnia"}}), "unknown country"),
        (_finding("x", {"stake": {"owner": "y", "percentage": "130"}}), "percentage"),
    ],
)
def test_bad_determinations_are_refused(tmp_path: Path, finding: dict[str, Any], message: str) -> None:
    rules = _rules_with(tmp_path, {"DET-BAD": finding})
    result = run("review-queue", str(EXAMPLES / "unknown-owner.json"), "--as-of", "2025-10-01", "--rules", str(rules))
    assert result.exit_code == 2 and result.stdout == ""
    assert "findings.json" in result.stderr and message in result.stderr, result.stderr


def test_screen_and_explain_cite_determinations_as_evaluate_does(tmp_path: Path) -> None:
    rules = _rules_with(
        tmp_path, {"DET-1": _finding("mystery-holdco", {"country": {"field": "headquarters", "value": "FR"}})}
    )
    facts = str(EXAMPLES / "unknown-owner.json")
    evaluated = json.loads(run("evaluate", facts, "--as-of", "2025-10-01", "--rules", str(rules)).stdout)
    screened = [
        json.loads(line)
        for line in run("screen", facts, "--as-of", "2025-10-01", "--rules", str(rules)).stdout.splitlines()
    ]
    assert {r["entity"]: r["determinations"] for r in screened} == {
        d["entity"]: d["determinations"] for d in evaluated["decisions"]
    }
    assert evaluated["summary"]["determined"] == 2 and evaluated["determinations"]["in_force"] == 1
    explained = run("explain", facts, "--entity", "uk-applicant", "--as-of", "2025-10-01", "--rules", str(rules)).stdout
    assert "DETERMINED: DET-1 (headquarters confirmed: FR" in explained


def test_the_table_counts_determinations(tmp_path: Path) -> None:
    rules = _rules_with(tmp_path, {"DET-1": _finding("mystery-holdco", {"type": "person"})})
    args = ["evaluate", str(EXAMPLES / "unknown-owner.json"), "--format", "table", "--rules", str(rules)]
    assert (
        "Determinations: 1 in force, 0 expired, 0 not yet in force; 2 decision(s) rest on one."
        in run(*args, "--as-of", "2025-10-01").stdout
    )
    assert "Determinations: 0 in force, 1 expired" in run(*args, "--as-of", "2026-01-01").stdout
    assert "Determinations" not in run(*args[:-2], "--as-of", "2025-10-01").stdout  # none recorded: no line
