"""Load JSON Lines facts with DuckDB, checked set-wise, deciding exactly as the row loader.

The row loader (streaming.load_streaming) reads every line with the strict reader, checks
it against the schema and makes its entity or link, in Python, one line at a time. Here
DuckDB reads the lines of a file as one table and proves, for all of them at once, which
lines are records whose meaning nothing can blur:

- the line is one flat JSON object whose values are strings without escapes, null, true
  or false (a regular expression of that strict subset of JSON, so DuckDB's lenient
  parser, which takes trailing commas and NaN, never decides what a line means);
- no key appears twice (its keys against its distinct keys);
- its keys are among the schema's properties for its kind, the required ones present;
- every value satisfies its property's schema: in SQL where the keywords translate
  (type, enum, const, lengths, plain patterns), else by the schema's own compiled
  validator run once per distinct value; what the record as a whole must satisfy
  (a kind that needs a principal) by the validator, once per distinct key set and the
  values those conditions read.

Records of one shape (all but their identity: id and name, or owner and asset) are made
once by the row loader's own functions and copied with their identity. Every other line,
whatever its fault or form, is read, checked and made by the row loader's own code, in
file order. If anything at all is refused, or the input is not a regular JSON Lines
file read whole, the row loader reads the input again and gives its own answer: the same
error, on the same record, with the same message. Each check may refuse more than the
schema does (such a line is read by the row loader), never less: a lenient parse cannot
turn into an allow."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import fastjsonschema
import pyarrow as pa

from tos_policy.errors import InputError
from tos_policy.facts.load import Entity, Facts, Link, complete, entity_from_record, link_from_record
from tos_policy.facts.streaming import RecordValidator, add_record, line_record, load_streaming
from tos_policy.limits import Limits, check_deadline
from tos_policy.resources import schema

_STRING = r'"[^"\\\x00-\x1f]*"'  # no escape, no control character: the text is the value
_VALUE = rf"(?:{_STRING}|null|true|false)"
_PAIR = rf"[ \t\r]*{_STRING}[ \t\r]*:[ \t\r]*{_VALUE}[ \t\r]*"
FLAT_LINE = rf"[ \t\r]*\{{{_PAIR}(?:,{_PAIR})*\}}[ \t\r]*"

# What identifies one record among records of the same shape: a template made from the
# first record of a shape serves the others with these fields (and its place) replaced.
IDENTITY = {"entity": ("id", "name"), "link": ("owner", "asset")}

_ANNOTATIONS = frozenset({"description", "default", "examples", "title", "$comment"})
_JSON_TYPES = {
    "string": ("VARCHAR",),
    "null": ("NULL",),
    "boolean": ("BOOLEAN",),
    "integer": ("UBIGINT", "BIGINT"),
    "number": ("UBIGINT", "BIGINT", "DOUBLE"),
    "array": ("ARRAY",),
    "object": ("OBJECT",),
}
# Patterns RE2 (DuckDB) and Python's re read alike on strings without a newline: no escape but "\.".
_PLAIN_PATTERN = re.compile(r"(?:[\^$\[\]0-9A-Za-z\-.{},()?*+|:_ ]|\\\.)*")
# Keywords that constrain one type only: vacuous for another (JSON Schema), refused here for it.
_ONLY_FOR = {
    "items": "ARRAY",
    "minItems": "ARRAY",
    "maxItems": "ARRAY",
    "prefixItems": "ARRAY",
    "uniqueItems": "ARRAY",
    "contains": "ARRAY",
    "properties": "OBJECT",
    "required": "OBJECT",
    "additionalProperties": "OBJECT",
    "minProperties": "OBJECT",
    "maxProperties": "OBJECT",
    "minimum": "NUMBER",
    "maximum": "NUMBER",
    "exclusiveMinimum": "NUMBER",
    "exclusiveMaximum": "NUMBER",
    "multipleOf": "NUMBER",
}
_RECORD_KEYWORDS = frozenset({"type", "required", "additionalProperties", "properties"}) | _ANNOTATIONS
_CONDITION_KEYWORDS = frozenset({"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "properties", "required"})


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/$defs/"):
            return {"not": {}}  # unknown reference: never proven here
        node = {**defs[ref.removeprefix("#/$defs/")], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def sql_check(node: dict[str, Any], defs: dict[str, Any], kind: str, text: str) -> str | None:
    """A SQL condition on a JSON value (`kind`: its json_type, `text`: its string) that holds only
    if the value satisfies `node`; None where a keyword does not translate (checked in Python)."""
    node = _resolve(node, defs)
    parts: list[str] = []
    for keyword, argument in node.items():
        if keyword in _ANNOTATIONS:
            continue
        if keyword == "type":
            names = [argument] if isinstance(argument, str) else list(argument)
            types = [t for name in names for t in _JSON_TYPES.get(name, ())]
            parts.append(f"{kind} IN ({', '.join(map(_quote, types))})" if types else "false")
        elif keyword in ("enum", "const"):
            values = argument if keyword == "enum" else [argument]
            if not all(isinstance(value, str) for value in values):
                return None
            parts.append(f"({kind} = 'VARCHAR' AND {text} IN ({', '.join(map(_quote, values))}))")
        elif keyword in ("minLength", "maxLength") and isinstance(argument, int):
            operator = ">=" if keyword == "minLength" else "<="
            parts.append(f"({kind} <> 'VARCHAR' OR length({text}) {operator} {argument})")
        elif keyword == "pattern" and _PLAIN_PATTERN.fullmatch(argument):
            parts.append(f"({kind} <> 'VARCHAR' OR regexp_matches({text}, {_quote(argument)}))")
        elif keyword == "anyOf":
            branches = [sql_check(branch, defs, kind, text) for branch in argument]
            if any(branch is None for branch in branches):
                return None
            parts.append("(" + " OR ".join(f"({branch})" for branch in branches) + ")")
        elif keyword in _ONLY_FOR:
            only = _ONLY_FOR[keyword]
            excluded = ("UBIGINT", "BIGINT", "DOUBLE") if only == "NUMBER" else (only,)
            parts.append(f"{kind} NOT IN ({', '.join(map(_quote, excluded))})")  # such a value: the row loader's
        else:
            return None
    return " AND ".join(parts) if parts else "true"


def _mentioned(node: Any) -> set[str] | None:
    """The properties the record-level conditions read (their values and presence); None if they
    use a keyword whose meaning could reach beyond them."""
    if not isinstance(node, dict):
        return None
    found: set[str] = set()
    for keyword, argument in node.items():
        if keyword in _ANNOTATIONS or keyword in ("const", "enum", "type"):
            continue
        if keyword not in _CONDITION_KEYWORDS:
            return None
        if keyword == "required":
            found.update(argument)
            continue
        children = list(argument.values()) if keyword == "properties" else argument
        if keyword == "properties":
            found.update(argument)
        for child in children if isinstance(children, list) else [children]:
            inner = _mentioned(child)
            if inner is None:
                return None
            found |= inner
    return found


@dataclass
class _Kind:
    """What the set-wise checks need of one record kind's schema."""

    name: str
    properties: list[str]
    required: list[str]
    in_sql: dict[str, str]  # property -> SQL condition on its value (the column v_<position>)
    in_python: dict[str, Callable[[Any], Any]]  # property -> its compiled validator
    conditions: list[str] | None  # properties the record-level conditions read; None: none to check
    record: Callable[[Any], Any]  # the compiled validator of the whole record

    @staticmethod
    def of(name: str) -> _Kind | None:
        full = schema("facts")
        defs = full["$defs"]
        node = _resolve(full["$defs"][name], defs)
        if node.get("type") != "object" or node.get("additionalProperties") is not False:
            return None
        extra = {key: value for key, value in node.items() if key not in _RECORD_KEYWORDS}
        conditions = _mentioned(extra) if extra else set()
        if conditions is None or conditions & set(IDENTITY[name]):
            return None  # lines of one shape share their conditions' values: identity must not be one
        properties = list(node["properties"])
        in_sql: dict[str, str] = {}
        in_python: dict[str, Callable[[Any], Any]] = {}
        for position, prop in enumerate(properties):
            column = f"v_{position}"
            # A flat line's value as JSON text: "string" (no escape: the text is the value), null, true, false.
            kind = f"CASE left({column}, 1) WHEN '\"' THEN 'VARCHAR' WHEN 'n' THEN 'NULL' ELSE 'BOOLEAN' END"
            condition = sql_check(node["properties"][prop], defs, kind, f"{column}[2:-2]")
            if condition is None:
                in_python[prop] = fastjsonschema.compile({"$defs": defs, **node["properties"][prop]})
            else:
                in_sql[prop] = condition
        return _Kind(
            name,
            properties,
            list(node.get("required", [])),
            in_sql,
            in_python,
            sorted(conditions) if extra else None,
            fastjsonschema.compile({"$defs": defs, **node}),
        )

    def query(self, present: set[str]) -> tuple[list[str], str]:
        """(properties, SQL): the line number and the values of `present` properties (JSON text,
        NULL when absent) of every flat line of this kind that the SQL checks admit."""
        used = [prop for prop in self.properties if prop in present]
        values = ", ".join(
            f"json_extract(j, {_quote(_path(prop))})::VARCHAR AS v_{self.properties.index(prop)}" for prop in used
        )
        listed = "[" + ", ".join(map(_quote, self.properties)) + "]"
        checks = ["len(keys) = len(list_distinct(keys))", f"list_has_all({listed}, keys)"]
        if self.required:
            checks.append(f"list_has_all(keys, [{', '.join(map(_quote, self.required))}])")
        for prop in used:
            column = f"v_{self.properties.index(prop)}"
            checks.append(f"({column} IS NULL OR NOT contains({column}, '\\'))")  # as the line: no escape
            if prop in self.in_sql:
                checks.append(f"({column} IS NULL OR ({self.in_sql[prop]}))")
        # Lines of one shape (equal in all but their identity) are numbered alike; only the first
        # line of a shape brings its other values to Python.
        rest = [f"v_{self.properties.index(prop)}" for prop in used if prop not in IDENTITY[self.name]]
        shape = f"dense_rank() OVER (ORDER BY {', '.join(f'coalesce({c}, {_quote(chr(0))})' for c in rest)})"
        columns = "".join(
            f", v_{self.properties.index(prop)}"
            if prop in IDENTITY[self.name]
            else f", CASE WHEN first THEN v_{self.properties.index(prop)} END"
            for prop in used
        )
        sql = (
            f"SELECT n, shape{columns} FROM ("
            "SELECT *, row_number() OVER (PARTITION BY shape ORDER BY n) = 1 AS first FROM ("
            f"SELECT *, {shape if rest else '1'} AS shape FROM ("
            f"SELECT n, keys{', ' if used else ''}{values} FROM flat WHERE kind = {_quote(self.name)}) "
            f"WHERE {' AND '.join(checks)})) ORDER BY n"
        )
        return used, sql


def _path(prop: str) -> str:
    return '$."' + prop.replace('"', '\\"') + '"'


_BLANK = " \t\n\r\x0b\x0c"  # what bytes.strip() strips: the row loader's blank lines
_CONSTANTS = {"null": None, "true": True, "false": False}


def _value(text: str) -> Any:
    """A flat line's value from its JSON text (a string without escapes, or a constant)."""
    return text[1:-1] if text[0] == '"' else _CONSTANTS[text]


_CLASSIFY = r"""
CREATE OR REPLACE TEMP TABLE flat AS
SELECT n, j, keys,
    CASE WHEN list_has_any(keys, ['owner', 'asset']) THEN 'link'
         WHEN list_has_any(keys, ['id', 'type']) THEN 'entity' END AS kind
FROM (SELECT n, j, json_keys(j) AS keys FROM lines WHERE regexp_full_match(j, $flat))
"""


class _Fallback(Exception):
    """The input is not one the set-wise path reads: the row loader does."""


def _read_whole(path: Path, limits: Limits) -> str:
    """The text of a regular file within the byte limit; _Fallback for anything else (the row
    loader then reads it, with its own errors)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        raise _Fallback from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limits.max_input_bytes:
            raise _Fallback
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limits.max_input_bytes + 1)
    except OSError:
        raise _Fallback from None
    finally:
        os.close(fd)
    if len(data) > limits.max_input_bytes:
        raise _Fallback
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Fallback from None


Made = Entity | Link


def _admitted(db: duckdb.DuckDBPyConnection, kinds: list[_Kind], file: str) -> dict[int, Made]:
    """Line number -> the entity or link of every line the set-wise checks admit. Lines of one
    shape (all values but the identity) are checked and made once, by the row loader's functions."""
    found: dict[int, Made] = {}
    for kind in kinds:
        present = {key for (keys,) in db.execute(_KEYS, {"kind": kind.name}).fetchall() for key in keys}
        used, sql = kind.query(present)
        table = db.sql(sql).to_arrow_table()
        numbers, shapes = table.column(0).to_pylist(), table.column(1).to_pylist()
        columns = [table.column(i + 2).to_pylist() for i in range(len(used))]
        del table  # the rows live on as Python values: one copy at a time
        identity = [used.index(prop) if prop in used else None for prop in IDENTITY[kind.name]]
        checked_apart = [i for i in identity if i is not None and used[i] in kind.in_python]
        made: dict[int, Made | None] = {}
        checks = _Checks(kind)
        rows = zip(*columns, strict=True) if columns else [()] * len(numbers)
        for number, key, row in zip(numbers, shapes, rows, strict=True):
            if key not in made:  # the shape's first line, with all its values
                made[key] = _template(checks, used, row, file, f"line {number} $")
            template = made[key]
            if template is None or any(not _valid(kind.in_python[used[i]], _value(row[i])) for i in checked_apart):
                continue  # the row loader reads it
            first, second = (None if i is None or row[i] is None else _value(row[i]) for i in identity)
            where = f"{file}:line {number} $"
            if isinstance(template, Entity) and isinstance(first, str):
                found[number] = template._replace(id=first, name=second, path=where)
            elif isinstance(template, Link) and isinstance(first, str) and isinstance(second, str):
                found[number] = template._replace(owner=first, asset=second, path=where)
    return found


_KEYS = "SELECT DISTINCT keys FROM flat WHERE kind = $kind"


class _Checks:
    """What Python checks of one kind, each once: a property's distinct values, the record-level
    conditions per distinct key set and the values they read."""

    def __init__(self, kind: _Kind) -> None:
        self.kind = kind
        self.values: dict[tuple[str, Any], bool] = {}
        self.shapes: dict[tuple[Any, ...], bool] = {}

    def admit(self, record: dict[str, Any]) -> bool:
        kind = self.kind
        for prop, validate in kind.in_python.items():
            if prop in record:
                key = (prop, record[prop])
                if key not in self.values:
                    self.values[key] = _valid(validate, record[prop])
                if not self.values[key]:
                    return False
        if kind.conditions is None:
            return True
        shape = (tuple(record), tuple(record.get(prop, ...) for prop in kind.conditions))
        if shape not in self.shapes:
            self.shapes[shape] = _valid(kind.record, record)
        return self.shapes[shape]


def _template(checks: _Checks, used: list[str], row: tuple[Any, ...], file: str, where: str) -> Made | None:
    """The entity or link of one line, made by the row loader's functions, if the checks left to
    Python admit it; None: the row loader reads it."""
    record = {prop: _value(text) for prop, text in zip(used, row, strict=True) if text is not None}
    if not checks.admit(record):
        return None
    try:
        if checks.kind.name == "entity":
            return entity_from_record(record, file, where, cite=False)
        return link_from_record(record, file, where, cite=False)
    except (InputError, ValueError):
        return None


def _valid(validate: Callable[[Any], Any], value: Any) -> bool:
    try:
        validate(value)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _load_file(facts: Facts, path: Path, kinds: list[_Kind], limits: Limits, deadline: float | None) -> None:
    file = str(path)
    text = _read_whole(path, limits)
    check_deadline(deadline, limits.max_seconds)
    lines = text.split("\n")
    del text
    if lines and lines[-1] == "":
        lines.pop()  # the newline ending the last line starts no line
    db = duckdb.connect(":memory:", config={"threads": 2})
    try:
        db.execute("SET enable_progress_bar = false")  # stderr carries the summary or one error line
        db.register("lines_arrow", pa.table({"n": pa.array(range(1, len(lines) + 1), pa.int64()), "j": lines}))
        db.execute("CREATE TEMP TABLE lines AS SELECT * FROM lines_arrow")
        db.unregister("lines_arrow")
        db.execute(_CLASSIFY, {"flat": FLAT_LINE})
        db.execute("DROP TABLE lines")  # the flat lines are kept in `flat`; Python keeps every line
        check_deadline(deadline, limits.max_seconds)
        flat = _admitted(db, kinds, file)
    finally:
        db.close()
    check_deadline(deadline, limits.max_seconds)
    validators = {"entity": RecordValidator("entity"), "link": RecordValidator("link")}
    depth = limits.max_json_depth
    facts.files.append(file)
    for number, line in enumerate(lines, start=1):
        made = flat.get(number)
        if isinstance(made, Entity):
            if len(facts.entities) >= limits.max_entities or made.id in facts.entities:
                raise _Fallback  # the row loader names the fault
            facts.entities[made.id] = made
        elif made is not None:
            if len(facts.links) >= limits.max_links:
                raise _Fallback
            facts.links.append(made)
        elif line.strip(_BLANK):  # as the row loader: its reader, its checks, its errors
            kind, where, parsed = line_record(number, line.encode("utf-8"), file, depth)
            validators[kind].check(parsed, file, where)
            add_record(facts, kind, parsed, file, where, limits)
        if number % 16_384 == 0:
            check_deadline(deadline, limits.max_seconds)


def load_setwise(
    paths: Iterable[Path],
    progress: Callable[[int], None] | None = None,
    *,
    limits: Limits | None = None,
    deadline: float | None = None,
) -> Facts:
    """The facts load_streaming gives for `paths` (without citations: screening cites none), read
    set-wise where this module can prove it reads them alike; otherwise, and on any refusal,
    load_streaming's own answer."""
    paths = list(paths)
    limits = limits or Limits()
    kinds = [kind for kind in (_Kind.of("entity"), _Kind.of("link")) if kind is not None]
    if len(kinds) < 2 or limits.max_json_depth < 2 or not all(p.suffix in (".jsonl", ".ndjson") for p in paths):
        return load_streaming(paths, progress, limits=limits, deadline=deadline)
    facts = Facts()
    try:
        for path in paths:
            _load_file(facts, path, kinds, limits, deadline)
            if progress is not None:
                progress(len(facts.entities) + len(facts.links))
    except (_Fallback, InputError, ValueError):
        # The row loader's answer: its error on the first bad record, in its words.
        return load_streaming(paths, progress, limits=limits, deadline=deadline)
    return complete(facts)  # the same facts as the row loader's: the same checks of references
