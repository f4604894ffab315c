"""The strict reading of self-supporting cycles: the greatest fixpoint.

The least fixpoint (fixpoint.run_fixpoint) starts with nothing restricted, so
cross-holdings that would be restricted only if they already were stay
unrestricted: A and B each 50% owned by the other and 30% by a restricted
company are allowed. Where a profile asks for it, the strict (upper) reading
instead takes the greatest fixpoint: such entities stay restricted in the upper
reading and unrestricted in the lower one, so they are reviewed.

Only entities that a restriction can reach and that lie on or below a cycle
can differ between the two fixpoints; they start restricted and are dropped,
round by round, while the rule does not restrict them given the owners still
restricted (S := S and f(S), which converges to the greatest fixpoint within
the start set for a monotone rule). A company's stake in itself (treasury
shares) never supports its own restriction, and a cycle no restriction
reaches is no reason for review."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from tos_policy.engines import Engine
from tos_policy.facts.load import Link
from tos_policy.limits import check_deadline
from tos_policy.ownership.fixpoint import OwnershipGraph, StepCache, StepOutcome, controller_tops, tops_of
from tos_policy.ownership.scc import strongly_connected_components
from tos_policy.ownership.steps import build_step_input


def _on_cycles(graph: OwnershipGraph) -> set[str]:
    """Entities on a cycle of two or more entities."""
    successors = {
        owner: [link.asset for link in links if link.asset != owner] for owner, links in graph.outgoing.items()
    }
    components = strongly_connected_components(graph.outgoing, successors)
    return {member for component in components if len(component) > 1 for member in component}


def _reachable(graph: OwnershipGraph, starts: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    pending = list(starts)
    while pending:
        node = pending.pop()
        for link in graph.outgoing.get(node, ()):
            if link.asset not in seen and link.asset != node:
                seen.add(link.asset)
                pending.append(link.asset)
    return seen


def greatest_fixpoint(
    graph: OwnershipGraph,
    engine: Engine,
    cache: StepCache,
    least: dict[str, StepOutcome],
    *,
    reading: str,
    profile: str,
    batch_size: int = 256,
    attribute_controlled: bool = False,
) -> dict[str, StepOutcome]:
    """The greatest fixpoint of the reading, from its least fixpoint `least`: the greatest set
    of entities, each reached from a restricted one through links that carry something
    (a stake that may be above 0%, or a control link) held by members of the set, such that
    every member is restricted when the set's members are."""
    restricted = {entity_id for entity_id, outcome in least.items() if outcome.restricted}
    cyclic = _on_cycles(graph)
    if not restricted or not cyclic:
        return least
    # Outside the cycles and what they own, both fixpoints agree (induction over the acyclic part).
    assumed = (_reachable(graph, cyclic) | cyclic) - restricted
    incoming: dict[str, list[Link]] = defaultdict(list)
    for links in graph.outgoing.values():
        for link in links:
            if link.asset in assumed and link.owner != link.asset:
                incoming[link.asset].append(link)
    outcomes = dict(least)
    dirty = set(assumed)
    # Holdings add up as control stands in the least fixpoint (attribute_controlled_holdings).
    controller = tops_of(controller_tops(least)) if attribute_controlled else None
    while True:
        _drop_unsupported(
            graph, engine, cache, incoming, least, assumed, outcomes, dirty, (reading, profile, batch_size), controller
        )
        reached = _reached(graph, restricted, assumed)
        if reached == assumed:
            break
        dirty = {link.asset for entity_id in assumed - reached for link in graph.outgoing.get(entity_id, ())}
        for entity_id in assumed - reached:
            outcomes[entity_id] = least[entity_id]
        assumed = reached
        dirty &= assumed
    return outcomes


def _carries(link: Link) -> bool:
    return link.owner != link.asset and (link.kind != "shareholding" or link.share.max > 0)


def _reached(graph: OwnershipGraph, restricted: set[str], assumed: set[str]) -> set[str]:
    """The members of `assumed` reached from `restricted` through links that carry something, held
    by restricted entities or members of `assumed`."""
    seen: set[str] = set()
    pending = list(restricted)
    while pending:
        node = pending.pop()
        for link in graph.outgoing.get(node, ()):
            if link.asset in assumed and link.asset not in seen and _carries(link):
                seen.add(link.asset)
                pending.append(link.asset)
    return seen


def _drop_unsupported(
    graph: OwnershipGraph,
    engine: Engine,
    cache: StepCache,
    incoming: dict[str, list[Link]],
    least: dict[str, StepOutcome],
    assumed: set[str],
    outcomes: dict[str, StepOutcome],
    dirty: set[str],
    query: tuple[str, str, int],
    controller: Callable[[str], Iterable[str]] | None,
) -> None:
    """Drop from `assumed`, round by round, the entities the rule does not restrict given the owners
    restricted or still assumed (S := S and f(S)); outcomes of the rest are their reasons then."""
    reading, profile, batch_size = query
    restricted = {entity_id for entity_id, outcome in least.items() if outcome.restricted}
    pending = sorted(dirty & assumed, key=graph.order.__getitem__)
    while pending:
        check_deadline(cache.deadline, cache.max_seconds)
        inputs = [
            build_step_input(
                graph.entities[entity_id],
                [link for link in incoming[entity_id] if link.owner in restricted or link.owner in assumed],
                graph.entities,
                reading,
                profile,
                graph.holdings_of(entity_id),
                controller,
            )
            for entity_id in pending
        ]
        results = cache.decide(engine, [step.payload for step in inputs], batch_size)
        dropped = []
        for entity_id, step, result in zip(pending, inputs, results, strict=True):
            if result["restricted"]:
                outcomes[entity_id] = StepOutcome(True, tuple(result["reasons"]), step.links)
            else:
                dropped.append(entity_id)
        assumed.difference_update(dropped)
        touched: set[str] = set()
        for entity_id in dropped:
            outcomes[entity_id] = least[entity_id]
            touched.update(link.asset for link in graph.outgoing.get(entity_id, ()))
        pending = sorted(touched & assumed, key=graph.order.__getitem__)
