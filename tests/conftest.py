"""Shared fixtures: the fixture rules (the shipped Rego with frozen test data, see
tests/fixture_rules.py) and one compiled embedded engine per session.

Every command a test runs without --rules reads the fixture rules ($TOS_POLICY_RULES);
a test of what the shipped policy decides names the shipped rules explicitly."""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tos_policy import evaluate, facts_from_document, limits, load_rules
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.policy.ruleset import RuleSet
from tos_policy.resources import RULES_ENV

from .access.strategies import with_variant_policies
from .fixture_rules import write_fixture_rules

AS_OF = date(2025, 10, 1)

# Set at import, before any test (or subprocess it starts) reads the default rules.
_FIXTURE_ROOT = Path(tempfile.mkdtemp(prefix="tos-policy-fixture-rules-"))
atexit.register(shutil.rmtree, _FIXTURE_ROOT, True)
FIXTURE_RULES = write_fixture_rules(_FIXTURE_ROOT / "rules", pin_versions=False)
os.environ[RULES_ENV] = str(FIXTURE_RULES)


# Modules that start the command line's watchdog (limits.watchdog) around a command.
_WATCHDOG_USERS = (
    "tos_policy.cli.main",
    "tos_policy.cli.commands.screen",
    "tos_policy.cli.commands.review_queue",
    "tos_policy.cli.commands.store",
)


@pytest.fixture(autouse=True)
def _patient_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run in the test process (CliRunner) keep their watchdog, with ten minutes of
    grace: its backstop ends the whole process, and on a loaded machine a 0.1 s limit plus
    the default 1 s grace would end the test runner. The deadline checks that make a command
    exit 3 are unchanged; commands run as subprocesses keep the real grace."""
    real = limits.watchdog

    def patient(max_seconds: float, grace: float | None = None, *, during: str = "inside one engine call") -> Any:
        return real(max_seconds, 600.0, during=during)

    for module in _WATCHDOG_USERS:
        monkeypatch.setattr(f"{module}.watchdog", patient)


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


def uncited(value: Any) -> Any:
    """A report or record without the facts' citations (`sources`, `path_sources`): what `screen`
    and the registry store keep of evaluate's records."""
    if isinstance(value, dict):
        return {key: uncited(item) for key, item in value.items() if key not in ("sources", "path_sources")}
    if isinstance(value, list):
        return [uncited(item) for item in value]
    return value
