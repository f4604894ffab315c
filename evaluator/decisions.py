"""From two readings to decisions: deny, allow or review, with reasons and paths.

The lower reading reads every unknown fact in the least restrictive way, the
upper one in the most restrictive way. Restricted even in the lower reading:
deny. Unrestricted even in the upper reading: allow. Otherwise the facts cannot
decide, and the answer is review."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .facts import Entity, Link
from .fixpoint import StepOutcome
from .rules import RuleSet

MAX_PATHS = 20
_DONE: Any = object()  # end of an entity's owners to walk


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
    """Paths from the entities restricted on their own facts down to `entity_id`, through cited links.

    Depth first with an explicit stack, so a chain of any length cannot overflow
    Python's stack; the walk and the order of the paths are those of the plain
    recursive walk."""
    found: list[list[str]] = []
    chain = [entity_id]  # from entity_id up to the entity being walked
    on_chain = {entity_id}
    stack = [_owners_to_walk(entity_id, outcomes)]
    while stack and len(found) < limit:
        owner = next(stack[-1], _DONE)
        if owner is _DONE:
            stack.pop()
            on_chain.discard(chain.pop())
        elif owner is None:
            path = chain[::-1]
            if path not in found:
                found.append(path)
        elif owner not in on_chain:
            chain.append(owner)
            on_chain.add(owner)
            stack.append(_owners_to_walk(owner, outcomes))
    return found


def _owners_to_walk(entity_id: str, outcomes: dict[str, StepOutcome]) -> Iterator[str | None]:
    """The owners its reasons cite, in order; None where a reason cites none (a root)."""
    outcome = outcomes.get(entity_id)
    if outcome is None or not outcome.restricted:
        return
    for reason in sorted(outcome.reasons, key=_reason_order):
        cited = outcome.cited_links(reason)
        if not cited:
            yield None
        for link in cited:
            yield link.owner


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
