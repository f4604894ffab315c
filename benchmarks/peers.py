"""Peers of `tos-policy screen` for benchmarks/screen_table.py: the same terms-of-service
decisions computed without Rego, reasons or validation, to show what the evaluator's
machinery costs. Benchmarks only: they hard-code the shipped profile, which the evaluator
never does (policy meaning lives in rules/).

    python benchmarks/peers.py io|python|duckdb REGISTRY.jsonl OUT.jsonl [--as-of DATE]

io      the I/O floor: parse every line with orjson, write one output line per entity
python  plain-Python worklist fixpoint on orjson-parsed records, exact Decimal shares
duckdb  iterative SQL fixpoint in DuckDB straight from the JSON Lines file, DECIMAL shares

Each writes {"entity": ID, "decision": "allow"|"deny"|"review"} per line in input order
(io writes "allow" for every entity).

The peers apply what the shipped rules decide on generated registries: restricted and
review places, stakes summed against the threshold (ranges capped by the other holders'
known stakes), control and branch links, undisclosed remainders, facts that do not add
up, and the greatest fixpoint for self-supporting cycles in the upper reading.
benchmarks/screen_table.py stops if their counts differ from screen's."""

from __future__ import annotations

import argparse
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import orjson

RESTRICTED = ("CN", "RU", "KP", "IR")
# Review in the upper reading: places the regions list reviews, and Ukraine with no subdivision given
# (some of its subdivisions are listed). The generated registries give no subdivisions.
REVIEW_PLACES = ("HK", "MO", "UA")
STAKES = ("shareholding", "nominee")
RESTRICTS = ("consolidation", "voting_majority", "branch")  # branch: the head office's own restriction
NOT_REVIEW = (*STAKES, *RESTRICTS)  # any other kind, named or not, is review in the upper reading
COMPLETE = ("full", "branch")
THRESHOLD = Decimal(50)
HUNDRED = Decimal(100)


def _records(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    entities: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
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


class Stake(NamedTuple):
    owner: str
    kind: str
    low: Decimal
    high: Decimal
    low_exclusive: bool
    high_exclusive: bool


class Held(NamedTuple):
    """What an asset's facts say whoever holds it: the stakes' lows summed (the rest of 100% is
    undisclosed unless the disclosure is complete) and the flags of facts that do not add up."""

    known_min: Decimal
    known_min_exclusive: bool
    complete: bool
    over_100: bool  # stakes that add up to more than the whole prove nothing (lower reading)
    flagged: bool  # facts that do not add up: review (upper reading)


def _stakes(links: list[dict[str, Any]]) -> dict[str, list[Stake]]:
    """Links by asset; stakes capped by what the asset's other holders hold at least."""
    by_asset: dict[str, list[Stake]] = defaultdict(list)
    for link in links:
        exact = link.get("percentage")
        low = Decimal(str(exact if exact is not None else link.get("percentage_min", 0)))
        high = Decimal(str(exact if exact is not None else link.get("percentage_max", 100)))
        by_asset[link["asset"]].append(
            Stake(
                link["owner"],
                link.get("kind", "shareholding"),
                low,
                high,
                bool(link.get("min_exclusive")),
                bool(link.get("max_exclusive")),
            )
        )
    for asset, held in by_asset.items():
        stakes = [stake for stake in held if stake.kind in STAKES]
        total = sum((stake.low for stake in stakes), Decimal(0))
        if len(stakes) < 2 or total > HUNDRED:
            continue
        by_asset[asset] = [_capped(stake, stakes, total) if stake.kind in STAKES else stake for stake in held]
    return by_asset


def _capped(stake: Stake, stakes: list[Stake], total: Decimal) -> Stake:
    cap = HUNDRED - (total - stake.low)
    strictly = any(other.low_exclusive for other in stakes if other is not stake)
    if not (cap < stake.high or (cap == stake.high and strictly)):
        return stake
    empty = stake.low > cap or (stake.low == cap and (stake.low_exclusive or strictly))
    return stake if empty else stake._replace(high=cap, high_exclusive=strictly)


def _held(entity: dict[str, Any], held: list[Stake], types: dict[str, str]) -> Held:
    stakes = [stake for stake in held if stake.kind in STAKES]
    total = sum((stake.low for stake in stakes), Decimal(0))
    exact = [stake.low for stake in stakes if stake.low == stake.high and not stake.low_exclusive]
    ratios = (
        total == 1 and len(exact) == len(stakes) and any(value % 1 for value in exact) and all(v <= 1 for v in exact)
    )
    person_owned = entity["type"] == "person" and any(types[stake.owner] != "person" for stake in held)
    branch = any(stake.kind == "branch" for stake in held)
    stated = entity.get("disclosure") or ()
    terms = (stated,) if isinstance(stated, str) else stated
    return Held(
        total,
        any(stake.low_exclusive for stake in stakes),
        branch or any(term in COMPLETE for term in terms),
        total > HUNDRED,
        total > HUNDRED or bool(stakes and ratios) or person_owned,
    )


def _restricted(
    entity: dict[str, Any], facts: Held, held: list[Stake], types: dict[str, str], restricted: set[str], upper: bool
) -> bool:
    """The shipped rule for one entity, given the owners restricted (benchmark only)."""
    if upper and facts.flagged:
        return True
    if not _is_org(entity["type"], upper):
        return False
    countries = (entity.get("headquarters"), entity.get("jurisdiction"))
    if any(country in RESTRICTED or (upper and (country is None or country in REVIEW_PLACES)) for country in countries):
        return True
    by_restricted = [
        stake
        for stake in held
        if stake.owner in restricted and stake.owner != entity["id"] and _is_org(types[stake.owner], upper)
    ]
    if any(stake.kind in RESTRICTS or (upper and stake.kind not in NOT_REVIEW) for stake in by_restricted):
        return True
    stakes = [stake for stake in by_restricted if stake.kind in STAKES]
    low = sum((stake.low for stake in stakes), Decimal(0))
    if not upper:
        return bool(stakes) and not facts.over_100 and low >= THRESHOLD
    high = sum((stake.high for stake in stakes), Decimal(0))
    if stakes and (high > THRESHOLD or (high == THRESHOLD and not any(stake.high_exclusive for stake in stakes))):
        return True
    if facts.complete:
        return False
    rest = max(HUNDRED - facts.known_min, Decimal(0))
    exclusive = facts.known_min < HUNDRED and facts.known_min_exclusive
    exclusive = exclusive and not any(stake.low_exclusive for stake in stakes)
    possible = low + rest
    return possible > THRESHOLD or (possible == THRESHOLD and not exclusive)


def _reading(entities: dict[str, dict[str, Any]], held: dict[str, list[Stake]], upper: bool) -> set[str]:
    """The least fixpoint (worklist), then in the upper reading the greatest (entities on or below
    a cycle that stay restricted if assumed so are reviewed)."""
    types = {entity_id: entity["type"] for entity_id, entity in entities.items()}
    facts = {entity_id: _held(entity, held.get(entity_id, []), types) for entity_id, entity in entities.items()}
    outgoing: dict[str, list[str]] = defaultdict(list)
    for asset, stakes in held.items():
        for stake in stakes:
            if stake.owner != asset and (stake.kind != "shareholding" or stake.high > 0):
                outgoing[stake.owner].append(asset)

    def decide(entity_id: str, restricted: set[str]) -> bool:
        return _restricted(entities[entity_id], facts[entity_id], held.get(entity_id, []), types, restricted, upper)

    restricted: set[str] = set()
    work = [entity_id for entity_id in entities if decide(entity_id, restricted)]
    restricted.update(work)
    while work:
        for asset in outgoing.get(work.pop(), ()):
            if asset not in restricted and decide(asset, restricted):
                restricted.add(asset)
                work.append(asset)
    if not upper:
        return restricted
    assumed = _reach(outgoing, restricted, None) - restricted
    while True:
        supposed = restricted | assumed
        pending = set(assumed)
        while pending:
            entity_id = pending.pop()
            if entity_id in assumed and not decide(entity_id, supposed):
                assumed.discard(entity_id)
                supposed.discard(entity_id)
                pending.update(outgoing.get(entity_id, ()))
        reached = _reach(outgoing, restricted, assumed)
        if reached == assumed:
            return supposed
        assumed = reached


def _reach(outgoing: dict[str, list[str]], starts: set[str], within: set[str] | None) -> set[str]:
    seen: set[str] = set()
    pending = list(starts)
    while pending:
        for asset in outgoing.get(pending.pop(), ()):
            if asset not in seen and (within is None or asset in within):
                seen.add(asset)
                pending.append(asset)
    return seen


def python_peer(path: Path, out: Path, as_of: str) -> None:
    entity_list, all_links = _records(path)
    entities = {entity["id"]: entity for entity in entity_list}
    held = _stakes([link for link in all_links if _active(link, as_of)])
    lower, upper = _reading(entities, held, False), _reading(entities, held, True)
    _write(out, entity_list, lambda id_: "deny" if id_ in lower else "review" if id_ in upper else "allow")


def _sql_list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


# The shipped rule for the entities of table c given the restricted set r, as one query
# (benchmark only); {org} and {upper} are filled in per reading.
DUCKDB_DECIDE = """
SELECT c.pos FROM c JOIN e ON e.pos = c.pos LEFT JOIN (
    SELECT l.asset, bool_or(l.kind IN {restricts}) AS control, bool_or(l.kind NOT IN {not_review}) AS influence,
        count(*) FILTER (l.stake) AS stakes, sum(l.lo) FILTER (l.stake) AS lo, sum(l.hi) FILTER (l.stake) AS hi,
        coalesce(bool_or(l.hi_ex) FILTER (l.stake), false) AS hi_ex,
        coalesce(bool_or(l.lo_ex) FILTER (l.stake), false) AS lo_ex
    FROM l JOIN r ON r.pos = l.owner JOIN e o ON o.pos = l.owner JOIN c ON c.pos = l.asset
    WHERE l.owner <> l.asset AND {owner_org}
    GROUP BY l.asset
) s ON s.asset = c.pos
WHERE ({upper} AND e.flagged) OR ({org} AND (
    e.hq IN {restricted} OR e.jur IN {restricted}
    OR ({upper} AND (e.hq IS NULL OR e.jur IS NULL OR e.hq IN {review_places} OR e.jur IN {review_places}))
    OR coalesce(s.control, false) OR ({upper} AND coalesce(s.influence, false))
    OR (NOT {upper} AND s.stakes > 0 AND NOT e.over_100 AND s.lo >= 50)
    OR ({upper} AND s.stakes > 0 AND (s.hi > 50 OR (s.hi = 50 AND NOT s.hi_ex)))
    OR ({upper} AND NOT e.complete AND (coalesce(s.lo, 0) + e.rest > 50
        OR (coalesce(s.lo, 0) + e.rest = 50 AND NOT (e.rest_ex AND NOT coalesce(s.lo_ex, false)))))
))
"""


def duckdb_peer(path: Path, out: Path, as_of: str) -> None:
    import duckdb

    db = duckdb.connect(config={"threads": 2})
    db.execute(
        f"""CREATE TABLE raw AS SELECT row_number() OVER () AS line, * FROM read_json('{path}',
            format='newline_delimited', columns={{id: 'VARCHAR', type: 'VARCHAR', headquarters: 'VARCHAR',
            jurisdiction: 'VARCHAR', disclosure: 'VARCHAR', owner: 'VARCHAR', asset: 'VARCHAR', kind: 'VARCHAR',
            percentage: 'DECIMAL(38,12)', percentage_min: 'DECIMAL(38,12)', percentage_max: 'DECIMAL(38,12)',
            min_exclusive: 'BOOLEAN', max_exclusive: 'BOOLEAN', start_date: 'DATE', end_date: 'DATE'}})"""
    )
    db.execute(
        "CREATE TABLE e0 AS SELECT row_number() OVER (ORDER BY line) AS pos, id, type, headquarters AS hq, "
        "jurisdiction AS jur, disclosure FROM raw WHERE id IS NOT NULL"
    )
    stake = f"kind IN {_sql_list(STAKES)}"
    db.execute(
        "CREATE TABLE l0 AS SELECT o.pos AS owner, a.pos AS asset, coalesce(kind, 'shareholding') AS kind, "
        "coalesce(percentage, percentage_min, 0) AS lo, coalesce(percentage, percentage_max, 100) AS hi, "
        "coalesce(min_exclusive, false) AS lo_ex, coalesce(max_exclusive, false) AS hi_ex "
        "FROM raw JOIN e0 o ON o.id = raw.owner JOIN e0 a ON a.id = raw.asset "
        f"WHERE raw.owner IS NOT NULL AND (start_date IS NULL OR start_date <= DATE '{as_of}') "
        f"AND (end_date IS NULL OR DATE '{as_of}' < end_date)"
    )
    # Each stake capped by what the asset's other holders hold at least (when they add up to 100% or less).
    db.execute(
        f"""CREATE TABLE l1 AS SELECT *, {stake} AS stake,
            count(*) FILTER ({stake}) OVER w AS n, sum(lo) FILTER ({stake}) OVER w AS total,
            count(*) FILTER ({stake} AND lo_ex) OVER w AS n_ex FROM l0 WINDOW w AS (PARTITION BY asset)"""
    )
    db.execute(
        """CREATE TABLE l2 AS SELECT *, 100 - (total - lo) AS cap, n_ex - CASE WHEN lo_ex THEN 1 ELSE 0 END > 0
            AS strictly FROM l1"""
    )
    narrowed = (
        "stake AND n >= 2 AND total <= 100 AND (cap < hi OR (cap = hi AND strictly)) "
        "AND NOT (lo > cap OR (lo = cap AND (lo_ex OR strictly)))"
    )
    db.execute(
        f"""CREATE TABLE l AS SELECT owner, asset, kind, stake, lo, CASE WHEN {narrowed} THEN cap ELSE hi END AS hi,
            lo_ex, CASE WHEN {narrowed} THEN strictly ELSE hi_ex END AS hi_ex FROM l2"""
    )
    db.execute(
        f"""CREATE TABLE e AS SELECT e0.*, coalesce(h.known, 0) AS known,
            coalesce(disclosure IN {_sql_list(COMPLETE)}, false) OR coalesce(h.branch, false) AS complete,
            coalesce(h.known > 100, false) AS over_100,
            coalesce(h.known > 100, false) OR coalesce(h.ratios, false)
                OR (e0.type = 'person' AND coalesce(h.org_owned, false)) AS flagged,
            greatest(100 - coalesce(h.known, 0), 0) AS rest,
            coalesce(h.known, 0) < 100 AND coalesce(h.known_ex, false) AS rest_ex
        FROM e0 LEFT JOIN (
            SELECT l.asset, sum(l.lo) FILTER (l.stake) AS known, bool_or(l.lo_ex) FILTER (l.stake) AS known_ex,
                bool_or(l.kind = 'branch') AS branch, bool_or(o.type <> 'person') AS org_owned,
                count(*) FILTER (l.stake) > 0 AND sum(l.lo) FILTER (l.stake) = 1
                    AND bool_and(l.lo = l.hi AND NOT l.lo_ex AND l.lo <= 1) FILTER (l.stake)
                    AND bool_or(l.lo <> floor(l.lo)) FILTER (l.stake) AS ratios
            FROM l JOIN e0 o ON o.pos = l.owner GROUP BY l.asset
        ) h ON h.asset = e0.pos"""
    )
    db.execute("CREATE TEMP TABLE r (pos BIGINT)")
    db.execute("CREATE TEMP TABLE c (pos BIGINT)")
    for name, upper in (("lower", False), ("upper", True)):
        org = "e.type <> 'person'" + ("" if upper else " AND e.type <> 'unknown'")
        decide = DUCKDB_DECIDE.format(
            org=org,
            owner_org=org.replace("e.type", "o.type"),
            upper=str(upper).lower(),
            restricted=_sql_list(RESTRICTED),
            review_places=_sql_list(REVIEW_PLACES),
            restricts=_sql_list(RESTRICTS),
            not_review=_sql_list(NOT_REVIEW),
        )
        db.execute("DELETE FROM r")
        db.execute("DELETE FROM c")
        db.execute("INSERT INTO c SELECT pos FROM e")
        db.execute(f"INSERT INTO r {decide}")
        while True:  # least fixpoint: the assets of restricted owners, decided again
            db.execute("DELETE FROM c")
            db.execute(
                "INSERT INTO c SELECT DISTINCT l.asset FROM l JOIN r ON r.pos = l.owner ANTI JOIN r x ON x.pos = l.asset"
            )
            if not db.execute(f"INSERT INTO r {decide}").fetchone()[0]:  # type: ignore[index]
                break
        if upper:
            _duckdb_greatest(db, decide)
        db.execute(f"CREATE TABLE {name} AS SELECT pos FROM r")
    db.execute(
        f"""COPY (SELECT id AS entity, CASE WHEN pos IN (SELECT pos FROM lower) THEN 'deny'
            WHEN pos IN (SELECT pos FROM upper) THEN 'review' ELSE 'allow' END AS decision
            FROM e ORDER BY pos) TO '{out}' (FORMAT json)"""
    )


CARRIES = "l.owner <> l.asset AND (l.kind <> 'shareholding' OR l.hi > 0)"


def _duckdb_greatest(db: Any, decide: str) -> None:
    """The greatest fixpoint from the least one in r: everything reached from r assumed
    restricted, then dropped while the rule does not restrict it given r and the rest assumed."""
    reach = f"""WITH RECURSIVE reached(pos) AS (
        SELECT l.asset FROM l JOIN r ON r.pos = l.owner WHERE {CARRIES} AND l.asset IN (SELECT pos FROM {{within}})
        UNION SELECT l.asset FROM l JOIN reached ON reached.pos = l.owner
        WHERE {CARRIES} AND l.asset IN (SELECT pos FROM {{within}}))
        SELECT pos FROM reached ANTI JOIN r ON r.pos = reached.pos"""
    db.execute(f"CREATE TEMP TABLE a AS {reach.format(within='e')}")
    db.execute("CREATE TEMP TABLE base AS SELECT pos FROM r")
    while True:
        while True:  # drop what the rule does not restrict, given r and the rest of a assumed
            db.execute("DELETE FROM r")
            db.execute("INSERT INTO r SELECT pos FROM base UNION ALL SELECT pos FROM a")
            db.execute("DELETE FROM c")
            db.execute("INSERT INTO c SELECT pos FROM a")
            kept = db.execute(f"CREATE OR REPLACE TEMP TABLE kept AS {decide}").fetchone()
            dropped = db.execute("DELETE FROM a WHERE pos NOT IN (SELECT pos FROM kept)").fetchone()[0]
            del kept
            if not dropped:
                break
        db.execute("DELETE FROM r")
        db.execute("INSERT INTO r SELECT pos FROM base")
        before = db.execute("SELECT count(*) FROM a").fetchone()[0]
        db.execute(f"CREATE OR REPLACE TEMP TABLE a AS {reach.format(within='a')}")
        if db.execute("SELECT count(*) FROM a").fetchone()[0] == before:
            break
    db.execute("INSERT INTO r SELECT pos FROM a")


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
