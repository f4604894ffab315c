"""The relational fixpoint plan (columnar.py) on Apache Spark, for graphs past one machine.

Same tables, same rounds, same step inputs, as Spark SQL over DataFrames: each
round joins the link table with the owners' state, numbers each asset's links in
the canonical order with window functions (a shuffle by asset), and builds each
asset's step input as canonical JSON. What differs is where the rules run: here the
distinct step inputs of a round not decided before are collected to the driver and
decided there by the Wasm engine (a few thousand per round on the synthetic
registries), and the round's rows come back to the driver to record outcomes. That
keeps one decision per distinct input and the exact same answers; docs/scaling.md
says what a cluster deployment changes (rules in executors, outcomes kept in Spark).

Optional: needs the `spark` extra (pyspark) and Java."""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from tos_policy.engines import Engine
from tos_policy.ownership.columnar import DECIMALS, ColumnarGraph
from tos_policy.ownership.fixpoint import OwnershipGraph, StepCache, StepOutcome, both_readings
from tos_policy.ownership.relational import Row, relational_fixpoint

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
ORDER BY i.asset
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
) -> dict[str, StepOutcome]:
    """Every entity's status in one reading, by the relational plan on Spark: run_fixpoint's result."""
    table = tables or SparkGraph(graph, spark_session())

    def run_round(newly: list[int], every: list[int]) -> list[Row]:
        table.set_state("restricted", every)
        table.set_state("newly", newly)
        return [
            (int(row["asset"]), str(row["step"]), list(row["lids"]))
            for row in table.spark.sql(_ROUND_SQL, args={"profile": profile, "reading": reading}).collect()
        ]

    return relational_fixpoint(
        graph,
        table.ids,
        table.links,
        engine,
        cache,
        run_round,
        reading=reading,
        profile=profile,
        batch_size=batch_size,
        max_rounds=max_rounds,
        attribute_controlled=attribute_controlled,
    )
