"""Bad requests, bad access policies and failing engines: exit 2 naming file, path and value, or
exit 3; never an allow."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tos_policy.access import (
    AccessRequest,
    check_access_result,
    decide_access,
    request_from_document,
)
from tos_policy.cli.main import main
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.errors import EngineError, InputError, RulesError
from tos_policy.facts.load import facts_from_document
from tos_policy.policy.ruleset import RuleSet, load_rules

from ..conftest import AS_OF
from ..fixture_rules import fixture_rules_dir

ROOT = Path(__file__).resolve().parent.parent.parent
RULES = fixture_rules_dir()  # the shipped Rego with the frozen test data
FACTS = ROOT / "examples" / "access" / "facts.json"
CLEAN_SIGNALS = {"billing_country": "DE", "phone_country": "DE", "ip_country": "DE"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, document: Any, name: str = "request.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def individual(**signals: Any) -> AccessRequest:
    return request_from_document({"organisation": None, "signals": {**CLEAN_SIGNALS, **signals}})


# --- bad requests: exit 2, one line naming file, JSON path and value, nothing on stdout ---------------------


@pytest.mark.parametrize(
    ("document", "path", "value"),
    [
        ({"organisation": "no-such-org", "signals": {}}, "$.organisation", "'no-such-org'"),
        ({"organisation": None, "signals": {"phone_country": "Atlantis"}}, "$.signals.phone_country", "'Atlantis'"),
        (
            {"organisation": None, "signals": {"reseller": {"name": "R", "end_customer_country": "Narnia"}}},
            "$.signals.reseller.end_customer_country",
            "'Narnia'",
        ),
        ({"organisation": None, "signals": {"ip_is_vpn": "yes"}}, "$.signals.ip_is_vpn", "'yes'"),
        ({"organisation": None, "signals": {"ip_country": ""}}, "$.signals.ip_country", "''"),
        ({"organisation": None, "signals": {"billing_contry": "DE"}}, "$.signals", "'billing_contry'"),
        ({"organisation": None, "signals": {"reseller": {"country": "US"}}}, "$.signals.reseller", "'country'"),
        ({"signals": {}}, "$", "'signals'"),
        ({"organisation": None}, "$", "'organisation'"),
        ([], "$", "[]"),
    ],
)
def test_bad_request_exits_2_naming_file_path_and_value(
    tmp_path: Path, document: Any, path: str, value: str
) -> None:
    request = write(tmp_path, document)
    code, out, err = run("decide", str(request), "--facts", str(FACTS))
    assert code == 2, err
    assert out == ""
    assert err.startswith(f"tos-policy: error: {request}: {path}: "), err
    assert value in err
    assert len(err.strip().splitlines()) == 1


def test_organisation_not_in_the_facts_names_the_facts_file(tmp_path: Path) -> None:
    request = write(tmp_path, {"organisation": "ghost", "signals": {}})
    _, _, err = run("decide", str(request), "--facts", str(FACTS))
    assert f"no entity with this id or identifier in the facts ({FACTS})" in err


def test_organisation_without_facts_exits_2(tmp_path: Path) -> None:
    request = write(tmp_path, {"organisation": "de-analytics", "signals": {}})
    code, out, err = run("decide", str(request))
    assert code == 2
    assert out == ""
    assert "$.organisation" in err and "--facts" in err and "'de-analytics'" in err


def test_request_that_is_not_json_exits_2(tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text('{"organisation": null, "signals": {"ip_is_vpn": true,}}', encoding="utf-8")
    code, out, err = run("decide", str(request))
    assert code == 2 and out == ""
    assert "not valid JSON" in err


def test_missing_request_file_exits_2(tmp_path: Path) -> None:
    code, _, err = run("decide", str(tmp_path / "absent.json"))
    assert code == 2
    assert "cannot read file" in err


def test_unknown_access_policy_exits_2(tmp_path: Path) -> None:
    request = write(tmp_path, {"organisation": None, "signals": {}})
    code, out, err = run("decide", str(request), "--policy", "no_such_policy")
    assert code == 2 and out == ""
    assert "--policy" in err and "'no_such_policy'" in err and "terms_of_service" in err


def test_bad_date_exits_2(tmp_path: Path) -> None:
    request = write(tmp_path, {"organisation": None, "signals": {}})
    code, _, err = run("decide", str(request), "--as-of", "1 Oct 2025")
    assert code == 2
    assert "--as-of" in err


def test_absent_signals_are_unknown_and_flags_default_to_false() -> None:
    request = request_from_document({"organisation": None, "signals": {}})
    assert request.signals == {
        "billing_country": None,
        "phone_country": None,
        "id_document_country": None,
        "ip_country": None,
        "ip_is_vpn": False,
        "ip_is_proxy": False,
        "ip_is_hosting": False,
        "reseller": None,
    }


def test_a_request_with_nothing_known_is_allowed(rules: RuleSet, engine: EmbeddedEngine) -> None:
    request = request_from_document({"organisation": None, "signals": {}})
    assert decide_access(request, None, rules, engine, as_of=AS_OF).decision == "allow"


def test_organisation_with_unknown_headquarters_leads_to_review(rules: RuleSet, engine: EmbeddedEngine) -> None:
    facts = facts_from_document(
        {"entities": [{"id": "mystery", "type": "company", "headquarters": None, "jurisdiction": "SG"}]}
    )
    request = request_from_document({"organisation": "mystery", "signals": CLEAN_SIGNALS})
    outcome = decide_access(request, facts, rules, engine, as_of=AS_OF)
    assert outcome.decision == "review"
    assert [r["rule_id"] for r in outcome.reasons] == ["TOS-ACC-1"]
    assert outcome.organisation is not None
    assert outcome.organisation["reasons"][0]["code"] == "COUNTRY_UNKNOWN"


def test_ownership_is_read_as_of_the_given_date(rules: RuleSet, engine: EmbeddedEngine) -> None:
    facts = facts_from_document(
        {
            "entities": [
                {"id": "ru", "type": "company", "headquarters": "RU", "jurisdiction": "RU"},
                {"id": "de", "type": "company", "headquarters": "DE", "jurisdiction": "DE", "disclosure": "full"},
            ],
            "ownership": [{"owner": "ru", "asset": "de", "percentage": "100", "end_date": "2022-06-01"}],
        }
    )
    request = request_from_document({"organisation": "de", "signals": CLEAN_SIGNALS})
    assert decide_access(request, facts, rules, engine, as_of=date(2022, 5, 31)).decision == "deny"
    assert decide_access(request, facts, rules, engine, as_of=date(2022, 6, 1)).decision == "allow"


# --- bad access policy data: exit 2 naming the data file, path and value -----------------------------------


def _rules_copy(tmp_path: Path, change: Any) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target, ignore=shutil.ignore_patterns("*_test.rego"))
    data_file = target / "access" / "policies" / "terms_of_service" / "data.json"
    policy = json.loads(data_file.read_text(encoding="utf-8"))
    change(policy)
    data_file.write_text(json.dumps(policy), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("change", "path", "value"),
    [
        (lambda p: p["signal_effects"].update(ip_country="block"), "$.signal_effects.ip_country", "'block'"),
        (lambda p: p.update(anonymiser_effect="block"), "$.anonymiser_effect", "'block'"),
        (lambda p: p["unknown_country_effects"].pop("billing_country"), "$.unknown_country_effects", "billing_country"),
        (lambda p: p.update(ownership_profile="nope"), "$.ownership_profile", "'nope'"),
        (lambda p: p["anonymiser_flags"].append("ip_is_tor"), "$.anonymiser_flags[3]", "'ip_is_tor'"),
    ],
)
def test_bad_access_policy_exits_2_naming_the_data_file(tmp_path: Path, change: Any, path: str, value: str) -> None:
    rules_dir = _rules_copy(tmp_path, change)
    request = write(tmp_path, {"organisation": None, "signals": {}})
    code, out, err = run("decide", str(request), "--rules", str(rules_dir))
    assert code == 2, err
    assert out == ""
    data_file = rules_dir / "access" / "policies" / "terms_of_service" / "data.json"
    assert err.startswith(f"tos-policy: error: {data_file}: {path}: "), err
    assert value in err


def test_shipped_access_policy_is_valid_and_agrees_with_its_ownership_profile(rules: RuleSet) -> None:
    from tos_policy.access import access_policy

    policy = access_policy(rules, "terms_of_service")
    profile = rules.profile(policy["ownership_profile"])
    # One list of regions (data.regions) for both rules: neither keeps a list of its own.
    assert "restricted_countries" not in policy
    assert "restricted_countries" not in profile
    assert rules.data["regions"]["restricted"]


def test_every_access_rule_has_metadata_and_a_numbered_readme_entry(rules: RuleSet) -> None:
    readme = (RULES / "access" / "README.md").read_text(encoding="utf-8")
    package = rules.rules["TOS-ACC"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(package.custom["version"]))  # the live version is policy data
    for number in range(1, 7):
        info = rules.rules[f"TOS-ACC-{number}"]
        assert info.title.startswith(f"Rule {number} - ")
        assert info.clause == "Terms of Service, section 3.3 (access from restricted regions)"
        assert info.description
        assert f"**Rule {number} — " in readme and f"(TOS-ACC-{number})" in readme


# --- failing engines: exit 3, never an allow ------------------------------------------------------------------


@pytest.mark.opa  # rules edited since their index was made are read by OPA
def test_rules_without_the_access_package_fail_closed(tmp_path: Path) -> None:
    rules_dir = _rules_copy(tmp_path, lambda p: None)
    (rules_dir / "access" / "access.rego").unlink()
    request = write(tmp_path, {"organisation": None, "signals": {}})
    code, out, err = run("decide", str(request), "--rules", str(rules_dir))
    assert code == 3, err
    assert out == ""
    assert "access/result" in err


def test_an_unknown_policy_at_the_engine_is_an_engine_error(rules: RuleSet, engine: EmbeddedEngine) -> None:
    with pytest.raises(EngineError, match="no decision for access/result"):
        engine.query("access/result", {"policy": "nope", "organisation": None, "signals": individual().signals})


def test_an_input_missing_a_signal_is_an_engine_error(engine: EmbeddedEngine) -> None:
    signals = dict(individual().signals)
    del signals["ip_is_vpn"]
    with pytest.raises(EngineError):
        engine.query("access/result", {"policy": "terms_of_service", "organisation": None, "signals": signals})


def test_an_entrypoint_the_engine_does_not_compile_is_refused(engine: EmbeddedEngine) -> None:
    with pytest.raises(EngineError, match="not an entrypoint"):
        engine.query("ownership/step", {})


class _Answering:
    """An engine whose access answer is fixed; ownership is never asked (the requests are individuals')."""

    name = "fake"

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        raise AssertionError("not used")

    def query(self, entrypoint: str, input: dict[str, Any]) -> Any:
        return self.answer

    def close(self) -> None:
        pass


DENY_REASON = {"rule_id": "TOS-ACC-2", "signal": "billing_country", "effect": "deny", "code": "X"}


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        {"policy": "terms_of_service", "decision": "allow"},
        {"policy": "terms_of_service", "decision": "maybe", "reasons": []},
        {"policy": "other", "decision": "allow", "reasons": []},
        {"policy": "terms_of_service", "decision": "allow", "reasons": [DENY_REASON]},
        {"policy": "terms_of_service", "decision": "review", "reasons": [DENY_REASON]},
        {"policy": "terms_of_service", "decision": "review", "reasons": []},
        {"policy": "terms_of_service", "decision": "allow", "reasons": [{"effect": "review"}]},
    ],
)
def test_a_malformed_or_inconsistent_answer_is_an_engine_error(rules: RuleSet, answer: Any) -> None:
    with pytest.raises(EngineError):
        decide_access(individual(), None, rules, _Answering(answer), as_of=AS_OF)


def test_an_engine_that_cannot_query_is_refused(rules: RuleSet) -> None:
    class OwnershipOnly:
        name = "old"

        def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
            return []

        def close(self) -> None:
            pass

    with pytest.raises(EngineError, match="cannot evaluate access/result"):
        decide_access(individual(), None, rules, OwnershipOnly(), as_of=AS_OF)


def test_check_access_result_sorts_deny_first_then_rule_then_signal() -> None:
    reasons = [
        {"rule_id": "TOS-ACC-4", "signal": "ip_is_vpn", "effect": "review"},
        {"rule_id": "TOS-ACC-3", "signal": "ip_country", "effect": "review"},
        {"rule_id": "TOS-ACC-5", "signal": "reseller_end_customer_country", "effect": "deny"},
        {"rule_id": "TOS-ACC-2", "signal": "phone_country", "effect": "deny"},
        {"rule_id": "TOS-ACC-2", "signal": "billing_country", "effect": "deny"},
    ]
    decision, ordered = check_access_result(
        {"policy": "p", "decision": "deny", "reasons": list(reversed(reasons))}, "p", "test"
    )
    assert decision == "deny"
    assert [(r["rule_id"], r["signal"]) for r in ordered] == [
        ("TOS-ACC-2", "billing_country"),
        ("TOS-ACC-2", "phone_country"),
        ("TOS-ACC-5", "reseller_end_customer_country"),
        ("TOS-ACC-3", "ip_country"),
        ("TOS-ACC-4", "ip_is_vpn"),
    ]


def test_unknown_policy_via_the_api_is_a_rules_error(rules: RuleSet, engine: EmbeddedEngine) -> None:
    with pytest.raises(RulesError) as caught:
        decide_access(individual(), None, rules, engine, as_of=AS_OF, policy="nope")
    assert isinstance(caught.value, InputError) and caught.value.path == "--policy"


def test_variant_rules_change_decisions_only_through_data(access_rules: RuleSet, access_engine: EmbeddedEngine) -> None:
    vpn_in_russia = individual(ip_country="RU", ip_is_vpn=True)
    decided = {
        name: decide_access(vpn_in_russia, None, access_rules, access_engine, as_of=AS_OF, policy=name).decision
        for name in ("terms_of_service", "strict", "lenient", "no_anonymiser_rule")
    }
    assert decided == {"terms_of_service": "review", "strict": "deny", "lenient": "review", "no_anonymiser_rule": "review"}


def test_a_bad_access_policy_does_not_stop_load_rules(tmp_path: Path) -> None:
    """Access policies are checked by evaluator/tos_policy/access.py when a request is decided, not by load_rules:
    the ownership commands keep working on ownership alone."""
    rules_dir = _rules_copy(tmp_path, lambda p: p.update(anonymiser_effect="maybe"))
    assert dataclasses.is_dataclass(load_rules(rules_dir))


def test_the_embedded_engine_compiles_the_entrypoint_the_access_module_queries() -> None:
    from tos_policy import access
    from tos_policy.engines import embedded

    assert access.ACCESS_ENTRYPOINT == embedded.ACCESS_ENTRYPOINT
    assert access.ACCESS_ENTRYPOINT in embedded.ENTRYPOINTS
