"""What the rules considered for an entity they allow: each rule's finding short of restricting
it (its countries, what restricted owners hold against the threshold, the undisclosed part of
its ownership), from the rules' own entrypoint (data.ownership.considered) given the entity's
step input in the strict reading, the one that allowed it. Worded by the rules' METADATA like
reasons (policy/wording.py); nothing here knows a threshold or a country."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from tos_policy.engines import OWNERSHIP_CONSIDERED, Engine
from tos_policy.engines.compiled import entrypoints
from tos_policy.errors import EngineError
from tos_policy.facts.load import Entity, Link
from tos_policy.ownership.decisions import Decision, reason_order, render_reason
from tos_policy.ownership.fixpoint import StepOutcome
from tos_policy.ownership.steps import Holdings, build_step_input
from tos_policy.policy.ruleset import RuleSet


@runtime_checkable
class Querying(Protocol):
    def query(self, entrypoint: str, input: dict[str, Any]) -> Any: ...


def with_considered(
    decided: list[Decision],
    engine: Engine,
    *,
    incoming: Mapping[str, Sequence[tuple[int, Link]]],
    entities: dict[str, Entity],
    upper: Mapping[str, StepOutcome],
    rules: RuleSet,
    profile: str,
    link_effects: Mapping[str, str] | None,
    batch_size: int = 256,
) -> list[Decision]:
    """The decisions, each allow (without exceptions) given what the rules considered. An engine
    that cannot query an entrypoint leaves them as they are; a failing one raises EngineError."""
    chosen = [position for position, item in enumerate(decided) if item.decision == "allow" and not item.exceptions]
    if not chosen or not isinstance(engine, Querying) or OWNERSHIP_CONSIDERED not in entrypoints(rules):
        return decided  # rules of a revision before the entrypoint say nothing more
    effects = dict(link_effects or {"shareholding": "stake"})
    steps = []
    for position in chosen:
        entity = decided[position].entity
        held = [link for _, link in incoming.get(entity.id, ())]
        restricted = [link for link in held if link.owner in upper and upper[link.owner].restricted]
        holdings = Holdings.of(
            held,
            effects,
            [entities[link.owner].type if link.owner in entities else "unknown" for link in held],
            entity.type == "person",
        )
        steps.append(build_step_input(entity, restricted, entities, "upper", profile, holdings))
    out = list(decided)
    clause = rules.profile(profile).get("clause")
    for start in range(0, len(steps), batch_size):
        chunk = steps[start : start + batch_size]
        items = [{k: v for k, v in step.payload.items() if k not in ("profile", "reading")} for step in chunk]
        answer = engine.query(OWNERSHIP_CONSIDERED, {"profile": profile, "reading": "upper", "items": items})
        if not isinstance(answer, list) or len(answer) != len(items) or not all(isinstance(a, list) for a in answer):
            raise EngineError(f"{engine.name}: {OWNERSHIP_CONSIDERED} gave a malformed answer: {str(answer)[:200]}")
        for position, step, notes in zip(chosen[start : start + batch_size], chunk, answer, strict=True):
            outcome = StepOutcome(False, tuple(notes), step.links)
            ordered = sorted(notes, key=reason_order)
            out[position] = dataclasses.replace(
                decided[position],
                considered=[render_reason(note, outcome, entities, rules, clause) for note in ordered],
                considered_links=tuple(tuple(outcome.cited_links(note)) for note in ordered),
            )
    return out
