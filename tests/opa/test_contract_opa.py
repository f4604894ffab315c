"""The typed Rego contract on the OPA engine (the same checks as tests/test_contract.py),
the rules' schema annotations checked by `opa check -s schemas`, and the entrypoints the
evaluator queries annotated `entrypoint: true` in the rules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.contract import (
    ROOT,
    check_access_examples_keep_the_contract,
    check_examples_keep_the_contract,
    check_other_readings_are_errors,
)
from tos_policy.engines import ENTRYPOINTS
from tos_policy.engines.opa import OpaEngine
from tos_policy.policy.ruleset import RuleSet

pytestmark = pytest.mark.opa


def test_the_examples_keep_the_ownership_contract_on_opa(opa_engine: OpaEngine, variant_rules: RuleSet) -> None:
    check_examples_keep_the_contract(opa_engine, variant_rules)


def test_the_access_examples_keep_the_access_contract_on_opa(opa_engine: OpaEngine, variant_rules: RuleSet) -> None:
    check_access_examples_keep_the_contract(opa_engine, variant_rules)


def test_a_reading_other_than_lower_or_upper_is_an_error_on_opa(opa_engine: OpaEngine) -> None:
    check_other_readings_are_errors(opa_engine)


def test_opa_type_checks_the_rules_against_the_contract_schemas(opa_bin: Path) -> None:
    done = subprocess.run(
        [str(opa_bin), "check", "--strict", "-s", str(ROOT / "schemas"), str(ROOT / "rules")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_queried_entrypoints_are_annotated_as_entrypoints(opa_bin: Path) -> None:
    done = subprocess.run(
        [str(opa_bin), "inspect", "-a", "-f", "json", str(ROOT / "rules")],
        capture_output=True,
        text=True,
        check=True,
    )
    annotated = set()
    for item in json.loads(done.stdout)["annotations"]:
        if item["annotations"].get("entrypoint"):
            parts = [str(part["value"]) for part in item["path"][1:]]
            annotated.add("/".join(parts))
    assert set(ENTRYPOINTS) <= annotated
    assert annotated == {"ownership/step", "ownership/batch", "ownership/considered", "access/result"}
