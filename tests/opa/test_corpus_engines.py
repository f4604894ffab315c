"""The decision corpus (organisations and access requests) gives the same decisions on
every engine: a real OPA server and the Wasm module as well as the embedded engine that
`tos-policy corpus` uses. What the decisions are lives in tests/corpus/expected.json."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tos_policy.engines import Engine, compiled
from tos_policy.engines.opa import OpaEngine
from tos_policy.engines.opa_server import OpaServer
from tos_policy.engines.wasm import WasmEngine
from tos_policy.policy.ruleset import RuleSet, load_rules
from tos_policy.release.corpus import Corpus, corpus_dir, decide_corpus, load_corpus, mismatches

pytestmark = pytest.mark.opa

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules(ROOT / "rules")


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    loaded = load_corpus(corpus_dir(ROOT), ROOT)
    assert loaded.access_sets and loaded.fact_sets
    return loaded


@pytest.fixture(params=["opa", "wasm"])
def engine(request: pytest.FixtureRequest, shipped: RuleSet, opa_server: OpaServer) -> Iterator[Engine]:
    made: Engine
    if request.param == "opa":
        made = OpaEngine(shipped, opa_server.url, timeout=30.0)
    else:
        module = compiled.module_for(shipped, build=False)
        assert module is not None, "no shipped Wasm module for the shipped rules: run scripts/build-wasm"
        made = WasmEngine(shipped, module)
    yield made
    made.close()


def test_every_engine_gives_the_expected_decisions(corpus: Corpus, shipped: RuleSet, engine: Engine) -> None:
    outcomes = decide_corpus(corpus, shipped, engine)
    assert mismatches(corpus, outcomes) == []
    assert {item.engine for items in outcomes.access.values() for item in items} == {engine.name}
