"""Step inputs: what the ownership rule sees of one entity in one reading.

A step input holds no identities (no ids, no names), so entities in the same
situation share one input and one cached decision. Links are put in a canonical
order; the rule cites them by position and the driver maps positions back."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tos_policy.facts.load import Entity, Link

READINGS = ("lower", "upper")


@dataclass(frozen=True, slots=True)
class StepInput:
    payload: dict[str, Any]
    links: tuple[Link, ...]  # links[i] is the link the rule calls index i


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _units(value: Decimal, scale: int) -> int:
    return int(value * scale)


def build_step_input(
    entity: Entity,
    links: list[Link],
    owners: dict[str, Entity],
    reading: str,
    profile: str,
) -> StepInput:
    """The step input for `entity` given the links held in it by owners restricted in `reading`."""
    digits = max((max(_decimals(link.share.min), _decimals(link.share.max)) for link in links), default=0)
    scale = 10**digits

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
    groups: dict[str, int] = {}
    records = []
    for index, link in enumerate(ordered):
        group_key = link.acting_jointly or f"owner:{link.owner}"
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
            }
        )
    payload = {
        "profile": profile,
        "reading": reading,
        "scale": scale,
        "entity": {
            "type": entity.type,
            "headquarters": entity.headquarters,
            "jurisdiction": entity.jurisdiction,
        },
        "links": records,
    }
    return StepInput(payload, tuple(ordered))
