"""The access examples (examples/access/), decided through the command line and the Python API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tos_policy.access import decide_access, load_request
from tos_policy.cli.main import main
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.facts.load import load_facts
from tos_policy.policy.ruleset import RuleSet, load_rules

from ..conftest import AS_OF

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "access"
FACTS = EXAMPLES / "facts.json"

# request file -> (decision, {(rule id, signal)}, needs facts)
EXPECTED: dict[str, tuple[str, set[tuple[str, str]], bool]] = {
    "vpn-request.json": ("review", {("TOS-ACC-3", "ip_country"), ("TOS-ACC-4", "ip_is_vpn")}, True),
    "reseller-request.json": (
        "deny",
        {("TOS-ACC-5", "reseller_end_customer_country"), ("TOS-ACC-4", "ip_is_hosting")},
        True,
    ),
    "clean-request.json": ("allow", set(), True),
    "subsidiary-request.json": ("deny", {("TOS-ACC-1", "organisation")}, True),
    "individual-request.json": ("deny", {("TOS-ACC-2", "phone_country")}, False),
}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def decide_cli(name: str, *extra: str) -> tuple[int, str, str]:
    facts = ["--facts", str(FACTS)] if EXPECTED[name][2] else []
    return run("decide", str(EXAMPLES / name), *facts, "--as-of", AS_OF.isoformat(), *extra)


def signals_of(record: dict[str, Any]) -> set[tuple[str, str]]:
    return {(reason["rule_id"], reason["signal"]) for reason in record["reasons"]}


def test_every_request_example_is_covered() -> None:
    assert sorted(path.name for path in EXAMPLES.glob("*-request.json")) == sorted(EXPECTED)


def test_the_examples_readme_lists_every_request() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name, (decision, _, _) in EXPECTED.items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
        assert f"**{decision}**" in row, row


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_decision_and_reasons_through_the_cli(name: str) -> None:
    code, out, err = decide_cli(name)
    assert code == 0, err
    record = json.loads(out)
    decision, reasons, _ = EXPECTED[name]
    assert record["decision"] == decision
    assert signals_of(record) == reasons
    assert record["request"] == name.removesuffix(".json")
    assert record["policy"]["version"] == load_rules().version
    assert record["policy"]["access_rules_version"] == load_rules().rules["TOS-ACC"].custom["version"]
    assert record["policy"]["access_policy"] == "terms_of_service"
    assert record["policy"]["rules_digest"].startswith("sha256:")
    for reason in record["reasons"]:
        assert reason["rule_title"].startswith("Rule ")
        assert reason["clause"] == "Terms of Service, section 3.3 (access from restricted regions)"
        assert reason["effect"] in ("deny", "review")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_through_the_python_api(name: str, rules: RuleSet, engine: EmbeddedEngine) -> None:
    facts = load_facts([FACTS]) if EXPECTED[name][2] else None
    outcome = decide_access(load_request(EXAMPLES / name), facts, rules, engine, as_of=AS_OF)
    assert outcome.decision == EXPECTED[name][0]
    assert signals_of(outcome.as_json()) == EXPECTED[name][1]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_same_request_same_bytes(name: str) -> None:
    assert decide_cli(name)[1] == decide_cli(name)[1]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_text_format_names_the_decision_and_every_signal(name: str) -> None:
    code, out, err = decide_cli(name, "--format", "text")
    assert code == 0, err
    assert out.splitlines()[0].endswith(EXPECTED[name][0].upper())
    for rule_id, signal in EXPECTED[name][1]:
        assert f"Rule {rule_id} " in out
        assert f"signal {signal}:" in out


def test_denied_organisation_carries_its_ownership_reasons_and_paths() -> None:
    code, out, _ = decide_cli("subsidiary-request.json")
    assert code == 0
    record = json.loads(out)
    (reason,) = record["reasons"]
    assert reason["ownership_decision"] == "deny"
    assert reason["ownership_rule_ids"] == ["TOS-OWN-2"]
    organisation = record["organisation"]
    assert organisation["id"] == "sg-trading"
    assert organisation["decision"] == "deny"
    assert [r["rule_id"] for r in organisation["reasons"]] == ["TOS-OWN-2"]
    assert organisation["reasons"][0]["owners"][0]["id"] == "cn-parent"
    assert organisation["paths"] == [["cn-parent", "sg-trading"]]
    assert record["facts_digest"].startswith("sha256:")


def test_text_of_a_denied_organisation_shows_the_ownership_path() -> None:
    _, out, _ = decide_cli("subsidiary-request.json", "--format", "text")
    assert "TOS-OWN-2: Restricted owners hold 60% of Lion City Trading Pte Ltd (sg-trading)" in out
    assert "path: Shenzhen Parent Co (cn-parent) --60%--> Lion City Trading Pte Ltd (sg-trading)" in out


def test_individual_is_decided_without_facts() -> None:
    code, out, _ = decide_cli("individual-request.json")
    assert code == 0
    record = json.loads(out)
    assert record["organisation"] is None
    assert record["facts_digest"] is None


def test_country_names_and_codes_are_normalised() -> None:
    _, out, _ = decide_cli("clean-request.json")
    signals = json.loads(out)["signals"]
    assert signals["billing_country"] == "DE"  # "Germany"
    assert signals["id_document_country"] == "DE"  # "DEU"
    _, out, _ = decide_cli("reseller-request.json")
    assert json.loads(out)["signals"]["reseller"] == {
        "name": "Nimbus Cloud Marketplace",
        "country": "US",
        "end_customer_country": "IR",  # "Iran"
    }


@pytest.mark.parametrize(
    ("name", "fail_on", "expected_code"),
    [
        ("vpn-request.json", "review", 1),
        ("vpn-request.json", "deny", 0),
        ("reseller-request.json", "deny", 1),
        ("reseller-request.json", "review", 1),
        ("clean-request.json", "review", 0),
    ],
)
def test_fail_on_gates_the_exit_code(name: str, fail_on: str, expected_code: int) -> None:
    code, out, _ = decide_cli(name, "--fail-on", fail_on)
    assert code == expected_code
    assert json.loads(out)["decision"] == EXPECTED[name][0]  # the decision is printed either way
