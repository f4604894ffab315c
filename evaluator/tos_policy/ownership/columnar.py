"""The ownership fixpoint as a relational plan, run by DuckDB (embedded).

The same fixpoint as fixpoint.run_fixpoint, with the same answers: only the
bookkeeping moves from Python objects to columns. Links and entities become two
tables; each round is

1. the links held by restricted owners in the assets a newly restricted owner
   holds (a join of the link table with the owners' current state),
2. grouped by asset into step inputs, built in SQL exactly as steps.py builds
   them (links in the canonical order, percentages in integer units of the
   smallest common scale, from exact DECIMAL(38,12): the facts allow at most 12
   decimal places), then completed by steps.complete_step with what the row plan
   adds (groups by owner, tag or controlling party; disclosure, remainder and
   subdivisions), so no plan can give the rule another input,
3. decided by the rules once per distinct step input not decided before (the
   step input's canonical JSON is its key),
4. joined back: the assets that turn restricted are the next round's owners.

Everything policy is still decided by the rules; SQL only moves facts around.
The result is the same dict of StepOutcome as run_fixpoint gives, so decisions,
reasons and paths downstream are unchanged."""

from __future__ import annotations

from functools import partial

import duckdb
import pyarrow as pa

from tos_policy.engines import Engine
from tos_policy.ownership.fixpoint import OwnershipGraph, StepCache, StepOutcome, both_readings
from tos_policy.ownership.relational import ReadingQuery, Row, relational_fixpoint

DECIMALS = 12  # the facts loader refuses percentages with more decimal places
_UNIT = 10**DECIMALS


def _decimals_sql(column: str) -> str:
    """The number of decimal places `column` (a HUGEINT of 10^-12 units) needs, in SQL."""
    cases = " ".join(f"WHEN {column} % {10 ** (DECIMALS - d)} = 0 THEN {d}" for d in range(DECIMALS))
    return f"(CASE {cases} ELSE {DECIMALS} END)"


class ColumnarGraph:
    """The graph's links and entities as DuckDB tables (one connection, in memory)."""

    def __init__(self, graph: OwnershipGraph, threads: int = 2) -> None:
        self.graph = graph
        self.ids = list(graph.entities)
        index = {entity_id: position for position, entity_id in enumerate(self.ids)}
        entities = graph.entities
        self.links = [link for owned in graph.outgoing.values() for link in owned]
        owners, assets, kinds, owner_types, mins, maxs, min_ex, max_ex, jointly, owner_ids, paths = (
            [] for _ in range(11)
        )
        for link in self.links:
            share = link.share
            owners.append(index[link.owner])
            assets.append(index[link.asset])
            kinds.append(link.kind)
            owner_types.append(entities[link.owner].type)
            mins.append(int(share.min.scaleb(DECIMALS)))
            maxs.append(int(share.max.scaleb(DECIMALS)))
            min_ex.append(share.min_exclusive)
            max_ex.append(share.max_exclusive)
            jointly.append(link.acting_jointly)
            owner_ids.append(link.owner)
            paths.append(link.path)
        table = pa.table(
            {
                "lid": pa.array(range(len(self.links)), pa.int64()),
                "owner": pa.array(owners, pa.int64()),
                "asset": pa.array(assets, pa.int64()),
                "kind": pa.array(kinds, pa.string()),
                "owner_type": pa.array(owner_types, pa.string()),
                # Exact: integer units of 10^-12 points (a percentage fits in 17 digits).
                "mn": pa.array(mins, pa.int64()),
                "mx": pa.array(maxs, pa.int64()),
                "mn_ex": pa.array(min_ex, pa.bool_()),
                "mx_ex": pa.array(max_ex, pa.bool_()),
                "jointly": pa.array(jointly, pa.string()),
                "owner_id": pa.array(owner_ids, pa.string()),
                "path": pa.array(paths, pa.string()),
            }
        )
        self.db = duckdb.connect(":memory:", config={"threads": threads})
        self.db.register("links_arrow", table)
        self.db.execute(
            "CREATE TABLE links AS SELECT *, coalesce(jointly, 'owner:' || owner_id) AS group_key, "
            f"{_decimals_sql('mn')} AS mn_dec, {_decimals_sql('mx')} AS mx_dec FROM links_arrow"
        )
        self.db.unregister("links_arrow")
        entity_table = pa.table(
            {
                "eid": pa.array(range(len(self.ids)), pa.int64()),
                "type": pa.array([entities[entity_id].type for entity_id in self.ids], pa.string()),
                "hq": pa.array([entities[entity_id].headquarters for entity_id in self.ids], pa.string()),
                "jur": pa.array([entities[entity_id].jurisdiction for entity_id in self.ids], pa.string()),
            }
        )
        self.db.register("entities_arrow", entity_table)
        self.db.execute("CREATE TABLE entities AS SELECT * FROM entities_arrow")
        self.db.unregister("entities_arrow")

    def close(self) -> None:
        self.db.close()


# One round: the step inputs of the assets newly restricted owners hold, as
# (asset, canonical JSON, link ids in the rule's order). Parameters: profile, reading.
_ROUND_SQL = """
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
        row_number() OVER w - 1 AS pos,
        max(greatest(mn_dec, mx_dec)) OVER (PARTITION BY asset) AS digits
    FROM held
    WINDOW w AS (PARTITION BY asset ORDER BY kind, owner_type, mn, mx, mn_ex, mx_ex,
                 coalesce(jointly, ''), owner_id, path)
),
grouped AS (
    SELECT *, min(pos) OVER (PARTITION BY asset, group_key) AS first_pos FROM ordered
),
numbered AS (
    SELECT *, dense_rank() OVER (PARTITION BY asset ORDER BY first_pos) - 1 AS group_no FROM grouped
),
items AS (
    SELECT asset, any_value(digits) AS digits,
        list(json_object(
            'index', pos, 'kind', kind, 'owner_type', owner_type,
            'min', mn // CAST(pow(10, 12 - digits) AS BIGINT), 'min_exclusive', mn_ex,
            'max', mx // CAST(pow(10, 12 - digits) AS BIGINT), 'max_exclusive', mx_ex,
            'group', group_no) ORDER BY pos) AS link_json,
        list(lid ORDER BY pos) AS lids
    FROM numbered GROUP BY asset
)
SELECT i.asset,
    json_object(
        'entity', json_object('headquarters', e.hq, 'jurisdiction', e.jur, 'type', e.type),
        'links', i.link_json,
        'profile', $profile, 'reading', $reading,
        'scale', CAST(pow(10, i.digits) AS BIGINT))::VARCHAR AS step,
    i.lids
FROM items i JOIN entities e ON e.eid = i.asset
ORDER BY i.asset
"""


class ColumnarFixpoint:
    """The pipeline's FixpointDriver for this plan: both readings over one set of tables."""

    name = "columnar"

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
        columns = ColumnarGraph(graph)
        try:
            return both_readings(
                partial(
                    run_columnar_fixpoint,
                    graph,
                    engine,
                    cache,
                    profile=profile,
                    batch_size=batch_size,
                    max_rounds=max_rounds,
                    columns=columns,
                    attribute_controlled=attribute_controlled,
                )
            )
        finally:
            columns.close()


def run_columnar_fixpoint(
    graph: OwnershipGraph,
    engine: Engine,
    cache: StepCache,
    *,
    reading: str,
    profile: str,
    batch_size: int = 256,
    max_rounds: int | None = None,
    columns: ColumnarGraph | None = None,
    attribute_controlled: bool = False,
) -> dict[str, StepOutcome]:
    """Every entity's status in one reading: fixpoint.run_fixpoint's result, by the relational plan
    (with `attribute_controlled`, holdings grouped by controlling party as run_fixpoint groups them)."""
    own = columns is None
    table = columns or ColumnarGraph(graph)
    try:
        return _run(table, engine, cache, ReadingQuery(reading, profile, batch_size, max_rounds, attribute_controlled))
    finally:
        if own:
            table.close()


def _run(table: ColumnarGraph, engine: Engine, cache: StepCache, query: ReadingQuery) -> dict[str, StepOutcome]:
    db = table.db
    db.execute("CREATE OR REPLACE TEMP TABLE restricted (eid BIGINT PRIMARY KEY)")
    db.execute("CREATE OR REPLACE TEMP TABLE newly (eid BIGINT)")
    stored = 0  # how many of the restricted owners (a list that only grows) the table holds

    def run_round(newly: list[int], every: list[int]) -> list[Row]:
        nonlocal stored
        _insert(db, "restricted", every[stored:])
        stored = len(every)
        db.execute("DELETE FROM newly")
        _insert(db, "newly", newly)
        return [
            (int(eid), str(step), list(lids))
            for eid, step, lids in db.execute(
                _ROUND_SQL, {"profile": query.profile, "reading": query.reading}
            ).fetchall()
        ]

    return relational_fixpoint(table.graph, table.ids, table.links, engine, cache, run_round, query)


def _insert(db: duckdb.DuckDBPyConnection, name: str, eids: list[int]) -> None:
    if not eids:
        return
    db.register("eids_arrow", pa.table({"eid": pa.array(eids, pa.int64())}))
    db.execute(f"INSERT INTO {name} SELECT eid FROM eids_arrow")  # the name is one of this module's tables
    db.unregister("eids_arrow")
