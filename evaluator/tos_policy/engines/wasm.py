"""The Wasm engine: the rules compiled to WebAssembly by OPA, run in process by wasmtime.

OPA's compiler plans the Rego once (`opa build -t wasm`), so the answers are OPA's
by construction; the host here is small. The module is instantiated with the
memory it imports; the rules' data is parsed into the module's heap once
(opa_malloc + opa_json_parse); each call then writes its input at the heap
pointer left after the data and evaluates with the single-call ABI (`opa_eval`),
which starts its own heap from there, so every call begins from the same heap.

The compiled rules call no host built-ins (checked when the module is loaded):
a module that needs one is refused, and a built-in called anyway traps. Every
trap, abort, undefined or malformed answer raises EngineError. A lock makes one
instance safe to share between threads."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import orjson
import wasmtime

from tos_policy import jsonio
from tos_policy.engines import OWNERSHIP_BATCH, check_results
from tos_policy.errors import EngineError
from tos_policy.policy.ruleset import RuleSet

PAGE = 65536
# opa_eval's answer is at most this long (a batch of 256 step results is ~100 KiB);
# a longer one, or one without its terminating NUL, is malformed.
MAX_ANSWER = 256 << 20
ABI_VERSION = 1
MIN_ABI_MINOR = 2  # opa_eval, the single-call ABI


_COMPILED: dict[tuple[int, bytes], tuple[wasmtime.Engine, wasmtime.Module]] = {}
_COMPILED_LOCK = threading.Lock()


def _compiled(module_bytes: bytes) -> tuple[wasmtime.Engine, wasmtime.Module]:
    """The module compiled to machine code once per process (compiling costs far more than
    instantiating); keyed by process id too, so a forked worker compiles its own."""
    key = (os.getpid(), hashlib.sha256(module_bytes).digest())
    with _COMPILED_LOCK:
        found = _COMPILED.get(key)
        if found is None:
            config = wasmtime.Config()
            # No compiler threads: screening forks worker processes, and a thread pool
            # left behind in the parent does not survive a fork.
            config.parallel_compilation = False
            engine = wasmtime.Engine(config)
            found = _COMPILED[key] = (engine, wasmtime.Module(engine, module_bytes))
        return found


class _Abort(Exception):
    """Raised inside a host import; wasmtime turns it into a trap."""


class WasmEngine:
    name = "wasm"

    def __init__(self, rules: RuleSet, module: bytes) -> None:
        self._load(module, orjson.dumps(rules.data))

    @classmethod
    def from_parts(cls, module: bytes, data: bytes) -> WasmEngine:
        """The engine of a compiled module and the rules' data as JSON: what a process that
        holds no RuleSet (a Spark executor's worker) is shipped."""
        engine = cls.__new__(cls)
        engine._load(module, data)
        return engine

    def _load(self, module: bytes, data: bytes) -> None:
        self._lock = threading.Lock()
        # Kept so that a distributed plan can ship exactly this engine's rules to its workers.
        self.module, self.data = module, data
        try:
            self._start(module, data)
        except EngineError:
            raise
        except Exception as exc:  # wasmtime's errors and traps: the module is unusable
            raise EngineError(f"wasm: the compiled rules cannot be loaded: {_one_line(exc)}") from None

    def _start(self, module_bytes: bytes, data: bytes) -> None:
        engine, module = _compiled(module_bytes)
        self._store = store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        i32 = wasmtime.ValType.i32()
        pages = 2
        for item in module.imports:
            if item.module == "env" and item.name == "memory" and isinstance(item.type, wasmtime.MemoryType):
                pages = max(pages, item.type.limits.min)
        self._memory = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(pages, None)))
        linker.define(store, "env", "memory", self._memory)
        linker.define_func("env", "opa_abort", wasmtime.FuncType([i32], []), self._abort, access_caller=False)
        for arity in range(5):
            kind = wasmtime.FuncType([i32] * (arity + 2), [i32])
            linker.define_func("env", f"opa_builtin{arity}", kind, _builtin_called)
        self._instance = instance = linker.instantiate(store, module)
        exports = instance.exports(store)

        def export(name: str) -> Any:
            found = exports.get(name)
            if found is None:
                raise EngineError(f"wasm: the compiled rules lack the export {name!r} (not an OPA Wasm module?)")
            return found

        major = export("opa_wasm_abi_version").value(store)
        minor = export("opa_wasm_abi_minor_version").value(store)
        if major != ABI_VERSION or minor < MIN_ABI_MINOR:
            raise EngineError(f"wasm: the compiled rules use Wasm ABI {major}.{minor}; this host needs 1.2 or later")
        self._malloc = export("opa_malloc")
        self._json_parse = export("opa_json_parse")
        self._json_dump = export("opa_json_dump")
        self._heap_get = export("opa_heap_ptr_get")
        self._opa_eval = export("opa_eval")
        builtins = self._dump_value(export("builtins")(store))
        if builtins:
            # The rules are sandboxed to need none; a module that wants host built-ins is not ours to run.
            raise EngineError(
                f"wasm: the compiled rules need host built-ins, which this engine does not provide: "
                f"{', '.join(sorted(builtins))}"
            )
        entrypoints = self._dump_value(export("entrypoints")(store))
        if not isinstance(entrypoints, dict):
            raise EngineError("wasm: the compiled rules list no entrypoints")
        self._entrypoints: dict[str, int] = {str(key): int(value) for key, value in entrypoints.items()}
        self._data = self._parse(data)
        self._base = int(self._heap_get(store))

    def _abort(self, address: int) -> None:
        raise _Abort(self._read_string(address).decode("utf-8", "replace"))

    def _parse(self, document: bytes) -> int:
        """A JSON document parsed into the module's heap; its value's address."""
        store = self._store
        address = int(self._malloc(store, len(document)))
        self._memory.write(store, document, address)
        value = int(self._json_parse(store, address, len(document)))
        if value == 0:
            raise EngineError("wasm: the compiled rules could not parse the rules' data")
        return value

    def _dump_value(self, value: int) -> Any:
        return jsonio.engine_answer(self._read_string(int(self._json_dump(self._store, value))), engine="wasm")

    def _read_string(self, address: int) -> bytes:
        """The NUL-terminated string at `address`, read within the module's memory."""
        store = self._store
        size = self._memory.data_len(store)
        chunk = 1 << 16
        start = address
        parts: list[bytes] = []
        while start < size:
            piece = bytes(self._memory.read(store, start, min(size, start + chunk)))
            end = piece.find(b"\0")
            if end >= 0:
                parts.append(piece[:end])
                return b"".join(parts)
            parts.append(piece)
            start += len(piece)
            if start - address > MAX_ANSWER:
                break
            chunk = min(chunk * 4, 16 << 20)
        raise EngineError("wasm: the compiled rules returned an unterminated answer")

    def _evaluate(self, entrypoint: str, input_json: bytes) -> Any:
        """The value of `entrypoint` for `input_json`; EngineError if undefined or anything fails."""
        number = self._entrypoints.get(entrypoint)
        if number is None:
            raise EngineError(f"wasm: {entrypoint} is not an entrypoint of the compiled rules")
        with self._lock:
            store = self._store
            try:
                base = self._base
                needed = base + len(input_json)
                size = self._memory.data_len(store)
                if needed > size:
                    self._memory.grow(store, (needed - size + PAGE - 1) // PAGE)
                self._memory.write(store, input_json, base)
                result = int(self._opa_eval(store, 0, number, self._data, base, len(input_json), needed, 0))
                raw = self._read_string(result)
            except EngineError:
                raise
            except Exception as exc:  # a trap, an abort, a built-in called: never an answer
                raise EngineError(f"wasm: evaluating {entrypoint} failed: {_one_line(exc)}") from None
        answer = jsonio.engine_answer(raw, engine="wasm")  # strict: duplicate keys, NaN: EngineError
        if not isinstance(answer, list) or len(answer) > 1:
            raise EngineError(f"wasm: {entrypoint} gave a malformed answer: {raw[:200]!r}")
        if not answer:
            raise EngineError(f"wasm: the rules returned no decision for {entrypoint} (undefined)")
        first = answer[0]
        if not isinstance(first, dict) or "result" not in first:
            raise EngineError(f"wasm: {entrypoint} gave a malformed answer: {raw[:200]!r}")
        return first["result"]

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        items = batch["items"]
        if not items:
            return []
        return check_results(items, self._evaluate(OWNERSHIP_BATCH, orjson.dumps(batch)), self.name)

    def query(self, entrypoint: str, input: dict[str, Any]) -> Any:
        """The value of one entrypoint ("package/rule") for `input`; EngineError when undefined or failing."""
        try:
            encoded = orjson.dumps(input)
        except TypeError as exc:
            raise EngineError(f"wasm: the input of {entrypoint} is not JSON: {exc}") from None
        return self._evaluate(entrypoint, encoded)

    def close(self) -> None:
        pass


def _builtin_called(*args: int) -> int:
    raise _Abort(f"the rules called host built-in #{args[0]}, which this engine does not provide")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
