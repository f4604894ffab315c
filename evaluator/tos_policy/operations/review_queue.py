"""The review queue: every `review` decision, with the missing or uncertain facts
that would settle it and how much restricted ownership is at stake, most
consequential first.

What settles a review is read from its reasons (the strict reading's): an unknown
country of the entity itself, an owner that is itself under review, a stake known
only as a range, a control link. The ownership at stake is the most the possibly
restricted owners may hold together (the reason's upper share), or all of it when
the entity itself may be restricted or controlled. Ties go to the entity with the
most entities below it, whose decisions may hang on it."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tos_policy.facts.load import Facts, Link, plain_decimal
from tos_policy.reports.display import csv_cell

ALL = Decimal(100)


@dataclass(frozen=True)
class QueueItem:
    entity: str
    name: str | None
    at_stake: Decimal
    below: int
    to_settle: list[dict[str, Any]]
    reasons: list[dict[str, Any]]
    determinations: list[dict[str, Any]]
    graph: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "name": self.name,
            "at_stake_percent": plain_decimal(self.at_stake),
            "entities_below": self.below,
            "to_settle": self.to_settle,
            "reasons": self.reasons,
            "determinations": self.determinations,
        }


def _share_text(owner: dict[str, Any]) -> str:
    if "percentage" in owner:
        return f"{owner['percentage']}%"
    low = ("more than " if owner.get("min_exclusive") else "") + f"{owner.get('percentage_min')}%"
    high = ("less than " if owner.get("max_exclusive") else "at most ") + f"{owner.get('percentage_max')}%"
    return f"{low} to {high}"


def _to_settle(entity: str, reason: dict[str, Any], decisions: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    code = str(reason.get("code"))
    if code == "COUNTRY_UNKNOWN":
        field = str(reason.get("field"))
        return [
            {
                "kind": "missing",
                "entity": entity,
                "fact": field,
                "text": f"the {field} country of {entity} is unknown",
                "determination": {"entity": entity, "fact": {"country": {"field": field, "value": "?"}}},
            }
        ]
    out = []
    for owner in reason.get("owners", []):
        owner_id = owner["id"]
        if decisions.get(owner_id, {}).get("decision") == "review":
            out.append(
                {
                    "kind": "owner under review",
                    "entity": owner_id,
                    "fact": "decision",
                    "text": f"owner {owner_id} is itself under review: settling it may settle this",
                }
            )
        if owner.get("kind", "shareholding") != "shareholding":
            out.append(
                {
                    "kind": "control",
                    "entity": owner_id,
                    "fact": owner["kind"],
                    "text": f"whether the {owner['kind'].replace('_', ' ')} link of {owner_id} gives it control",
                }
            )
        elif "percentage" not in owner:
            out.append(
                {
                    "kind": "uncertain stake",
                    "entity": owner_id,
                    "fact": "stake",
                    "text": f"the exact stake of {owner_id} in {entity} (known as {_share_text(owner)})",
                    "determination": {"entity": entity, "fact": {"stake": {"owner": owner_id, "percentage": "?"}}},
                }
            )
    if not out:
        out.append({"kind": "unresolved", "entity": entity, "fact": code, "text": f"{code}: {reason.get('rule_id')}"})
    return out


def _at_stake(reasons: list[dict[str, Any]]) -> Decimal:
    stake = Decimal(0)
    for reason in reasons:
        # without a share, the entity itself may be restricted, controlled or a branch: all of it is at stake
        stake = max(stake, Decimal(str(reason["share_max"]))) if "share_max" in reason else ALL
    return stake


def _graph_of(entity: str, facts: Facts, links: list[Link], decisions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The entity's owners' closure: nodes (with their decisions and levels above it) and edges, for drawing."""
    above: dict[str, list[Link]] = defaultdict(list)
    for link in links:
        above[link.asset].append(link)
    level = {entity: 0}
    queue = deque([entity])
    edges = []
    while queue and len(level) <= 60:  # a drawing beyond this many owners would not be read
        current = queue.popleft()
        for link in above.get(current, ()):
            edges.append({"owner": link.owner, "asset": link.asset, "label": _link_label(link)})
            if link.owner not in level:
                level[link.owner] = level[current] + 1
                queue.append(link.owner)
    nodes = [
        {
            "id": node,
            "name": facts.entities[node].name if node in facts.entities else None,
            "decision": decisions.get(node, {}).get("decision"),
            "level": depth,
        }
        for node, depth in level.items()
    ]
    return {"nodes": nodes, "edges": [edge for edge in edges if edge["owner"] in level]}


def _link_label(link: Link) -> str:
    return link.share.text() if link.kind == "shareholding" else link.kind.replace("_", " ")


def review_queue(facts: Facts, decisions: dict[str, dict[str, Any]], links: list[Link]) -> list[QueueItem]:
    """The review decisions of `decisions` (entity -> decision record), most consequential first."""
    below: dict[str, list[str]] = defaultdict(list)
    for link in links:
        below[link.owner].append(link.asset)
    items = []
    for entity, record in decisions.items():
        if record.get("decision") != "review":
            continue
        settle: list[dict[str, Any]] = []
        for reason in record.get("reasons", []):
            for fact in _to_settle(entity, reason, decisions):
                if fact not in settle:
                    settle.append(fact)
        items.append(
            QueueItem(
                entity=entity,
                name=record.get("name"),
                at_stake=_at_stake(record.get("reasons", [])),
                below=_count_below(entity, below),
                to_settle=settle,
                reasons=record.get("reasons", []),
                determinations=record.get("determinations", []),
                graph=_graph_of(entity, facts, links, decisions),
            )
        )
    items.sort(key=lambda item: (-item.at_stake, -item.below, item.entity))
    return items


def _count_below(entity: str, below: dict[str, list[str]]) -> int:
    seen = {entity}
    queue = deque([entity])
    while queue:
        for asset in below.get(queue.popleft(), ()):
            if asset not in seen:
                seen.add(asset)
                queue.append(asset)
    return len(seen) - 1


CSV_FIELDS = ["rank", "entity", "name", "at_stake_percent", "entities_below", "to_settle", "reasons"]


def csv_rows(items: list[QueueItem]) -> list[dict[str, str]]:
    """Rows for a spreadsheet: text cells can neither run as formulas nor carry control characters."""
    rows = []
    for rank, item in enumerate(items, start=1):
        rows.append(
            {
                "rank": str(rank),
                "entity": csv_cell(item.entity),
                "name": csv_cell(item.name or ""),
                "at_stake_percent": plain_decimal(item.at_stake),
                "entities_below": str(item.below),
                "to_settle": csv_cell("; ".join(fact["text"] for fact in item.to_settle)),
                "reasons": csv_cell("; ".join(f"{r.get('rule_id')} {r.get('code')}" for r in item.reasons)),
            }
        )
    return rows
