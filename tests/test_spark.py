"""The relational fixpoint plan on Spark (local[2]) gives exactly the row plan's outcomes
(statuses, reasons, cited links in order) on generated registries, default and --varied,
in both readings, with the Wasm rules deciding inside the executors' Python workers (the
driver's engine is never called); `screen --plan spark` writes the embedded row plan's
bytes; an engine failure in an executor is engine trouble (exit 3) with no output.
One Spark session for the module; registries kept small so the tests stay within about
a minute on a quiet 2-core machine."""

from __future__ import annotations

import os
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


class DriverWasm(WasmEngine):
    """The Wasm engine, counting the decisions asked of it on the driver."""

    driver_calls = 0

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        self.driver_calls += len(batch["items"])
        return super().decide(batch)


def synth(tmp_path: Path, *extra: str, entities: int = 300) -> Path:
    registry = tmp_path / "registry.jsonl"
    done = CliRunner().invoke(main, ["synth", "--entities", str(entities), "--seed", "4", *extra, "-o", str(registry)])
    assert done.exit_code == 0, done.stderr
    return registry


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from tos_policy.ownership.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


def test_spark_plan_decides_in_the_executors_as_the_row_plan(spark: Any, rules: RuleSet, tmp_path: Path) -> None:
    from tos_policy.ownership.spark import ExecutorRuns, SparkGraph, run_spark_fixpoint

    registry = synth(tmp_path, "--varied", entities=200)  # most step inputs distinct: many rule calls
    # the pipeline's graph: reconciled links and the profile's link effects, as every plan gets them
    graph = scope_graph(prepare(load_streaming([registry]), rules, as_of=date(2025, 10, 1)))
    module = module_for(rules, build=False)
    assert module is not None
    engine = DriverWasm(rules, module)
    rows_cache, spark_cache = StepCache(), StepCache()
    # the upper reading: where restrictions travel furthest (screen's test below takes both)
    expected = run_fixpoint(graph, engine, rows_cache, reading="upper", profile="terms_of_service")
    asked = engine.driver_calls
    runs = ExecutorRuns()
    found = run_spark_fixpoint(
        graph,
        engine,
        spark_cache,
        reading="upper",
        profile="terms_of_service",
        tables=SparkGraph(graph, spark),
        executors=runs,
    )
    assert found == expected
    assert list(found) == list(expected)  # the graph's order, as the records are written
    assert sum(outcome.restricted and bool(outcome.links) for outcome in found.values()) > 0  # the rounds ran
    assert engine.driver_calls == asked  # not one decision on the driver
    # one rule call per distinct step input, as the row plan's cache gives
    assert (spark_cache.calls, spark_cache.hits) == (rows_cache.calls, rows_cache.hits) == (runs.calls, rows_cache.hits)
    # the rules ran in Spark's Python workers, not in this (the driver's) process
    assert runs.workers and all(pid != os.getpid() for pid, _ in runs.workers)


@pytest.mark.parametrize("extra", [(), ("--varied",)], ids=["default", "varied"])
def test_screen_with_the_spark_plan_writes_the_embedded_row_plans_bytes(
    spark: Any, tmp_path: Path, extra: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tos_policy.ownership import spark as plan

    runs: list[Any] = []
    made = plan.ExecutorRuns

    def recorded() -> Any:
        runs.append(made())
        return runs[-1]

    monkeypatch.setattr(plan, "ExecutorRuns", recorded)
    registry = synth(tmp_path, *extra, entities=150)
    outputs = {}
    for name, engine in (("rows", "embedded"), ("spark", "wasm")):
        out = tmp_path / f"{name}.jsonl"
        done = CliRunner().invoke(
            main,
            ["screen", str(registry), "--as-of", "2025-10-01", "--engine", engine, "--plan", name, "--out", str(out)],
        )
        assert done.exit_code == 0, done.stderr
        outputs[name] = out.read_bytes()
    assert outputs["spark"] == outputs["rows"]
    assert b'"deny"' in outputs["rows"]
    # both readings decided in the executors' workers
    assert len(runs) == 2 and all(run.calls and run.workers for run in runs)
    assert all(pid != os.getpid() for run in runs for pid, _ in run.workers)


def test_an_engine_failure_in_an_executor_fails_the_screen_with_exit_3(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tos_policy.ownership import spark as plan

    shipped = plan._shipped

    def corrupt(table: Any, module: bytes, data: bytes) -> Any:
        # the driver's engine is sound; the module the executors are shipped is not
        return shipped(table, module[: len(module) // 2], data)

    monkeypatch.setattr(plan, "_shipped", corrupt)
    registry = synth(tmp_path, entities=50)
    out = tmp_path / "decisions.jsonl"
    done = CliRunner().invoke(
        main,
        ["screen", str(registry), "--as-of", "2025-10-01", "--engine", "wasm", "--plan", "spark", "--out", str(out)],
    )
    assert done.exit_code == 3, done.stderr
    assert "the compiled rules cannot be loaded" in done.stderr
    assert done.stdout == ""
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [registry]  # no partial output beside it either


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
