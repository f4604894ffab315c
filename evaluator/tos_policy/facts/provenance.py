"""Where each fact was read: its place in the input (file and JSON path, or JSON Lines line:
the fact's `path`) and what its record says of its own origin (the record's `source` object,
written by the importers: the publication's file and record number, statement and record ids,
the publisher).

Kept compact: a record's source is reduced to the few fields that identify it (CITED), as a
tuple of pairs whose repeated strings (file names, formats, publishers) are shared; facts
without a `source` object cost nothing more than their path. Decisions cite these in the
records of `evaluate`, `explain` and `decide`; `screen` keeps its compact records."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

# One record's origin: (field, value) pairs of its source object, in CITED order.
Source = tuple[tuple[str, Any], ...]

# The fields of a record's `source` that identify it: who published it, in which file and
# record, and the ids the publication gives it (BODS statementId and recordId, an FtM or GLEIF
# record id, an LEI). Other fields (notes, dates, statuses) stay in the facts file.
CITED = ("publisher", "format", "file", "record", "statementId", "recordId", "id", "lei", "datasets")
_SHARED = frozenset({"publisher", "format", "file"})  # the same few strings over many records


def _value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        return sys.intern(value) if key in _SHARED else value
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            return tuple(sys.intern(item) for item in value)
        return None
    return value


def _one(source: Mapping[str, Any]) -> Source:
    pairs = []
    for key in CITED:
        if key in source:
            value = _value(key, source[key])
            if value is not None:
                pairs.append((key, value))
    return tuple(pairs)


def record_sources(source: Any) -> tuple[Source, ...]:
    """The origins a record's `source` object names: itself, or each report an importer read
    as one stake (`reports`). () when the record has none."""
    if not isinstance(source, Mapping):
        return ()
    reports = source.get("reports")
    if isinstance(reports, list) and reports:
        found = tuple(_one(item) for item in reports if isinstance(item, Mapping))
        return tuple(item for item in found if item)
    own = _one(source)
    return (own,) if own else ()


def split_path(located: str) -> tuple[str, str]:
    """(file, JSON path or line) of a fact's `path` ("file:$.ownership[3]")."""
    file, _, path = located.rpartition(":")
    return file, path


def citation(located: str, sources: Iterable[Source] = ()) -> dict[str, Any]:
    """One fact's citation: where it was read and, when its record says, its origins."""
    file, path = split_path(located)
    cited: dict[str, Any] = {"file": file, "at": path}
    origins = [{key: list(value) if isinstance(value, tuple) else value for key, value in item} for item in sources]
    if origins:
        cited["source"] = origins
    return cited


def citation_text(cited: Mapping[str, Any]) -> str:
    """A citation in one line: "file $.ownership[3] (bods statement 7fff..., record 4cf2...)"."""
    text = f"{cited['file']} {cited['at']}"
    parts = []
    for origin in cited.get("source", ()):
        words = []
        if origin.get("publisher"):
            words.append(f"published by {origin['publisher']}")
        if origin.get("file"):
            record = f" record {origin['record']}" if origin.get("record") is not None else ""
            words.append(f"from {origin['file']}{record}")
        for key, name in (("statementId", "statement"), ("recordId", "record id"), ("id", "id"), ("lei", "LEI")):
            if origin.get(key):
                words.append(f"{name} {origin[key]}")
        if origin.get("datasets"):
            words.append(f"datasets {', '.join(origin['datasets'])}")
        if words:
            parts.append((f"{origin['format']}: " if origin.get("format") else "") + ", ".join(words))
    return f"{text} ({'; '.join(parts)})" if parts else text
