"""Decide after a load, re-deciding only the entities the load can reach.

An entity's decision depends on its own facts and on the facts of everything
above it in the ownership graph (its owners, their owners, ...), read on the
as-of date, under the rules. So after a load, the decisions that can move are
those of the entities below a change: an entity whose facts changed, the asset
of a link that was added, removed or changed, or that started or ended between
the two as-of dates, the subject of a determination or exception that came into
force or lapsed. Those seeds and their descendants are re-decided, from their
owners' closure only; every other decision stands. A change of rules, profile
or policy re-decides everything."""

from __future__ import annotations

import dataclasses
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tos_policy.engines import Engine
from tos_policy.facts.load import Entity, Facts, Link
from tos_policy.limits import Limits
from tos_policy.operations.determinations import Overlay, overlay
from tos_policy.operations.store import Change, Store
from tos_policy.ownership.pipeline import evaluate, facts_digest
from tos_policy.policy.legal_exceptions import ExceptionBook
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.records import decision_record
from tos_policy.versions import decision_versions


@dataclass
class RunResult:
    load_id: int
    as_of: date
    full: bool
    decided: list[str]
    changed: list[str] = field(default_factory=list)  # entities whose decision moved
    reached: int = 0
    facts_digest: str = ""
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # the decisions made in this run

    def as_json(self) -> dict[str, Any]:
        return {
            "load": self.load_id,
            "as_of": self.as_of.isoformat(),
            "full_screen": self.full,
            "decided": len(self.decided),
            "changed": len(self.changed),
            "facts_digest": self.facts_digest,
        }


def run_context(rules: RuleSet, profile: str) -> dict[str, Any]:
    """What a stored decision depends on besides the facts: a change of any of it re-decides everything."""
    return {"policy_version": rules.version, "rules_digest": rules.digest, "profile": profile, **decision_versions()}


def stored_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A decision record as the store keeps it: without the as-of date (the run's), which a
    decision not re-decided keeps from an earlier run."""
    return {key: value for key, value in record.items() if key != "as_of"}


def decide_all(
    facts: Facts,
    rules: RuleSet,
    engine: Engine,
    *,
    as_of: date,
    profile: str,
    limits: Limits,
    entity_ids: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Decision records (as the store keeps them) for `entity_ids` (default: all), determinations applied."""
    applied = overlay(facts, rules, as_of)
    report = evaluate(applied.facts, rules, engine, as_of=as_of, profile=profile, entity_ids=entity_ids, limits=limits)
    out = {}
    for item in report.decisions:
        record = stored_record(decision_record(report, item, sources=False))
        record["determinations"] = applied.cited_by(item.entity.id)
        out[item.entity.id] = record
    return out


def _effective(facts: Facts, rules: RuleSet, as_of: date) -> tuple[Overlay, dict[str, Entity], list[Link]]:
    applied = overlay(facts, rules, as_of)
    return applied, applied.facts.entities_on(as_of), applied.facts.active_links(as_of)


def _entity_key(entity: Entity) -> tuple[Any, ...]:
    """What a decision reads of the entity on its date: dated facts as resolved, not their history."""
    return tuple(entity._replace(path="", history=(), dated_on=None, sources=(), records=()))


def _link_key(link: Link) -> tuple[Any, ...]:
    return tuple(link._replace(path="", sources=(), reports=()))


def seeds(
    before: tuple[Overlay, dict[str, Entity], list[Link]] | None,
    after: tuple[Overlay, dict[str, Entity], list[Link]],
    books: tuple[ExceptionBook | None, ExceptionBook],
) -> dict[str, list[dict[str, Any]]]:
    """The entities whose own facts or incoming links differ between two readings, each with why."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    old_entities = before[1] if before else {}
    new_entities = after[1]
    for entity_id in set(old_entities) | set(new_entities):
        old, new = old_entities.get(entity_id), new_entities.get(entity_id)
        if old is None or new is None or _entity_key(old) != _entity_key(new):
            out[entity_id].append({"entity": entity_id})
    old_links = _multiset(before[2] if before else [])
    new_links = _multiset(after[2])
    for key in set(old_links) | set(new_links):
        why = {"link": [key[0], key[1]]}
        if old_links.get(key, 0) != new_links.get(key, 0) and why not in out[key[1]]:
            out[key[1]].append(why)
    old_cited = before[0].citations() if before else {}
    for entity_id, cited in after[0].citations().items() | old_cited.items():
        if old_cited.get(entity_id) != after[0].citations().get(entity_id):
            out[entity_id].append({"determinations": cited})
    old_book, new_book = books
    old_exc = {(item.id, item.entity) for item in old_book.in_force()} if old_book else set()
    new_exc = {(item.id, item.entity) for item in new_book.in_force()}
    for exception_id, entity_id in old_exc ^ new_exc:
        out[entity_id].append({"exception": exception_id})
    return {key: value for key, value in out.items() if key in new_entities or key in old_entities}


def _multiset(links: Iterable[Link]) -> dict[tuple[Any, ...], int]:
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    for link in links:
        counts[_link_key(link)] += 1
    return counts


def descendants(starts: Iterable[str], links: list[Link]) -> dict[str, set[str]]:
    """For every entity reachable down the links from `starts`, the starts it is reached from."""
    below: dict[str, list[str]] = defaultdict(list)
    for link in links:
        for party in link.parties():
            below[party].append(link.asset)
    reached: dict[str, set[str]] = defaultdict(set)
    for start in starts:
        queue = deque([start])
        seen = {start}
        while queue:
            current = queue.popleft()
            reached[current].add(start)
            for asset in below.get(current, ()):
                if asset not in seen:
                    seen.add(asset)
                    queue.append(asset)
    return reached


def owners_closure(targets: Iterable[str], facts: Facts, extra: list[Link]) -> Facts:
    """The facts of `targets` and of everything above them, through the facts' links and `extra`
    links (those determinations add)."""
    above: dict[str, list[Link]] = defaultdict(list)
    for link in [*facts.links, *extra]:
        above[link.asset].append(link)
    keep = set()
    queue = deque(targets)
    while queue:
        current = queue.popleft()
        if current in keep:
            continue
        keep.add(current)
        queue.extend(party for link in above.get(current, ()) for party in link.parties())
    entities = {entity_id: entity for entity_id, entity in facts.entities.items() if entity_id in keep}
    return dataclasses.replace(facts, entities=entities, links=[link for link in facts.links if link.asset in keep])


def decide_load(
    store: Store,
    load_id: int,
    rules: RuleSet,
    engine: Engine,
    *,
    as_of: date,
    profile: str | None,
    limits: Limits,
    full: bool = False,
) -> RunResult:
    """Decide what load `load_id` can have changed and store the decisions (inside the caller's transaction)."""
    profile_name = profile or str(rules.policy_set["default_profile"])
    context = run_context(rules, profile_name)
    facts = store.facts(load_id)
    after = _effective(facts, rules, as_of)
    digest = facts_digest(after[0].facts)
    previous = store.run(load_id - 1) if load_id > 1 else None
    full = full or previous is None or previous[1].get("run") != context
    if full:
        records = decide_all(facts, rules, engine, as_of=as_of, profile=profile_name, limits=limits)
        old = store.decisions(load_id - 1) if load_id > 1 else {}
        gone = sorted(set(old) - set(records))
        causes: dict[str, list[dict[str, Any]]] = {entity_id: [{"rules": context}] for entity_id in records}
        _store(store, load_id, records, gone, causes)
        store.record_run(load_id, as_of, {"run": context, "seeds": {}, "facts_digest": digest}, len(records), True)
        changed = sorted(e for e in records if old.get(e, {}).get("decision") != records[e]["decision"])
        return RunResult(load_id, as_of, True, list(records), changed, len(records), digest, records)
    prev_as_of = previous[0] if previous else as_of
    before_facts = store.facts(load_id - 1)
    before = _effective(before_facts, rules, prev_as_of)
    why = seeds(before, after, (ExceptionBook.of(rules, prev_as_of), ExceptionBook.of(rules, as_of)))
    reach = descendants(sorted(why), after[2])
    targets = sorted(entity for entity in reach if entity in facts.entities)
    gone = sorted(entity for entity in why if entity not in facts.entities)
    records = {}
    if targets:
        closure = owners_closure(targets, facts, after[0].facts.links)
        records = decide_all(
            closure, rules, engine, as_of=as_of, profile=profile_name, limits=limits, entity_ids=targets
        )
    causes = {entity: [{"seed": seed, "why": why[seed]} for seed in sorted(reach[entity])] for entity in targets}

    _store(store, load_id, records, gone, causes)
    store.record_run(load_id, as_of, {"run": context, "seeds": why, "facts_digest": digest}, len(records), False)
    old = store.decisions(load_id - 1)
    changed = sorted(
        entity
        for entity in [*targets, *gone]
        if old.get(entity, {}).get("decision") != (records.get(entity) or {}).get("decision")
    )
    return RunResult(load_id, as_of, False, targets, changed, len(reach), digest, records)


def _store(
    store: Store,
    load_id: int,
    records: dict[str, dict[str, Any]],
    gone: list[str],
    causes: dict[str, list[dict[str, Any]]],
) -> None:
    rows: list[tuple[str, str | None, dict[str, Any] | None]] = []
    for entity_id, record in records.items():
        rows.append((entity_id, record["decision"], {**record, "causes": causes.get(entity_id, [])}))
    rows.extend((entity_id, None, None) for entity_id in gone)
    store.record_decisions(load_id, rows)


def changes_for(store: Store, load_id: int) -> list[Change]:
    return store.changes(load_id)
