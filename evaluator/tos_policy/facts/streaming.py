"""Load large facts inputs fast: JSON documents or JSON Lines, validated record by
record against the same schema (schemas/facts.schema.json) as `evaluate`.

JSON Lines: one record per line, either an entity (has "id" and "type") or a
link (has "owner" and "asset"); an entity must come before the links naming it
only in the sense that every id must exist somewhere in the inputs.

Every line and document is read by the one strict reader (tos_policy.jsonio), as
`evaluate` reads its files: duplicate keys, NaN and Infinity are refused, and numbers
are exact decimals."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema.exceptions import best_match

from tos_policy.errors import InputError
from tos_policy.facts.load import (
    Entity,
    Facts,
    Link,
    check_counts,
    complete,
    entity_from_record,
    link_from_record,
    parse_json_bytes,
    schema_violation,
)
from tos_policy.facts.reading import lines_limited, read_limited
from tos_policy.limits import Limits, check_deadline, exceeded
from tos_policy.resources import schema
from tos_policy.schema_check import validator_for


class RecordValidator:
    """Compiled schema checks for one record kind; jsonschema explains failures."""

    def __init__(self, kind: str) -> None:
        full = schema("facts")
        subschema = {"$defs": full["$defs"], **full["$defs"][kind]}
        self._fast: Callable[[Any], Any] = fastjsonschema.compile(subschema)
        self._explain = validator_for(subschema)

    def check(self, record: Any, file: str, path: str) -> None:
        try:
            self._fast(record)
        except fastjsonschema.JsonSchemaException:
            error = best_match(self._explain.iter_errors(record))
            if error is None:  # the fast validator is stricter in some corner; trust jsonschema
                return
            raise schema_violation(error, file, path) from None


class _Reading:
    """What reading one file needs: its limits and the run's deadline."""

    def __init__(self, facts: Facts, limits: Limits, deadline: float | None) -> None:
        self.facts = facts
        self.limits = limits
        self.deadline = deadline

    def read_bytes(self, path: Path, file: str) -> bytes:
        limits = self.limits
        return read_limited(path, file, limits.max_input_bytes, deadline=self.deadline, max_seconds=limits.max_seconds)

    def lines(self, path: Path, file: str) -> Iterator[tuple[int, bytes]]:
        limits = self.limits
        return lines_limited(path, file, limits.max_input_bytes, deadline=self.deadline, max_seconds=limits.max_seconds)


def _iter_lines(path: Path, file: str, reading: _Reading) -> Iterator[tuple[str, str, dict[str, Any]]]:
    depth = reading.limits.max_json_depth
    for number, line in reading.lines(path, file):
        if line.strip():
            yield line_record(number, line, file, depth)


def line_record(number: int, line: bytes, file: str, depth: int) -> tuple[str, str, dict[str, Any]]:
    """(kind, place, record) of one non-blank JSON Lines line, read by the strict reader."""
    record = parse_json_bytes(line, file, max_depth=depth, line=number)
    if type(record) is dict and ("owner" in record or "asset" in record):
        return "link", f"line {number} $", record
    if type(record) is dict and ("id" in record or "type" in record):
        return "entity", f"line {number} $", record
    message = "a line must hold an entity (id, type) or a link (owner, asset)"
    raise InputError(message, file=file, path=f"line {number} $", value=record)


def _iter_document(path: Path, file: str, reading: _Reading) -> Iterator[tuple[str, str, dict[str, Any]]]:
    document = parse_json_bytes(reading.read_bytes(path, file), file, max_depth=reading.limits.max_json_depth)
    if not isinstance(document, dict) or not isinstance(document.get("entities"), list):
        raise InputError("expected an object with an 'entities' list", file=file, value=type(document).__name__)
    extra = sorted(set(document) - {"entities", "ownership", "source"})
    if extra:
        raise InputError("unknown top-level field", file=file, path=f"$.{extra[0]}", value=extra[0])
    ownership = document.get("ownership", [])
    if not isinstance(ownership, list):
        raise InputError("'ownership' must be a list", file=file, path="$.ownership", value=type(ownership).__name__)
    check_counts(reading.facts, document, file, reading.limits)  # as evaluate: before any validation
    for index, record in enumerate(document["entities"]):
        yield "entity", f"$.entities[{index}]", record
    for index, record in enumerate(ownership):
        yield "link", f"$.ownership[{index}]", record


def iter_records(
    path: Path, *, limits: Limits | None = None, deadline: float | None = None, facts: Facts | None = None
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(kind, JSON path or line, record) for every entity and link in one file, read within `limits`."""
    reading = _Reading(facts or Facts(), limits or Limits(), deadline)
    if path.suffix in (".jsonl", ".ndjson"):
        return _iter_lines(path, str(path), reading)
    return _iter_document(path, str(path), reading)


def _too_many(noun: str, field_name: str, limit: int, file: str, where: str) -> InputError:
    return exceeded(
        f"too many {noun}: more than {limit:,}", field_name, limit, noun, file=file, path=where, value=limit + 1
    )


def add_record(
    facts: Facts,
    kind: str,
    record: dict[str, Any],
    file: str,
    where: str,
    limits: Limits,
    *,
    cite: bool = False,
    made: Entity | Link | None = None,
) -> None:
    """Add one schema-checked record to `facts`, within the limits on entities and links.
    `made`: the entity or link already made from `record` (the set-wise loader's templates)."""
    try:
        if kind == "entity":
            if len(facts.entities) >= limits.max_entities:
                raise _too_many("entities", "max_entities", limits.max_entities, file, where)
            entity = made if isinstance(made, Entity) else entity_from_record(record, file, where, cite=cite)
            if entity.id in facts.entities:
                raise InputError("duplicate entity id", file=file, path=f"{where}.id", value=entity.id)
            facts.entities[entity.id] = entity
        else:
            if len(facts.links) >= limits.max_links:
                raise _too_many("links", "max_links", limits.max_links, file, where)
            facts.links.append(made if isinstance(made, Link) else link_from_record(record, file, where, cite=cite))
    except ValueError as exc:  # a well-formed but impossible date such as 2025-02-30
        raise InputError(f"invalid date: {exc}", file=file, path=where, value=record) from None


def load_streaming(
    paths: Iterable[Path],
    progress: Callable[[int], None] | None = None,
    *,
    limits: Limits | None = None,
    deadline: float | None = None,
    cite: bool = False,
) -> Facts:
    """Facts from many files, each record validated as it is read, within `limits` (default: Limits()):
    input size and JSON nesting per file, entities and links in all files together, and the
    deadline (a time.monotonic() value; --max-seconds from the start of the command) while reading.
    `cite`: keep what each record says of its origin (facts/provenance.py); screening cites no
    sources, so by default nothing more than each fact's place is kept per fact."""
    limits = limits or Limits()
    validators = {"entity": RecordValidator("entity"), "link": RecordValidator("link")}
    facts = Facts()
    count = 0
    for path in paths:
        file = str(path)
        facts.files.append(file)
        for kind, where, record in iter_records(path, limits=limits, deadline=deadline, facts=facts):
            validators[kind].check(record, file, where)
            add_record(facts, kind, record, file, where, limits, cite=cite)
            count += 1
            if count % 4096 == 0:
                check_deadline(deadline, limits.max_seconds)
                if progress is not None and count % 49_152 == 0:
                    progress(count)
    complete(facts)
    return facts
