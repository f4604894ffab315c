"""The strict reading of self-supporting cycles: the greatest fixpoint.

The least fixpoint (fixpoint.run_fixpoint) starts with nothing restricted, so
cross-holdings that would be restricted only if they already were stay
unrestricted: A and B each 50% owned by the other and 30% by a restricted
company are allowed. Where a profile asks for it, the strict (upper) reading
instead takes the greatest fixpoint: such entities stay restricted in the upper
reading and unrestricted in the lower one, so they are reviewed.

Only entities the least fixpoint leaves unrestricted, on a cycle among them or
below one, can differ between the two fixpoints. They are taken a level of
components at a time, owners first: a cycle's members start restricted and are
dropped, round by round, while the rule does not restrict them given the owners
still restricted (S := S and f(S), which converges to the greatest fixpoint
within the start set for a monotone rule); an entity on no cycle is decided
again only if an owner was gained. A company's stake in itself (treasury
shares) never supports its own restriction, and a cycle no restriction
reaches is no reason for review."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tos_policy.engines import Engine
from tos_policy.facts.load import Link
from tos_policy.limits import check_deadline
from tos_policy.ownership.fixpoint import OwnershipGraph, StepCache, StepOutcome, controller_tops, tops_of
from tos_policy.ownership.scc import strongly_connected_components
from tos_policy.ownership.steps import build_step_input


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
    every member is restricted when the set's members are.

    Only entities the least fixpoint leaves unrestricted can be gained, and they are taken
    component by component (strongly connected over links that carry something), owners'
    components first, so each is decided once its owners are final: an entity on no cycle is
    asked again only when one of its owners was gained, and a cycle only when a restricted
    or gained entity holds something in it."""
    restricted = {entity_id for entity_id, outcome in least.items() if outcome.restricted}
    if not restricted:
        return least
    free = [entity_id for entity_id in graph.order if entity_id in least and entity_id not in restricted]
    free_set = set(free)
    carried: dict[str, list[Link]] = defaultdict(list)  # links into free entities that carry something
    incoming: dict[str, list[Link]] = defaultdict(list)  # every link into them but a stake in itself
    for links in graph.outgoing.values():
        for link in links:
            if link.asset in free_set and link.owner != link.asset:
                incoming[link.asset].append(link)
                if _carries(link):
                    carried[link.asset].append(link)
    search = _Search(
        graph,
        engine,
        cache,
        least,
        dict(least),
        incoming,
        carried,
        (reading, profile, batch_size),
        # Holdings add up as control stands in the least fixpoint (attribute_controlled_holdings).
        tops_of(controller_tops(least)) if attribute_controlled else None,
    )
    gained: set[str] = set()
    fixed = set(restricted)  # the restricted and the gained so far: final when a level is taken
    for level in _levels(graph, free, free_set):
        candidates: set[str] = set()
        for component in level:
            held = any(link.owner in fixed for member in component for link in carried[member])
            if held and (len(component) > 1 or any(link.owner in gained for link in carried[component[0]])):
                candidates.update(component)
        if candidates:
            now = search.greatest_within(fixed, candidates)
            gained |= now
            fixed |= now
    return search.outcomes


def _levels(graph: OwnershipGraph, free: list[str], free_set: set[str]) -> list[list[list[str]]]:
    """The free entities' strongly connected components (over links that carry something) by level:
    a component's level is one more than its owners' highest, so no two of a level hold in each other."""
    successors = {
        owner: [link.asset for link in graph.outgoing.get(owner, ()) if link.asset in free_set and _carries(link)]
        for owner in free
    }
    components = strongly_connected_components(free, successors)
    components.reverse()  # owners' components first
    component_of = {member: index for index, component in enumerate(components) for member in component}
    depth = [0] * len(components)
    for index, component in enumerate(components):
        for member in component:
            for asset in successors[member]:
                other = component_of[asset]
                if other != index and depth[other] <= depth[index]:
                    depth[other] = depth[index] + 1
    levels: list[list[list[str]]] = [[] for _ in range(max(depth, default=-1) + 1)]
    for index, component in enumerate(components):
        levels[depth[index]].append(component)
    return levels


@dataclass
class _Search:
    """What the greatest fixpoint's levels share: the graph, the rule, the least fixpoint, the
    outcomes found so far, and the links into the entities that can be gained."""

    graph: OwnershipGraph
    engine: Engine
    cache: StepCache
    least: dict[str, StepOutcome]
    outcomes: dict[str, StepOutcome]
    incoming: dict[str, list[Link]]  # every link into them but a stake in itself
    carried: dict[str, list[Link]]  # those that carry something
    query: tuple[str, str, int]  # reading, profile, batch size
    controller: Callable[[str], Iterable[str]] | None

    def greatest_within(self, fixed: set[str], assumed: set[str]) -> set[str]:
        """The greatest subset of `assumed` (components of one level) the rule restricts given the
        entities `fixed` as restricted and the subset's own members, each reached from `fixed`."""
        dirty = set(assumed)
        while True:
            self.drop_unsupported(fixed, assumed, dirty)
            reached = _reached(self.carried, fixed, assumed)
            if reached == assumed:
                return assumed
            dirty = {link.asset for entity_id in assumed - reached for link in self.graph.outgoing.get(entity_id, ())}
            for entity_id in assumed - reached:
                self.outcomes[entity_id] = self.least[entity_id]
            assumed = reached
            dirty &= assumed

    def drop_unsupported(self, fixed: set[str], assumed: set[str], dirty: set[str]) -> None:
        """Drop from `assumed`, round by round, the entities the rule does not restrict given the
        owners restricted or still assumed (S := S and f(S)); outcomes of the rest are their reasons then."""
        graph, outcomes = self.graph, self.outcomes
        reading, profile, batch_size = self.query
        pending = sorted(dirty & assumed, key=graph.order.__getitem__)
        while pending:
            check_deadline(self.cache.deadline, self.cache.max_seconds)
            inputs = [
                build_step_input(
                    graph.entities[entity_id],
                    [link for link in self.incoming[entity_id] if link.owner in fixed or link.owner in assumed],
                    graph.entities,
                    reading,
                    profile,
                    graph.holdings_of(entity_id),
                    self.controller,
                )
                for entity_id in pending
            ]
            results = self.cache.decide(self.engine, [step.payload for step in inputs], batch_size)
            dropped = []
            for entity_id, step, result in zip(pending, inputs, results, strict=True):
                if result["restricted"]:
                    outcomes[entity_id] = StepOutcome(True, tuple(result["reasons"]), step.links)
                else:
                    dropped.append(entity_id)
            assumed.difference_update(dropped)
            touched: set[str] = set()
            for entity_id in dropped:
                outcomes[entity_id] = self.least[entity_id]
                touched.update(link.asset for link in graph.outgoing.get(entity_id, ()))
            pending = sorted(touched & assumed, key=graph.order.__getitem__)


def _carries(link: Link) -> bool:
    return link.owner != link.asset and (link.kind != "shareholding" or link.share.max > 0)


def _reached(carried: dict[str, list[Link]], fixed: set[str], assumed: set[str]) -> set[str]:
    """The members of `assumed` reached from `fixed` through links that carry something, held
    by members of `fixed` or of `assumed`."""
    seen = {member for member in assumed if any(link.owner in fixed for link in carried[member])}
    pending = list(seen)
    successors: dict[str, list[str]] = defaultdict(list)
    for member in assumed:
        for link in carried[member]:
            if link.owner in assumed:
                successors[link.owner].append(member)
    while pending:
        for asset in successors.get(pending.pop(), ()):
            if asset not in seen:
                seen.add(asset)
                pending.append(asset)
    return seen
