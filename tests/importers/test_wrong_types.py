"""Every importer, every field of real records, every wrong JSON type: a clean refusal naming the
file and the field's place in the one location format (`line N $.path` in JSON Lines, `$[i].path`
in an array, `$.path` in a document), or an import that reads the odd value as unknown. Never an
AttributeError or TypeError (exit 1), never `record N`.

The records are the published samples under tests/data/external (and the FollowTheMoney sample),
each field in turn replaced by a number, a string, a list, an object and null.
SECURITY.md promise 1."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tos_policy.errors import InputError
from tos_policy.importers import convert

from .helpers import DATA, EXTERNAL

SAMPLES = [
    *(("bods", path) for path in sorted((EXTERNAL / "bods-v04-fixtures").glob("*.json"))),
    *(("bods", path) for path in sorted((EXTERNAL / "data-standard").glob("*.json"))),
    *(("bods", path) for path in sorted((EXTERNAL / "opencheck-bods").glob("*.jsonl"))[:1]),
    *(("gleif", path) for path in sorted((EXTERNAL / "gleif-api").glob("*.json"))),
    *(("gleif", path) for path in sorted((EXTERNAL / "gleif-golden-copy").glob("*.json"))),
    ("ftm", DATA / "ftm" / "volga-group.ftm.json"),
]
WRONG: list[Any] = [7, "x", [], {}, None]
LOCATION = re.compile(r"(line (?P<line>\d+) )?\$(?P<path>.*)")


def _records(path: Path) -> tuple[str, list[Any]]:
    """('lines' | 'array' | 'document', records) as the importers read the file."""
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    if text.lstrip().startswith("["):
        return "array", json.loads(text)
    if all(line.startswith("{") and line.endswith("}") for line in lines) and len(lines) > 1:
        return "lines", [json.loads(line) for line in lines]
    return "document", [json.loads(text)]


def _write(kind: str, records: list[Any], target: Path) -> None:
    if kind == "lines":
        target.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    else:
        target.write_text(json.dumps(records if kind == "array" else records[0], indent=1), encoding="utf-8")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a record (two items of each list)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:2]):
            yield from _paths(value, (*prefix, index))


def _replaced(record: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    changed = copy.deepcopy(record)
    node = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


def _cases() -> Iterator[Any]:
    for fmt, path in SAMPLES:
        _, records = _records(path)
        for index, record in enumerate(records[:2]):
            for place in _paths(record):
                shown = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in place)
                yield pytest.param(fmt, path, index, place, id=f"{path.name}#{index}${shown}")


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "sample", "index", "place"), list(_cases()))
def test_a_field_of_the_wrong_type_is_named_by_its_json_path(
    fmt: str, sample: Path, index: int, place: tuple[Any, ...], tmp_path: Path
) -> None:
    kind, records = _records(sample)
    target = tmp_path / sample.name
    own = f"line {index + 1} $" if kind == "lines" else (f"$[{index}]" if kind == "array" else "$")
    for wrong in WRONG:
        if kind == "lines" and index == 0 and not place and isinstance(wrong, list):
            continue  # a first line that is an array makes the file a JSON array, read as one (another test)
        changed = list(records)
        changed[index] = _replaced(records[index], place, wrong)
        _write(kind, changed, target)
        try:
            convert(fmt, [target])
        except InputError as exc:
            where = f"{exc.file}: {exc.path}"
            assert exc.file == str(target), where
            assert LOCATION.fullmatch(exc.path or ""), f"{where}: not the one location format ({wrong!r} at {place})"
            assert "\n" not in exc.message
            # the refusal is about this record (or the file as a whole), never another place; a document
            # replaced by a scalar is one line, which the importers read as a line of JSON Lines
            assert exc.path.startswith(own) or exc.path in ("$", "line 1 $"), f"{where}: {exc.message} ({wrong!r} at {place})"
