"""The classic cases in examples/, decided through the command line as a newcomer runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tos_policy import load_rules
from tos_policy.cli.main import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

EXPECTED = {
    "offshore-subsidiary.json": {"parent-cn": "deny", "sub-sg": "deny"},
    "aggregation.json": {"cn-holdco": "deny", "ru-holdco": "deny", "de-investor": "allow", "target-ie": "deny"},
    "chain.json": {
        "ir-parent": "deny",
        "ae-holding": "deny",
        "vg-spv": "deny",
        "nl-opco": "deny",
        "us-minority": "allow",
        "sg-clean-sub": "allow",
    },
    "clean-company.json": {"fr-founder": "allow", "cn-person": "allow", "fr-startup": "allow"},
    "unknown-owner.json": {
        "mystery-holdco": "review",
        "uk-applicant": "review",
        "cn-band-owner": "deny",
        "uk-banded": "review",
    },
    "divestment.json": {"ru-parent": "deny", "de-sub": "allow"},
    "undisclosed-owners.json": {
        "cn-investor": "deny",
        "de-undisclosed": "review",
        "de-declared": "allow",
        "de-founders": "allow",
        "gb-no-facts": "review",
    },
}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_decisions(name: str) -> None:
    code, out, err = run("evaluate", str(EXAMPLES / name), "--as-of", "2025-10-01")
    assert code == 0, err
    document = json.loads(out)
    assert {d["entity"]: d["decision"] for d in document["decisions"]} == EXPECTED[name]
    version = load_rules().version
    assert document["policy"]["version"] == version
    assert document["policy"]["rules_digest"].startswith("sha256:")
    for decision in document["decisions"]:
        assert decision["policy_version"] == version
        if decision["decision"] != "allow":
            assert decision["reasons"], decision
            assert all(reason["rule_id"].startswith("TOS-OWN-") for reason in decision["reasons"])
            assert decision["paths"], decision


def test_every_example_is_covered() -> None:
    assert sorted(path.name for path in EXAMPLES.glob("*.json")) == sorted(EXPECTED)


def test_deny_reasons_name_owners_shares_and_the_path_from_the_root() -> None:
    code, out, _ = run("evaluate", str(EXAMPLES / "chain.json"), "--as-of", "2025-10-01", "--entity", "nl-opco")
    assert code == 0
    (decision,) = json.loads(out)["decisions"]
    (reason,) = decision["reasons"]
    assert reason["code"] == "OWNED_BY_RESTRICTED"
    file = str(EXAMPLES / "chain.json")
    assert reason["owners"] == [
        {
            "id": "vg-spv",
            "kind": "shareholding",
            "name": "Island SPV Ltd",
            "percentage": "51",
            "sources": [{"file": file, "at": "$.ownership[2]"}],
        }
    ]
    assert reason["share_min"] == "51"
    assert decision["paths"] == [["ir-parent", "ae-holding", "vg-spv", "nl-opco"]]


def test_aggregation_names_both_restricted_owners() -> None:
    code, out, _ = run("evaluate", str(EXAMPLES / "aggregation.json"), "--as-of", "2025-10-01", "--entity", "target-ie")
    assert code == 0
    (decision,) = json.loads(out)["decisions"]
    (reason,) = decision["reasons"]
    assert sorted(owner["id"] for owner in reason["owners"]) == ["cn-holdco", "ru-holdco"]
    assert reason["share_min"] == "55"
    assert sorted(decision["paths"]) == [["cn-holdco", "target-ie"], ["ru-holdco", "target-ie"]]


def test_divestment_lifts_the_restriction_from_its_date_on() -> None:
    file = str(EXAMPLES / "divestment.json")
    before = json.loads(run("evaluate", file, "--as-of", "2022-05-31", "--entity", "de-sub")[1])
    after = json.loads(run("evaluate", file, "--as-of", "2022-06-01", "--entity", "de-sub")[1])
    assert before["decisions"][0]["decision"] == "deny"
    assert after["decisions"][0]["decision"] == "allow"


def test_explain_gives_plain_english_and_the_path() -> None:
    code, out, _ = run(
        "explain", str(EXAMPLES / "offshore-subsidiary.json"), "--entity", "sub-sg", "--as-of", "2025-10-01"
    )
    assert code == 0
    assert "Sub Pte Ltd (sub-sg): DENY" in out
    assert "Parent Co (parent-cn) holds 60%" in out
    assert "Parent Co (parent-cn) --60%--> Sub Pte Ltd (sub-sg)" in out


def test_explain_mermaid_draws_the_paths() -> None:
    code, out, _ = run(
        "explain", str(EXAMPLES / "chain.json"), "--entity", "nl-opco", "--as-of", "2025-10-01", "--format", "mermaid"
    )
    assert code == 0
    assert out.startswith("flowchart LR")
    assert out.count("-->") == 3


def test_output_is_byte_identical_across_runs() -> None:
    args = ("evaluate", str(EXAMPLES / "chain.json"), "--as-of", "2025-10-01")
    assert run(*args)[1] == run(*args)[1]


@pytest.mark.parametrize(("flag", "code"), [("deny", 1), ("review", 1)])
def test_fail_on_gates(flag: str, code: int) -> None:
    assert run("evaluate", str(EXAMPLES / "aggregation.json"), "--as-of", "2025-10-01", "--fail-on", flag)[0] == code


def test_fail_on_review_passes_a_clean_file() -> None:
    result = run("evaluate", str(EXAMPLES / "clean-company.json"), "--as-of", "2025-10-01", "--fail-on", "review")
    assert result[0] == 0


def test_table_format_lists_every_entity() -> None:
    code, out, _ = run("evaluate", str(EXAMPLES / "chain.json"), "--as-of", "2025-10-01", "--format", "table")
    assert code == 0
    for entity in EXPECTED["chain.json"]:
        assert entity in out
