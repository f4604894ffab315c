"""The floor for screening: the terms-of-service fixpoint written directly in Python,
with no Rego and no reasons. Benchmarks only: it hard-codes the shipped profile,
which the evaluator never does (policy meaning lives in rules/)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from tos_policy.facts.load import Facts, Link

RESTRICTED = frozenset({"CN", "RU", "KP", "IR"})
THRESHOLD = Decimal(50)
RESTRICTS = frozenset({"consolidation", "voting_majority", "branch"})
REVIEW = frozenset({"board_appointment", "significant_influence", "other_control"})


def _is_org(kind: str, upper: bool) -> bool:
    return kind != "person" and (upper or kind != "unknown")


def reading(facts: Facts, links: list[Link], upper: bool) -> set[str]:
    """Entities restricted in one reading: a worklist from the roots."""
    entities = facts.entities
    outgoing: dict[str, list[Link]] = defaultdict(list)
    for link in links:
        outgoing[link.owner].append(link)
    restricted: set[str] = set()
    work: list[str] = []
    for entity in entities.values():
        if not _is_org(entity.type, upper):
            continue
        countries = (entity.headquarters, entity.jurisdiction)
        if any(c in RESTRICTED or (upper and c is None) for c in countries):
            restricted.add(entity.id)
            work.append(entity.id)
    held: dict[str, list[Link]] = defaultdict(list)
    while work:
        owner = work.pop()
        if not _is_org(entities[owner].type, upper):
            continue
        for link in outgoing.get(owner, ()):
            asset = link.asset
            if asset in restricted or not _is_org(entities[asset].type, upper):
                continue
            held[asset].append(link)
            if _restricts(held[asset], upper):
                restricted.add(asset)
                work.append(asset)
    return restricted


def _restricts(links: list[Link], upper: bool) -> bool:
    total = Decimal(0)
    exclusive = False
    for link in links:
        if link.kind in RESTRICTS or (upper and link.kind in REVIEW):
            return True
        if link.kind == "shareholding":
            total += link.share.max if upper else link.share.min
            exclusive = exclusive or (upper and link.share.max_exclusive)
    if upper:
        return total > THRESHOLD or (total == THRESHOLD and not exclusive)
    return total >= THRESHOLD


def decide_all(facts: Facts, links: list[Link]) -> dict[str, str]:
    lower, upper = reading(facts, links, False), reading(facts, links, True)
    return {
        entity_id: "deny" if entity_id in lower else "review" if entity_id in upper else "allow"
        for entity_id in facts.entities
    }
