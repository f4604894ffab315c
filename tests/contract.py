"""The typed Rego contract (schemas/step-input, batch-input, step-result, access-input):
checks shared by the embedded engine's tests (tests/test_contract.py) and the OPA
engine's (tests/opa/test_contract_opa.py)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tos_policy import evaluate, load_facts
from tos_policy.access import access_input, check_organisation, decide_access, load_request
from tos_policy.engines import ACCESS_RESULT, Engine
from tos_policy.errors import EngineError
from tos_policy.policy.ruleset import RuleSet
from tos_policy.resources import schema

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
AS_OF = date(2025, 10, 1)
READINGS_REFUSED = ("LOWER", "Upper", "", "strict")


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name))


class Checking:
    """An engine wrapper that validates every batch it is asked and every result it gives."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.name = engine.name
        self.batches = 0
        self._input, self._result = validator("batch-input"), validator("step-result")
        self._step = validator("step-input")

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        self._input.validate(batch)
        for item in batch["items"]:  # each item with the batch's profile and reading is a step input
            self._step.validate({"profile": batch["profile"], "reading": batch["reading"], **item})
        results: list[dict[str, Any]] = self.engine.decide(batch)
        for result in results:
            self._result.validate(result)
        self.batches += 1
        return results

    def query(self, entrypoint: str, input: dict[str, Any]) -> Any:
        if entrypoint == ACCESS_RESULT:
            validator("access-input").validate(input)
        return self.engine.query(entrypoint, input)

    def close(self) -> None:
        pass


def check_examples_keep_the_contract(engine: Engine, rules: RuleSet) -> None:
    for path in sorted(EXAMPLES.glob("*.json")):
        checking = Checking(engine)
        evaluate(load_facts([path]), rules, checking, as_of=AS_OF)
        assert checking.batches > 0


def check_access_examples_keep_the_contract(engine: Engine, rules: RuleSet) -> None:
    facts = load_facts([EXAMPLES / "access" / "facts.json"])
    requests = sorted(path for path in (EXAMPLES / "access").glob("*-request.json"))
    assert requests
    for path in requests:
        request = load_request(path)
        check_organisation(request, facts)
        validator("access-input").validate(access_input(request, "terms_of_service", None))
        decide_access(request, facts, rules, Checking(engine), as_of=AS_OF)


def check_other_readings_are_errors(engine: Engine) -> None:
    """A 90% stake held by a restricted company: restricted in both readings, undefined in any other."""
    link = {"index": 0, "kind": "shareholding", "owner_type": "company", "min": 90, "min_exclusive": False}
    link |= {"max": 90, "max_exclusive": False, "group": 0}
    item = {"scale": 1, "entity": {"type": "company", "headquarters": "SG", "jurisdiction": "SG"}, "links": [link]}
    for reading in ("lower", "upper"):
        assert engine.decide({"profile": "terms_of_service", "reading": reading, "items": [item]})[0]["restricted"]
    for reading in READINGS_REFUSED:
        with pytest.raises(EngineError):
            engine.decide({"profile": "terms_of_service", "reading": reading, "items": [item]})


def schema_text(name: str) -> str:
    return json.dumps(schema(name), sort_keys=True)
