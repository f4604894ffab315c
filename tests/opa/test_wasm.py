"""The Wasm engine (the rules compiled by OPA to WebAssembly, run by wasmtime) against
a real OPA server on the same random graphs and access requests; the shipped module in
step with the rules; modules rebuilt and cached when the rules change."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tests.access.strategies import POLICIES, signals
from tests.opa.test_access_parity import PARITY_SETTINGS as ACCESS_SETTINGS
from tests.opa.test_access_parity import organisations
from tests.opa.test_parity import PARITY_SETTINGS, assert_engines_decide_alike, fact_documents
from tos_policy.access import ACCESS_ENTRYPOINT, request_from_document
from tos_policy.cli.main import main
from tos_policy.engines import compiled
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.engines.opa import OpaEngine
from tos_policy.engines.opa_server import OpaServer
from tos_policy.engines.wasm import WasmEngine
from tos_policy.policy.ruleset import RuleSet

pytestmark = pytest.mark.opa

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


@pytest.fixture(scope="session")
def wasm(variant_rules: RuleSet) -> Iterator[WasmEngine]:
    module = compiled.module_for(variant_rules, build=False)
    assert module is not None, "no shipped Wasm module for the shipped rules: run scripts/build-wasm"
    engine = WasmEngine(variant_rules, module)
    yield engine
    engine.close()


@PARITY_SETTINGS
@given(document=fact_documents(), data=st.data())
def test_wasm_and_opa_decide_alike(
    document: dict[str, Any], data: st.DataObject, opa_engine: OpaEngine, wasm: WasmEngine, variant_rules: RuleSet
) -> None:
    assert_engines_decide_alike(document, data, opa_engine, wasm, variant_rules, batch_size=7)  # type: ignore[arg-type]


@PARITY_SETTINGS
@given(document=fact_documents(max_exclusive=True), data=st.data())
def test_wasm_and_opa_decide_ranges_alike(
    document: dict[str, Any], data: st.DataObject, opa_engine: OpaEngine, wasm: WasmEngine, variant_rules: RuleSet
) -> None:
    assert_engines_decide_alike(document, data, opa_engine, wasm, variant_rules, batch_size=256)  # type: ignore[arg-type]


@pytest.fixture
def opa_access(opa_server: OpaServer, access_rules: RuleSet) -> Iterator[OpaEngine]:
    engine = OpaEngine(access_rules, opa_server.url, timeout=10.0)
    yield engine
    engine.close()


@ACCESS_SETTINGS
@given(organisation=organisations(), signal_values=signals(), policy=st.sampled_from(POLICIES))
def test_wasm_and_opa_give_the_same_access_result(
    access_rules: RuleSet,
    opa_access: OpaEngine,
    organisation: dict[str, Any] | None,
    signal_values: dict[str, Any],
    policy: str,
) -> None:
    engine = _access_wasm(access_rules)
    request = request_from_document({"organisation": None, "signals": signal_values})
    query = {"policy": policy, "organisation": organisation, "signals": request.signals}
    assert engine.query(ACCESS_ENTRYPOINT, query) == opa_access.query(ACCESS_ENTRYPOINT, query)


_ACCESS_WASM: dict[str, WasmEngine] = {}


def _access_wasm(rules: RuleSet) -> WasmEngine:
    if "engine" not in _ACCESS_WASM:
        module = compiled.module_for(rules, build=False)
        assert module is not None
        _ACCESS_WASM["engine"] = WasmEngine(rules, module)
    return _ACCESS_WASM["engine"]


def test_the_shipped_module_is_in_step_with_the_rules(rules: RuleSet, opa_bin: Path) -> None:
    """Compiled again by the pinned OPA, the rules give the very module shipped, under the rules' key."""
    recorded = json.loads(compiled.SHIPPED_KEY.read_text())
    hint = "the shipped Wasm module is out of step with rules/: run scripts/build-wasm and commit the result"
    assert recorded["key"] == compiled.wasm_key(rules), hint
    rebuilt = compiled.build_module(rules, opa_bin)
    assert recorded["sha256"] == "sha256:" + hashlib.sha256(rebuilt).hexdigest(), hint
    assert compiled.SHIPPED_MODULE.read_bytes() == rebuilt, hint


def _edited(rules: RuleSet, threshold_line: str = "# an edit") -> RuleSet:
    """The rules with one module edited (a comment: same decisions, another key)."""
    modules = dict(rules.modules)
    path = "ownership/ownership.rego"
    modules[path] = modules[path] + f"\n{threshold_line}\n"
    return dataclasses.replace(rules, modules=modules)


def test_edited_rules_are_compiled_once_and_cached(
    rules: RuleSet, opa_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOS_POLICY_CACHE", str(tmp_path))
    monkeypatch.setenv("OPA_BINARY", str(opa_bin))
    edited = _edited(rules)
    assert compiled.wasm_key(edited) != compiled.wasm_key(rules)
    assert compiled.shipped_module(compiled.wasm_key(edited)) is None
    module = compiled.module_for(edited)
    assert module is not None
    cached = list((tmp_path / "wasm").iterdir())
    assert [path.name for path in cached] == [compiled.wasm_key(edited).removeprefix("sha256:") + ".wasm"]
    assert cached[0].read_bytes() == module
    # Next time the cache answers, without OPA.
    monkeypatch.setattr(compiled, "find_opa", lambda: None)
    assert compiled.module_for(edited) == module
    engine = WasmEngine(edited, module)
    batch = {"profile": "terms_of_service", "reading": "lower", "items": [_restricted_item()]}
    assert engine.decide(batch)[0]["restricted"] is True


def _restricted_item() -> dict[str, Any]:
    return {"scale": 1, "entity": {"type": "company", "headquarters": "CN", "jurisdiction": "CN"}, "links": []}


def test_without_module_or_opa_auto_falls_back_to_the_embedded_engine(
    rules: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tos_policy.cli.support import EngineChoice, make_engine
    from tos_policy.errors import EngineError

    monkeypatch.setenv("TOS_POLICY_CACHE", str(tmp_path))
    monkeypatch.setattr(compiled, "find_opa", lambda: None)
    edited = _edited(rules, "# another edit")
    fallback = make_engine(EngineChoice(name="auto"), edited)
    assert isinstance(fallback, EmbeddedEngine)
    with pytest.raises(EngineError, match="no compiled rules"):
        make_engine(EngineChoice(name="wasm"), edited)
    assert isinstance(make_engine(EngineChoice(name="auto"), rules), WasmEngine)  # the shipped module


def test_the_cli_defaults_to_the_wasm_engine_and_decides_as_the_embedded_one() -> None:
    common = ["evaluate", str(EXAMPLES / "chain.json"), "--as-of", "2025-10-01"]
    by_default = CliRunner().invoke(main, common)
    embedded = CliRunner().invoke(main, [*common, "--engine", "embedded"])
    assert by_default.exit_code == 0 and embedded.exit_code == 0, by_default.stderr
    one, other = json.loads(by_default.stdout), json.loads(embedded.stdout)
    assert (one.pop("engine"), other.pop("engine")) == ("wasm", "regopy")
    for record in (*one["decisions"], *other["decisions"]):
        record.pop("engine", None)
    assert one == other
