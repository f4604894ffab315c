"""Deciding from a prepared registry evaluates only what no earlier decision did: the
entities' owners' closure, not walked past entities whose outcomes are settled. The
decisions are those of the whole graph, in any order of asking, and the work of one
decision does not grow with entities that cannot reach it (counted, not timed)."""

from __future__ import annotations

import copy
import dataclasses
import threading
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tos_policy import facts_from_document
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.ownership.pipeline import Report, decide_prepared, prepare
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.records import decision_record

from .conftest import AS_OF
from .strategies import ownership_graphs


def _records(report: Report) -> dict[str, Any]:
    return {item.entity.id: decision_record(report, item) for item in report.decisions}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), graph=ownership_graphs(max_entities=12))
def test_decisions_one_at_a_time_equal_the_whole_graphs(
    data: st.DataObject, graph: dict[str, Any], rules: RuleSet, engine: EmbeddedEngine
) -> None:
    """Under every profile of the rules (their switches: self-supporting cycles, holdings
    attributed to controllers)."""
    facts = facts_from_document(graph)
    profile = data.draw(st.sampled_from(sorted(rules.data["ownership"]["profiles"])))
    whole = _records(decide_prepared(prepare(facts, rules, as_of=AS_OF, profile=profile), engine))
    registry = prepare(facts, rules, as_of=AS_OF, profile=profile)
    order = data.draw(st.permutations(sorted(facts.entities)))
    for entity_id in order:
        report = decide_prepared(registry, engine, entity_ids=[entity_id])
        assert _records(report) == {entity_id: whole[entity_id]}
    again = decide_prepared(registry, engine, entity_ids=list(order))  # all settled: no rule call
    assert _records(again) == {entity_id: whole[entity_id] for entity_id in order}
    if not rules.profile(profile).get("attribute_controlled_holdings"):
        assert (again.stats["rule_calls"], again.stats["entities_evaluated"]) == (0, 0)


_CYCLES_ENGINE: list[tuple[RuleSet, EmbeddedEngine]] = []


def _cycles_rules(rules: RuleSet) -> tuple[RuleSet, EmbeddedEngine]:
    """The fixture rules with a profile "cycles": the default one reviewing self-supporting
    cycles (the greatest fixpoint), compiled once."""
    if not _CYCLES_ENGINE:
        data = copy.deepcopy(rules.data)
        default = rules.profile(rules.policy_set["default_profile"])
        data["ownership"]["profiles"]["cycles"] = {**default, "review_self_supporting_cycles": True}
        variant = dataclasses.replace(rules, data=data)
        _CYCLES_ENGINE.append((variant, EmbeddedEngine(variant)))
    return _CYCLES_ENGINE[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), graph=ownership_graphs(max_entities=12))
def test_decisions_one_at_a_time_equal_the_whole_graphs_with_self_supporting_cycles_reviewed(
    data: st.DataObject, graph: dict[str, Any], rules: RuleSet
) -> None:
    variant, engine = _cycles_rules(rules)
    facts = facts_from_document(graph)
    whole = _records(decide_prepared(prepare(facts, variant, as_of=AS_OF, profile="cycles"), engine))
    registry = prepare(facts, variant, as_of=AS_OF, profile="cycles")
    for entity_id in data.draw(st.permutations(sorted(facts.entities))):
        report = decide_prepared(registry, engine, entity_ids=[entity_id])
        assert _records(report) == {entity_id: whole[entity_id]}


def _registry(unrelated: int) -> dict[str, Any]:
    """A chain root (CN) -> mid -> end -> below, beside `unrelated` groups that cannot reach it."""
    entities = [
        {"id": "root", "type": "company", "headquarters": "CN", "jurisdiction": "CN"},
        *({"id": name, "type": "company", "headquarters": "DE", "jurisdiction": "DE"} for name in ("mid", "end", "below")),
    ]
    links = [
        {"owner": "root", "asset": "mid", "percentage": "60"},
        {"owner": "mid", "asset": "end", "percentage": "60"},
        {"owner": "end", "asset": "below", "percentage": "60"},
    ]
    for index in range(unrelated):
        country = ("CN", "FR", "GB", "RU")[index % 4]
        entities.append({"id": f"x{index}", "type": "company", "headquarters": country, "jurisdiction": country})
        if index:
            links.append({"owner": f"x{index - 1}", "asset": f"x{index}", "percentage": str(10 + index % 80)})
    return {"entities": entities, "ownership": links}


def _work(unrelated: int, rules: RuleSet, engine: EmbeddedEngine) -> list[tuple[int, int, int, str]]:
    registry = prepare(facts_from_document(_registry(unrelated)), rules, as_of=AS_OF)
    work = []
    for entity_id in ("end", "below", "end", "mid"):
        report = decide_prepared(registry, engine, entity_ids=[entity_id])
        stats = report.stats
        work.append(
            (stats["rule_calls"], stats["entities_evaluated"], stats["entities_reused"], report.decisions[0].decision)
        )
    return work


def test_one_decisions_work_does_not_grow_with_unrelated_entities(rules: RuleSet, engine: EmbeddedEngine) -> None:
    small, large = _work(3, rules, engine), _work(3000, rules, engine)
    assert small == large
    (_, first, _, verdict), (_, second, reused, _), (calls, third, _, _), (calls_mid, fourth, _, _) = large
    assert verdict == "deny"
    assert first == 3  # root, mid, end: the closure of end
    assert (second, reused) == (1, 1)  # below alone, stopping at end (settled)
    assert (calls, third) == (0, 0)  # end again: nothing evaluated
    assert (calls_mid, fourth) == (0, 0)  # mid was settled with end's closure


def test_a_settled_decision_names_its_owners_and_paths_as_a_fresh_one(rules: RuleSet, engine: EmbeddedEngine) -> None:
    facts = facts_from_document(_registry(10))
    registry = prepare(facts, rules, as_of=AS_OF)
    decide_prepared(registry, engine, entity_ids=["end"])
    reused = decide_prepared(registry, engine, entity_ids=["below"])
    fresh = decide_prepared(prepare(facts, rules, as_of=AS_OF), engine, entity_ids=["below"])
    assert _records(reused) == _records(fresh)
    assert reused.decisions[0].paths == [["root", "mid", "end", "below"]]
    assert reused.graph is not None and set(reused.graph.entities) == {"root", "mid", "end", "below"}


def test_threads_sharing_a_prepared_registry_decide_as_one_thread(rules: RuleSet, engine: EmbeddedEngine) -> None:
    """Two engines (as two Policy objects would have) deciding from one prepared registry at
    once, in opposite orders: every decision is the whole graph's."""
    facts = facts_from_document(_registry(40))
    whole = _records(decide_prepared(prepare(facts, rules, as_of=AS_OF), engine))
    registry = prepare(facts, rules, as_of=AS_OF)
    order = sorted(facts.entities)
    seen: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def work(own: EmbeddedEngine, ids: list[str]) -> None:
        try:
            for entity_id in ids:
                seen.append(_records(decide_prepared(registry, own, entity_ids=[entity_id])))
        except BaseException as exc:  # reported below
            errors.append(exc)

    other = EmbeddedEngine(rules)
    try:
        threads = [
            threading.Thread(target=work, args=(engine, order)),
            threading.Thread(target=work, args=(other, order[::-1])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.close()
    assert not errors
    assert len(seen) == 2 * len(order)
    for records in seen:
        assert all(record == whole[entity_id] for entity_id, record in records.items())
    assert len(registry.settled) == len(order)
