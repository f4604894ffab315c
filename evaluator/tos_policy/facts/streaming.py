"""Load large facts inputs fast: JSON documents or JSON Lines, validated record by
record against the same schema (schemas/facts.schema.json) as `evaluate`.

JSON Lines: one record per line, either an entity (has "id" and "type") or a
link (has "owner" and "asset"); an entity must come before the links naming it
only in the sense that every id must exist somewhere in the inputs.

Numbers are parsed with orjson. A binary float decides nothing here: a number
literal with more than 15 significant digits sends its line (or document) to
the exact Decimal parser instead, and every shorter literal round-trips
exactly through repr."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from tos_policy.errors import InputError
from tos_policy.facts.load import (
    Facts,
    check_references,
    entity_from_record,
    link_from_record,
    parse_json_bytes,
    schema_violation,
)
from tos_policy.resources import schema

# A number literal that a double might not carry exactly.
_LONG_NUMBER = re.compile(rb"[-+]?(?:\d[\d.]{15,}|\d*\.\d{15,})(?:[eE][-+]?\d+)?")


class RecordValidator:
    """Compiled schema checks for one record kind; jsonschema explains failures."""

    def __init__(self, kind: str) -> None:
        full = schema("facts")
        subschema = {"$defs": full["$defs"], **full["$defs"][kind]}
        self._fast: Callable[[Any], Any] = fastjsonschema.compile(subschema)
        self._explain = Draft202012Validator(subschema, format_checker=FormatChecker())

    def check(self, record: Any, file: str, path: str) -> None:
        try:
            self._fast(record)
        except fastjsonschema.JsonSchemaException:
            error = best_match(self._explain.iter_errors(record))
            if error is None:  # the fast validator is stricter in some corner; trust jsonschema
                return
            raise schema_violation(error, file, path) from None


_NUMBER_FIELDS = ("percentage", "percentage_min", "percentage_max")


def _parse(raw: bytes, file: str, where: str) -> Any:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        snippet = raw[:40].decode("utf-8", "replace")
        raise InputError(f"not valid JSON: {exc}", file=file, path=where, value=snippet) from None
    if type(record) is dict and "owner" in record:
        for key in _NUMBER_FIELDS:
            if type(record.get(key)) is float:
                if _LONG_NUMBER.search(raw):
                    return parse_json_bytes(raw, file)
                record[key] = Decimal(repr(record[key]))
    return record


def _parse_document(raw: bytes, file: str) -> Any:
    """Whole documents go through the exact parser when any long literal appears."""
    if _LONG_NUMBER.search(raw):
        return parse_json_bytes(raw, file)
    document = _parse(raw, file, "$")
    if isinstance(document, dict):
        for key in ("ownership",):
            for record in document.get(key) or ():
                if isinstance(record, dict):
                    for field in _NUMBER_FIELDS:
                        if isinstance(record.get(field), float):
                            record[field] = Decimal(repr(record[field]))
    return document


def _read_error(file: str, exc: OSError) -> InputError:
    return InputError(f"cannot read file: {exc.strerror}", file=file, value=file)


def _iter_lines(path: Path, file: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise _read_error(file, exc) from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record = _parse(line, file, f"line {number}")
            if type(record) is dict and ("owner" in record or "asset" in record):
                yield "link", f"line {number} $", record
            elif type(record) is dict and ("id" in record or "type" in record):
                yield "entity", f"line {number} $", record
            else:
                message = "a line must hold an entity (id, type) or a link (owner, asset)"
                raise InputError(message, file=file, path=f"line {number}", value=record)


def _iter_document(path: Path, file: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _read_error(file, exc) from None
    document = _parse_document(raw, file)
    if not isinstance(document, dict) or not isinstance(document.get("entities"), list):
        raise InputError("expected an object with an 'entities' list", file=file, value=type(document).__name__)
    extra = sorted(set(document) - {"entities", "ownership", "source"})
    if extra:
        raise InputError("unknown top-level field", file=file, path=f"$.{extra[0]}", value=extra[0])
    for index, record in enumerate(document["entities"]):
        yield "entity", f"$.entities[{index}]", record
    ownership = document.get("ownership", [])
    if not isinstance(ownership, list):
        raise InputError("'ownership' must be a list", file=file, path="$.ownership", value=type(ownership).__name__)
    for index, record in enumerate(ownership):
        yield "link", f"$.ownership[{index}]", record


def iter_records(path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(kind, JSON path or line, record) for every entity and link in one file."""
    if path.suffix in (".jsonl", ".ndjson"):
        return _iter_lines(path, str(path))
    return _iter_document(path, str(path))


def load_streaming(paths: Iterable[Path], progress: Callable[[int], None] | None = None) -> Facts:
    """Facts from many files, each record validated as it is read."""
    validators = {"entity": RecordValidator("entity"), "link": RecordValidator("link")}
    facts = Facts()
    count = 0
    for path in paths:
        file = str(path)
        facts.files.append(file)
        for kind, where, record in iter_records(path):
            validators[kind].check(record, file, where)
            try:
                if kind == "entity":
                    entity = entity_from_record(record, file, where)
                    if entity.id in facts.entities:
                        raise InputError("duplicate entity id", file=file, path=f"{where}.id", value=entity.id)
                    facts.entities[entity.id] = entity
                else:
                    facts.links.append(link_from_record(record, file, where))
            except ValueError as exc:  # a well-formed but impossible date such as 2025-02-30
                raise InputError(f"invalid date: {exc}", file=file, path=where, value=record) from None
            count += 1
            if progress is not None and count % 50_000 == 0:
                progress(count)
    check_references(facts)
    return facts
