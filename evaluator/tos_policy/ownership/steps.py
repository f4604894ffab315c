"""Step inputs: what the ownership rule sees of one entity in one reading.

A step input holds no identities (no ids, no names), so entities in the same
situation share one input and one cached decision. Links are put in a canonical
order; the rule cites them by position and the driver maps positions back."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

from tos_policy.facts.load import HUNDRED, ZERO, Entity, Link
from tos_policy.facts.reconcile import flags_of

READINGS = ("lower", "upper")

# The disclosure term of an entity held by a head office through a link the profile
# calls same_person: a branch's owners are its head office's, decided there.
BRANCH_TERM = "branch"


class Holdings(NamedTuple):
    """What is known of an entity's holders, whoever they are: the stakes' lowest
    values summed (known_min, more than that when one of them is exclusive), and
    whether it is a branch. The rest of 100% is the undisclosed remainder."""

    known_min: Decimal = ZERO
    known_min_exclusive: bool = False
    branch: bool = False
    # The same for votes, when some stake in it gives its votes apart from its economic share.
    voting: tuple[Decimal, bool] | None = None
    flags: tuple[str, ...] = ()  # facts that do not add up (facts/reconcile.py)

    @classmethod
    def of(cls, links: list[Link], effects: dict[str, str], owner_types: list[str], person: bool) -> Holdings:
        kinds = frozenset(kind for kind, effect in effects.items() if effect == "stake")
        stakes = [link for link in links if link.kind in kinds]
        voting = None
        if any(link.voting is not None for link in stakes):
            votes = [link.voting or link.share for link in stakes]
            voting = (sum((share.min for share in votes), ZERO), any(share.min_exclusive for share in votes))
        return cls(
            sum((link.share.min for link in stakes), ZERO),
            any(link.share.min_exclusive for link in stakes),
            any(effects.get(link.kind) == "same_person" for link in links),
            voting,
            flags_of(links, kinds, owner_types, person),
        )

    def remainder(self) -> tuple[Decimal, bool]:
        """The most that holders not in the facts can hold (and whether strictly less)."""
        return _rest(self.known_min, self.known_min_exclusive)

    def voting_remainder(self) -> tuple[Decimal, bool] | None:
        """The most of the votes holders not in the facts can hold, when votes are given apart."""
        return None if self.voting is None else _rest(*self.voting)


def _rest(known_min: Decimal, exclusive: bool) -> tuple[Decimal, bool]:
    if known_min >= HUNDRED:
        return ZERO, False
    return HUNDRED - known_min, exclusive


NO_HOLDINGS = Holdings()


@dataclass(frozen=True, slots=True)
class StepInput:
    payload: dict[str, Any]
    links: tuple[Link, ...]  # links[i] is the link the rule calls index i


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _units(value: Decimal, scale: int) -> int:
    return int(value * scale)


def _groups(links: list[Link], controllers: Callable[[str], Iterable[str]]) -> list[str]:
    """Each link's group: links joined by a common owner, a common controlling party or a
    common acting_jointly tag, transitively (a small union-find), named by a member's key."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def union(first: str, second: str) -> None:
        first, second = find(first), find(second)
        if first != second:
            parent[second] = first

    owners = [f"owner:{link.owner}" for link in links]
    for owner, link in zip(owners, links, strict=True):
        find(owner)
        for top in controllers(link.owner):
            union(owner, f"top:{top}")
        if link.acting_jointly:
            union(owner, f"tag:{link.acting_jointly}")
    return [find(owner) for owner in owners]


def _voting_fields(link: Link, scale: int) -> dict[str, Any]:
    """A link's votes for the rule, only when the facts give them apart from its economic share."""
    if link.voting is None:
        return {}
    votes = link.voting
    return {
        "voting_min": _units(votes.min, scale),
        "voting_min_exclusive": votes.min_exclusive,
        "voting_max": _units(votes.max, scale),
        "voting_max_exclusive": votes.max_exclusive,
    }


def _voting_remainder(holdings: Holdings, scale: int) -> dict[str, Any]:
    found = holdings.voting_remainder()
    if found is None:
        return {}
    return {"voting_remainder": _units(found[0], scale), "voting_remainder_exclusive": found[1]}


def _scale_digits(links: Sequence[Link], holdings: Holdings) -> int:
    """The most decimal places of the links' bounds (votes included) and of the remainders."""
    values = [holdings.remainder()[0]]
    votes = holdings.voting_remainder()
    if votes is not None:
        values.append(votes[0])
    for link in links:
        values += [link.share.min, link.share.max]
        if link.voting is not None:
            values += [link.voting.min, link.voting.max]
    return max(_decimals(value) for value in values)


def _subdivisions(entity: Entity) -> dict[str, str]:
    """The entity's subdivisions, only when the facts give them."""
    found = {}
    if entity.headquarters_subdivision is not None:
        found["headquarters_subdivision"] = entity.headquarters_subdivision
    if entity.jurisdiction_subdivision is not None:
        found["jurisdiction_subdivision"] = entity.jurisdiction_subdivision
    return found


class Bound(NamedTuple):
    """An effective share in one reading: the exact fraction computed, and whether the true share is
    known to be strictly above it (a lower bound from a stake given as "more than") or strictly below
    it (an upper bound from "less than")."""

    value: Fraction
    above: bool = False
    below: bool = False


# Units of a percentage point in `effective` at least (the step input's scale is raised to it):
# enough to word a share, and any bound is exact or marked exclusive anyway (effective_record).
EFFECTIVE_DIGITS = 4


def effective_record(shares: Mapping[str, Bound], scale: int) -> dict[str, Any]:
    """The effective share for the rule, in `scale` units per percentage point, as integer units
    bracketing each exact fraction: min (rounded down, min_exclusive when it was not exact) and max
    (rounded up, max_exclusive likewise). The threshold is a whole percentage, so comparing the
    bracket decides exactly what comparing the fraction decides. `shares` by measure: economic,
    and voting when some stake gives its votes apart."""
    record: dict[str, Any] = {}
    for measure, bound in shares.items():
        units = bound.value * 100 * scale
        low, high = units.numerator // units.denominator, -(-units.numerator // units.denominator)
        prefix = "voting_" if measure == "voting" else ""
        record.update(
            {
                f"{prefix}min": low,
                f"{prefix}min_exclusive": low != units or bound.above,
                f"{prefix}max": high,
                f"{prefix}max_exclusive": high != units or bound.below,
            }
        )
    return record


def build_step_input(
    entity: Entity,
    links: list[Link],
    owners: dict[str, Entity],
    reading: str,
    profile: str,
    holdings: Holdings = NO_HOLDINGS,
    controller: Callable[[str], Iterable[str]] | None = None,
    effective: Mapping[str, Bound] | None = None,
) -> StepInput:
    """The step input for `entity` given the links held in it by owners restricted in `reading`
    and what is known of all its holders.

    Links share a group (added up where the profile adds up only holdings acting
    together) when they have the same owner, the same acting_jointly tag, or owners
    controlled by the same party (`controller` gives the parties at the top of each
    owner's chain of control, where the profile attributes controlled entities'
    holdings to their controller). `effective` (method look_through): the entity's effective
    share held by restricted organisations in this reading, by measure (ownership/look_through.py)."""
    digits = _scale_digits(links, holdings)
    scale = 10 ** (digits if effective is None else max(digits, EFFECTIVE_DIGITS))

    def sort_key(link: Link) -> tuple[Any, ...]:
        share = link.share
        return (
            link.kind,
            owners[link.owner].type,
            share.min,
            share.max,
            share.min_exclusive,
            share.max_exclusive,
            link.acting_jointly or "",
            link.owner,
            link.path,
        )

    ordered = sorted(links, key=sort_key)
    group_of = _groups(ordered, controller or (lambda owner: ()))
    groups: dict[str, int] = {}
    records = []
    for index, link in enumerate(ordered):
        group_key = group_of[index]
        share = link.share
        records.append(
            {
                "index": index,
                "kind": link.kind,
                "owner_type": owners[link.owner].type,
                "min": _units(share.min, scale),
                "min_exclusive": share.min_exclusive,
                "max": _units(share.max, scale),
                "max_exclusive": share.max_exclusive,
                "group": groups.setdefault(group_key, len(groups)),
                **_voting_fields(link, scale),
            }
        )
    payload = {
        "profile": profile,
        "reading": reading,
        "scale": scale,
        "entity": entity_record(entity, holdings, scale),
        "links": records,
    }
    if effective is not None:
        payload["effective"] = effective_record(effective, scale)
    return StepInput(payload, tuple(ordered))


def entity_record(entity: Entity, holdings: Holdings, scale: int) -> dict[str, Any]:
    """What the rule sees of the entity itself, in `scale` units. Every plan builds it here, so
    a field added for the rule reaches the row, columnar and Spark plans alike."""
    remainder, remainder_exclusive = holdings.remainder()
    return {
        "type": entity.type,
        "headquarters": entity.headquarters,
        "jurisdiction": entity.jurisdiction,
        "disclosure": sorted({*entity.disclosure, *((BRANCH_TERM,) if holdings.branch else ())}),
        "remainder": _units(remainder, scale),
        "remainder_exclusive": remainder_exclusive,
        **_voting_remainder(holdings, scale),
        **_subdivisions(entity),
        "flags": list(holdings.flags),
    }


def complete_step(
    payload: dict[str, Any],
    entity: Entity,
    holdings: Holdings,
    links: Sequence[Link],
    controller: Callable[[str], Iterable[str]] | None = None,
) -> dict[str, Any]:
    """A step input built elsewhere (a columnar plan) from `links` in the rule's order,
    completed as build_step_input completes it: the entity record (entity_record: disclosure,
    undisclosed remainder, subdivisions, flags), the links' groups (same owner, same tag or
    same controlling party, through `controller`), links rescaled if the remainder needs more
    decimal places. One place says what a step input holds beyond the plan's columns, so
    every plan gives the rule the row plan's input."""
    # build_step_input's scale: 10 ** the most decimal places of the links (votes too) and the remainders
    scale = max(int(payload["scale"]), 10 ** _scale_digits(links, holdings))
    factor = scale // int(payload["scale"])
    group_of = _groups(list(links), controller or (lambda owner: ()))
    numbers: dict[str, int] = {}
    out = dict(payload)
    out["links"] = [
        {
            **link,
            "min": link["min"] * factor,
            "max": link["max"] * factor,
            "group": numbers.setdefault(key, len(numbers)),
            **_voting_fields(row, scale),
        }
        for link, row, key in zip(payload["links"], links, group_of, strict=True)
    ]
    out["scale"] = scale
    out["entity"] = entity_record(entity, holdings, scale)
    return out
