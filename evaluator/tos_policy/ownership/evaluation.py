"""Facts and rules in, decisions out: the one entry point the command line and
other programs call."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from tos_policy.engines import Engine
from tos_policy.errors import EngineError, InputError
from tos_policy.facts.load import Facts, Link, check_share_totals
from tos_policy.limits import Limits, check_deadline
from tos_policy.ownership.decisions import Decision, decide
from tos_policy.ownership.fixpoint import OwnershipGraph, StepCache, StepOutcome, run_fixpoint
from tos_policy.policy.legal_exceptions import ExceptionBook
from tos_policy.policy.ruleset import RuleSet


@dataclass
class Report:
    policy: dict[str, Any]
    as_of: date
    engine: str
    facts_digest: str
    decisions: list[Decision]
    stats: dict[str, int] = field(default_factory=dict)
    graph: OwnershipGraph | None = None
    exceptions: ExceptionBook | None = None  # Legal exceptions read at as_of (policy/legal_exceptions.py)
    determinations: Any = None  # reviewers' findings applied to the facts (operations/determinations.py Overlay)

    def counts(self) -> dict[str, int]:
        counts = {"allow": 0, "deny": 0, "review": 0}
        for item in self.decisions:
            counts[item.decision] += 1
        return counts


_DIGEST_CHUNK = 50_000


def _link_row(link: Link) -> list[Any]:
    share = link.share
    return [
        link.owner,
        link.asset,
        link.kind,
        str(share.min),
        str(share.max),
        share.min_exclusive,
        share.max_exclusive,
        str(link.start_date),
        str(link.end_date),
        link.acting_jointly,
    ]


def facts_digest(facts: Facts) -> str:
    """A digest of the facts' content (not their file layout): the same entities and
    links give the same digest whether they came as JSON or JSON Lines."""
    hasher = hashlib.sha256()
    entities = list(facts.entities.values())
    for start in range(0, len(entities), _DIGEST_CHUNK):  # chunks bound the memory a large input needs
        chunk = entities[start : start + _DIGEST_CHUNK]
        hasher.update(orjson.dumps([[e.id, e.type, e.name, e.headquarters, e.jurisdiction] for e in chunk]))
    for start in range(0, len(facts.links), _DIGEST_CHUNK):
        hasher.update(orjson.dumps([_link_row(link) for link in facts.links[start : start + _DIGEST_CHUNK]]))
    return "sha256:" + hasher.hexdigest()


def both_readings(
    graph: OwnershipGraph,
    engine: Engine,
    cache: StepCache,
    *,
    profile: str,
    batch_size: int = 256,
    max_rounds: int | None = None,
) -> tuple[dict[str, StepOutcome], dict[str, StepOutcome]]:
    """The lower and upper fixpoints; every entity restricted in the lower one must be in the upper one."""
    lower = run_fixpoint(
        graph, engine, cache, reading="lower", profile=profile, batch_size=batch_size, max_rounds=max_rounds
    )
    upper = run_fixpoint(
        graph, engine, cache, reading="upper", profile=profile, batch_size=batch_size, max_rounds=max_rounds
    )
    for entity_id, outcome in lower.items():
        if outcome.restricted and not upper[entity_id].restricted:
            raise EngineError(
                f"the rules restrict {entity_id!r} when unknown facts are read leniently but not when they are "
                "read strictly; the ownership step must treat unknown facts at least as strictly as known ones"
            )
    return lower, upper


def policy_summary(rules: RuleSet, profile: str) -> dict[str, Any]:
    """What every report says about the rules that decided it."""
    return {
        "name": rules.policy_set["name"],
        "version": rules.version,
        "effective_date": rules.policy_set["effective_date"],
        "profile": profile,
        "rules_digest": rules.digest,
    }


def evaluate(
    facts: Facts,
    rules: RuleSet,
    engine: Engine,
    *,
    as_of: date,
    profile: str | None = None,
    entity_ids: list[str] | None = None,
    batch_size: int = 256,
    limits: Limits | None = None,
) -> Report:
    """Decide `entity_ids` (default: every entity). Within `limits` (default: Limits()):
    chains longer than max_chain_depth raise LimitExceeded, and an evaluation longer
    than max_seconds raises EvaluationTimeout, with nothing decided."""
    limits = limits or Limits()
    deadline = limits.deadline()
    profile_name = profile or str(rules.policy_set["default_profile"])
    rules.profile(profile_name)  # unknown profile: a clear error before any work
    book = ExceptionBook.of(rules, as_of)  # bad exceptions data: a clear error before any work too
    if entity_ids:
        for entity_id in entity_ids:
            if entity_id not in facts.entities:
                raise InputError("no entity with this id in the facts", file="--entity", path="$", value=entity_id)
    links = facts.active_links(as_of)
    check_share_totals(links)
    graph = OwnershipGraph.build(facts.entities, links)
    cache = StepCache(deadline=deadline, max_seconds=limits.max_seconds)
    lower, upper = both_readings(
        graph, engine, cache, profile=profile_name, batch_size=batch_size, max_rounds=limits.max_rounds
    )
    chosen = entity_ids or list(facts.entities)
    decisions = []
    for position, entity_id in enumerate(chosen):
        if position % 1024 == 0:
            check_deadline(deadline, limits.max_seconds)
        excepted = book.for_entity(entity_id)
        decisions.append(decide(facts.entities[entity_id], lower, upper, facts.entities, rules, excepted))
    check_deadline(deadline, limits.max_seconds)
    policy = policy_summary(rules, profile_name)
    return Report(
        policy=policy,
        as_of=as_of,
        engine=engine.name,
        facts_digest=facts_digest(facts),
        decisions=decisions,
        stats={"rule_calls": cache.calls, "cache_hits": cache.hits},
        graph=graph,
        exceptions=book,
    )
