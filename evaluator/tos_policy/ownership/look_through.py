"""Look-through ownership (profile method look_through): effective restricted shares, exact.

The effective share of an entity E held by restricted organisations is the sum, over
every chain of stakes from a restricted organisation down to E, of the product of the
stakes along the chain. With r(O) the part of an owner O that counts as restricted (all
of it when O counts whole, see below; its own effective share otherwise; nothing for a
person), the shares solve the linear system

    x(E) = sum over stakes O -> E of  stake(O, E) * r(O)

in exact rational arithmetic (fractions.Fraction), one strongly connected component at a
time in topological order: a component with a cycle is solved by exact Gaussian
elimination, so cross-holdings are neither guessed nor cut (A and B each 50% owned by
the other and 30% by a restricted company: 0.3 + 0.5 * 0.3 + ... = 0.6 exactly).

Which organisations count whole is the rule's answer (its step result's `whole`: those
restricted on their own place, by control, as a branch, by facts that do not add up);
which links are stakes, which types are organisations and which disclosures are
complete are the profile's data. Nothing here knows a threshold or a country.

Each reading gets its own bound: the lower one reads every stake at its lowest value
and counts nothing undisclosed, the upper one reads every stake at its highest value
and lets the undisclosed remainder of an owner that is not completely disclosed be
restricted. The shares are monotone in both, so the truth lies between the readings.
A component whose system has no unique solution in [0, 1] (stakes that add up to more
than the whole around a cycle) is bounded instead: 0 in the lower reading, 1 in the
upper one, never a guess. Stakes held by an entity in itself never count; a branch (a link the
profile reads as the same person) carries its head office's share whole."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from typing import Any

from tos_policy.engines import Engine
from tos_policy.errors import InputError, NonMonotoneRuleError
from tos_policy.facts.load import HUNDRED, Entity, Link, Share
from tos_policy.ownership.fixpoint import OwnershipGraph, StepCache, StepOutcome, both_readings, run_fixpoint
from tos_policy.ownership.scc import strongly_connected_components
from tos_policy.ownership.steps import BRANCH_TERM, Bound, Holdings

ONE = Fraction(1)
ZERO = Fraction(0)
# Stakes over the whole after reconciliation: the rule takes none of them as proven (lower reading).
STAKES_OVER_100 = "stakes_over_100"
METHOD_LOOK_THROUGH = "look_through"


def uses_look_through(profile: Mapping[str, Any]) -> bool:
    return bool(profile.get("method", "whole_stake") == METHOD_LOOK_THROUGH)


@dataclass(frozen=True)
class Terms:
    """What the profile says the algebra needs: stake kinds, organisations, complete disclosures,
    and the link kinds that make the asset the same person as its owner (a branch: it carries
    its head office's share whole)."""

    stake_kinds: frozenset[str]
    non_restricting: frozenset[str]
    unknown: frozenset[str]
    complete: frozenset[str]
    same_person: frozenset[str] = frozenset()

    @classmethod
    def of(cls, profile: Mapping[str, Any]) -> Terms:
        effects: Mapping[str, str] = profile.get("link_effects", {})
        return cls(
            frozenset(kind for kind, effect in effects.items() if effect == "stake"),
            frozenset(profile.get("non_restricting_types", ())),
            frozenset(profile.get("unknown_types", ())),
            frozenset(profile.get("complete_disclosures", ())),
            frozenset(kind for kind, effect in effects.items() if effect == "same_person"),
        )

    def organisation(self, entity_type: str, reading: str) -> bool:
        if entity_type in self.non_restricting:
            return False
        return entity_type not in self.unknown or reading == "upper"


def _fraction(percent: Any) -> Fraction:
    return Fraction(percent) / Fraction(HUNDRED)


def _measure_share(link: Link, measure: str) -> Share:
    return link.voting or link.share if measure == "voting" else link.share


def _open_part(entity: Entity, holdings: Holdings, terms: Terms, measure: str) -> tuple[Fraction, bool]:
    """In the upper reading, the part of an owner no known holder holds, when its disclosure
    is not complete: it may be held by restricted organisations (and whether it is strictly less)."""
    disclosure = {*entity.disclosure, *((BRANCH_TERM,) if holdings.branch else ())}
    if disclosure & terms.complete:
        return ZERO, False
    rest = (holdings.voting_remainder() if measure == "voting" else None) or holdings.remainder()
    return _fraction(rest[0]), rest[1]


def effective_shares(
    graph: OwnershipGraph,
    whole: Iterable[str],
    *,
    reading: str,
    terms: Terms,
    measure: str = "economic",
) -> dict[str, Fraction]:
    """Every entity's effective share held by restricted organisations in `reading`, given the
    entities that count `whole`; in [0, 1]."""
    bounds = effective_bounds(graph, whole, reading=reading, terms=terms, measure=measure)
    return {entity_id: bound.value for entity_id, bound in bounds.items()}


def _weights(
    graph: OwnershipGraph, *, reading: str, terms: Terms, measure: str
) -> tuple[dict[str, list[tuple[str, Fraction]]], set[tuple[str, str]]]:
    """{asset: [(owner, stake)]} of the positive stakes (and branches, at the whole) organisations
    hold in the reading's bound, and the (owner, asset) whose bound is an excluded end."""
    sharp: set[tuple[str, str]] = set()  # (owner, asset) whose stake's bound is an excluded end
    entities = graph.entities
    weights: dict[str, list[tuple[str, Fraction]]] = defaultdict(list)  # asset -> (owner, stake)
    for owner, links in graph.outgoing.items():
        if owner not in entities or not terms.organisation(entities[owner].type, reading):
            continue
        for link in links:
            if link.asset == owner or link.asset not in entities:
                continue
            if link.kind in terms.same_person:
                weights[link.asset].append((owner, ONE))
                continue
            if link.kind not in terms.stake_kinds:
                continue
            if reading == "lower" and STAKES_OVER_100 in graph.holdings_of(link.asset).flags:
                continue
            share = _measure_share(link, measure)
            value = _fraction(share.min if reading == "lower" else share.max)
            if value > 0:
                weights[link.asset].append((owner, value))
                if share.min_exclusive if reading == "lower" else share.max_exclusive:
                    sharp.add((owner, link.asset))
    return weights, sharp


def effective_bounds(
    graph: OwnershipGraph,
    whole: Iterable[str],
    *,
    reading: str,
    terms: Terms,
    measure: str = "economic",
) -> dict[str, Bound]:
    """effective_shares, each with whether the true share is strictly beyond it: above it in the
    lower reading, below it in the upper one. A stake given with an excluded end ("more than 25%",
    "less than 50%") makes the shares it reaches strict; a share capped at the whole, or bounded
    rather than solved, is never said to be strict."""
    whole = frozenset(whole)
    entities = graph.entities
    weights, sharp = _weights(graph, reading=reading, terms=terms, measure=measure)
    # r(O) = 1 for an owner that counts whole, x(O) + its open part otherwise.
    fixed: dict[str, Fraction] = {}
    opened: dict[str, Fraction] = {}
    open_strict: set[str] = set()
    for entity_id, entity in entities.items():
        if entity_id in whole:
            fixed[entity_id] = ONE
        elif reading == "upper":
            opened[entity_id], strictly = _open_part(entity, graph.holdings_of(entity_id), terms, measure)
            if strictly and opened[entity_id] > 0:
                open_strict.add(entity_id)
    solved: dict[str, Fraction] = {}
    inexact: set[str] = set()
    for component in _components(entities, weights, fixed):
        _solve(component, weights, fixed, opened, solved, reading, inexact)
    strict = _strict(entities, weights, sharp, (fixed, opened, open_strict), solved, inexact)
    lower = reading == "lower"
    return {
        entity_id: Bound(value, lower and entity_id in strict, not lower and entity_id in strict)
        for entity_id, value in solved.items()
    }


def _strict(
    entities: Mapping[str, Entity],
    weights: Mapping[str, list[tuple[str, Fraction]]],
    sharp: set[tuple[str, str]],
    owners: tuple[Mapping[str, Fraction], Mapping[str, Fraction], set[str]],
    solved: Mapping[str, Fraction],
    inexact: set[str],
) -> set[str]:
    """The entities whose true share is strictly beyond the computed one: a term of its sum is, when
    its stake's bound is an excluded end and the owner carries something, or the owner's own share
    (or open part) is strict and the stake is positive. The least such set (a worklist): a cycle
    is strict only where something strict reaches it, as the sum over its chains is."""
    fixed, opened, open_strict = owners
    dependents: dict[str, list[str]] = defaultdict(list)
    for asset, held in weights.items():
        for owner, _ in held:
            dependents[owner].append(asset)
    strict: set[str] = set()
    pending = list(entities)
    while pending:
        asset = pending.pop()
        if asset in strict or asset in inexact:
            continue
        for owner, _ in weights.get(asset, ()):
            if owner in fixed:
                term = (owner, asset) in sharp
            else:
                carried = solved[owner] + opened.get(owner, ZERO)
                term = owner in strict or owner in open_strict or ((owner, asset) in sharp and carried > 0)
            if term:
                strict.add(asset)
                pending.extend(dependents[asset])
                break
    return strict


def _components(
    entities: Mapping[str, Entity], weights: Mapping[str, list[tuple[str, Fraction]]], fixed: Mapping[str, Fraction]
) -> list[list[str]]:
    """Strongly connected components of "x(asset) depends on x(owner)" (owners not fixed), owners'
    components first (ownership/scc.py emits a component after every one it depends on)."""
    depends = {
        asset: [owner for owner, _ in held if owner not in fixed and owner in entities]
        for asset, held in weights.items()
    }
    return strongly_connected_components(entities, depends)


def _solve(
    component: list[str],
    weights: Mapping[str, list[tuple[str, Fraction]]],
    fixed: Mapping[str, Fraction],
    opened: Mapping[str, Fraction],
    solved: dict[str, Fraction],
    reading: str,
    inexact: set[str],
) -> None:
    """x of one component, from the x of every component it depends on (already solved)."""
    members = {entity_id: position for position, entity_id in enumerate(component)}
    size = len(component)
    matrix = [[ZERO] * size for _ in range(size)]  # I - M within the component
    constants = [ZERO] * size
    for row, asset in enumerate(component):
        matrix[row][row] = ONE
        for owner, stake in weights.get(asset, ()):
            if owner in fixed:
                constants[row] += stake * fixed[owner]
            elif owner in members:
                matrix[row][members[owner]] -= stake
                constants[row] += stake * opened.get(owner, ZERO)
            else:
                constants[row] += stake * (solved[owner] + opened.get(owner, ZERO))
    if size > EXACT_COMPONENT:
        values: list[Fraction] | None = _iterate(matrix, constants, reading)
    else:
        values = _eliminate(matrix, constants) if size > 1 else [constants[0] / matrix[0][0]]
    if values is None or any(value < 0 or value > 1 for value in values):
        # No unique share in [0, 1]: bounded, never guessed.
        values = [ZERO if reading == "lower" else ONE] * size
        inexact.update(component)
    elif size > EXACT_COMPONENT:
        inexact.update(component)
    for entity_id, value in zip(component, values, strict=True):
        solved[entity_id] = min(value, ONE)  # an upper bound past the whole (stakes over 100%) is the whole
        if value > ONE:
            inexact.add(entity_id)


# Components larger than this are bounded by iteration rather than solved by elimination
# (cubic in the component's size, on fractions that grow): the bound is sound, and where it
# leaves the share on both sides of the threshold the answer is review.
EXACT_COMPONENT = 60
BOUND_ROUNDS = 64
BOUND_DIGITS = 10**9


def _iterate(matrix: list[list[Fraction]], constants: list[Fraction], reading: str) -> list[Fraction]:
    """A bound of the solution of matrix * x = constants (matrix = I - M, M >= 0) by BOUND_ROUNDS
    rounds of x := constants + M x: from 0 rounding down (each round at most the least solution)
    in the lower reading, from 1 rounding up and capped at the whole in the upper one (each
    round at least the solution, which the whole bounds)."""
    size = len(matrix)
    lower = reading == "lower"
    values = [ZERO if lower else ONE] * size
    terms = [
        [(column, -value) for column, value in enumerate(row) if column != index and value != 0]
        for index, row in enumerate(matrix)
    ]
    for _ in range(BOUND_ROUNDS):
        following = []
        for index in range(size):
            value = constants[index] + sum((weight * values[column] for column, weight in terms[index]), ZERO)
            scaled = value * BOUND_DIGITS
            rounded = scaled.numerator // scaled.denominator if lower else -(-scaled.numerator // scaled.denominator)
            following.append(min(Fraction(rounded, BOUND_DIGITS), ONE))
        values = following
    return values


def _eliminate(matrix: list[list[Fraction]], constants: list[Fraction]) -> list[Fraction] | None:
    """The exact solution of matrix * x = constants (Gauss-Jordan on fractions), None when singular."""
    size = len(matrix)
    rows = [[*row, constant] for row, constant in zip(matrix, constants, strict=True)]
    for column in range(size):
        pivot = next((row for row in range(column, size) if rows[row][column] != 0), None)
        if pivot is None:
            return None
        rows[column], rows[pivot] = rows[pivot], rows[column]
        head = rows[column]
        factor = head[column]
        if factor != 1:
            head = rows[column] = [value / factor for value in head]
        for row in range(size):
            if row != column and rows[row][column] != 0:
                scale = rows[row][column]
                rows[row] = [value - scale * pivot_value for value, pivot_value in zip(rows[row], head, strict=True)]
    return [row[size] for row in rows]


def measures(profile: Mapping[str, Any], graph: OwnershipGraph) -> tuple[str, ...]:
    """The measures a share is taken in: economic, and votes when some stake gives its votes
    apart and the profile counts them (stake_measure voting or larger)."""
    if profile.get("stake_measure", "larger") == "economic":
        return ("economic",)
    if any(link.voting is not None for links in graph.outgoing.values() for link in links):
        return ("economic", "voting")
    return ("economic",)


class LookThroughFixpoint:
    """The fixpoint driver of method look_through: the row plan's rounds (fixpoint.run_fixpoint),
    each entity's step input carrying its effective share. Which organisations count whole comes
    from the rule's outcomes, and more of them raise every share, so the driver alternates: shares
    from the organisations counting whole, outcomes from the shares, until the set stops growing
    (the least fixpoint of the two together; it only grows, as both steps are monotone)."""

    name = "look_through"

    def __init__(self, profile: Mapping[str, Any]) -> None:
        self.profile = profile
        self.terms = Terms.of(profile)

    def readings(
        self,
        graph: OwnershipGraph,
        engine: Engine,
        cache: StepCache,
        *,
        profile: str,
        batch_size: int,
        max_rounds: int,
        attribute_controlled: bool = False,
    ) -> tuple[dict[str, StepOutcome], dict[str, StepOutcome]]:
        return both_readings(
            partial(self.reading, graph, engine, cache, profile=profile, batch_size=batch_size, max_rounds=max_rounds)
        )

    def reading(
        self,
        graph: OwnershipGraph,
        engine: Engine,
        cache: StepCache,
        *,
        reading: str,
        profile: str,
        batch_size: int,
        max_rounds: int,
    ) -> dict[str, StepOutcome]:
        kinds = measures(self.profile, graph)
        whole: frozenset[str] = frozenset()
        while True:
            shares = {
                measure: effective_bounds(graph, whole, reading=reading, terms=self.terms, measure=measure)
                for measure in kinds
            }
            effective = {
                entity_id: {measure: shares[measure][entity_id] for measure in kinds} for entity_id in graph.entities
            }
            outcomes = run_fixpoint(
                graph,
                engine,
                cache,
                reading=reading,
                profile=profile,
                batch_size=batch_size,
                max_rounds=max_rounds,
                effective=effective,
            )
            now = frozenset(entity_id for entity_id, outcome in outcomes.items() if outcome.whole)
            if not whole <= now:
                raise NonMonotoneRuleError(
                    "the rules stopped counting an organisation whole when more of its owners became restricted; "
                    "the ownership step must be monotone"
                )
            if now == whole:
                return outcomes
            whole = now


def check_plan(driver_name: str, profile_name: str, profile: Mapping[str, Any]) -> None:
    """Only the row plan computes look-through shares: any other plan is refused (exit 2), never
    run to an answer of the other method."""
    if uses_look_through(profile) and driver_name != "rego":
        raise InputError(
            f"the {driver_name} plan cannot decide method look_through (profile {profile_name!r}); "
            "screen with --plan rows, or use a profile with method whole_stake",
            file="--plan",
            path="$",
            value=driver_name,
        )
