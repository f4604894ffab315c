"""The relational fixpoint plan on Spark (local[2]) gives exactly the row plan's outcomes
(statuses, reasons, cited links in order) on generated registries, default and --varied,
in both readings. One Spark session for the module; registries kept small so the test
stays within about a minute on a quiet 2-core machine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tos_policy.cli.main import main
from tos_policy.engines.compiled import module_for
from tos_policy.engines.wasm import WasmEngine
from tos_policy.facts.streaming import load_streaming
from tos_policy.ownership.fixpoint import StepCache, run_fixpoint
from tos_policy.ownership.pipeline import prepare, scope_graph
from tos_policy.policy.ruleset import RuleSet

pytestmark = pytest.mark.spark

pyspark = pytest.importorskip("pyspark", reason="the spark extra (pyspark) is not installed")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from tos_policy.ownership.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.mark.parametrize("extra", [(), ("--varied",)], ids=["default", "varied"])
def test_spark_plan_gives_the_row_plans_outcomes(
    spark: Any, rules: RuleSet, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    from tos_policy.ownership.spark import SparkGraph, run_spark_fixpoint

    registry = tmp_path / "registry.jsonl"
    done = CliRunner().invoke(main, ["synth", "--entities", "300", "--seed", "4", *extra, "-o", str(registry)])
    assert done.exit_code == 0, done.stderr
    # the pipeline's graph: reconciled links and the profile's link effects, as every plan gets them
    graph = scope_graph(prepare(load_streaming([registry]), rules, as_of=date(2025, 10, 1)))
    module = module_for(rules, build=False)
    assert module is not None
    engine = WasmEngine(rules, module)
    tables = SparkGraph(graph, spark)
    restricted = 0
    for reading in ("lower", "upper"):
        rows_cache, spark_cache = StepCache(), StepCache()
        expected = run_fixpoint(graph, engine, rows_cache, reading=reading, profile="terms_of_service")
        found = run_spark_fixpoint(
            graph, engine, spark_cache, reading=reading, profile="terms_of_service", tables=tables
        )
        assert found == expected
        assert (spark_cache.calls, spark_cache.hits) == (rows_cache.calls, rows_cache.hits)
        restricted += sum(outcome.restricted and bool(outcome.links) for outcome in found.values())
    assert restricted > 0  # restrictions travelled through links, so the SQL rounds ran


@pytest.mark.parametrize("profile", ["controlled", "regions_and_cycles"])
def test_spark_plan_reads_the_profile_switches_as_the_row_plan(spark: Any, rules: RuleSet, profile: str) -> None:
    from tos_policy import facts_from_document
    from tos_policy.ownership.pipeline import DEFAULT_DRIVER
    from tos_policy.ownership.spark import SparkFixpoint

    from .test_columnar import SWITCH_CASES, plan_readings, with_variants

    variants = with_variants(rules)
    module = module_for(variants, build=False)
    assert module is not None
    engine = WasmEngine(variants, module)
    # the pipeline's graph: reconciled links and the profile's link effects, as every plan gets them
    graph = scope_graph(prepare(facts_from_document(SWITCH_CASES), variants, as_of=date(2025, 10, 1), profile=profile))
    expected = plan_readings(DEFAULT_DRIVER, graph, engine, variants, profile)
    assert plan_readings(SparkFixpoint(), graph, engine, variants, profile) == expected
    assert any(outcome.restricted and outcome.links for outcome in expected[0][0].values())
