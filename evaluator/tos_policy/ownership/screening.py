"""Screen a whole registry: every entity decided, streamed as JSON Lines.

A wrapper around the one pipeline (ownership/pipeline.py): the facts are prepared
once; weakly connected components of the ownership graph cannot affect each other,
so they are the unit of work: components are packed into partitions of about
equal size, and each partition runs the pipeline's readings and decisions, within
the same limits, in this process or in worker processes (fork)."""

from __future__ import annotations

import heapq
import multiprocessing
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from tos_policy.atomic import create_beside, naming_failures, replaced_atomically, sweep_stale
from tos_policy.engines import Engine
from tos_policy.facts.load import Facts, Link
from tos_policy.limits import Limits, check_deadline
from tos_policy.ownership.look_through import check_plan
from tos_policy.ownership.pipeline import (
    DEFAULT_DRIVER,
    FixpointDriver,
    Prepared,
    Reconciler,
    Report,
    decisions,
    prepare,
    run_readings,
    scope_graph,
)
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.records import decision_record
from tos_policy.unionfind import UnionFind

EngineFactory = Callable[[RuleSet], Engine]


@dataclass
class ScreenSummary:
    entities: int = 0
    links: int = 0
    components: int = 0
    partitions: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"allow": 0, "deny": 0, "review": 0})
    undisclosed: int = 0  # reviews that undisclosed ownership leads to (Decision.undisclosed)
    not_screened: dict[str, int] = field(default_factory=lambda: {"persons": 0, "placeholders": 0})
    rule_calls: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    exceptions: dict[str, Any] = field(default_factory=dict)  # ExceptionBook.summary: listed, counted

    def as_json(self) -> dict[str, Any]:
        return {
            "entities": self.entities,
            "links": self.links,
            "components": self.components,
            "partitions": self.partitions,
            "decisions": self.counts,
            "undisclosed": self.undisclosed,
            "not_screened": self.not_screened,
            "rule_calls": self.rule_calls,
            "cache_hits": self.cache_hits,
            "seconds": round(self.seconds, 3),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "exceptions": self.exceptions,
        }


def components(entity_ids: list[str], links: list[Link]) -> list[list[str]]:
    """Weakly connected components (union-find), each in input order, largest first."""
    sets = UnionFind()
    for link in links:
        sets.union(link.owner, link.asset)
    groups: dict[str, list[str]] = {}
    for entity_id in entity_ids:
        groups.setdefault(sets.find(entity_id), []).append(entity_id)
    return sorted(groups.values(), key=len, reverse=True)


def partition(groups: list[list[str]], parts: int) -> list[list[str]]:
    """Pack components into `parts` bins of similar size (largest first, into the emptiest bin)."""
    bins: list[list[str]] = [[] for _ in range(max(1, parts))]
    for group in groups:
        min(bins, key=len).extend(group)
    return [sorted_bin for sorted_bin in bins if sorted_bin]


# State shared with forked workers (copy-on-write), set by `screen` before forking. One
# screen runs at a time in a process (_SCREEN_LOCK): runs from several threads take turns.
_SHARED: dict[str, Any] = {}
_SCREEN_LOCK = threading.Lock()


def _decide_partition(index: int) -> tuple[int, str, dict[str, int], int, int, list[tuple[str, str]]]:
    """Decide one partition; write its JSON Lines to a temporary file; return counts."""
    state = _SHARED
    prepared: Prepared = state["prepared"]
    limits: Limits = state["limits"]
    parts: list[list[str]] = state["partitions"]
    graph = scope_graph(prepared, None if len(parts) == 1 else set(parts[index]))
    engine: Engine = state["factory"](prepared.rules)
    try:
        readings, cache = run_readings(
            graph,
            engine,
            prepared,
            limits=limits,
            deadline=state["deadline"],
            batch_size=state["batch_size"],
            driver=state["driver"],
        )
    finally:
        engine.close()
    report = Report(prepared.policy, prepared.as_of, engine.name, prepared.facts_digest, [], graph=graph)
    report.merged = prepared.facts.merged  # records cite the records merged into them
    report.determinations = state.get("determinations")  # cited by the decisions they touch
    applied: list[tuple[str, str]] = []
    counts = {"allow": 0, "deny": 0, "review": 0, "undisclosed": 0, "persons": 0, "placeholders": 0}
    # beside the output (renamed into it: one file system), owned by the parent run
    name = str(create_beside(state["out"], f"part{index}", owner=state["pid"]))
    with naming_failures(state["out"]), open(name, "wb") as out:
        lines: list[bytes] = []
        # Every entity of the facts in the partition; not the placeholders of undisclosed principals.
        decided = [entity_id for entity_id in graph.entities if entity_id in prepared.facts.entities]
        for item in decisions(graph, readings, prepared, decided, limits=limits, deadline=state["deadline"]):
            applied.extend((str(record["id"]), item.entity.id) for record in item.exceptions)
            subject = item.entity.subject
            if subject == "organisation":  # persons and placeholders are counted apart
                counts[item.decision] += 1
                counts["undisclosed"] += item.undisclosed
            else:
                counts[f"{subject}s"] += 1
            lines.append(orjson.dumps(decision_record(report, item, sources=False), option=orjson.OPT_SORT_KEYS))
            if len(lines) >= 10_000:
                out.write(b"\n".join(lines) + b"\n")
                lines.clear()
        if lines:
            out.write(b"\n".join(lines) + b"\n")
    return index, name, counts, cache.calls, cache.hits, applied


def screen(
    facts: Facts,
    rules: RuleSet,
    factory: EngineFactory,
    *,
    as_of: date,
    out: Path,
    profile: str | None = None,
    workers: int = 1,
    batch_size: int = 256,
    engine_name: str = "regopy",
    limits: Limits | None = None,
    reconcile: Reconciler | None = None,
    driver: FixpointDriver = DEFAULT_DRIVER,
    determinations: Any = None,
    deadline: float | None = None,
) -> ScreenSummary:
    """Decide every entity; write decisions as JSON Lines to `out` (atomically). Within
    `limits` (default: Limits()), as `evaluate`: the round limit and the deadline hold
    (`deadline`, a time.monotonic() value, default: max_seconds from now). Safe to call
    from several threads: runs in one process take turns."""
    with _SCREEN_LOCK:
        return _screen(
            facts,
            rules,
            factory,
            as_of,
            out,
            profile,
            workers,
            batch_size,
            limits,
            reconcile,
            driver,
            determinations,
            deadline,
        )


def _screen(
    facts: Facts,
    rules: RuleSet,
    factory: EngineFactory,
    as_of: date,
    out: Path,
    profile: str | None,
    workers: int,
    batch_size: int,
    limits: Limits | None,
    reconcile: Reconciler | None,
    driver: FixpointDriver,
    determinations: Any,
    deadline: float | None,
) -> ScreenSummary:
    started = time.perf_counter()
    limits = limits or Limits()
    deadline = limits.deadline() if deadline is None else deadline
    prepared = prepare(facts, rules, as_of=as_of, profile=profile, reconcile=reconcile)
    check_plan(driver.name, prepared.profile, rules.profile(prepared.profile))  # before any output
    links = prepared.links
    entity_ids = list(facts.entities)
    # Components matter only to split the work; one worker takes the whole graph.
    groups = components(list(prepared.entities), links) if workers > 1 else [list(prepared.entities)]
    parts = partition(groups, workers) or [[]]  # no entities: one empty partition, an empty output
    out.parent.mkdir(parents=True, exist_ok=True)
    _ = prepared.facts_digest  # computed once here, not in every worker
    sweep_stale(out)  # parts left by a screen that was killed
    _SHARED.update(
        prepared=prepared,
        limits=limits,
        deadline=deadline,
        driver=driver,
        order={entity_id: position for position, entity_id in enumerate(entity_ids)} if workers > 1 else {},
        partitions=parts,
        factory=factory,
        batch_size=batch_size,
        determinations=determinations,  # the Overlay `facts` came from, if any (operations/determinations.py)
        out=out,
        pid=os.getpid(),
    )
    results: list[tuple[int, str, dict[str, int], int, int, list[tuple[str, str]]]] = []
    try:
        if len(parts) == 1:
            results.append(_decide_partition(0))
        else:
            with multiprocessing.get_context("fork").Pool(len(parts)) as pool:
                results = pool.map(_decide_partition, range(len(parts)))
        check_deadline(deadline, limits.max_seconds)
        summary = _assemble(results, out, _SHARED.get("order") or {})
        summary.exceptions = prepared.exceptions.summary_of(pair for result in results for pair in result[5])
    except BaseException:
        for _, name, *_rest in results:
            Path(name).unlink(missing_ok=True)
        sweep_stale(out, mine=True)  # parts of a failed partition (its worker has ended, or it was this process)
        raise
    finally:
        _SHARED.clear()
    summary.entities, summary.links = len(entity_ids), len(links)
    summary.components, summary.partitions = len(groups), len(parts)
    summary.seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary.peak_rss_mib = max(_own_peak_kib(), children) / 1024
    return summary


def _own_peak_kib() -> int:
    """This process's peak resident memory in KiB. Linux keeps ru_maxrss across exec, so a
    screen started by a large process (a test runner, a service) would report its parent's
    peak; VmHWM belongs to this process's own address space."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _merged_lines(names: list[str], order: dict[str, int]) -> Iterator[bytes]:
    """The partitions' lines in input order: each partition file is in input order already."""
    handles = [open(name, "rb") for name in names]  # noqa: SIM115 - closed below
    try:
        streams = [((order[orjson.loads(line)["entity"]], line) for line in handle) for handle in handles]
        for _, line in heapq.merge(*streams, key=lambda pair: pair[0]):
            yield line
    finally:
        for handle in handles:
            handle.close()


def _assemble(
    results: list[tuple[int, str, dict[str, int], int, int, list[tuple[str, str]]]], out: Path, order: dict[str, int]
) -> ScreenSummary:
    """Write the partitions' decisions into `out` atomically, in input order whatever the
    number of workers, so the same input gives the same bytes."""
    summary = ScreenSummary()
    ordered = sorted(results)
    try:
        if len(ordered) == 1:
            os.replace(ordered[0][1], out)  # one partition is already the whole file, beside `out`
        else:
            with replaced_atomically(out) as temporary, temporary.open("wb") as target:
                target.writelines(_merged_lines([name for _, name, *_rest in ordered], order))
    finally:
        for _, name, *_rest in results:
            Path(name).unlink(missing_ok=True)
    for _, _name, counts, calls, hits, _applied in ordered:
        for key, value in counts.items():
            if key == "undisclosed":
                summary.undisclosed += value
            elif key in summary.not_screened:
                summary.not_screened[key] += value
            else:
                summary.counts[key] += value
        summary.rule_calls += calls
        summary.cache_hits += hits
    return summary
