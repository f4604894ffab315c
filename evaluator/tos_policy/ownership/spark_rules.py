"""The executor side of the Spark plan (spark.py): the Wasm rules and step completion,
run inside Spark's Python workers over the partitions where the rows live.

Everything a worker needs comes in one broadcast (`Shipped`): the compiled module, the
rules' data and the step-result schema, as bytes, and the graph that completes step
inputs. A worker process loads the rules once, keyed by their digest, and keeps them for
every task it runs; it decides its partition's distinct step inputs in batches and
checks each answer against the step-result schema. Any failure raises EngineError in the
worker, which fails the Spark job: the driver turns that into engine trouble (exit 3),
never into an answer."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import fastjsonschema
import orjson

from tos_policy import jsonio
from tos_policy.engines import check_results
from tos_policy.engines.wasm import WasmEngine
from tos_policy.errors import EngineError
from tos_policy.facts.load import Link
from tos_policy.ownership.fixpoint import OwnershipGraph, tops_of
from tos_policy.ownership.steps import complete_step


@dataclass(frozen=True)
class Shipped:
    """What the driver broadcasts to the executors once per run."""

    module: bytes  # the compiled rules (the driver's WasmEngine's module)
    data: bytes  # the rules' data, JSON
    schema: bytes  # schemas/step-result.schema.json
    graph: OwnershipGraph  # entities, holdings: what complete_step adds to a plan's row
    ids: list[str]  # eid -> entity id
    links: list[Link]  # lid -> link

    @property
    def digest(self) -> str:
        return hashlib.sha256(hashlib.sha256(self.module).digest() + hashlib.sha256(self.data).digest()).hexdigest()


# Per worker process: the rules by digest, and the compiled schema check.
_ENGINES: dict[str, WasmEngine] = {}
_CHECKS: dict[bytes, Callable[[Any], Any]] = {}
_LOCK = threading.Lock()


def worker_engine(shipped: Shipped) -> WasmEngine:
    """This process's engine for the shipped rules, loaded on first use."""
    digest = shipped.digest
    with _LOCK:
        engine = _ENGINES.get(digest)
        if engine is None:
            engine = _ENGINES[digest] = WasmEngine.from_parts(shipped.module, shipped.data)
        return engine


def _schema_check(schema: bytes) -> Callable[[Any], Any]:
    with _LOCK:
        check = _CHECKS.get(schema)
        if check is None:
            document = jsonio.loads(schema, file="step-result schema (shipped)", exact=False)
            check = _CHECKS[schema] = fastjsonschema.compile(document)
        return check


def _where() -> tuple[int, int]:
    """This worker's process id and the partition it is deciding."""
    from pyspark import TaskContext

    context = TaskContext.get()
    return os.getpid(), -1 if context is None else context.partitionId()


def decide_partition(
    shipped: Any, batch_size: int, calls: Any, workers: Any, rows: Iterable[Any]
) -> Iterator[tuple[str, bool, bool, str, int]]:
    """The step results of a partition of distinct step inputs (rows with `step`, canonical
    JSON): (step, restricted, whole, reasons as canonical JSON, deciding pid), in batches of
    `batch_size`. `calls` and `workers` are accumulators (rule calls; (pid, partition))."""
    rules: Shipped = shipped.value
    engine = worker_engine(rules)
    check = _schema_check(rules.schema)
    pid, partition = _where()
    workers.add({(pid, partition)})
    pending: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}

    def flush(key: tuple[str, str]) -> Iterator[tuple[str, bool, bool, str, int]]:
        chunk = pending.pop(key)
        items = [{k: v for k, v in payload.items() if k not in ("profile", "reading")} for _, payload in chunk]
        results = check_results(items, engine.decide({"profile": key[0], "reading": key[1], "items": items}), "wasm")
        calls.add(len(chunk))
        for (step, _), result in zip(chunk, results, strict=True):
            try:
                check(result)
            except fastjsonschema.JsonSchemaException as exc:
                raise EngineError(f"wasm: a step result does not match the step-result schema: {exc}") from None
            reasons = orjson.dumps(result["reasons"], option=orjson.OPT_SORT_KEYS).decode()
            yield step, result["restricted"], bool(result.get("whole", False)), reasons, pid

    for row in rows:
        step = str(row["step"])
        payload = orjson.loads(step)
        key = (str(payload["profile"]), str(payload["reading"]))
        pending.setdefault(key, []).append((step, payload))
        if len(pending[key]) >= batch_size:
            yield from flush(key)
    for key in list(pending):
        yield from flush(key)


def complete_partition(
    shipped: Any, tops: dict[str, frozenset[str]], rows: Iterable[Any]
) -> Iterator[tuple[int, str, list[int]]]:
    """The plan's rows (asset, step, lids) completed as relational._complete_rows completes
    them on one machine (steps.complete_step), as canonical JSON."""
    rules: Shipped = shipped.value
    graph, ids, links = rules.graph, rules.ids, rules.links
    controller = tops_of(tops) if tops else None
    for row in rows:
        eid, lids = int(row["asset"]), [int(lid) for lid in row["lids"]]
        entity_id = ids[eid]
        step = complete_step(
            orjson.loads(row["step"]),
            graph.entities[entity_id],
            graph.holdings_of(entity_id),
            [links[i] for i in lids],
            controller,
        )
        yield eid, orjson.dumps(step, option=orjson.OPT_SORT_KEYS).decode(), lids


def cite_partition(shipped: Any, rows: Iterable[Any]) -> Iterator[tuple[int, list[str]]]:
    """For attribution by controlling party: the owners each restricted entity's reasons
    cite (controller_tops' relation), from (asset, reasons, lids) rows."""
    rules: Shipped = shipped.value
    links = rules.links
    for row in rows:
        eid, lids = int(row["asset"]), [int(lid) for lid in row["lids"]]
        owners = {
            links[lids[index]].owner for reason in orjson.loads(row["reasons"]) for index in reason.get("links", [])
        }
        owners.discard(rules.ids[eid])
        if owners:
            yield eid, sorted(owners)
