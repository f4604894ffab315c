"""From two readings to decisions: deny, allow or review, with reasons and paths.

The lower reading reads every unknown fact in the least restrictive way, the
upper one in the most restrictive way. Restricted even in the lower reading:
deny. Unrestricted even in the upper reading: allow. Otherwise the facts cannot
decide, and the answer is review."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tos_policy.facts.load import Entity, Link, plain_decimal
from tos_policy.ownership.fixpoint import StepOutcome
from tos_policy.policy.legal_exceptions import PolicyException, exception_records
from tos_policy.policy.ruleset import RuleSet
from tos_policy.policy.wording import label

MAX_PATHS = 20
_DONE: Any = object()  # end of an entity's owners to walk


@dataclass(frozen=True)
class Decision:
    entity: Entity
    decision: str  # allow | deny | review
    reasons: list[dict[str, Any]]
    paths: list[list[str]]
    # The exceptions that waived some of its reasons, each citing what it waived (usually none).
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    # The rules that decided it: their METADATA words its reasons (policy/wording.py).
    rules: RuleSet | None = field(default=None, compare=False, repr=False)
    # A review that undisclosed ownership leads to (its own, or a root's on its paths):
    # counted apart in reports so a team can ask for the missing disclosures first.
    undisclosed: bool = False
    # The facts it rests on, for citing them (reports/records.py): the links each reason cites
    # (in the order of its owners), and for each path the links of each hop (root first).
    reason_links: tuple[tuple[Link, ...], ...] = field(default=(), compare=False, repr=False)
    path_links: tuple[tuple[tuple[Link, ...], ...], ...] = field(default=(), compare=False, repr=False)
    # For an allow: what the rules considered short of restricting it (ownership/considered.py),
    # worded like reasons, and the links each of those notes cites.
    considered: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)
    considered_links: tuple[tuple[Link, ...], ...] = field(default=(), compare=False, repr=False)


UNDISCLOSED = "OWNERSHIP_UNDISCLOSED"


def _owner_record(link: Link, entities: dict[str, Entity]) -> dict[str, Any]:
    owner = entities[link.owner]
    record: dict[str, Any] = {"id": owner.id, "kind": link.kind, **link.share.as_json()}
    if owner.name:
        record["name"] = owner.name
    if link.voting is not None:  # votes apart from the economic share (of the whole entity)
        record["voting"] = link.voting.as_json()
    if link.share_class is not None:
        record["share_class"] = link.share_class
    if link.holder is not None:  # a principal's shares, registered to a nominee, custodian or trustee
        holder = entities.get(link.holder)
        record["held_by"] = label(link.holder, holder.name if holder else None)
    return record


def render_reason(
    reason: dict[str, Any],
    outcome: StepOutcome,
    entities: dict[str, Entity],
    rules: RuleSet,
    clause: str | None = None,
) -> dict[str, Any]:
    """The rule's reason with link positions replaced by the owners they name. `clause`: what the
    profile says its reasons cite (its regime's source), in place of the rule's own clause."""
    rendered = {key: value for key, value in reason.items() if key not in ("links", "scale")}
    info = rules.rules.get(str(reason.get("rule_id")))
    if info is not None:
        rendered["rule_title"] = info.title
        if clause or info.clause:
            rendered["clause"] = clause or info.clause
    if "links" in reason:
        rendered["owners"] = [_owner_record(link, entities) for link in outcome.cited_links(reason)]
    scale = reason.get("scale")
    for key in ("share_min", "share_max", "undisclosed", "known_min"):
        if key in reason and isinstance(scale, int) and scale > 0:
            rendered[key] = plain_decimal(Decimal(reason[key]) / Decimal(scale))
    return rendered


def ownership_paths(entity_id: str, outcomes: Mapping[str, StepOutcome], limit: int = MAX_PATHS) -> list[list[str]]:
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


def _owners_to_walk(entity_id: str, outcomes: Mapping[str, StepOutcome]) -> Iterator[str | None]:
    """The owners its reasons cite, in order; None where a reason cites none (a root)."""
    outcome = outcomes.get(entity_id)
    if outcome is None or not outcome.restricted:
        return
    for reason in sorted(outcome.reasons, key=reason_order):
        cited = outcome.cited_links(reason)
        if not cited:
            yield None
        for link in cited:
            yield link.owner


def reason_order(reason: dict[str, Any]) -> tuple[str, str, str]:
    return (str(reason.get("rule_id")), str(reason.get("code")), repr(sorted(reason.items())))


def decide(
    entity: Entity,
    lower: Mapping[str, StepOutcome],
    upper: Mapping[str, StepOutcome],
    entities: dict[str, Entity],
    rules: RuleSet,
    exceptions: Sequence[PolicyException] = (),
    clause: str | None = None,
) -> Decision:
    """The decision for `entity` from its two readings; `exceptions` are those in force for it;
    `clause` what the profile's reasons cite (render_reason)."""
    if exceptions:
        return _decide_excepted(entity, lower, upper, entities, rules, exceptions, clause)
    low, high = lower[entity.id], upper[entity.id]
    if low.restricted:
        verdict, outcome, outcomes = "deny", low, lower
    elif not high.restricted:
        return Decision(entity, "allow", [], [], rules=rules)
    else:
        verdict, outcome, outcomes = "review", high, upper
    ordered = sorted(outcome.reasons, key=reason_order)
    reasons = [render_reason(reason, outcome, entities, rules, clause) for reason in ordered]
    paths = ownership_paths(entity.id, outcomes)
    undisclosed = verdict == "review" and _undisclosed_on_paths(entity.id, paths, upper)
    return Decision(
        entity,
        verdict,
        reasons,
        paths,
        rules=rules,
        undisclosed=undisclosed,
        reason_links=tuple(tuple(outcome.cited_links(reason)) for reason in ordered),
        path_links=tuple(_hop_links(path, outcomes) for path in paths),
    )


def _hop_links(path: list[str], outcomes: Mapping[str, StepOutcome]) -> tuple[tuple[Link, ...], ...]:
    """For each hop of a path (owner, asset), the links of the owner that the asset's reasons cite."""
    hops = []
    for owner, asset in itertools.pairwise(path):
        outcome = outcomes[asset]
        cited = dict.fromkeys(
            link for reason in outcome.reasons for link in outcome.cited_links(reason) if link.owner == owner
        )
        hops.append(tuple(cited))
    return tuple(hops)


def _undisclosed_on_paths(entity_id: str, paths: list[list[str]], upper: Mapping[str, StepOutcome]) -> bool:
    roots = {entity_id} | {path[0] for path in paths}
    return any(reason.get("code") == UNDISCLOSED for root in roots for reason in upper[root].reasons)


def _decide_excepted(
    entity: Entity,
    lower: Mapping[str, StepOutcome],
    upper: Mapping[str, StepOutcome],
    entities: dict[str, Entity],
    rules: RuleSet,
    exceptions: Sequence[PolicyException],
    clause: str | None = None,
) -> Decision:
    """The decision with the excepted rules' reasons taken out of this entity's own readings."""
    before = decide(entity, lower, upper, entities, rules, clause=clause)
    waived_rules = {item.rule_id for item in exceptions}
    # The reasons each exception waives, as the decision without exceptions showed them
    # (from its reading; the strict reading for an entity that was allowed or denied on other grounds).
    shown = before.reasons if before.decision != "allow" else []
    strict = [render_reason(reason, upper[entity.id], entities, rules, clause) for reason in upper[entity.id].reasons]
    waived: dict[str, list[dict[str, Any]]] = {}
    for rule_id in sorted(waived_rules):
        cited = [reason for reason in shown if reason.get("rule_id") == rule_id]
        waived[rule_id] = cited or sorted(
            (reason for reason in strict if reason.get("rule_id") == rule_id), key=reason_order
        )
    records = exception_records(exceptions, waived)
    if not records:
        return before
    own_lower = _without(lower[entity.id], waived_rules)
    own_upper = _without(upper[entity.id], waived_rules)
    after = decide(
        entity,
        _Overlay(lower, entity.id, own_lower),
        _Overlay(upper, entity.id, own_upper),
        entities,
        rules,
        clause=clause,
    )
    return Decision(
        entity,
        after.decision,
        after.reasons,
        after.paths,
        records,
        rules=rules,
        undisclosed=after.undisclosed,
        reason_links=after.reason_links,
        path_links=after.path_links,
    )


def _without(outcome: StepOutcome, rule_ids: set[str]) -> StepOutcome:
    kept = tuple(reason for reason in outcome.reasons if reason.get("rule_id") not in rule_ids)
    return StepOutcome(restricted=bool(kept), reasons=kept, links=outcome.links)


class _Overlay(Mapping[str, StepOutcome]):
    """A reading with one entity's own outcome replaced; every other entity as it was."""

    def __init__(self, base: Mapping[str, StepOutcome], entity_id: str, outcome: StepOutcome) -> None:
        self._base, self._entity_id, self._outcome = base, entity_id, outcome

    def __getitem__(self, key: str) -> StepOutcome:
        return self._outcome if key == self._entity_id else self._base[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)
