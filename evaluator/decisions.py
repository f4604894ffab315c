"""From two readings to decisions: deny, allow or review, with reasons and paths.

The lower reading reads every unknown fact in the least restrictive way, the
upper one in the most restrictive way. Restricted even in the lower reading:
deny. Unrestricted even in the upper reading: allow. Otherwise the facts cannot
decide, and the answer is review."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .facts import Entity, Link
from .fixpoint import StepOutcome
from .rules import RuleSet

MAX_PATHS = 20


@dataclass(frozen=True)
class Decision:
    entity: Entity
    decision: str  # allow | deny | review
    reasons: list[dict[str, Any]]
    paths: list[list[str]]


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _owner_record(link: Link, entities: dict[str, Entity]) -> dict[str, Any]:
    owner = entities[link.owner]
    record: dict[str, Any] = {"id": owner.id, "kind": link.kind, **link.share.as_json()}
    if owner.name:
        record["name"] = owner.name
    return record


def render_reason(
    reason: dict[str, Any], outcome: StepOutcome, entities: dict[str, Entity], rules: RuleSet
) -> dict[str, Any]:
    """The rule's reason with link positions replaced by the owners they name."""
    rendered = {key: value for key, value in reason.items() if key not in ("links", "scale")}
    info = rules.rules.get(str(reason.get("rule_id")))
    if info is not None:
        rendered["rule_title"] = info.title
        if info.clause:
            rendered["clause"] = info.clause
    if "links" in reason:
        rendered["owners"] = [_owner_record(link, entities) for link in outcome.cited_links(reason)]
    scale = reason.get("scale")
    for key in ("share_min", "share_max"):
        if key in reason and isinstance(scale, int) and scale > 0:
            rendered[key] = _plain(Decimal(reason[key]) / Decimal(scale))
    return rendered


def ownership_paths(entity_id: str, outcomes: dict[str, StepOutcome], limit: int = MAX_PATHS) -> list[list[str]]:
    """Paths from the entities restricted on their own facts down to `entity_id`, through cited links."""
    found: list[list[str]] = []

    def walk(current: str, suffix: list[str], seen: frozenset[str]) -> None:
        if len(found) >= limit:
            return
        outcome = outcomes.get(current)
        if outcome is None or not outcome.restricted:
            return
        path = [current, *suffix]
        for reason in sorted(outcome.reasons, key=_reason_order):
            cited = outcome.cited_links(reason)
            if not cited:
                if path not in found:
                    found.append(path)
                continue
            for link in cited:
                if link.owner not in seen:
                    walk(link.owner, path, seen | {link.owner})

    walk(entity_id, [], frozenset({entity_id}))
    return found


def _reason_order(reason: dict[str, Any]) -> tuple[str, str, str]:
    return (str(reason.get("rule_id")), str(reason.get("code")), repr(sorted(reason.items())))


def decide(
    entity: Entity,
    lower: dict[str, StepOutcome],
    upper: dict[str, StepOutcome],
    entities: dict[str, Entity],
    rules: RuleSet,
) -> Decision:
    low, high = lower[entity.id], upper[entity.id]
    if low.restricted:
        verdict, outcome, outcomes = "deny", low, lower
    elif not high.restricted:
        return Decision(entity, "allow", [], [])
    else:
        verdict, outcome, outcomes = "review", high, upper
    reasons = [render_reason(reason, outcome, entities, rules) for reason in sorted(outcome.reasons, key=_reason_order)]
    return Decision(entity, verdict, reasons, ownership_paths(entity.id, outcomes))
