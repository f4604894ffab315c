"""The typed Rego contract on the embedded engine: inputs the evaluator builds and results the
rules give keep schemas/step-input, batch-input, step-result and access-input; a reading
other than lower/upper is an error, never an allow. (The same checks on OPA: tests/opa.)"""

from __future__ import annotations

from typing import Any

from tos_policy.engines import ACCESS_RESULT, ENTRYPOINTS, OWNERSHIP_BATCH, OWNERSHIP_CONSIDERED
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.policy.ruleset import RuleSet
from tos_policy.resources import schema

from .contract import (
    check_access_examples_keep_the_contract,
    check_examples_keep_the_contract,
    check_other_readings_are_errors,
)


def test_the_examples_keep_the_ownership_contract(engine: EmbeddedEngine, rules: RuleSet) -> None:
    check_examples_keep_the_contract(engine, rules)


def test_the_access_examples_keep_the_access_contract(engine: EmbeddedEngine, rules: RuleSet) -> None:
    check_access_examples_keep_the_contract(engine, rules)


def test_a_reading_other_than_lower_or_upper_is_an_error(engine: EmbeddedEngine) -> None:
    check_other_readings_are_errors(engine)


def test_a_batch_item_is_a_step_input_without_profile_and_reading() -> None:
    step: dict[str, Any] = schema("step-input")
    item: dict[str, Any] = schema("batch-input")["properties"]["items"]["items"]
    assert item["properties"] == {
        key: value for key, value in step["properties"].items() if key not in ("profile", "reading")
    }
    assert set(item["required"]) == set(step["required"]) - {"profile", "reading"}


def test_the_entrypoints_are_named_once() -> None:
    assert ENTRYPOINTS == (OWNERSHIP_BATCH, OWNERSHIP_CONSIDERED, ACCESS_RESULT)
