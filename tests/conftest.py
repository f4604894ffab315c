"""Shared fixtures: the shipped rules and one compiled embedded engine per session."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from tos_policy import evaluate, facts_from_document, load_rules
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.policy.ruleset import RuleSet

from .access.strategies import with_variant_policies

AS_OF = date(2025, 10, 1)


@pytest.fixture(scope="session", autouse=True)
def _wasm_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Modules the Wasm engine compiles for edited rules go to a temporary cache, not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOS_POLICY_CACHE", str(tmp_path_factory.mktemp("tos-policy-cache")))
        yield


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="session")
def engine(rules: RuleSet) -> EmbeddedEngine:
    return EmbeddedEngine(rules)


@pytest.fixture(scope="session")
def access_rules(rules: RuleSet) -> RuleSet:
    """The shipped rules with the variant access policies of tests/access/strategies.py
    next to the shipped one (used by tests/access and the OPA parity tests)."""
    return dataclasses.replace(rules, data=with_variant_policies(rules.data))


@pytest.fixture(scope="session")
def access_engine(access_rules: RuleSet) -> Iterator[EmbeddedEngine]:
    engine = EmbeddedEngine(access_rules)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def decide(rules: RuleSet, engine: EmbeddedEngine) -> Any:
    """decide(document) -> {entity id: decision}."""

    def run(document: dict[str, Any], as_of: date = AS_OF, profile: str | None = None) -> dict[str, str]:
        report = evaluate(facts_from_document(document), rules, engine, as_of=as_of, profile=profile)
        return {item.entity.id: item.decision for item in report.decisions}

    return run
