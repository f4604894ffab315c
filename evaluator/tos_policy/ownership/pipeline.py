"""The one ownership pipeline. `evaluate`, `explain`, `screen`, `decide`, `corpus` and the
Python API all run these stages, in this order:

    facts (loaded and validated: facts/load.py, facts/streaming.py)
      -> prepare    profile and Legal exceptions checked, links active on the as-of date,
                    reconciled (a Reconciler: one stake per owner, asset and period), share totals checked
      -> scope      the entities to decide and what can reach them (their owners' closure),
                    or every entity; or one partition of the graph (screening)
      -> graph      OwnershipGraph of the scope
      -> readings   the lower and upper fixpoints (a FixpointDriver: the Rego step driven
                    from Python by default; a columnar plan may stand in behind the same interface)
      -> decisions  deny / allow / review with reasons, paths and exceptions (ownership/decisions.py)
      -> records    reports/records.py, reports/decision_log.py

Limits (limits.py) hold for every stage after loading: the deadline, the round limit.
Partitioning and streaming (ownership/screening.py) are wrappers that call `readings`
and `decisions` once per partition."""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import orjson

from tos_policy.engines import Engine
from tos_policy.errors import EngineError
from tos_policy.facts.load import Entity, Facts, Link
from tos_policy.facts.merge import names_of, resolve
from tos_policy.facts.nominees import NOMINEE, attribute_to_principals
from tos_policy.facts.reconcile import cap_by_known_holdings, merge_duplicate_stakes
from tos_policy.facts.stakes import read_stakes
from tos_policy.limits import Limits, check_deadline
from tos_policy.ownership.cycles import greatest_fixpoint
from tos_policy.ownership.decisions import Decision, decide
from tos_policy.ownership.fixpoint import (
    READINGS,
    OwnershipGraph,
    StepCache,
    StepOutcome,
    both_readings,
    run_fixpoint,
)
from tos_policy.ownership.look_through import LookThroughFixpoint, check_plan, uses_look_through
from tos_policy.policy.legal_exceptions import ExceptionBook
from tos_policy.policy.profiles import stake_kinds
from tos_policy.policy.ruleset import RuleSet
from tos_policy.versions import decision_versions

Readings = tuple[dict[str, StepOutcome], dict[str, StepOutcome]]
# Reconciliation of duplicated or multi-sourced facts: the active links in, one link per
# owner, asset and period out. The default keeps the links as they are.
Reconciler = Callable[[Facts, list[Link]], list[Link]]


def keep_links(facts: Facts, links: list[Link]) -> list[Link]:
    """A Reconciler that keeps every active link as loaded."""
    return links


def one_stake_per_owner(stake_kinds: frozenset[str]) -> Reconciler:
    """The default Reconciler: the reports of one owner's stake in one asset that are in
    force on the day are one stake, the range of what they say; then what the other holders
    hold at least caps each stake (facts/reconcile.py)."""

    def reconcile(facts: Facts, links: list[Link]) -> list[Link]:
        return cap_by_known_holdings(merge_duplicate_stakes(links, stake_kinds), stake_kinds)

    return reconcile


class FixpointDriver(Protocol):
    """Runs the ownership step to its lower and upper fixpoints over one graph.

    Every entity of the graph gets an outcome in each reading; an entity restricted
    in the lower reading must be restricted in the upper one."""

    name: str

    def readings(
        self,
        graph: OwnershipGraph,
        engine: Engine,
        cache: StepCache,
        *,
        profile: str,
        batch_size: int,
        max_rounds: int,
        attribute_controlled: bool = False,
    ) -> Readings: ...


class RegoFixpoint:
    """The default driver: rounds over the graph in Python, each step decided by the engine's rules."""

    name = "rego"

    def readings(
        self,
        graph: OwnershipGraph,
        engine: Engine,
        cache: StepCache,
        *,
        profile: str,
        batch_size: int,
        max_rounds: int,
        attribute_controlled: bool = False,
        settled: Readings | None = None,
    ) -> Readings:
        """With `attribute_controlled` (profile switch attribute_controlled_holdings), holdings of
        entities a restricted party controls are grouped with its own (fixpoint.run_fixpoint).
        `settled`: outcomes already final for some entities of the graph (run_fixpoint)."""

        def one(*, reading: str) -> dict[str, StepOutcome]:
            return run_fixpoint(
                graph,
                engine,
                cache,
                reading=reading,
                profile=profile,
                batch_size=batch_size,
                max_rounds=max_rounds,
                attribute_controlled=attribute_controlled,
                settled=settled[READINGS.index(reading)] if settled else None,
            )

        return both_readings(one)


DEFAULT_DRIVER = RegoFixpoint()


def check_readings(readings: Readings) -> Readings:
    """Every entity restricted in the lower reading must be in the upper one: a driver or rule
    that breaks this would turn an unknown into an allow."""
    lower, upper = readings
    for entity_id, outcome in lower.items():
        if outcome.restricted and not upper[entity_id].restricted:
            raise EngineError(
                f"the rules restrict {entity_id!r} when unknown facts are read leniently but not when they are "
                "read strictly; the ownership step must treat unknown facts at least as strictly as known ones"
            )
    return readings


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
    profile_data: dict[str, Any] = field(default_factory=dict)  # the profile that decided (its link_effects, ...)
    # entity id -> (record id, place) of the records of one legal person merged into it (facts/merge.py)
    merged: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Decisions about screened organisations by verdict; persons and placeholders are
        decided (their decisions restrict what they hold) but counted apart (set_aside)."""
        counts = {"allow": 0, "deny": 0, "review": 0}
        for item in self.decisions:
            if item.entity.subject == "organisation":
                counts[item.decision] += 1
        return counts

    def set_aside(self) -> dict[str, int]:
        """How many decisions are about persons and placeholders, not screened organisations."""
        return set_aside(item.entity.subject for item in self.decisions)


def set_aside(subjects: Iterable[str]) -> dict[str, int]:
    counts = {"persons": 0, "placeholders": 0}
    for subject in subjects:
        if subject != "organisation":
            counts[f"{subject}s"] += 1
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
        *_rights_row(link),
        *([link.principal] if link.kind == NOMINEE else []),  # other digests unchanged
    ]


def _rights_row(link: Link) -> list[Any]:
    """Votes, class and share counts of a link, only where the facts give them (other digests unchanged)."""
    if link.voting is None and link.share_class is None and link.basis is None:
        return []
    voting = link.voting
    return [
        None if voting is None else [str(voting.min), str(voting.max), voting.min_exclusive, voting.max_exclusive],
        link.share_class,
        None if link.basis is None else list(link.basis),
    ]


def _entity_row(entity: Entity) -> list[Any]:
    row: list[Any] = [entity.id, entity.type, entity.name, entity.headquarters, entity.jurisdiction]
    if entity.disclosure:
        row.append(entity.disclosure)
    if entity.headquarters_subdivision or entity.jurisdiction_subdivision:  # digests of facts without them unchanged
        row += [entity.headquarters_subdivision, entity.jurisdiction_subdivision]
    if entity.capital is not None:  # likewise: only entities with share counts or classes
        capital = entity.capital
        row.append(
            [
                capital.issued,
                capital.treasury,
                [[str(value) if value is not None else None for value in item] for item in capital.classes],
            ]
        )
    if entity.history:  # likewise: only entities with dated values add them
        row.append(
            [
                [item.field, item.value, item.subdivision, str(item.start_date), str(item.end_date)]
                for item in entity.history
            ]
        )
    return row


def facts_digest(facts: Facts) -> str:
    """A digest of the facts' content (not their file layout): the same entities and
    links give the same digest whether they came as JSON or JSON Lines."""
    hasher = hashlib.sha256()
    entities = list(facts.entities.values())
    for start in range(0, len(entities), _DIGEST_CHUNK):  # chunks bound the memory a large input needs
        chunk = entities[start : start + _DIGEST_CHUNK]
        hasher.update(orjson.dumps([_entity_row(entity) for entity in chunk]))
    for start in range(0, len(facts.links), _DIGEST_CHUNK):
        hasher.update(orjson.dumps([_link_row(link) for link in facts.links[start : start + _DIGEST_CHUNK]]))
    return "sha256:" + hasher.hexdigest()


def policy_summary(rules: RuleSet, profile: str) -> dict[str, Any]:
    """What every report says about the rules and the code that decided it."""
    return {
        "name": rules.policy_set["name"],
        "version": rules.version,
        "effective_date": rules.policy_set["effective_date"],
        "profile": profile,
        "rules_digest": rules.digest,
        **decision_versions(),
    }


class Settled:
    """Outcomes in both readings of entities whose whole owners' closure has been evaluated:
    final, since nothing outside that closure can reach them. Shared by the threads deciding
    from one Prepared (a lock); outcomes are immutable and only ever added."""

    def __init__(self) -> None:
        self._lower: dict[str, StepOutcome] = {}
        self._upper: dict[str, StepOutcome] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._lower)

    def readings(self) -> Readings:
        """Live views of both readings (entries are never removed or changed)."""
        return self._lower, self._upper

    def walk(
        self, incoming: Mapping[str, list[tuple[int, Link]]], entity_ids: Iterable[str]
    ) -> tuple[set[str], set[str]]:
        """The owners' closure of `entity_ids`, not walked past settled entities: (the entities
        still to evaluate, the settled ones where the walk stopped)."""
        with self._lock:
            settled = self._lower
            fresh: set[str] = set()
            edge: set[str] = set()
            pending = []
            for entity_id in entity_ids:
                if entity_id in settled:
                    edge.add(entity_id)
                elif entity_id not in fresh:
                    fresh.add(entity_id)
                    pending.append(entity_id)
            while pending:
                for _, link in incoming.get(pending.pop(), ()):
                    owner = link.owner
                    if owner in fresh or owner in edge:
                        continue
                    if owner in settled:
                        edge.add(owner)
                    else:
                        fresh.add(owner)
                        pending.append(owner)
            return fresh, edge

    def add(self, readings: Readings, entity_ids: Iterable[str]) -> None:
        """Keep the outcomes of `entity_ids` (a set closed under owners, evaluated whole)."""
        lower, upper = readings
        with self._lock:
            for entity_id in entity_ids:
                self._lower.setdefault(entity_id, lower[entity_id])
                self._upper.setdefault(entity_id, upper[entity_id])


@dataclass
class Prepared:
    """Facts made ready to decide on one date with one profile: what every scope shares.

    Built once per (facts, as-of date, profile); deciding one entity afterwards costs
    only the part of its owners' closure that no earlier decision evaluated: outcomes
    are kept (`settled`) and reused, by any thread. `entities` are the facts' entities as
    they stand on the as-of date (dated values resolved: Facts.entities_on), with a placeholder
    for each undisclosed principal (facts/nominees.py); every plan decides on them."""

    facts: Facts
    rules: RuleSet
    as_of: date
    profile: str
    exceptions: ExceptionBook
    links: list[Link]
    policy: dict[str, Any]
    entities: dict[str, Entity]
    _incoming: dict[str, list[tuple[int, Link]]] | None = field(default=None, repr=False)
    _digest: str | None = field(default=None, repr=False)
    _positions: dict[str, int] | None = field(default=None, repr=False)
    # Final outcomes (lower, upper) of every entity whose whole owners' closure was evaluated
    # by an earlier decision: later decisions stop their walk there (Settled).
    settled: Settled = field(default_factory=Settled, repr=False)

    @property
    def link_effects(self) -> dict[str, str] | None:
        """What each kind of link does under the profile (which are stakes, which branches)."""
        effects: dict[str, str] | None = self.rules.profile(self.profile).get("link_effects")
        return effects

    @property
    def facts_digest(self) -> str:
        if self._digest is None:
            self._digest = facts_digest(self.facts)
        return self._digest

    def position(self, entity_id: str) -> int:
        """The entity's position in the input (built on first use): a scope's entities keep input order."""
        if self._positions is None:
            self._positions = {entity_id: position for position, entity_id in enumerate(self.entities)}
        return self._positions[entity_id]

    def incoming(self) -> dict[str, list[tuple[int, Link]]]:
        """Active links by asset, each with its position in `links` (built on first use)."""
        if self._incoming is None:
            index: dict[str, list[tuple[int, Link]]] = defaultdict(list)
            for position, link in enumerate(self.links):
                index[link.asset].append((position, link))
            self._incoming = dict(index)
        return self._incoming


def prepare(
    facts: Facts,
    rules: RuleSet,
    *,
    as_of: date,
    profile: str | None = None,
    reconcile: Reconciler | None = None,
) -> Prepared:
    """Check the profile and the Legal exceptions (clear errors before any work), select the
    links active on `as_of`, read their stakes as shares of the whole entity (share counts,
    classes: facts/stakes.py) and reconcile them (default: one_stake_per_owner); take each
    entity's dated facts in force on `as_of`. Stakes that still add up to over 100% are not an
    error: the entity they are held in is flagged, and reviewed, while every other entity is
    decided (ownership/steps.py Holdings). Shares held for a principal are read as the principal's
    stake and the registered holder's title, an undisclosed principal as an unknown owner
    (facts/nominees.py)."""
    profile_name = profile or str(rules.policy_set["default_profile"])
    profile_data = rules.profile(profile_name)  # unknown profile: a clear error before any work
    book = ExceptionBook.of(rules, as_of)  # bad exceptions data: a clear error before any work too
    entities, active = attribute_to_principals(facts.entities_on(as_of), facts.active_links(as_of))
    reconcile = reconcile or one_stake_per_owner(stake_kinds(profile_data))
    links = reconcile(facts, read_stakes(entities, active))
    return Prepared(facts, rules, as_of, profile_name, book, links, policy_summary(rules, profile_name), entities)


def resolve_entity_ids(facts: Facts, names: Iterable[str], *, file: str = "--entity") -> list[str]:
    """The ids of the entities `names` name: an id, a merged record's id or any identifier of it
    (facts/merge.py); an InputError for a name that names no entity, or several."""
    return list(dict.fromkeys(resolve(facts, name, file=file) for name in names))


def owners_closure(prepared: Prepared, entity_ids: Iterable[str]) -> set[str]:
    """The entities and every entity that can reach one of them through active links:
    all that their decisions can depend on."""
    incoming = prepared.incoming()
    seen = set(entity_ids)
    pending = list(seen)
    while pending:
        for _, link in incoming.get(pending.pop(), ()):
            if link.owner not in seen:
                seen.add(link.owner)
                pending.append(link.owner)
    return seen


def scope_graph(prepared: Prepared, members: set[str] | None = None, assets: set[str] | None = None) -> OwnershipGraph:
    """The graph of `members` (closed under owners: a closure or whole components), entities
    and links in input order; None: every entity. `assets`: only the links held in these
    (default: in every member), when the other members' outcomes are settled."""
    entities = prepared.entities
    if members is None or (assets is None and len(members) == len(entities)):
        return OwnershipGraph.build(entities, prepared.links, prepared.link_effects)
    held = members if assets is None else assets
    if len(members) * 8 < len(entities):  # a small scope: its own entities and links, not a scan of all
        chosen = {entity_id: entities[entity_id] for entity_id in sorted(members, key=prepared.position)}
        incoming = prepared.incoming()
        found = sorted(item for asset in held for item in incoming.get(asset, ()))
        links = [link for _, link in found]
    else:
        chosen = {entity_id: entity for entity_id, entity in entities.items() if entity_id in members}
        links = [link for link in prepared.links if link.asset in held]
    return OwnershipGraph.build(chosen, links, prepared.link_effects)


def run_readings(
    graph: OwnershipGraph,
    engine: Engine,
    prepared: Prepared,
    *,
    limits: Limits,
    deadline: float | None,
    batch_size: int = 256,
    driver: FixpointDriver = DEFAULT_DRIVER,
) -> tuple[Readings, StepCache]:
    """Both readings of the graph, within the limits' deadline and round limit."""
    cache = StepCache(deadline=deadline, max_seconds=limits.max_seconds)
    readings = profile_readings(
        driver,
        graph,
        engine,
        cache,
        switches=prepared.rules.profile(prepared.profile),
        profile=prepared.profile,
        batch_size=batch_size,
        max_rounds=limits.max_rounds,
    )
    return check_readings(readings), cache


def profile_readings(
    driver: FixpointDriver,
    graph: OwnershipGraph,
    engine: Engine,
    cache: StepCache,
    *,
    switches: dict[str, Any],
    profile: str,
    batch_size: int,
    max_rounds: int,
    settled: Readings | None = None,
) -> Readings:
    """Both readings by `driver` as the profile's switches ask: holdings of controlled entities
    attributed to their controller (attribute_controlled_holdings), and the strict reading taken
    as the greatest fixpoint (review_self_supporting_cycles, ownership/cycles.py: it re-decides
    from any plan's upper reading with the row plan's step inputs). `settled` (the default
    driver only): final outcomes of the graph's top entities (run_fixpoint); no cycle of the
    graph passes through them, so the greatest fixpoint leaves them as they are.

    Method look_through (ownership/look_through.py): the row plan with each entity's effective
    share; other plans are refused. Its shares solve cycles exactly, so the greatest fixpoint
    is not taken."""
    check_plan(driver.name, profile, switches)
    if uses_look_through(switches):
        return LookThroughFixpoint(switches).readings(
            graph, engine, cache, profile=profile, batch_size=batch_size, max_rounds=max_rounds
        )
    attribute = bool(switches.get("attribute_controlled_holdings", False))
    if settled is not None and isinstance(driver, RegoFixpoint):
        lower, upper = driver.readings(
            graph,
            engine,
            cache,
            profile=profile,
            batch_size=batch_size,
            max_rounds=max_rounds,
            attribute_controlled=attribute,
            settled=settled,
        )
    else:
        lower, upper = driver.readings(
            graph,
            engine,
            cache,
            profile=profile,
            batch_size=batch_size,
            max_rounds=max_rounds,
            attribute_controlled=attribute,
        )
    if switches.get("review_self_supporting_cycles", False):
        upper = greatest_fixpoint(
            graph,
            engine,
            cache,
            upper,
            reading="upper",
            profile=profile,
            batch_size=batch_size,
            attribute_controlled=attribute,
        )
    return lower, upper


def decisions(
    graph: OwnershipGraph,
    readings: Readings,
    prepared: Prepared,
    entity_ids: Iterable[str],
    *,
    limits: Limits | None = None,
    deadline: float | None = None,
    entities: dict[str, Entity] | None = None,
) -> Iterator[Decision]:
    """The decision for each of `entity_ids` (all in the graph, or in `entities`: where
    the readings reach past the graph), in that order."""
    lower, upper = readings
    known = graph.entities if entities is None else entities
    max_seconds = limits.max_seconds if limits else None
    clause = prepared.rules.profile(prepared.profile).get("clause")  # the regime's source, when the profile names one
    for position, entity_id in enumerate(entity_ids):
        if position % 1024 == 0:
            check_deadline(deadline, max_seconds)
        excepted = prepared.exceptions.for_names(names_of(prepared.facts, entity_id))
        yield decide(known[entity_id], lower, upper, known, prepared.rules, excepted, clause)


def decide_prepared(
    prepared: Prepared,
    engine: Engine,
    *,
    entity_ids: Sequence[str] | None = None,
    batch_size: int = 256,
    limits: Limits | None = None,
    driver: FixpointDriver = DEFAULT_DRIVER,
    consider: bool = True,
) -> Report:
    """Decide `entity_ids` (default: every entity) from prepared facts. With entity ids, only
    their owners' closure is evaluated, and with the default driver only the part of it no
    earlier call on `prepared` evaluated (prepared.settled); the outcomes are kept for later
    calls. Within `limits` (default: Limits()): chains longer than max_chain_depth raise
    LimitExceeded, an evaluation longer than max_seconds raises EvaluationTimeout, with
    nothing decided. A chain is counted from the settled entities a walk stops at. With
    `consider`, each allow says what the rules considered (ownership/considered.py)."""
    limits = limits or Limits()
    deadline = limits.deadline()
    if not entity_ids:
        return _decide_whole(prepared, engine, batch_size, limits, deadline, driver, consider)
    entity_ids = resolve_entity_ids(prepared.facts, entity_ids)
    switches = prepared.rules.profile(prepared.profile)
    # Settled outcomes are reused by the default driver; not where holdings are attributed to
    # controllers, whose chains of control run through the settled entities' own owners.
    # Nor under look-through, whose shares are solved over the whole closure at once.
    reuse = (
        isinstance(driver, RegoFixpoint)
        and not switches.get("attribute_controlled_holdings", False)
        and not uses_look_through(switches)
    )
    if reuse:
        fresh, edge = prepared.settled.walk(prepared.incoming(), entity_ids)
    else:
        fresh, edge = owners_closure(prepared, entity_ids), set()
    graph = scope_graph(prepared, fresh | edge, fresh)
    cache = StepCache(deadline=deadline, max_seconds=limits.max_seconds)
    if fresh:
        readings = profile_readings(
            driver,
            graph,
            engine,
            cache,
            switches=switches,
            profile=prepared.profile,
            batch_size=batch_size,
            max_rounds=limits.max_rounds,
            settled=prepared.settled.readings() if edge else None,
        )
        check_readings(readings)
        if reuse:
            prepared.settled.add(readings, fresh)
    if edge:  # the readings reach past this graph: decide from every outcome kept
        readings = prepared.settled.readings()
        decided = list(
            decisions(
                graph,
                readings,
                prepared,
                entity_ids,
                limits=limits,
                deadline=deadline,
                entities=prepared.entities,
            )
        )
        graph = _record_graph(prepared, decided)
    else:
        decided = list(decisions(graph, readings, prepared, entity_ids, limits=limits, deadline=deadline))
    if consider:
        decided = _considered(prepared, engine, decided, readings, batch_size)
    check_deadline(deadline, limits.max_seconds)
    return _report(prepared, engine, decided, graph, cache, evaluated=len(fresh), reused=len(edge))


def _considered(
    prepared: Prepared, engine: Engine, decided: list[Decision], readings: Readings, batch_size: int
) -> list[Decision]:
    """Each allow with what the rules considered (ownership/considered.py), in the strict reading."""
    from tos_policy.ownership.considered import with_considered  # builds on this module's stages

    return with_considered(
        decided,
        engine,
        incoming=prepared.incoming(),
        entities=prepared.entities,
        upper=readings[1],
        rules=prepared.rules,
        profile=prepared.profile,
        link_effects=prepared.link_effects,
        batch_size=batch_size,
    )


def _decide_whole(
    prepared: Prepared,
    engine: Engine,
    batch_size: int,
    limits: Limits,
    deadline: float | None,
    driver: FixpointDriver,
    consider: bool,
) -> Report:
    graph = scope_graph(prepared, None)
    readings, cache = run_readings(
        graph, engine, prepared, limits=limits, deadline=deadline, batch_size=batch_size, driver=driver
    )
    if isinstance(driver, RegoFixpoint) and not prepared.rules.profile(prepared.profile).get(
        "attribute_controlled_holdings", False
    ):
        prepared.settled.add(readings, graph.entities)
    chosen = list(prepared.facts.entities)
    decided = list(decisions(graph, readings, prepared, chosen, limits=limits, deadline=deadline))
    if consider:
        decided = _considered(prepared, engine, decided, readings, batch_size)
    check_deadline(deadline, limits.max_seconds)
    return _report(prepared, engine, decided, graph, cache, evaluated=len(graph.entities), reused=0)


def _record_graph(prepared: Prepared, decided: list[Decision]) -> OwnershipGraph:
    """The graph reports word decisions from (names, path hops): the decided entities, every
    entity on their paths and every owner their reasons cite, with the links among them."""
    entities = prepared.entities
    named: set[str] = set()
    for item in decided:
        named.add(item.entity.id)
        named.update(entity_id for path in item.paths for entity_id in path)
        named.update(str(owner["id"]) for reason in item.reasons for owner in reason.get("owners", ()))
    incoming = prepared.incoming()
    found = sorted(item for asset in named for item in incoming.get(asset, ()) if item[1].owner in named)
    chosen = {entity_id: entities[entity_id] for entity_id in sorted(named, key=prepared.position)}
    return OwnershipGraph.build(chosen, [link for _, link in found], prepared.link_effects)


def _report(
    prepared: Prepared,
    engine: Engine,
    decided: list[Decision],
    graph: OwnershipGraph,
    cache: StepCache,
    *,
    evaluated: int,
    reused: int,
) -> Report:
    return Report(
        policy=prepared.policy,
        as_of=prepared.as_of,
        engine=engine.name,
        facts_digest=prepared.facts_digest,
        decisions=decided,
        stats={
            "rule_calls": cache.calls,
            "cache_hits": cache.hits,
            "entities_evaluated": evaluated,
            "entities_reused": reused,
        },
        graph=graph,
        exceptions=prepared.exceptions,
        profile_data=prepared.rules.profile(prepared.profile),
        merged=prepared.facts.merged,
    )


def evaluate(
    facts: Facts,
    rules: RuleSet,
    engine: Engine | None = None,
    *,
    as_of: date,
    profile: str | None = None,
    entity_ids: list[str] | None = None,
    batch_size: int = 256,
    limits: Limits | None = None,
    reconcile: Reconciler | None = None,
    driver: FixpointDriver = DEFAULT_DRIVER,
) -> Report:
    """Decide `entity_ids` (default: every entity) of `facts` with `rules` on `as_of`.

    `engine` None: the default (embedded) engine for these rules, closed afterwards.
    Within `limits` (default: Limits()): chains longer than max_chain_depth raise
    LimitExceeded, an evaluation longer than max_seconds raises EvaluationTimeout,
    with nothing decided."""
    limits = limits or Limits()
    prepared = prepare(facts, rules, as_of=as_of, profile=profile, reconcile=reconcile)
    if engine is None:
        from tos_policy.engines.embedded import EmbeddedEngine

        own = EmbeddedEngine(rules)
        try:
            return decide_prepared(
                prepared, own, entity_ids=entity_ids, batch_size=batch_size, limits=limits, driver=driver
            )
        finally:
            own.close()
    return decide_prepared(prepared, engine, entity_ids=entity_ids, batch_size=batch_size, limits=limits, driver=driver)
