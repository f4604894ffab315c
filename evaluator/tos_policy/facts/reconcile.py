"""Reconcile the facts in force on a day before deciding on them.

Real registers report one stake several times (two sources, a restated notice, an
overlapping record): those reports are one stake, read as the range of what they
say, never a sum. What still does not add up after that is flagged on the entity
it is about, so the rules can ask for review of that entity alone instead of
refusing the whole registry:

- stakes_over_100: the stakes held in it, at their lowest, add up to more than 100%;
- ratio_not_percent: its stakes look like 0-1 ratios (they add up to exactly 1, some
  with decimals), so 0.5 may mean 50%;
- person_owned: a person that an organisation holds shares in or controls, which
  persons cannot be; the record is probably an organisation typed as a person.

Nothing here knows which owners are restricted: it is generic bookkeeping, done the
same way whatever the order of files, records or links."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from tos_policy.facts.load import HUNDRED, ZERO, Link, Share

ONE = Decimal(1)


def hull(shares: Iterable[Share]) -> Share:
    """The smallest range holding every share: where reports disagree, either may be right."""
    items = list(shares)
    low = min(items, key=lambda share: (share.min, share.min_exclusive))
    high = max(items, key=lambda share: (share.max, not share.max_exclusive))
    return Share(low.min, high.max, low.min_exclusive, high.max_exclusive)


def _link_key(link: Link) -> tuple[str, str, str, str, str, str]:
    """Reports of one stake: the same owner, asset, kind, joint group, share class and registered
    holder. Stakes in different classes are different stakes: each is read as a share of the
    whole entity (by its class's weight, facts/stakes.py) and they add up, never merged into one
    range; so are a principal's stakes held by two nominees."""
    return (link.owner, link.asset, link.kind, link.acting_jointly or "", link.share_class or "", link.holder or "")


def merge_duplicate_stakes(links: list[Link], stake_kinds: frozenset[str]) -> list[Link]:
    """One link per owner, asset, kind and joint group among the stakes in force on one day:
    reports of the same stake (all in force that day, so overlapping) become one, the range of
    what they say. The kept link is the first of the group by file and path, so neither the
    order of files nor of records changes it."""
    groups: dict[tuple[str, str, str, str, str, str], list[Link]] = {}
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
        ordered = sorted(group, key=lambda item: item.path)
        first = ordered[0]
        share = hull(item.share for item in group)
        votes = None
        if any(item.voting is not None for item in group):
            votes = hull(item.voting or item.share for item in group)
        # the stake rests on every report of it: each is cited (facts/provenance.py)
        reports = tuple(report for item in ordered[1:] for report in (item, *item.reports))
        merged.append(first._replace(share=share, voting=None if votes == share else votes, reports=reports))
    return merged


def flags_of(held: list[Link], stake_kinds: frozenset[str], owner_types: list[str], person: bool) -> tuple[str, ...]:
    """The flags of one entity from the links held in it (after merging) and their owners' types:
    stakes_over_100, ratio_not_percent, person_owned (a person held by an organisation)."""
    stakes = [link for link in held if link.kind in stake_kinds]
    total = sum((link.share.min for link in stakes), ZERO)
    votes = sum(((link.voting or link.share).min for link in stakes), ZERO)  # votes given apart count too
    flags = []
    if total > HUNDRED or votes > HUNDRED:
        flags.append("stakes_over_100")
    elif stakes and _looks_like_ratios(stakes, total):
        flags.append("ratio_not_percent")
    if person and any(owner_type != "person" for owner_type in owner_types):
        flags.append("person_owned")
    return tuple(flags)


def _looks_like_ratios(held: list[Link], total: Decimal) -> bool:
    exact = [link.share.min for link in held if link.share.exact]
    return (
        total == ONE
        and len(exact) == len(held)
        and any(value != value.to_integral_value() for value in exact)
        and all(value <= ONE for value in exact)
    )


def cap_by_known_holdings(links: list[Link], stake_kinds: frozenset[str]) -> list[Link]:
    """Known holdings cap unknown ones: a stake can be at most the whole less what the other
    holders of the same asset hold at least (others hold exactly 80%: at most 20%; beside a
    band of more than 50%, a 25-50 band is less than 50%). Only narrows; an asset whose
    stakes add up to more than the whole is left as it is (it is flagged instead)."""
    by_asset: dict[str, list[int]] = {}
    for position, link in enumerate(links):
        if link.kind in stake_kinds:
            by_asset.setdefault(link.asset, []).append(position)
    out = list(links)
    for positions in by_asset.values():
        if len(positions) < 2:
            continue
        held = [links[position] for position in positions]
        total = sum((link.share.min for link in held), ZERO)
        if total > HUNDRED:
            continue
        for position, link in zip(positions, held, strict=True):
            others = [other for other in held if other is not link]
            cap = HUNDRED - (total - link.share.min)
            strictly = any(other.share.min_exclusive for other in others)
            out[position] = link._replace(share=_capped(link.share, cap, strictly))
    return out


def _capped(share: Share, cap: Decimal, strictly: bool) -> Share:
    if cap < share.max:
        capped = Share(share.min, cap, share.min_exclusive, strictly)
    elif cap == share.max and strictly:
        capped = Share(share.min, cap, share.min_exclusive, True)
    else:
        return share
    empty = capped.min > capped.max or (capped.min == capped.max and (capped.min_exclusive or capped.max_exclusive))
    return share if empty else capped
