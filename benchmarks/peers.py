"""Peers of `tos-policy screen` for benchmarks/screen_table.py: the same terms-of-service
decisions computed without Rego, reasons or validation, to show what the evaluator's
machinery costs. Benchmarks only: they hard-code the shipped profile, which the evaluator
never does (policy meaning lives in rules/).

    python benchmarks/peers.py io|python|duckdb REGISTRY.jsonl OUT.jsonl [--as-of DATE]

io      the I/O floor: parse every line with orjson, write one output line per entity
python  plain-Python worklist fixpoint on orjson-parsed records, exact Decimal shares
duckdb  iterative SQL fixpoint in DuckDB straight from the JSON Lines file, DECIMAL shares

Each writes {"entity": ID, "decision": "allow"|"deny"|"review"} per line in input order
(io writes "allow" for every entity)."""

from __future__ import annotations

import argparse
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

RESTRICTED = ("CN", "RU", "KP", "IR")
RESTRICTS = ("consolidation", "voting_majority", "branch")
REVIEW = ("board_appointment", "significant_influence", "other_control")
THRESHOLD = Decimal(50)


def _records(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    entities, links = [], []
    with path.open("rb") as handle:
        for line in handle:
            record = orjson.loads(line)
            (links if "owner" in record else entities).append(record)
    return entities, links


def _write(out: Path, entities: list[dict[str, Any]], decision: Any) -> None:
    with out.open("wb") as target:
        lines = []
        for entity in entities:
            lines.append(orjson.dumps({"entity": entity["id"], "decision": decision(entity["id"])}))
            if len(lines) >= 10_000:
                target.write(b"\n".join(lines) + b"\n")
                lines.clear()
        if lines:
            target.write(b"\n".join(lines) + b"\n")


def io_floor(path: Path, out: Path, as_of: str) -> None:
    entities, _ = _records(path)
    _write(out, entities, lambda _id: "allow")


def _active(link: dict[str, Any], as_of: str) -> bool:
    start, end = link.get("start_date"), link.get("end_date")
    return (start is None or start <= as_of) and (end is None or as_of < end)


def _is_org(kind: str, upper: bool) -> bool:
    return kind != "person" and (upper or kind != "unknown")


def _reading(entities: dict[str, dict[str, Any]], links: list[dict[str, Any]], upper: bool) -> set[str]:
    outgoing: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for link in links:
        outgoing[link["owner"]].append(link)
    restricted: set[str] = set()
    work: list[str] = []
    for entity in entities.values():
        if not _is_org(entity["type"], upper):
            continue
        countries = (entity.get("headquarters"), entity.get("jurisdiction"))
        if any(country in RESTRICTED or (upper and country is None) for country in countries):
            restricted.add(entity["id"])
            work.append(entity["id"])
    held: dict[str, list[dict[str, Any]]] = defaultdict(list)
    while work:
        owner = work.pop()
        for link in outgoing.get(owner, ()):
            asset = link["asset"]
            if asset in restricted or not _is_org(entities[asset]["type"], upper):
                continue
            held[asset].append(link)
            if _restricts(held[asset], upper):
                restricted.add(asset)
                work.append(asset)
    return restricted


def _restricts(links: list[dict[str, Any]], upper: bool) -> bool:
    total = Decimal(0)
    exclusive = False
    for link in links:
        kind = link.get("kind", "shareholding")
        if kind in RESTRICTS or (upper and kind in REVIEW):
            return True
        if kind == "shareholding":
            low = link.get("percentage", link.get("percentage_min"))
            high = link.get("percentage", link.get("percentage_max"))
            total += Decimal(str(high if upper else low))
            exclusive = exclusive or (upper and bool(link.get("max_exclusive")))
    if upper:
        return total > THRESHOLD or (total == THRESHOLD and not exclusive)
    return total >= THRESHOLD


def python_peer(path: Path, out: Path, as_of: str) -> None:
    entity_list, all_links = _records(path)
    entities = {entity["id"]: entity for entity in entity_list}
    links = [link for link in all_links if _active(link, as_of)]
    lower, upper = _reading(entities, links, False), _reading(entities, links, True)
    _write(out, entity_list, lambda id_: "deny" if id_ in lower else "review" if id_ in upper else "allow")


DUCKDB_READING = """
CREATE OR REPLACE TEMP TABLE r AS
SELECT pos FROM e WHERE {org} AND (hq IN {restricted} OR jur IN {restricted} {unknown});
"""
DUCKDB_ROUND = """
INSERT INTO r
SELECT l.asset FROM l JOIN r ON l.owner = r.pos JOIN e ON e.pos = l.asset
WHERE {org} AND l.asset NOT IN (SELECT pos FROM r)
GROUP BY l.asset
HAVING bool_or(l.kind IN {restricts}) OR {total}
"""


def duckdb_peer(path: Path, out: Path, as_of: str) -> None:
    import duckdb

    db = duckdb.connect(config={"threads": 2})
    db.execute(
        f"""CREATE TABLE raw AS SELECT row_number() OVER () AS line, * FROM read_json('{path}',
            format='newline_delimited', columns={{id: 'VARCHAR', type: 'VARCHAR', headquarters: 'VARCHAR',
            jurisdiction: 'VARCHAR', owner: 'VARCHAR', asset: 'VARCHAR', kind: 'VARCHAR',
            percentage: 'DECIMAL(38,12)', percentage_min: 'DECIMAL(38,12)', percentage_max: 'DECIMAL(38,12)',
            max_exclusive: 'BOOLEAN', start_date: 'DATE', end_date: 'DATE'}})"""
    )
    db.execute(
        "CREATE TABLE e AS SELECT row_number() OVER (ORDER BY line) AS pos, id, type, headquarters AS hq, "
        "jurisdiction AS jur FROM raw WHERE id IS NOT NULL"
    )
    db.execute(
        "CREATE TABLE l AS SELECT o.pos AS owner, a.pos AS asset, coalesce(kind, 'shareholding') AS kind, "
        "coalesce(percentage, percentage_min) AS mn, coalesce(percentage, percentage_max) AS mx, "
        "coalesce(max_exclusive, false) AS mx_ex FROM raw JOIN e o ON o.id = raw.owner JOIN e a ON a.id = raw.asset "
        f"WHERE raw.owner IS NOT NULL AND (start_date IS NULL OR start_date <= DATE '{as_of}') "
        f"AND (end_date IS NULL OR DATE '{as_of}' < end_date)"
    )
    restricted = "(" + ", ".join(f"'{code}'" for code in RESTRICTED) + ")"
    for name, upper in (("lower", False), ("upper", True)):
        org = "e.type <> 'person'" + ("" if upper else " AND e.type <> 'unknown'")
        unknown = "OR hq IS NULL OR jur IS NULL" if upper else ""
        kinds = RESTRICTS + REVIEW if upper else RESTRICTS
        total = (
            "(sum(l.mx) FILTER (l.kind = 'shareholding') > 50 OR (sum(l.mx) FILTER (l.kind = 'shareholding') = 50 "
            "AND NOT bool_or(l.mx_ex) FILTER (l.kind = 'shareholding')))"
            if upper
            else "sum(l.mn) FILTER (l.kind = 'shareholding') >= 50"
        )
        db.execute(DUCKDB_READING.format(org=org, restricted=restricted, unknown=unknown))
        round_sql = DUCKDB_ROUND.format(org=org, restricts="(" + ", ".join(f"'{k}'" for k in kinds) + ")", total=total)
        while db.execute(round_sql).fetchone()[0]:  # type: ignore[index]
            pass
        db.execute(f"CREATE TABLE {name} AS SELECT pos FROM r")
    db.execute(
        f"""COPY (SELECT id AS entity, CASE WHEN pos IN (SELECT pos FROM lower) THEN 'deny'
            WHEN pos IN (SELECT pos FROM upper) THEN 'review' ELSE 'allow' END AS decision
            FROM e ORDER BY pos) TO '{out}' (FORMAT json)"""
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=["io", "python", "duckdb"])
    parser.add_argument("registry", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--as-of", default="2025-10-01")
    args = parser.parse_args()
    {"io": io_floor, "python": python_peer, "duckdb": duckdb_peer}[args.peer](args.registry, args.out, args.as_of)


if __name__ == "__main__":
    main()
