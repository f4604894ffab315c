"""The registry store: an embedded DuckDB database file holding every batch of facts
ever loaded, and the decisions made after each.

Append-only. A load adds rows and never changes or deletes one: a record that a
later extract no longer holds gets a `remove` row in that later load. So the facts
as known after any load, or on any date, are the rows of the loads up to it, and
replaying them gives exactly what was decided then. Each load is one transaction
with its decisions: a load is there whole, with its decisions, or not at all."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from tos_policy import jsonio
from tos_policy.errors import InputError
from tos_policy.facts.load import Facts, complete, entity_from_record, link_from_record
from tos_policy.operations.records import ENTITIES, LINKS, FactRecord

_STORED = "registry store"  # what the strict reader names when a stored JSON text is bad

FORMAT = "tos-policy-store/1"

_SCHEMA = """
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE loads (
    load_id INTEGER PRIMARY KEY,
    known_on DATE NOT NULL,          -- the date of the extract: facts as known on this day
    loaded_at TIMESTAMP NOT NULL,
    mode VARCHAR NOT NULL,           -- snapshot (the whole registry) or delta (changes only)
    sources VARCHAR NOT NULL,        -- JSON list of the files loaded
    added INTEGER NOT NULL,
    removed INTEGER NOT NULL
);
CREATE TABLE records (
    load_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    op VARCHAR NOT NULL,             -- add (new or changed record) or remove
    section VARCHAR NOT NULL,        -- entities or ownership
    key VARCHAR NOT NULL,            -- entity id, or the content digest of a link
    record VARCHAR,                  -- canonical JSON text (the removed record for remove)
    file VARCHAR NOT NULL,
    location VARCHAR NOT NULL
);
CREATE TABLE positions (         -- the order of the records after a load, as the files gave it
    load_id INTEGER NOT NULL,        -- a snapshot lists every record; a delta the records it added
    section VARCHAR NOT NULL,
    key VARCHAR NOT NULL,
    pos BIGINT NOT NULL
);
CREATE TABLE decisions (
    load_id INTEGER NOT NULL,
    entity VARCHAR NOT NULL,
    decision VARCHAR,                -- NULL: the entity left the registry in this load
    record VARCHAR,                  -- the decision record (JSON), as `evaluate` writes it
    PRIMARY KEY (load_id, entity)
);
CREATE TABLE runs (
    load_id INTEGER PRIMARY KEY,
    as_of DATE NOT NULL,
    context VARCHAR NOT NULL,        -- JSON: policy version, profile, rules digest, engine, determinations
    decided INTEGER NOT NULL,        -- entities re-decided in this load (all of them after a full screen)
    full_screen BOOLEAN NOT NULL
);
"""


class StoreError(InputError):
    """The store file is missing, not a store, busy or refuses the load. Exit code 2."""


@dataclass(frozen=True)
class LoadInfo:
    load_id: int
    known_on: date
    loaded_at: str
    mode: str
    sources: list[str]
    added: int
    removed: int

    def as_json(self) -> dict[str, Any]:
        return {
            "load": self.load_id,
            "known_on": self.known_on.isoformat(),
            "loaded_at": self.loaded_at,
            "mode": self.mode,
            "sources": self.sources,
            "added": self.added,
            "removed": self.removed,
        }


@dataclass(frozen=True)
class Change:
    """One row a load wrote: a record added (new or changed) or removed, with the text it replaced."""

    op: str
    section: str
    key: str
    record: dict[str, Any]
    previous: dict[str, Any] | None
    file: str
    location: str

    def as_json(self) -> dict[str, Any]:
        kind = "removed" if self.op == "remove" else ("changed" if self.previous is not None else "new")
        out: dict[str, Any] = {"change": kind, "section": self.section, "record": self.record, "source": self.file}
        out["location"] = self.location
        if self.previous is not None:
            out["previous"] = self.previous
        return out


def _busy(path: Path, exc: Exception) -> StoreError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return StoreError(f"cannot open the store: {first}", file=str(path), value=str(path))


class Store:
    def __init__(self, path: Path, connection: duckdb.DuckDBPyConnection) -> None:
        self.path = path
        self.db = connection

    @classmethod
    def create(cls, path: Path) -> Store:
        if path.exists():
            raise StoreError("the store already exists (loads are appended with `store load`)", file=str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = duckdb.connect(str(path))
        except duckdb.Error as exc:
            raise _busy(path, exc) from None
        connection.execute("BEGIN")
        connection.execute(_SCHEMA)
        connection.execute("INSERT INTO meta VALUES ('format', ?)", [FORMAT])
        connection.execute("COMMIT")
        return cls(path, connection)

    @classmethod
    def open(cls, path: Path, *, read_only: bool = True) -> Store:
        if not path.is_file():
            raise StoreError("no store here (create one with `tos-policy store init`)", file=str(path), value=str(path))
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            row = connection.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except duckdb.Error as exc:
            raise _busy(path, exc) from None
        if row is None or row[0] != FORMAT:
            raise StoreError("not a tos-policy store of this format", file=str(path), value=row[0] if row else None)
        return cls(path, connection)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # Loads

    def loads(self) -> list[LoadInfo]:
        rows = self.db.execute(
            "SELECT load_id, known_on, CAST(loaded_at AS VARCHAR), mode, sources, added, removed FROM loads "
            "ORDER BY load_id"
        ).fetchall()
        return [
            LoadInfo(r[0], r[1], r[2], r[3], jsonio.loads(r[4], file=_STORED, exact=False), r[5], r[6]) for r in rows
        ]

    def load_info(self, load_id: int) -> LoadInfo:
        for info in self.loads():
            if info.load_id == load_id:
                return info
        raise StoreError("no load with this id in the store", file=str(self.path), path="--load", value=load_id)

    def latest(self) -> LoadInfo | None:
        loads = self.loads()
        return loads[-1] if loads else None

    def load_known_on(self, day: date) -> LoadInfo:
        """The last load of facts known on `day` (its extract dated on or before it)."""
        found = [info for info in self.loads() if info.known_on <= day]
        if not found:
            raise StoreError("no facts were known on this date", file=str(self.path), path="--known-on", value=str(day))
        return found[-1]

    def resolve(self, load_id: int | None, known_on: date | None) -> LoadInfo:
        """The load named by --load or --known-on; the latest when neither is given."""
        if load_id is not None and known_on is not None:
            raise StoreError("give --load or --known-on, not both", file="--known-on", value=str(known_on))
        if load_id is not None:
            return self.load_info(load_id)
        if known_on is not None:
            return self.load_known_on(known_on)
        latest = self.latest()
        if latest is None:
            raise StoreError("the store holds no facts yet (`tos-policy store load`)", file=str(self.path))
        return latest

    # Facts

    def state(self, load_id: int) -> list[tuple[str, str, str, str, str]]:
        """(section, key, record text, file, location) of every record held after `load_id`, in load order."""
        return self.db.execute(
            """
            WITH snapshot AS (
                SELECT coalesce(max(load_id), 0) AS id FROM loads WHERE mode = 'snapshot' AND load_id <= $load
            ), held AS (
                SELECT section, key, record, file, location FROM (
                    SELECT *, row_number() OVER (PARTITION BY section, key ORDER BY load_id DESC, seq DESC) AS latest
                    FROM records WHERE load_id <= $load
                ) WHERE latest = 1 AND op = 'add'
            ), placed AS (
                SELECT section, key, min(load_id) AS placed_in, min(pos) AS pos FROM positions, snapshot
                WHERE load_id <= $load AND load_id >= snapshot.id GROUP BY section, key
            )
            SELECT held.section, held.key, record, file, location FROM held
            LEFT JOIN placed ON held.section = placed.section AND held.key = placed.key
            ORDER BY placed.placed_in, placed.pos, held.section, held.key
            """,
            {"load": load_id},
        ).fetchall()

    def facts(self, load_id: int) -> Facts:
        """The facts as known after `load_id`, each citing the file and place it was loaded from."""
        facts = Facts(files=[f"{self.path}#load-{load_id}"])
        for section, _key, text, file, location in self.state(load_id):
            record = jsonio.loads(text, file=_STORED)
            if section == ENTITIES:
                entity = entity_from_record(record, file, location)
                facts.entities[entity.id] = entity
            else:
                facts.links.append(link_from_record(record, file, location))
        return complete(facts)

    def append_load(self, records: Iterable[FactRecord], *, mode: str, known_on: date, sources: list[str]) -> LoadInfo:
        """Write a load (inside the caller's transaction): the rows that turn the current state into the new one."""
        latest = self.latest()
        if latest is not None and known_on < latest.known_on:
            raise StoreError(
                f"loads must come in date order: load {latest.load_id} is known on {latest.known_on}",
                file="--known-on",
                value=str(known_on),
            )
        load_id = 1 if latest is None else latest.load_id + 1
        current = {(row[0], row[1]): row for row in (self.state(latest.load_id) if latest else [])}
        records = list(records)
        rows = _changes(current, records, mode)
        if rows:
            self.db.executemany(
                "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [[load_id, seq, *row] for seq, row in enumerate(rows)],
            )
        placed = records if mode == "snapshot" else [r for r in records if (r.section, r.key) not in current]
        if placed:
            self.db.executemany(
                "INSERT INTO positions VALUES (?, ?, ?, ?)",
                [[load_id, record.section, record.key, pos] for pos, record in enumerate(placed)],
            )
        added = sum(1 for row in rows if row[0] == "add")
        self.db.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                load_id,
                known_on,
                datetime.now(UTC).replace(tzinfo=None),
                mode,
                json.dumps(sources),
                added,
                len(rows) - added,
            ],
        )
        return self.load_info(load_id)

    def changes(self, load_id: int) -> list[Change]:
        """What load `load_id` changed, with the text each changed entity had before."""
        rows = self.db.execute(
            "SELECT op, section, key, record, file, location FROM records WHERE load_id = ? ORDER BY seq", [load_id]
        ).fetchall()
        before = {(row[0], row[1]): row[2] for row in self.state(load_id - 1)} if load_id > 1 else {}
        out = []
        for op, section, key, text, file, location in rows:
            previous = before.get((section, key)) if op == "add" else None
            out.append(
                Change(
                    op,
                    section,
                    key,
                    jsonio.loads(text, file=_STORED, exact=False),
                    jsonio.loads(previous, file=_STORED, exact=False) if previous else None,
                    file,
                    location,
                )
            )
        return out

    # Decisions

    def record_run(self, load_id: int, as_of: date, context: dict[str, Any], decided: int, full: bool) -> None:
        self.db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?)",
            [load_id, as_of, json.dumps(context, sort_keys=True), decided, full],
        )

    def run(self, load_id: int) -> tuple[date, dict[str, Any], int, bool] | None:
        row = self.db.execute(
            "SELECT as_of, context, decided, full_screen FROM runs WHERE load_id = ?", [load_id]
        ).fetchone()
        return None if row is None else (row[0], jsonio.loads(row[1], file=_STORED, exact=False), row[2], row[3])

    def record_decisions(
        self, load_id: int, decisions: Iterable[tuple[str, str | None, dict[str, Any] | None]]
    ) -> None:
        rows = [
            [load_id, entity, decision, None if record is None else json.dumps(record, sort_keys=True)]
            for entity, decision, record in decisions
        ]
        if rows:
            self.db.executemany("INSERT INTO decisions VALUES (?, ?, ?, ?)", rows)

    def decisions(self, load_id: int) -> dict[str, dict[str, Any]]:
        """Every entity's decision record as it stood after `load_id` (the latest decided at or before it)."""
        rows = self.db.execute(
            """
            SELECT entity, record FROM (
                SELECT *, row_number() OVER (PARTITION BY entity ORDER BY load_id DESC) AS latest
                FROM decisions WHERE load_id <= ?
            ) WHERE latest = 1 AND record IS NOT NULL ORDER BY entity
            """,
            [load_id],
        ).fetchall()
        return {entity: jsonio.loads(text, file=_STORED, exact=False) for entity, text in rows}

    def decided_in(self, load_id: int) -> dict[str, dict[str, Any] | None]:
        rows = self.db.execute("SELECT entity, record FROM decisions WHERE load_id = ?", [load_id]).fetchall()
        return {
            entity: None if text is None else jsonio.loads(text, file=_STORED, exact=False) for entity, text in rows
        }


def _changes(
    current: dict[tuple[str, str], tuple[str, str, str, str, str]], records: list[FactRecord], mode: str
) -> list[list[Any]]:
    """The rows (op, section, key, record, file, location) from the current state to the new one.

    snapshot: the records are the whole registry; what they do not hold is removed.
    delta: the records are changes; an entity replaces the one with its id, a link
    replaces the links with the same owner, asset, kind, acting-jointly group and start date."""
    rows: list[list[Any]] = []
    incoming: dict[tuple[str, str], FactRecord] = {}
    for record in records:
        incoming[(record.section, record.key)] = record
    if mode == "snapshot":
        replaced = set(current) - set(incoming)
    else:
        natural = {record.natural_key for record in incoming.values() if record.section == LINKS}
        replaced = {
            key
            for key, row in current.items()
            if key[0] == LINKS and key not in incoming and _natural_key_of(row) in natural
        }
    for key in sorted(replaced, key=lambda item: (item[0] != LINKS, item)):  # links go before their entities
        section, record_key, text, file, location = current[key]
        rows.append(["remove", section, record_key, text, file, location])
    for key, record in incoming.items():
        held = current.get(key)
        if held is None or held[2] != record.text:
            rows.append(["add", record.section, record.key, record.text, record.file, record.where])
    return rows


def _natural_key_of(row: tuple[str, str, str, str, str]) -> str:
    return FactRecord(row[0], row[1], row[2], row[3], row[4]).natural_key
