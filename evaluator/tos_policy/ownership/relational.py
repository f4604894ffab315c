"""The round loop of the relational plans (columnar.py on DuckDB, spark.py on Spark).

Both plans run the same fixpoint as fixpoint.run_fixpoint; they differ only in where a
round's join and group-by run. This module holds everything else, once: the first
round, attribution's regrouping, the round limit and deadline, one rule call per
distinct step input, the monotonicity check and the bookkeeping of who is restricted.
A plan supplies `run_round(newly, every)`: the rows (asset, step input JSON, link
indexes) of the assets that the owners in `newly` hold, from the owners in `every`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tos_policy.engines import Engine
from tos_policy.errors import NonMonotoneRuleError
from tos_policy.facts.load import Link
from tos_policy.limits import check_deadline
from tos_policy.ownership.fixpoint import (
    OwnershipGraph,
    StepCache,
    StepOutcome,
    _first_round,
    chain_too_long,
    controller_tops,
    tops_of,
)
from tos_policy.ownership.steps import complete_step

Row = tuple[int, str, list[int]]  # (asset eid, step input as canonical JSON, link indexes)
RoundRunner = Callable[[list[int], list[int]], list[Row]]


@dataclass(frozen=True)
class ReadingQuery:
    """What one reading of a relational plan asks, wherever its rounds run."""

    reading: str
    profile: str
    batch_size: int = 256
    max_rounds: int | None = None
    attribute_controlled: bool = False  # profile switch attribute_controlled_holdings


def relational_fixpoint(
    graph: OwnershipGraph,
    ids: list[str],
    links: list[Link],
    engine: Engine,
    cache: StepCache,
    run_round: RoundRunner,
    query: ReadingQuery,
) -> dict[str, StepOutcome]:
    """Every entity's status in one reading; `ids[eid]` names entity eid, `links[lid]` link lid."""
    reading, max_rounds = query.reading, query.max_rounds
    outcomes = _first_round(graph, engine, cache, reading=reading, profile=query.profile, batch_size=query.batch_size)
    every = [eid for eid, entity_id in enumerate(ids) if outcomes[entity_id].restricted]
    newly = list(every)
    is_restricted = set(every)
    answers: dict[str, dict[str, Any]] = {}  # canonical step JSON -> the rule's answer
    rounds = 1
    tops: dict[str, frozenset[str]] = {}
    cited: dict[str, set[str]] = {}  # controller_tops' control found so far
    while True:
        if query.attribute_controlled:  # as run_fixpoint: a change of control re-decides every held asset
            newly, tops = _regroup(outcomes, tops, cited, is_restricted, newly)
        if not newly:
            break
        rows = run_round(newly, every)
        if not rows:
            break
        rounds += 1
        if max_rounds is not None and rounds > max_rounds:
            raise chain_too_long(graph.entities[ids[rows[0][0]]], max_rounds, reading)
        check_deadline(cache.deadline, cache.max_seconds)
        rows = _complete_rows(rows, graph, ids, links, tops)
        missing = [step for step in dict.fromkeys(row[1] for row in rows) if step not in answers]
        if missing:
            payloads = [orjson.loads(step) for step in missing]
            for step, result in zip(missing, cache.decide(engine, payloads, query.batch_size), strict=True):
                answers[step] = result
        cache.hits += len(rows) - len(missing)
        newly = []
        for eid, step, lids in rows:
            entity_id = ids[eid]
            result = answers[step]
            outcome = StepOutcome(result["restricted"], tuple(result["reasons"]), tuple(links[i] for i in lids))
            if outcomes[entity_id].restricted and not outcome.restricted:
                raise NonMonotoneRuleError(
                    f"the rules turned {entity_id!r} from restricted back to unrestricted when more of its "
                    "owners became restricted; the ownership step must be monotone"
                )
            outcomes[entity_id] = outcome
            if outcome.restricted and eid not in is_restricted:
                newly.append(eid)
                is_restricted.add(eid)
        every += newly
    return outcomes


def _regroup(
    outcomes: dict[str, StepOutcome],
    tops: dict[str, frozenset[str]],
    cited: dict[str, set[str]],
    is_restricted: set[int],
    newly: list[int],
) -> tuple[list[int], dict[str, frozenset[str]]]:
    """As run_fixpoint does under attribute_controlled_holdings: when the parties at the top
    of the chains of control change, every asset a restricted owner holds is decided anew
    (all restricted owners are `newly`); otherwise the round's newly restricted owners."""
    now = controller_tops(outcomes, cited)
    if now == tops:
        return newly, tops
    return sorted(is_restricted), now


def _complete_rows(
    rows: list[Row], graph: OwnershipGraph, ids: list[str], links: list[Link], tops: dict[str, frozenset[str]]
) -> list[Row]:
    """The plan's step inputs completed with what steps.complete_step adds (disclosure,
    remainder, subdivisions, groups), as canonical JSON."""
    controller = tops_of(tops) if tops else None
    return [
        (
            eid,
            orjson.dumps(
                complete_step(
                    orjson.loads(step),
                    graph.entities[ids[eid]],
                    graph.holdings_of(ids[eid]),
                    [links[i] for i in lids],
                    controller,
                ),
                option=orjson.OPT_SORT_KEYS,
            ).decode(),
            lids,
        )
        for eid, step, lids in rows
    ]
