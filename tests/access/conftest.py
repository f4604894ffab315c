"""Fixtures for the access tests: rules with variant access policies, and one embedded engine on them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from evaluator.engines.embedded import EmbeddedEngine
from evaluator.rules import RuleSet

from .strategies import with_variant_policies


@pytest.fixture(scope="session")
def access_rules(rules: RuleSet) -> RuleSet:
    """The shipped rules with strategies.VARIANT_POLICIES next to the shipped access policy."""
    return dataclasses.replace(rules, data=with_variant_policies(rules.data))


@pytest.fixture(scope="session")
def access_engine(access_rules: RuleSet) -> Iterator[EmbeddedEngine]:
    engine = EmbeddedEngine(access_rules)
    yield engine
    engine.close()
