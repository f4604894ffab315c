"""Facts records as the store keeps them: read and checked exactly as `screen` reads
files, written as canonical JSON text, and keyed so that a later extract can be
compared with an earlier one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tos_policy import jsonio
from tos_policy.errors import InputError
from tos_policy.facts.load import entity_from_record, link_from_record
from tos_policy.facts.streaming import RecordValidator, iter_records
from tos_policy.limits import Limits, exceeded

ENTITIES = "entities"
LINKS = "ownership"


def canonical_json(value: Any) -> str:
    """JSON text with sorted keys; a Decimal is written as the exact number it is (50.00 stays 50.00)."""
    if isinstance(value, dict):
        items = (
            f"{json.dumps(str(key), ensure_ascii=False)}:{canonical_json(item)}" for key, item in sorted(value.items())
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(canonical_json(item) for item in value) + "]"
    if isinstance(value, Decimal):
        return str(value)  # a finite Decimal's str is a valid JSON number
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class FactRecord:
    """One entity or link record: its section, its key within the section, its JSON text."""

    section: str
    key: str
    text: str
    file: str
    where: str

    @property
    def natural_key(self) -> str:
        """What a change replaces: an entity by id, a link by owner, asset, kind, acting-jointly group and start."""
        if self.section == ENTITIES:
            return self.key
        record = jsonio.loads(self.text, file=self.file, exact=False)
        parts = [record["owner"], record["asset"], record.get("kind", "shareholding")]
        parts += [record.get("acting_jointly"), record.get("start_date")]
        return json.dumps(parts)


def record_key(section: str, record: dict[str, Any], text: str) -> str:
    """Entities are keyed by id; links (which have no id, and may repeat) by their content."""
    if section == ENTITIES:
        return str(record["id"])
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def read_records(paths: Iterable[Path], limits: Limits, deadline: float | None = None) -> Iterator[FactRecord]:
    """Every record of the files, validated and normalised as `screen` does (schema,
    countries, percentages, dates), each error naming the file, the JSON path or line and the value."""
    validators = {"entity": RecordValidator("entity"), "link": RecordValidator("link")}
    counts = {"entity": 0, "link": 0}
    seen: set[str] = set()
    repeats: dict[str, int] = {}
    for path in paths:
        file = str(path)
        _check_size(path, file, limits)
        for kind, where, record in iter_records(path, limits=limits, deadline=deadline):
            validators[kind].check(record, file, where)
            counts[kind] += 1
            _check_count(kind, counts[kind], limits, file, where)
            try:
                if kind == "entity":
                    entity_from_record(record, file, where)
                else:
                    link_from_record(record, file, where)
            except ValueError as exc:  # a well-formed but impossible date such as 2025-02-30
                raise InputError(f"invalid date: {exc}", file=file, path=where, value=record) from None
            section = ENTITIES if kind == "entity" else LINKS
            text = canonical_json(record)
            key = record_key(section, record, text)
            if section == ENTITIES:
                if key in seen:
                    raise InputError("duplicate entity id", file=file, path=f"{where}.id", value=key)
                seen.add(key)
            else:  # the same link twice is two stakes, as when the file is read directly
                repeats[key] = repeats.get(key, 0) + 1
                key = key if repeats[key] == 1 else f"{key}#{repeats[key]}"
            yield FactRecord(section, key, text, file, where)


def _check_size(path: Path, file: str, limits: Limits) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=file, value=file) from None
    if size > limits.max_input_bytes:
        what = f"the file is too large: {size:,} bytes"
        raise exceeded(what, "max_input_bytes", limits.max_input_bytes, "bytes", file=file, path="$", value=size)


def _check_count(kind: str, count: int, limits: Limits, file: str, where: str) -> None:
    field_name, noun = ("max_entities", "entities") if kind == "entity" else ("max_links", "links")
    limit = getattr(limits, field_name)
    if count > limit:
        raise exceeded(f"too many {noun}: {count:,}", field_name, limit, noun, file=file, path=where, value=count)
