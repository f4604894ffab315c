"""The embedded engine: rego-cpp in process through regopy, rules compiled once.

Thread safety: a regopy Interpreter holds the query's input as its own state (set_input,
then query), so two threads using one interpreter would decide one thread's input with
the other's, and rego-cpp's interpreter is not made for concurrent use anyway. Each
EmbeddedEngine therefore serialises its queries with a lock: one engine may be shared by
any number of threads (a sign-up service), every answer is the single-threaded one, and
queries of one engine run one at a time. For parallel decisions, give each thread (or
process, as `screen --workers` does) its own engine."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import orjson

from tos_policy import jsonio
from tos_policy.engines import ACCESS_RESULT, ENTRYPOINTS, OWNERSHIP_BATCH, check_results
from tos_policy.errors import EngineError
from tos_policy.policy.ruleset import RuleSet

__all__ = ["ACCESS_ENTRYPOINT", "BATCH_ENTRYPOINT", "ENTRYPOINTS", "EmbeddedEngine"]

# Every rule the evaluator queries (engines.ENTRYPOINTS); rego-cpp compiles a plan for each
# (one the rules do not define compiles to nothing, and querying it is an EngineError).
BATCH_ENTRYPOINT = OWNERSHIP_BATCH
ACCESS_ENTRYPOINT = ACCESS_RESULT


# File descriptor 1 belongs to the whole process: two engines compiling at once in two
# threads must not save and restore it crosswise (stdout would stay on stderr).
_FD_LOCK = threading.Lock()


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    with _FD_LOCK:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            os.dup2(2, 1)
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _first_line(message: str) -> str:
    """rego-cpp's compile errors run over many lines; keep the one that says what is wrong."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    useful = [line for line in lines if "errormsg" in line or line.startswith("--")]
    chosen = useful[0] if useful else (lines[0] if lines else "unknown error")
    return " ".join(chosen.replace("(errormsg", "").rstrip(")").split())


class EmbeddedEngine:
    """The rules compiled into one rego-cpp interpreter. Safe to share between threads:
    every query holds the engine's lock from setting its input to reading its output."""

    name = "regopy"

    def __init__(self, rules: RuleSet) -> None:
        # rego-cpp is loaded only when the embedded engine is made: loaded before pyarrow (the
        # columnar plan's), the same `screen` peaked at three times the memory (measured).
        from regopy import Interpreter

        self._lock = threading.Lock()
        self._rego = Interpreter()
        # A built-in's error must fail the query (as OPA's strict-builtin-errors does),
        # not quietly read as undefined or false.
        self._rego.strict_built_in_errors = True
        try:
            with _stdout_to_stderr():  # rego-cpp prints compile errors on fd 1, where decisions go
                for path, source in sorted(rules.modules.items()):
                    self._rego.add_module(path, source)
                self._rego.add_data_json(orjson.dumps(rules.data).decode())
                self._bundle = self._rego.build(None, list(ENTRYPOINTS))
        except Exception as exc:  # regopy raises its own error types
            raise EngineError(f"regopy: the rules do not compile: {_first_line(str(exc))}") from None
        if not self._bundle.ok():
            raise EngineError("regopy: the rules do not compile")

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        items = batch["items"]
        if not items:
            return []
        return check_results(items, self.query(BATCH_ENTRYPOINT, batch), self.name)

    def query(self, entrypoint: str, input: dict[str, Any]) -> Any:
        """The value of one entrypoint ("package/rule", one of ENTRYPOINTS) for `input`.
        An error or an undefined value raises EngineError: never an empty answer."""
        if entrypoint not in ENTRYPOINTS:
            raise EngineError(f"regopy: {entrypoint} is not an entrypoint of the embedded engine")
        from regopy import Input
        from regopy.rego_shared import rego_bundle_query_entrypoint, rego_free_output, rego_output_string

        try:
            prepared = Input(input)
            with self._lock:  # the input is the interpreter's state: set and query as one step
                self._rego.set_input(prepared)
                # Read the raw output string: regopy's Output wrapper cannot parse error terms.
                handle = rego_bundle_query_entrypoint(self._rego._impl, self._bundle._impl, entrypoint)
                try:
                    raw = rego_output_string(handle)
                finally:
                    rego_free_output(handle)
            if raw.strip() == "undefined":
                raise EngineError(f"regopy: the rules returned no decision for {entrypoint} (undefined)")
            output = jsonio.engine_answer(raw, engine="regopy")
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"regopy: evaluating {entrypoint} failed: {exc}") from None
        expressions = output.get("expressions") if isinstance(output, dict) else None
        if not expressions:
            raise EngineError(f"regopy: the rules returned no decision for {entrypoint}: {raw[:200]}")
        return expressions[0]

    def close(self) -> None:
        pass
