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


class EmbeddedEngine:
    name = "regopy"

    def __init__(self, rules: RuleSet) -> None:
        self._rego = Interpreter()
        try:
            for path, source in sorted(rules.modules.items()):
                self._rego.add_module(path, source)
            self._rego.add_data_json(orjson.dumps(rules.data).decode())
            self._bundle = self._rego.build(None, [BATCH_ENTRYPOINT])
        except Exception as exc:  # regopy raises its own error types
            raise EngineError(f"regopy: the rules do not compile: {exc}") from None
        if not self._bundle.ok():
            raise EngineError("regopy: the rules do not compile")

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        items = batch["items"]
        if not items:
            return []
        try:
            self._rego.set_input(Input(batch))
            # Read the raw output string: regopy's Output wrapper cannot parse error terms.
            handle = rego_bundle_query_entrypoint(self._rego._impl, self._bundle._impl, BATCH_ENTRYPOINT)
            try:
                raw = rego_output_string(handle)
            finally:
                rego_free_output(handle)
            output = orjson.loads(raw)
        except Exception as exc:
            raise EngineError(f"regopy: evaluation failed: {exc}") from None
        expressions = output.get("expressions") if isinstance(output, dict) else None
        if not expressions:
            raise EngineError(f"regopy: the rules returned no decision: {raw[:200]}")
        return check_results(items, expressions[0], self.name)

    def close(self) -> None:
        pass
