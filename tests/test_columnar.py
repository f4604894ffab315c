"""The relational (DuckDB) plan of the fixpoint gives exactly the outcomes of the
row-by-row plan: same statuses, same reasons, the same links in the same order, in
both readings, under every profile, on random graphs and on generated registries;
and `screen` writes the same bytes with either plan."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tos_policy import facts_from_document
from tos_policy.cli.main import main
from tos_policy.engines import Engine
from tos_policy.engines.compiled import module_for
from tos_policy.engines.wasm import WasmEngine
from tos_policy.errors import LimitExceeded, NonMonotoneRuleError
from tos_policy.facts.streaming import load_streaming
from tos_policy.ownership.columnar import ColumnarFixpoint, ColumnarGraph, run_columnar_fixpoint
from tos_policy.ownership.fixpoint import OwnershipGraph, StepCache, run_fixpoint
from tos_policy.ownership.pipeline import DEFAULT_DRIVER, FixpointDriver, prepare, profile_readings, scope_graph
from tos_policy.ownership.screening import screen
from tos_policy.policy.ruleset import RuleSet

from .conftest import AS_OF
from .strategies import ownership_graphs

# Profiles beside the fixture one, so every switch the step and the drivers read is exercised.
VARIANTS: dict[str, dict[str, Any]] = {
    "separate_owners": {"aggregate_owners": False},
    "exclusive_threshold": {"threshold_inclusive": False, "threshold_percent": 25},
    "all_countries": {"root_country_match": "all", "non_restricting_types": ["person", "public_body"]},
    "controlled": {"aggregate_owners": False, "threshold_inclusive": False, "attribute_controlled_holdings": True},
    "regions_and_cycles": {"review_regions": True, "review_self_supporting_cycles": True},
}
# Regions beside the fixture list: a review list and subdivisions (Crimea restricted, Donetsk review).
REGIONS = {"restricted": ["CN", "IR", "KP", "RU", "UA-43"], "review": ["HK", "UA-14"]}


def with_variants(rules: RuleSet) -> RuleSet:
    """The rules with the VARIANTS profiles and the REGIONS lists."""
    data = copy.deepcopy(rules.data)
    profiles = data["ownership"]["profiles"]
    base = profiles[rules.policy_set["default_profile"]]
    for name, changes in VARIANTS.items():
        profiles[name] = {**copy.deepcopy(base), **changes}
    data["regions"] = {**data["regions"], **REGIONS}
    return dataclasses.replace(rules, data=data)


def plan_readings(driver: FixpointDriver, graph: OwnershipGraph, engine: Engine, rules: RuleSet, profile: str) -> Any:
    """Both readings by `driver` as the pipeline takes them for `profile` (its switches read)."""
    cache = StepCache()
    readings = profile_readings(
        driver,
        graph,
        engine,
        cache,
        switches=rules.profile(profile),
        profile=profile,
        batch_size=5,
        max_rounds=1000,
    )
    return readings, (cache.calls, cache.hits)


@pytest.fixture(scope="module")
def variant_rules(rules: RuleSet) -> RuleSet:
    return with_variants(rules)


@pytest.fixture(scope="module")
def wasm(variant_rules: RuleSet) -> WasmEngine:
    module = module_for(variant_rules, build=False)
    assert module is not None
    return WasmEngine(variant_rules, module)


def _both_plans(
    graph: OwnershipGraph, engine: WasmEngine, profile: str, reading: str, attribute: bool
) -> tuple[Any, Any, Any, Any]:
    rows_cache, columns_cache = StepCache(), StepCache()
    by_rows = run_fixpoint(
        graph, engine, rows_cache, reading=reading, profile=profile, batch_size=5, attribute_controlled=attribute
    )
    by_columns = run_columnar_fixpoint(
        graph, engine, columns_cache, reading=reading, profile=profile, batch_size=5, attribute_controlled=attribute
    )
    return by_rows, by_columns, rows_cache, columns_cache


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=ownership_graphs(max_entities=14), data=st.data())
def test_both_plans_give_the_same_outcomes(
    document: dict[str, Any], data: st.DataObject, wasm: WasmEngine, variant_rules: RuleSet
) -> None:
    profile = data.draw(st.sampled_from(sorted(variant_rules.data["ownership"]["profiles"])), label="profile")
    # the pipeline's graph: reconciled links and the profile's link effects, as every plan gets them
    graph = scope_graph(prepare(facts_from_document(document), variant_rules, as_of=AS_OF, profile=profile))
    attribute = bool(variant_rules.profile(profile).get("attribute_controlled_holdings", False))
    for reading in ("lower", "upper"):
        by_rows, by_columns, rows_cache, columns_cache = _both_plans(graph, wasm, profile, reading, attribute)
        assert by_columns == by_rows
        assert (columns_cache.calls, columns_cache.hits) == (rows_cache.calls, rows_cache.hits)
    # and as the pipeline takes them, every switch of the profile read (cycles included)
    assert plan_readings(ColumnarFixpoint(), graph, wasm, variant_rules, profile) == plan_readings(
        DEFAULT_DRIVER, graph, wasm, variant_rules, profile
    )


# Holdings only a switch adds up or moves: one owner's tagged and untagged stakes, three
# wholly owned SPVs of a restricted party, a self-supporting cycle, Hong Kong and Crimea.
SWITCH_CASES: dict[str, Any] = {
    "entities": [
        {"id": "cn", "type": "company", "headquarters": "CN", "jurisdiction": "CN", "disclosure": "full"},
        *(
            {"id": name, "type": "company", "headquarters": "SG", "jurisdiction": "SG", "disclosure": "full"}
            for name in ("tagged", "spv1", "spv2", "spv3", "target", "a", "b")
        ),
        {"id": "hk", "type": "company", "headquarters": "HK", "jurisdiction": "HK", "disclosure": "full"},
        {"id": "crimea", "type": "company", "headquarters": "UA-43", "jurisdiction": "UA", "disclosure": "full"},
    ],
    "ownership": [
        {"owner": "cn", "asset": "tagged", "percentage": "30"},
        {"owner": "cn", "asset": "tagged", "percentage": "25", "acting_jointly": "joint-a"},
        *({"owner": "cn", "asset": spv, "percentage": "100"} for spv in ("spv1", "spv2", "spv3")),
        {"owner": "spv1", "asset": "target", "percentage": "20"},
        {"owner": "spv2", "asset": "target", "percentage": "20"},
        {"owner": "spv3", "asset": "target", "percentage": "15"},
        {"owner": "a", "asset": "b", "percentage": "50"},
        {"owner": "b", "asset": "a", "percentage": "50"},
        {"owner": "cn", "asset": "a", "percentage": "30"},
        {"owner": "cn", "asset": "b", "percentage": "30"},
        {"owner": "hk", "asset": "a", "percentage": "20"},
        {"owner": "crimea", "asset": "b", "percentage": "20"},
    ],
}


@pytest.mark.parametrize("profile", sorted(VARIANTS))
def test_the_plans_agree_where_the_switches_move_decisions(
    profile: str, wasm: WasmEngine, variant_rules: RuleSet
) -> None:
    graph = scope_graph(prepare(facts_from_document(SWITCH_CASES), variant_rules, as_of=AS_OF, profile=profile))
    by_rows = plan_readings(DEFAULT_DRIVER, graph, wasm, variant_rules, profile)
    assert plan_readings(ColumnarFixpoint(), graph, wasm, variant_rules, profile) == by_rows
    if profile == "controlled":  # the switch moves decisions here, so agreeing means something
        lower = by_rows[0][0]
        assert lower["tagged"].restricted and lower["target"].restricted


def _registry(tmp_path: Path, name: str, *extra: str) -> Path:
    from click.testing import CliRunner

    path = tmp_path / f"{name}.jsonl"
    done = CliRunner().invoke(main, ["synth", "--entities", "4000", "--seed", "9", *extra, "-o", str(path)])
    assert done.exit_code == 0, done.stderr
    return path


@pytest.mark.parametrize("extra", [(), ("--varied",)], ids=["default", "varied"])
def test_screen_writes_the_same_bytes_with_either_plan(tmp_path: Path, rules: RuleSet, extra: tuple[str, ...]) -> None:
    registry = _registry(tmp_path, "registry", *extra)
    module = module_for(rules, build=False)
    assert module is not None
    facts = load_streaming([registry])
    outputs = {}
    for plan, driver in (("rows", DEFAULT_DRIVER), ("columnar", ColumnarFixpoint())):
        outputs[plan] = tmp_path / f"{plan}.jsonl"
        screen(
            facts,
            rules,
            lambda loaded: WasmEngine(loaded, module),
            as_of=date(2025, 10, 1),
            out=outputs[plan],
            driver=driver,
        )
    assert outputs["columnar"].read_bytes() == outputs["rows"].read_bytes()
    assert outputs["rows"].read_bytes().count(b"\n") == 4000


def test_a_chain_longer_than_the_limit_is_refused_the_same_way(wasm: WasmEngine) -> None:
    entities = [{"id": "root", "type": "company", "headquarters": "CN", "jurisdiction": "CN"}]
    links = []
    for index in range(6):
        entities.append({"id": f"c{index}", "type": "company", "headquarters": "SG", "jurisdiction": "SG"})
        links.append({"owner": "root" if index == 0 else f"c{index - 1}", "asset": f"c{index}", "percentage": "60"})
    facts = facts_from_document({"entities": entities, "ownership": links})
    graph = OwnershipGraph.build(facts.entities, facts.links)
    messages = []
    for run in (run_fixpoint, run_columnar_fixpoint):
        with pytest.raises(LimitExceeded) as caught:
            run(graph, wasm, StepCache(), reading="lower", profile="terms_of_service", max_rounds=4)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "c3" in messages[0]


class _Flipping:
    """An engine whose rules turn an entity back to unrestricted (not monotone)."""

    name = "flipping"

    def __init__(self, inner: WasmEngine) -> None:
        self.inner = inner

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        results = self.inner.decide(batch)
        return [
            {"restricted": False, "reasons": []} if item["links"] and item["entity"]["headquarters"] == "IR" else result
            for item, result in zip(batch["items"], results, strict=True)
        ]

    def close(self) -> None:
        pass


def test_a_rule_that_is_not_monotone_is_refused(wasm: WasmEngine) -> None:
    document = {
        "entities": [
            {"id": "cn", "type": "company", "headquarters": "CN", "jurisdiction": "CN"},
            {"id": "ir", "type": "company", "headquarters": "IR", "jurisdiction": "IR"},
        ],
        "ownership": [{"owner": "cn", "asset": "ir", "percentage": "60"}],
    }
    facts = facts_from_document(document)
    graph = OwnershipGraph.build(facts.entities, facts.links)
    with pytest.raises(NonMonotoneRuleError):
        run_columnar_fixpoint(graph, _Flipping(wasm), StepCache(), reading="lower", profile="terms_of_service")


def test_the_tables_hold_exact_units(wasm: WasmEngine) -> None:
    document = {
        "entities": [
            {"id": "a", "type": "company", "headquarters": "SG", "jurisdiction": "SG"},
            {"id": "b", "type": "company", "headquarters": "CN", "jurisdiction": "CN"},
        ],
        "ownership": [{"owner": "b", "asset": "a", "percentage": "49.999999999999"}],
    }
    facts = facts_from_document(document)
    columns = ColumnarGraph(OwnershipGraph.build(facts.entities, facts.links))
    try:
        assert columns.db.execute("SELECT mn, mn_dec FROM links").fetchall() == [(49_999_999_999_999, 12)]
    finally:
        columns.close()


def test_facts_that_do_not_add_up_reach_every_plan(wasm: WasmEngine, variant_rules: RuleSet) -> None:
    """An entity flagged by reconciliation (stakes over 100%) keeps its flag in the rounds after
    the first, in the columnar plan as in the row plan (it used to lose it: not monotone)."""
    document = {
        "entities": [
            {"id": "cn", "type": "company", "headquarters": "CN", "jurisdiction": "CN"},
            {"id": "x", "type": "company", "headquarters": "SG", "jurisdiction": "SG", "disclosure": "full"},
            {"id": "y", "type": "company", "headquarters": "SG", "jurisdiction": "SG", "disclosure": "full"},
        ],
        "ownership": [
            {"owner": "cn", "asset": "y", "percentage": "70"},
            {"owner": "x", "asset": "y", "percentage": "60"},
        ],
    }
    graph = scope_graph(prepare(facts_from_document(document), variant_rules, as_of=AS_OF))
    assert graph.holdings_of("y").flags == ("stakes_over_100",)
    for reading in ("lower", "upper"):
        by_rows, by_columns, _, _ = _both_plans(graph, wasm, "terms_of_service", reading, False)
        assert by_columns == by_rows
    assert by_rows["y"].restricted
