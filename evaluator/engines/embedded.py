"""The embedded engine: rego-cpp in process through regopy, rules compiled once."""

from __future__ import annotations

from typing import Any

import orjson
from regopy import Input, Interpreter
from regopy.rego_shared import rego_bundle_query_entrypoint, rego_free_output, rego_output_string

from ..errors import EngineError
from ..rules import RuleSet
from . import check_results

BATCH_ENTRYPOINT = "ownership/batch"
ACCESS_ENTRYPOINT = "access/result"
# Every rule the evaluator queries; rego-cpp compiles a plan for each (one the
# rules do not define compiles to nothing, and querying it is an EngineError).
ENTRYPOINTS = (BATCH_ENTRYPOINT, ACCESS_ENTRYPOINT)


class EmbeddedEngine:
    name = "regopy"

    def __init__(self, rules: RuleSet) -> None:
        self._rego = Interpreter()
        try:
            for path, source in sorted(rules.modules.items()):
                self._rego.add_module(path, source)
            self._rego.add_data_json(orjson.dumps(rules.data).decode())
            self._bundle = self._rego.build(None, list(ENTRYPOINTS))
        except Exception as exc:  # regopy raises its own error types
            raise EngineError(f"regopy: the rules do not compile: {exc}") from None
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
        try:
            self._rego.set_input(Input(input))
            # Read the raw output string: regopy's Output wrapper cannot parse error terms.
            handle = rego_bundle_query_entrypoint(self._rego._impl, self._bundle._impl, entrypoint)
            try:
                raw = rego_output_string(handle)
            finally:
                rego_free_output(handle)
            if raw.strip() == "undefined":
                raise EngineError(f"regopy: the rules returned no decision for {entrypoint} (undefined)")
            output = orjson.loads(raw)
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
