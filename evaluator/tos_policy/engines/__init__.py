"""Policy engines behind one small interface: decide a batch of step inputs."""

from __future__ import annotations

from typing import Any, Protocol


class Engine(Protocol):
    """Runs the ownership step rule (data.ownership.batch) on one batch.

    A batch is {"profile": NAME, "reading": "lower" | "upper", "items": [...]},
    each item {"scale", "entity", "links"}; the result has one step result per
    item, in order."""

    name: str

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def check_results(items: list[dict[str, Any]], results: Any, engine: str) -> list[dict[str, Any]]:
    """A result for every item, each with a boolean verdict, or an EngineError: never a silent allow."""
    from tos_policy.errors import EngineError

    if not isinstance(results, list) or len(results) != len(items):
        raise EngineError(f"{engine}: the rules returned no decision for the batch (undefined or malformed result)")
    for result in results:
        if not isinstance(result, dict) or not isinstance(result.get("restricted"), bool):
            raise EngineError(f"{engine}: the rules returned a malformed step result: {result!r:.200}")
        if not isinstance(result.get("reasons"), list):
            raise EngineError(f"{engine}: the rules returned a step result without reasons: {result!r:.200}")
    return results
