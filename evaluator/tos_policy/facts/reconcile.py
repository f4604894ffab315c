"""Reconcile the facts in force on a day before deciding on them.

Real registers report one stake several times (two sources, a restated notice, an
overlapping record): those reports are one stake, read as the range of what they
say, never a sum. What still does not add up after that is flagged on the entity
it is about, naming the facts, so the rules can ask for review of that entity
alone instead of refusing the whole registry:

- stakes_over_100: the stakes held in it, at their lowest, add up to more than 100%;
- ratio_not_percent: its stakes look like 0-1 ratios (they add up to exactly 1, some
  with decimals), so 0.5 may mean 50%;
- person_owned: a person that an organisation holds shares in or controls, which
  persons cannot be; the record is probably an organisation typed as a person.

Nothing here knows which owners are restricted: it is generic bookkeeping, done the
same way whatever the order of files, records or links."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import NamedTuple

from tos_policy.facts.load import HUNDRED, ZERO, Entity, Link, Share, plain_decimal

ONE = Decimal(1)


class Flag(NamedTuple):
    """Something about an entity's facts that does not add up: a code the rules read, and
    the facts it is about (file:JSON path of each), for the reader."""

    code: str
    detail: str
    facts: tuple[str, ...]


def hull(shares: Iterable[Share]) -> Share:
    """The smallest range holding every share: where reports disagree, either may be right."""
    items = list(shares)
    low = min(items, key=lambda share: (share.min, share.min_exclusive))
    high = max(items, key=lambda share: (share.max, not share.max_exclusive))
    return Share(low.min, high.max, low.min_exclusive, high.max_exclusive)


def _link_key(link: Link) -> tuple[str, str, str, str, str]:
    """Reports of one stake: the same owner, asset, kind, joint group and share class. Stakes in
    different classes are different stakes: each is read as a share of the whole entity (by
    its class's weight, facts/stakes.py) and they add up, never merged into one range."""
    return (link.owner, link.asset, link.kind, link.acting_jointly or "", link.share_class or "")


def merge_duplicate_stakes(links: list[Link], stake_kinds: frozenset[str]) -> list[Link]:
    """One link per owner, asset, kind and joint group among the stakes in force on one day:
    reports of the same stake (all in force that day, so overlapping) become one, the range of
    what they say. The kept link is the first of the group by file and path, so neither the
    order of files nor of records changes it."""
    groups: dict[tuple[str, str, str, str, str], list[Link]] = {}
    out: list[Link] = []
    for link in links:
        if link.kind in stake_kinds:
            group = groups.setdefault(_link_key(link), [])
            if not group:
                out.append(link)  # placeholder position, replaced below
            group.append(link)
        else:
            out.append(link)
    merged: list[Link] = []
    for link in out:
        if link.kind not in stake_kinds:
            merged.append(link)
            continue
        group = groups[_link_key(link)]
        if len(group) == 1:
            merged.append(link)
            continue
        first = min(group, key=lambda item: item.path)
        share = hull(item.share for item in group)
        votes = None
        if any(item.voting is not None for item in group):
            votes = hull(item.voting or item.share for item in group)
        merged.append(first._replace(share=share, voting=None if votes == share else votes))
    return merged


def flag_entities(
    entities: Mapping[str, Entity], links: list[Link], stake_kinds: frozenset[str], person_types: frozenset[str]
) -> dict[str, tuple[Flag, ...]]:
    """The flags of every entity whose reconciled facts still do not add up."""
    stakes: dict[str, list[Link]] = {}
    held_by_organisations: dict[str, list[Link]] = {}
    for link in links:
        if link.kind in stake_kinds:
            stakes.setdefault(link.asset, []).append(link)
        if entities[link.owner].type not in person_types and entities[link.asset].type in person_types:
            held_by_organisations.setdefault(link.asset, []).append(link)
    flags: dict[str, list[Flag]] = {}
    for asset, held in stakes.items():
        total = sum((link.share.min for link in held), ZERO)
        cited = tuple(sorted(link.path for link in held))
        if total > HUNDRED:
            detail = f"the stakes held in it add up to at least {plain_decimal(total)}%, over 100%"
            flags.setdefault(asset, []).append(Flag("stakes_over_100", detail, cited))
        elif _looks_like_ratios(held, total):
            detail = f"its stakes add up to exactly {plain_decimal(total)}: ratios from 0 to 1 rather than percentages?"
            flags.setdefault(asset, []).append(Flag("ratio_not_percent", detail, cited))
    for asset, held in held_by_organisations.items():
        detail = "a person held or controlled by an organisation: probably an organisation recorded as a person"
        flags.setdefault(asset, []).append(Flag("person_owned", detail, tuple(sorted(link.path for link in held))))
    return {entity_id: tuple(sorted(found)) for entity_id, found in flags.items()}


def _looks_like_ratios(held: list[Link], total: Decimal) -> bool:
    exact = [link.share.min for link in held if link.share.exact]
    return (
        total == ONE
        and len(exact) == len(held)
        and any(value != value.to_integral_value() for value in exact)
        and all(value <= ONE for value in exact)
    )
