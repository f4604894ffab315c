"""Shared fixtures: the shipped rules and one compiled embedded engine per session."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from evaluator import evaluate, facts_from_document, load_rules
from evaluator.engines.embedded import EmbeddedEngine
from evaluator.rules import RuleSet

AS_OF = date(2025, 10, 1)


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="session")
def engine(rules: RuleSet) -> EmbeddedEngine:
    return EmbeddedEngine(rules)


@pytest.fixture(scope="session")
def decide(rules: RuleSet, engine: EmbeddedEngine) -> Any:
    """decide(document) -> {entity id: decision}."""

    def run(document: dict[str, Any], as_of: date = AS_OF, profile: str | None = None) -> dict[str, str]:
        report = evaluate(facts_from_document(document), rules, engine, as_of=as_of, profile=profile)
        return {item.entity.id: item.decision for item in report.decisions}

    return run
