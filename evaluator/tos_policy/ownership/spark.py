"""The relational fixpoint plan (columnar.py) on Apache Spark, for graphs past one machine.

Same tables, same rounds, same step inputs, as Spark SQL over DataFrames: each round
joins the link table with the owners' state, numbers each asset's links in the
canonical order with window functions (a shuffle by asset), and builds each asset's
step input as canonical JSON. The rules run where the rows live: the executors complete
each row's step input (steps.complete_step, spark_rules.py), the round's distinct step
inputs not decided before are decided by the Wasm rules inside the executors' Python
workers, and the answers join back in Spark. The driver keeps the round loop and reads
only counts; at the end it collects the final outcomes once, because `screen` writes
its records from Python objects. docs/scaling.md gives the plan and its costs.

With an engine other than Wasm (no compiled rules for these rules), the plan says so on
stderr and decides on the driver, as before: the same answers, one machine's rule calls.

Optional: needs the `spark` extra (pyspark) and Java."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from tos_policy.engines import Engine
from tos_policy.engines.wasm import WasmEngine
from tos_policy.errors import EngineError, NonMonotoneRuleError
from tos_policy.limits import check_deadline
from tos_policy.ownership.columnar import DECIMALS, ColumnarGraph
from tos_policy.ownership.fixpoint import (
    OwnershipGraph,
    StepCache,
    StepOutcome,
    both_readings,
    chain_too_long,
    controller_tops,
    first_round_inputs,
)
from tos_policy.ownership.relational import ReadingQuery, Row, relational_fixpoint
from tos_policy.ownership.spark_rules import Shipped, cite_partition, complete_partition, decide_partition

_JSON_OPTIONS = "map('ignoreNullFields', 'false')"  # an unknown country is null, not absent

_ROUND_SQL = f"""
WITH dirty AS (
    SELECT DISTINCT l.asset FROM links l JOIN newly n ON l.owner = n.eid
),
held AS (
    SELECT l.* FROM links l
    JOIN dirty d ON l.asset = d.asset
    JOIN restricted r ON l.owner = r.eid
),
ordered AS (
    SELECT *,
        row_number() OVER (PARTITION BY asset ORDER BY kind, owner_type, mn, mx, mn_ex, mx_ex,
                           coalesce(jointly, ''), owner_id, path) - 1 AS pos,
        max(greatest(mn_dec, mx_dec)) OVER (PARTITION BY asset) AS digits
    FROM held
),
grouped AS (
    SELECT *, min(pos) OVER (PARTITION BY asset, group_key) AS first_pos FROM ordered
),
numbered AS (
    SELECT *, dense_rank() OVER (PARTITION BY asset ORDER BY first_pos) - 1 AS group_no,
        CAST(pow(10, {DECIMALS} - digits) AS BIGINT) AS divisor
    FROM grouped
),
items AS (
    SELECT asset, max(digits) AS digits,
        sort_array(collect_list(named_struct(
            'index', pos, 'kind', kind, 'owner_type', owner_type,
            'min', mn div divisor, 'min_exclusive', mn_ex,
            'max', mx div divisor, 'max_exclusive', mx_ex,
            'group', group_no))) AS link_rows,
        sort_array(collect_list(named_struct('pos', pos, 'lid', lid))) AS lid_rows
    FROM numbered GROUP BY asset
)
SELECT i.asset,
    to_json(named_struct(
        'entity', named_struct('headquarters', e.hq, 'jurisdiction', e.jur, 'type', e.type),
        'links', i.link_rows,
        'profile', :profile, 'reading', :reading,
        'scale', CAST(pow(10, i.digits) AS BIGINT)), {_JSON_OPTIONS}) AS step,
    transform(i.lid_rows, x -> x.lid) AS lids
FROM items i JOIN entities e ON e.eid = i.asset
"""


def spark_session(master: str | None = None) -> Any:
    """A Spark session for the plan: $TOS_POLICY_SPARK_MASTER, else local[2]; quiet, no UI."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master or os.environ.get("TOS_POLICY_SPARK_MASTER", "local[2]"))
        .appName("tos-policy")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkGraph:
    """The link and entity tables of columnar.ColumnarGraph, as Spark temporary views."""

    def __init__(self, graph: OwnershipGraph, spark: Any) -> None:
        columns = ColumnarGraph(graph, threads=1)
        try:
            self.graph, self.ids, self.links = graph, columns.ids, columns.links
            links = columns.db.sql("SELECT * FROM links ORDER BY lid").to_arrow_table()
            entities = columns.db.sql("SELECT * FROM entities ORDER BY eid").to_arrow_table()
        finally:
            columns.close()
        self.spark = spark
        spark.createDataFrame(links).createOrReplaceTempView("links")
        spark.createDataFrame(entities).createOrReplaceTempView("entities")

    def set_state(self, name: str, eids: list[int]) -> None:
        from pyspark.sql.types import LongType, StructField, StructType

        schema = StructType([StructField("eid", LongType(), False)])
        self.spark.createDataFrame([(eid,) for eid in eids], schema).createOrReplaceTempView(name)


class SparkFixpoint:
    """The pipeline's FixpointDriver for this plan, on `spark_session()`."""

    name = "spark"

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
    ) -> tuple[dict[str, StepOutcome], dict[str, StepOutcome]]:
        tables = SparkGraph(graph, spark_session())
        return both_readings(
            partial(
                run_spark_fixpoint,
                graph,
                engine,
                cache,
                profile=profile,
                batch_size=batch_size,
                max_rounds=max_rounds,
                tables=tables,
                attribute_controlled=attribute_controlled,
            )
        )


def run_spark_fixpoint(
    graph: OwnershipGraph,
    engine: Engine,
    cache: StepCache,
    *,
    reading: str,
    profile: str,
    batch_size: int = 256,
    max_rounds: int | None = None,
    tables: SparkGraph | None = None,
    attribute_controlled: bool = False,
    executors: ExecutorRuns | None = None,
) -> dict[str, StepOutcome]:
    """Every entity's status in one reading, by the relational plan on Spark: run_fixpoint's result.
    With the Wasm engine the rules run in the executors (`executors`, if given, records where);
    with another engine, on the driver."""
    table = tables or SparkGraph(graph, spark_session())
    query = ReadingQuery(reading, profile, batch_size, max_rounds, attribute_controlled)
    if isinstance(engine, WasmEngine):
        runs = executors if executors is not None else ExecutorRuns()
        return _in_executors(table, _shipped(table, engine.module, engine.data), cache, runs, query)
    print(
        f"tos-policy: the {engine.name} engine cannot run inside Spark's executors (no compiled Wasm rules "
        "for these rules): the Spark plan decides on the driver",
        file=sys.stderr,
    )

    def run_round(newly: list[int], every: list[int]) -> list[Row]:
        table.set_state("restricted", every)
        table.set_state("newly", newly)
        sql = _ROUND_SQL + "ORDER BY i.asset\n"
        return [
            (int(row["asset"]), str(row["step"]), list(row["lids"]))
            for row in table.spark.sql(sql, args={"profile": profile, "reading": reading}).collect()
        ]

    return relational_fixpoint(graph, table.ids, table.links, engine, cache, run_round, query)


@dataclass
class ExecutorRuns:
    """What the executors did for one run: rule calls (one per distinct step input decided)
    and the (process id, partition) of every task that decided step inputs."""

    calls: int = 0
    workers: set[tuple[int, int]] = field(default_factory=set)


def _shipped(table: SparkGraph, module: bytes, data: bytes) -> Any:
    from tos_policy.resources import schemas_dir

    schema = (schemas_dir() / "step-result.schema.json").read_bytes()
    shipped = Shipped(module, data, schema, table.graph, table.ids, table.links)
    return table.spark.sparkContext.broadcast(shipped)


_ROWS = "asset long, step string, lids array<long>"
_ANSWERS = "step string, restricted boolean, whole boolean, reasons string, pid long"


def _in_executors(
    table: SparkGraph, shipped: Any, cache: StepCache, runs: ExecutorRuns, query: ReadingQuery
) -> dict[str, StepOutcome]:
    """relational_fixpoint's loop with the state in Spark: rows, answers and outcomes stay in
    DataFrames; the driver reads counts (and, under attribution by controlling party, the
    owners each restricted entity's reasons cite, from which it finds the tops of control)."""
    with _job_failures():
        reading, max_rounds = query.reading, query.max_rounds
        loop = _ExecutorLoop(table, shipped, cache, reading=reading, profile=query.profile, batch_size=query.batch_size)
        rounds = 1
        tops: dict[str, frozenset[str]] = {}
        cited: dict[str, set[str]] = {}
        count = loop.every.count()
        while True:
            if query.attribute_controlled:
                now = controller_tops({}, cited)
                if now != tops:  # as run_fixpoint: a change of control re-decides every held asset
                    loop.newly, count, tops = loop.every, loop.every.count(), now
            if not count:
                break
            rows = loop.rows(tops)
            size = rows.count()
            if not size:
                break
            rounds += 1
            if max_rounds is not None and rounds > max_rounds:
                raise chain_too_long(table.graph.entities[table.ids[_least(rows) or 0]], max_rounds, reading)
            check_deadline(cache.deadline, cache.max_seconds)
            count = loop.advance(rows, size)
            if query.attribute_controlled:
                for eid, owners in loop.cited():
                    cited.setdefault(table.ids[eid], set()).update(owners)
        outcomes = loop.outcomes()
        runs.calls += loop.calls.value
        runs.workers |= loop.workers.value
        cache.calls += loop.calls.value
        return outcomes


class _ExecutorLoop:
    """The Spark-side state of one reading: the answers so far (by step input), the restricted
    entities (`every`, `newly`), round one's outcomes by key and later rounds' outcomes. Each
    round's rows, answers and outcomes are checkpointed once (computed once, short plans);
    the growing sets are unions of those pieces."""

    def __init__(
        self, table: SparkGraph, shipped: Any, cache: StepCache, *, reading: str, profile: str, batch_size: int
    ) -> None:
        spark = self.spark = table.spark
        self.table, self.shipped, self.cache, self.batch_size = table, shipped, cache, batch_size
        self.args = {"profile": profile, "reading": reading}
        context = spark.sparkContext
        self.calls, self.workers = context.accumulator(0), context.accumulator(set(), _SetParam())
        # Round one, as _first_round: one input per distinct key of an entity's own facts.
        ids = table.ids
        keys, firsts, inputs = first_round_inputs(table.graph, reading=reading, profile=profile)
        number = {key: position for position, key in enumerate(firsts)}
        steps = spark.createDataFrame(
            [(number[key], _canonical(step.payload)) for key, step in zip(firsts, inputs, strict=True)],
            "kid long, step string",
        )
        self.members = spark.createDataFrame(
            [(eid, number[keys[ids[eid]]]) for eid in range(len(ids))], "eid long, kid long"
        )
        self.answers = self.decide(steps.select("step").distinct())
        self.first = steps.join(self.answers, "step").select("kid", "restricted", "whole", "reasons").localCheckpoint()
        self.every = self.members.join(self.first.filter("restricted"), "kid").select("eid")
        self.newly = self.every
        self.rounds: list[Any] = []  # each later round's outcomes (asset, restricted, reasons, lids, was)

    def decide(self, steps: Any) -> Any:
        """The answers to a DataFrame of distinct step inputs, decided in the executors."""
        task = partial(decide_partition, self.shipped, self.batch_size, self.calls, self.workers)
        return self.spark.createDataFrame(steps.rdd.mapPartitions(task), _ANSWERS).localCheckpoint()

    def rows(self, tops: dict[str, frozenset[str]]) -> Any:
        """The round's rows (asset, completed step input, lids), completed in the executors."""
        self.every.createOrReplaceTempView("restricted")
        self.newly.createOrReplaceTempView("newly")
        plan = self.spark.sql(_ROUND_SQL, args=self.args)
        task = partial(complete_partition, self.shipped, tops)
        return self.spark.createDataFrame(plan.rdd.mapPartitions(task), _ROWS).localCheckpoint()

    def advance(self, rows: Any, size: int) -> int:
        """Decide the round's new step inputs, join the answers back, check monotonicity and
        record outcomes; how many entities turned restricted."""
        from pyspark.sql import functions as F

        decided = self.decide(rows.select("step").distinct().join(self.answers, "step", "left_anti"))
        self.cache.hits += size - decided.count()
        self.answers = self.answers.unionByName(decided)
        before = self.every.select(F.col("eid").alias("asset"), F.lit(True).alias("was"))
        joined = (
            rows.join(self.answers, "step")
            .join(before, "asset", "left")
            .select("asset", "restricted", "reasons", "lids", "was")
            .localCheckpoint()
        )
        turned = F.col("restricted") & F.col("was").isNull()
        back, count = joined.agg(
            F.min(F.when(~F.col("restricted") & F.col("was").isNotNull(), F.col("asset"))),
            F.count(F.when(turned, 1)),
        ).first()
        if back is not None:
            raise NonMonotoneRuleError(
                f"the rules turned {self.table.ids[back]!r} from restricted back to unrestricted when more of its "
                "owners became restricted; the ownership step must be monotone"
            )
        self.rounds.append(joined)
        self.newly = joined.filter(turned).select(F.col("asset").alias("eid"))
        self.every = self.every.unionByName(self.newly)
        return int(count)

    def cited(self) -> list[tuple[int, list[str]]]:
        """The owners cited by the reasons of the round's restricted entities (controller_tops' relation)."""
        restricted = self.rounds[-1].filter("restricted").select("asset", "reasons", "lids")
        found: list[tuple[int, list[str]]] = restricted.rdd.mapPartitions(
            partial(cite_partition, self.shipped)
        ).collect()
        return found

    def outcomes(self) -> dict[str, StepOutcome]:
        """The final outcomes, collected once: round one's by key, then later rounds'."""
        ids, links = self.table.ids, self.table.links
        shared = {
            int(row["kid"]): StepOutcome(row["restricted"], tuple(orjson.loads(row["reasons"])), (), row["whole"])
            for row in self.first.collect()
        }
        outcomes = {ids[eid]: shared[kid] for eid, kid in sorted(self.members.collect())}
        for row in (row for joined in self.rounds for row in joined.collect()):  # a later round's outcome stands
            outcomes[ids[row["asset"]]] = StepOutcome(
                row["restricted"], tuple(orjson.loads(row["reasons"])), tuple(links[i] for i in row["lids"])
            )
        return outcomes


def _least(rows: Any) -> int | None:
    """The least asset of a DataFrame of rows (the entity an error names, as the row plan's order gives)."""
    from pyspark.sql import functions as F

    found = rows.agg(F.min("asset")).first()[0]
    return None if found is None else int(found)


def _canonical(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()


class _SetParam:
    """An accumulator of sets (the executors' (pid, partition) pairs)."""

    def zero(self, value: set[tuple[int, int]]) -> set[tuple[int, int]]:
        return set()

    def addInPlace(self, left: set[tuple[int, int]], right: set[tuple[int, int]]) -> set[tuple[int, int]]:
        left |= right
        return left


@contextlib.contextmanager
def _job_failures() -> Iterator[None]:
    """A failed Spark job (an engine error in an executor, a worker lost) is engine trouble,
    never a partial answer; the driver's own errors (limits, monotonicity) pass as they are."""
    try:
        yield
    except Exception as exc:
        if type(exc).__module__.startswith(("pyspark", "py4j")):
            raise EngineError(f"spark: the plan's job failed: {_cause(exc)}") from None
        raise


def _cause(exc: BaseException) -> str:
    """The executor's own error line when there is one (EngineError: ...), else the first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in reversed(lines):
        if "EngineError:" in line:
            return line.split("EngineError:", 1)[1].strip()[:300]
    return (lines[0] if lines else type(exc).__name__)[:300]
