"""The Wasm host fails closed: a trap, an abort, a host built-in called, an undefined,
malformed or unterminated answer, or a module that is not an OPA module each raise
EngineError (exit 3), never an answer. The modules here are small hand-written
stand-ins for a compiled policy, so each failure can be produced on purpose."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import wasmtime

from tos_policy.engines.wasm import WasmEngine
from tos_policy.errors import EngineError
from tos_policy.policy.ruleset import RuleSet

BATCH = {"profile": "p", "reading": "lower", "items": [{"scale": 1, "entity": {}, "links": []}]}


def _module(eval_body: str, *, answer: str = "", builtins: str = "{}", abi_minor: int = 2) -> bytes:
    """A stand-in for OPA's module: strings at fixed addresses, values are their addresses
    (opa_json_dump is the identity), and `opa_eval` runs `eval_body`."""
    text = f"""
    (module
      (import "env" "memory" (memory 1))
      (import "env" "opa_abort" (func $abort (param i32)))
      (import "env" "opa_builtin0" (func $builtin0 (param i32 i32) (result i32)))
      (import "env" "opa_builtin1" (func (param i32 i32 i32) (result i32)))
      (import "env" "opa_builtin2" (func (param i32 i32 i32 i32) (result i32)))
      (import "env" "opa_builtin3" (func (param i32 i32 i32 i32 i32) (result i32)))
      (import "env" "opa_builtin4" (func (param i32 i32 i32 i32 i32 i32) (result i32)))
      (data (i32.const 16) "{builtins}\\00")
      (data (i32.const 256) "{{\\"ownership/batch\\":0}}\\00")
      (data (i32.const 512) "{answer}")
      (data (i32.const 1024) "boom\\00")
      (global (export "opa_wasm_abi_version") i32 (i32.const 1))
      (global (export "opa_wasm_abi_minor_version") i32 (i32.const {abi_minor}))
      (func (export "opa_malloc") (param i32) (result i32) (i32.const 4096))
      (func (export "opa_json_parse") (param i32 i32) (result i32) (i32.const 8))
      (func (export "opa_json_dump") (param i32) (result i32) (local.get 0))
      (func (export "opa_heap_ptr_get") (result i32) (i32.const 8192))
      (func (export "builtins") (result i32) (i32.const 16))
      (func (export "entrypoints") (result i32) (i32.const 256))
      (func (export "opa_eval") (param i32 i32 i32 i32 i32 i32 i32) (result i32) {eval_body})
    )"""
    return bytes(wasmtime.wat2wasm(text))


def _answer(json_text: str, terminated: bool = True) -> bytes:
    escaped = json_text.replace("\\", "\\\\").replace('"', '\\"')
    return _module("(i32.const 512)", answer=escaped + ("\\00" if terminated else ""))


@pytest.fixture(scope="module")
def small_rules(rules: RuleSet) -> RuleSet:
    return rules


def test_a_well_formed_answer_is_returned(small_rules: RuleSet) -> None:
    engine = WasmEngine(small_rules, _answer('[{"result": [{"restricted": false, "reasons": []}]}]'))
    assert engine.decide(BATCH) == [{"restricted": False, "reasons": []}]


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (lambda: _module("(unreachable)"), "evaluating ownership/batch failed"),
        (lambda: _module("(call $abort (i32.const 1024)) (i32.const 0)"), "boom"),
        (lambda: _module("(call $builtin0 (i32.const 0) (i32.const 0))"), "host built-in"),
        (lambda: _answer("[]"), "no decision"),
        (lambda: _answer("not json"), "malformed answer"),
        (lambda: _answer('{"result": 1}'), "malformed answer"),
        (lambda: _answer('[{"result": []}]'), "no decision for the batch"),
        (lambda: _answer('[{"result": [{"restricted": "yes", "reasons": []}]}]'), "malformed step result"),
        (lambda: _answer('[{"no": 1}]'), "malformed answer"),
        (lambda: _module("(i32.const 70000)"), "malformed answer"),  # empty memory: an empty string
        (lambda: _module("(i32.const 999999)"), "unterminated"),  # past the end of memory
    ],
)
def test_every_failure_is_an_engine_error(small_rules: RuleSet, module: Any, message: str) -> None:
    engine = WasmEngine(small_rules, module())
    with pytest.raises(EngineError, match=message):
        engine.decide(BATCH)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (lambda: b"\0asm garbage", "cannot be loaded"),
        (lambda: _module("(i32.const 0)", builtins='{\\"time.now_ns\\":0}'), "host built-ins"),
        (lambda: _module("(i32.const 0)", abi_minor=1), "ABI 1.1"),
        (lambda: bytes(wasmtime.wat2wasm("(module)")), "lack the export"),
    ],
)
def test_a_module_that_is_not_a_usable_opa_module_is_refused(small_rules: RuleSet, module: Any, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        WasmEngine(small_rules, module())


def test_an_unknown_entrypoint_is_an_engine_error(small_rules: RuleSet) -> None:
    engine = WasmEngine(small_rules, _answer('[{"result": 1}]'))
    with pytest.raises(EngineError, match="not an entrypoint"):
        engine.query("access/result", {})


def test_one_engine_shared_by_threads_gives_every_thread_its_own_answer(rules: RuleSet) -> None:
    """The shipped module, one instance, eight threads deciding different inputs at once."""
    from tos_policy.engines.compiled import module_for

    module = module_for(rules, build=False)
    assert module is not None
    engine = WasmEngine(rules, module)
    countries = ["CN", "SG", "RU", "US", "IR", "DE", "KP", "FR"]
    expected = {}
    for country in countries:
        expected[country] = engine.decide(_single(country))
    failures: list[str] = []

    def worker(country: str) -> None:
        for _ in range(30):
            if engine.decide(_single(country)) != expected[country]:
                failures.append(country)

    threads = [threading.Thread(target=worker, args=(country,)) for country in countries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert {country for country in countries if expected[country][0]["restricted"]} == {"CN", "RU", "IR", "KP"}


def _single(country: str) -> dict[str, Any]:
    entity = {"type": "company", "headquarters": country, "jurisdiction": country}
    return {"profile": "terms_of_service", "reading": "lower", "items": [{"scale": 1, "entity": entity, "links": []}]}
