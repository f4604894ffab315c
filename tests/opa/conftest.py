"""Fixtures for the OPA engine's tests: a real OPA server on 127.0.0.1, never a mock.

The OPA binary comes from scripts/build-opa (<repo>/.tools/bin/opa) or $OPA_BINARY.
Without it these tests fail, with a message saying how to build it: they never skip.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.engines.opa import OpaEngine
from tos_policy.engines.opa_server import OpaServer, OpaServerError, opa_binary, start_server
from tos_policy.policy.ruleset import RuleSet, load_rules

# Profiles beside the shipped one, so that both engines also run the rules'
# other branches: per-group (non-aggregated) stakes, an exclusive threshold,
# "all" root-country matching, and different link effects.
VARIANT_PROFILES: dict[str, dict[str, Any]] = {
    "separate_owners": {"aggregate_owners": False},
    "exclusive_threshold": {"threshold_inclusive": False, "threshold_percent": 25},
    "all_countries": {"root_country_match": "all", "non_restricting_types": ["person", "public_body"]},
    "strict_links": {
        "link_effects": {
            "shareholding": "stake",
            "branch": "same_person",
            "consolidation": "restricts",
            "voting_majority": "restricts",
            "board_appointment": "restricts",
            "significant_influence": "review",
            "other_control": "restricts",
        }
    },
}


PROFILES = ["terms_of_service", *VARIANT_PROFILES]

# Engine difference found by these tests: regopy 1.5.2 (rego-cpp) gets `not`
# inside an `every` body wrong, so rules/ avoids that construct (see
# _any_max_exclusive in ownership.rego); test_opa_engine.py keeps a probe of it.
OWNERSHIP_MODULE = "ownership/ownership.rego"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes `profile_name` runs once per profile: the shipped one and every variant."""
    if "profile_name" in metafunc.fixturenames:
        metafunc.parametrize("profile_name", PROFILES)


def _start_or_fail() -> OpaServer:
    """Start a real OPA server, or fail the test with the reason (never skip)."""
    try:
        return start_server(opa_binary())
    except OpaServerError as exc:
        pytest.fail(f"cannot start an OPA server for the OPA engine tests: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def opa_bin() -> Path:
    try:
        return opa_binary()
    except OpaServerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def opa_server(opa_bin: Path) -> Iterator[OpaServer]:
    """The shared OPA server. Every OpaEngine made on it (re)loads its rules first."""
    server = _start_or_fail()
    try:
        yield server
    finally:
        server.stop()
    assert not server.running(), f"the OPA server (pid {server.pid}) is still running"


@pytest.fixture(scope="session")
def scratch_server(opa_bin: Path) -> Iterator[OpaServer]:
    """A second real OPA server, for rules that are broken on purpose."""
    server = _start_or_fail()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_opa(opa_bin: Path) -> Iterator[Callable[[], OpaServer]]:
    """Start extra OPA servers in a test; each is stopped (by pid) when the test ends."""
    started: list[OpaServer] = []

    def start() -> OpaServer:
        server = _start_or_fail()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules()


@pytest.fixture(scope="session")
def variant_rules(rules: RuleSet) -> RuleSet:
    """The shipped rules with VARIANT_PROFILES added next to the shipped profile."""
    data = copy.deepcopy(rules.data)
    profiles = data["ownership"]["profiles"]
    base = profiles[rules.policy_set["default_profile"]]
    for name, changes in VARIANT_PROFILES.items():
        profiles[name] = {**copy.deepcopy(base), **changes}
    return dataclasses.replace(rules, data=data)


@pytest.fixture(scope="session")
def embedded(variant_rules: RuleSet) -> Iterator[EmbeddedEngine]:
    engine = EmbeddedEngine(variant_rules)
    yield engine
    engine.close()


@pytest.fixture
def opa_engine(opa_server: OpaServer, variant_rules: RuleSet) -> Iterator[OpaEngine]:
    """A fresh engine: loading the rules again on each test keeps tests independent of each other."""
    engine = OpaEngine(variant_rules, opa_server.url, timeout=10.0)
    yield engine
    engine.close()
