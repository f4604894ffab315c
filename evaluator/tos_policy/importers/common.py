"""What every importer shares: reading records one at a time, building facts with
provenance, reconciling overlapping reports of one stake, and writing the output
atomically (a temporary file in the same directory, then os.replace), so that a
failed import never leaves a half-written file behind.

Structural problems (truncated JSON, an unknown record type, the wrong format
version, a field of the wrong type) raise InputError naming the file, the place and the
value, in the one location format of every reader (tos_policy.jsonio): `line N $.path`
in a JSON Lines file, `$[7].path` in a JSON array, `$.path` in a document.
Odd values inside one record (an unknown country, an unreadable percentage)
never stop an import: the field becomes unknown and a note says why.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from jsonschema.exceptions import best_match

from tos_policy import jsonio
from tos_policy.atomic import replaced_atomically
from tos_policy.errors import InputError
from tos_policy.facts.countries import normalise_country
from tos_policy.facts.load import facts_from_document, plain_decimal, validate_document
from tos_policy.jsonio import json_path
from tos_policy.schema_check import validator_for

HUNDRED = Decimal(100)
ZERO = Decimal(0)
PLACES = Decimal("1e-12")  # the facts schema allows 12 decimal places
STAKE_KINDS = frozenset({"shareholding", "nominee"})  # links that carry a share: a stake, or one held for a principal
NOMINEE = "nominee"  # shares held by the owner for a principal (the facts' link kind)
_MAX_DEPTH = 1000  # source records nest deeper than facts files; still bounded, never a recursion error


@contextmanager
def record_shape(file: str, location: str) -> Iterator[None]:
    """A record whose fields have a wrong type or shape that no shape check caught (an object
    where text is expected, a list where an object is) is bad input naming its file and place
    (`location`, e.g. `line 3 $` or `$[7]`), not an AttributeError or TypeError from deep inside
    an importer."""
    try:
        yield
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        raise InputError(
            f"a field has the wrong type or shape for this format ({type(exc).__name__})",
            file=file,
            path=location,
            value=str(exc),
        ) from None


def where(location: str, path: str = "$") -> str:
    """A JSON path inside a record, from the record's own place: ("line 3 $", "$.name") -> `line 3 $.name`,
    ("$[7]", "$.name") -> `$[7].name`, ("$", "$.name") -> `$.name`."""
    return location + path.removeprefix("$")


@functools.cache
def shape_validator(name: str) -> Any:
    """A validator of `name` in importers/shapes.json: the JSON types of the fields an importer reads."""
    shapes = jsonio.loads((Path(__file__).parent / "shapes.json").read_bytes(), file="shapes.json", exact=False)
    return validator_for({"$defs": shapes["$defs"], "$ref": f"#/$defs/{name}"})


def check_shape(shape: str, value: Any, file: str, location: str, what: str) -> None:
    """Refuse a record whose fields have the wrong JSON type for this format (`shape`: a definition
    of importers/shapes.json, the types of the fields the importer reads), naming the field's JSON path."""
    error = best_match(shape_validator(shape).iter_errors(value))
    if error is not None:
        raise InputError(
            f"not a valid {what}: {error.message}",
            file=file,
            path=where(location, json_path(error.absolute_path)),
            value=error.instance,
        )


# ----------------------------------------------------------------------------
# Progress: a rich bar on a terminal only; silent in pipes, files and CI logs.


class Progress:
    """Counts bytes read; draws a bar on stderr when stderr is a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    @contextmanager
    def file(self, path: Path) -> Iterator[Callable[[int], None]]:
        if not self.enabled:
            yield lambda _: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        total = path.stat().st_size if path.is_file() else None
        bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        with bar:
            task = bar.add_task(f"importing {path.name}", total=total)
            yield lambda size: bar.advance(task, size)


# ----------------------------------------------------------------------------
# Reading: JSON Lines are streamed one line at a time; a JSON array is read
# whole but decoded item by item, so a truncated array still names its record.


_SPACE = re.compile(r"[\s,]*")


@dataclass(frozen=True, slots=True)
class Record:
    number: int  # 1-based, in file order
    value: Any
    path: str  # JSON path of the record in its file: $ (a line or a whole file) or $[7]
    line: int | None = None  # its line in a JSON Lines file

    def locate(self, inner: str = "$") -> str:
        """Where a problem inside this record is, in the one location format of every
        reader (jsonio.location): `line 4 $.recordStatus` in JSON Lines, `$[3].recordStatus`
        in an array, `$.recordStatus` in a single document."""
        return jsonio.location(self.path + inner.removeprefix("$"), self.line)


_INCOMPLETE = ("not valid JSON: Expecting", "not valid JSON: Unterminated", "not valid JSON: Invalid control")


def _with_hint(exc: InputError, text: str) -> InputError:
    """A JSON text cut short ends inside a value: say so, it is the usual cause."""
    stripped = text.rstrip()
    if exc.message.startswith(_INCOMPLETE[:2]) and not stripped.endswith(("}", "]")):
        return InputError(f"{exc.message}; the file looks truncated", file=exc.file, path=exc.path, value=exc.value)
    return exc


def _decode(text: str, file: str, line: int | None) -> Any:
    """One record (line `line` of JSON Lines, or a whole file when line is None), read by the strict reader."""
    try:
        return jsonio.loads(text, file=file, line=line, max_depth=_MAX_DEPTH)
    except InputError as exc:
        raise _with_hint(exc, text) from None


def _array_items(text: str, file: str) -> Iterator[Record]:
    position = text.index("[") + 1
    number = 0
    while True:
        position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
        if position < len(text) and text[position] == "]":
            if text[position + 1 :].strip():
                raise InputError("text after the closing bracket", file=file, path=f"$[{number}]", value="]")
            return
        number += 1
        if position >= len(text):
            raise InputError(
                "the JSON array ends before its closing bracket (the file looks truncated)",
                file=file,
                path=f"$[{number - 1}]",
                value=text[-40:],
            )
        try:
            value, position = jsonio.decode_at(text, position, file=file, path=f"$[{number - 1}]")
        except InputError as exc:
            raise _with_hint(exc, text) from None
        yield Record(number, value, f"$[{number - 1}]")


def _text(raw: bytes, file: str, number: int | None) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start})",
            file=file,
            path=jsonio.location("$", number),
            value=raw[exc.start : exc.start + 8],
        ) from None


def read_json_records(path: Path, advance: Callable[[int], None] = lambda _: None) -> Iterator[Record]:
    """Records of a JSON Lines file (one per line, streamed; the record number is
    the line number), of a JSON array (one per item, read whole) or of a single
    JSON document spread over several lines (one record)."""
    file = str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=file, value=file) from None
    with handle:
        head, line_number = b"", 0
        while not head.strip():
            line = handle.readline()
            if not line:
                raise InputError("the file is empty", file=file, path="$", value="")
            head += line
            line_number += 1
            advance(len(line))
        first = _text(head, file, line_number).lstrip("\ufeff").strip()
        value: Any = None
        streamed = False
        if not first.startswith("["):
            try:
                value = jsonio.loads(first, file=file, line=line_number, max_depth=_MAX_DEPTH)
                streamed = True
            except InputError as exc:  # cut short: perhaps a document spread over several lines
                if not exc.message.startswith(_INCOMPLETE):
                    raise
                streamed = False
        if not streamed:
            rest = handle.read()
            advance(len(rest))
            text = _text(head + rest, file, None).lstrip("\ufeff").strip()
            if text.startswith("["):
                yield from _array_items(text, file)
            else:
                yield Record(1, _decode(text, file, None), "$")
            return
        yield Record(line_number, value, "$", line_number)
        for number, line in enumerate(handle, start=line_number + 1):
            advance(len(line))
            stripped = _text(line, file, number).strip()
            if stripped:
                yield Record(number, _decode(stripped, file, number), "$", number)


# ----------------------------------------------------------------------------
# Values: countries, percentages, dates.


def country(value: Any, notes: list[str], field_name: str) -> str | None:
    """An ISO alpha-2 code, or None (unknown) with a note when the source's value is not a country."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        code = normalise_country(value)
        if code is not None:
            return code
        if re.fullmatch(r"[A-Za-z]{2}-[A-Za-z0-9]{1,3}", value):  # a subdivision such as US-DE
            code = normalise_country(value[:2])
            if code is not None:
                return code
    notes.append(f"{field_name}: {value!r} is not a known country; read as unknown")
    return None


def one_country(values: list[Any], notes: list[str], field_name: str) -> str | None:
    """One country from a list of source values; several different ones mean unknown."""
    codes = {country(value, notes, field_name) for value in values if value not in (None, "")}
    if len(codes) == 1:
        return codes.pop()
    if len(codes) > 1:
        shown = sorted(code or "?" for code in codes)
        notes.append(f"{field_name}: the source gives several countries {shown}; read as unknown")
    return None


def percentage(value: Any, notes: list[str], label: str) -> Decimal | None:
    """An exact percentage from 0 to 100, or None with a note."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip().rstrip("%"))
    except (InvalidOperation, ValueError):
        notes.append(f"{label}: {value!r} is not a percentage; share read as unknown")
        return None
    if isinstance(value, bool) or not number.is_finite() or number < ZERO or number > HUNDRED:
        notes.append(f"{label}: {value!r} is not a percentage from 0 to 100; share read as unknown")
        return None
    return number


@dataclass(frozen=True, slots=True)
class Share:
    """A stake as the facts format writes it; None bounds mean 0 and 100."""

    min: Decimal | None = None
    max: Decimal | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False

    @staticmethod
    def exact(value: Decimal) -> Share:
        return Share(value, value)

    @property
    def low(self) -> Decimal:
        return ZERO if self.min is None else self.min

    @property
    def high(self) -> Decimal:
        return HUNDRED if self.max is None else self.max

    def fields(self) -> dict[str, Any]:
        low, high = self.low, self.high
        # More than 12 decimal places: widen outward to the nearest 12-place values.
        low_q = low.quantize(PLACES, rounding="ROUND_FLOOR")
        high_q = high.quantize(PLACES, rounding="ROUND_CEILING")
        if low_q == high_q and low == high and not (self.min_exclusive or self.max_exclusive):
            return {"percentage": plain_decimal(low_q)}
        if self.min is None and self.max is None:
            return {}  # unknown: the evaluator reads an absent share as 0-100
        out: dict[str, Any] = {"percentage_min": plain_decimal(low_q), "percentage_max": plain_decimal(high_q)}
        if self.min_exclusive and low_q == low:
            out["min_exclusive"] = True
        if self.max_exclusive and high_q == high:
            out["max_exclusive"] = True
        return out

    def hull(self, other: Share) -> Share:
        """The smallest range holding both (two sources disagree: either may be right)."""
        low, low_ex = min((self.low, self.min_exclusive), (other.low, other.min_exclusive), key=_low_key)
        high, high_ex = max((self.high, self.max_exclusive), (other.high, other.max_exclusive), key=_high_key)
        return Share(low, high, low_ex, high_ex)


def _low_key(item: tuple[Decimal, bool]) -> tuple[Decimal, bool]:
    return item  # False (inclusive) sorts before True: the inclusive bound is the lower one


def _high_key(item: tuple[Decimal, bool]) -> tuple[Decimal, bool]:
    return item[0], not item[1]  # the inclusive bound is the higher one


_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def day(value: Any, notes: list[str], label: str, *, end: bool = False) -> date | None:
    """A date from a date, a date-time or a partial date (2016, 2016-03).

    A partial start date is read as the first day of its period and a partial
    end date as the day after its period, so a stake is never cut short by
    guessing (the link is kept for the whole uncertain period)."""
    if value in (None, ""):
        return None
    match = _DATE.match(str(value))
    if not match:
        notes.append(f"{label}: {value!r} is not a date; ignored")
        return None
    year, month, dom = int(match[1]), match[2], match[3]
    try:
        if dom is not None:
            return date(year, int(str(month)), int(dom))
        if month is not None:
            first = date(year, int(month), 1)
            if not end:
                return first
            return date(year + (first.month == 12), first.month % 12 + 1, 1)
        return date(year + 1, 1, 1) if end else date(year, 1, 1)
    except ValueError:
        notes.append(f"{label}: {value!r} is not a date; ignored")
        return None


# ----------------------------------------------------------------------------
# Building facts.


@dataclass
class LinkDraft:
    owner: str
    asset: str
    kind: str
    share: Share
    start: date | None
    end: date | None
    source: dict[str, Any]
    identifiers: list[dict[str, Any]] = field(default_factory=list)
    acting_jointly: str | None = None
    principal: str | None = None  # kind nominee: whom the owner holds the shares for (None: undisclosed)


@dataclass
class Builder:
    """Collects entities and links with their provenance; reports what it skipped."""

    format: str
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: list[LinkDraft] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    records: int = 0
    placeholders: int = 0
    merged: int = 0
    notes: list[str] = field(default_factory=list)

    def entity(
        self,
        entity_id: str,
        entity_type: str,
        *,
        name: str | None,
        headquarters: str | None,
        jurisdiction: str | None,
        identifiers: list[dict[str, Any]],
        source: dict[str, Any],
        notes: list[str],
    ) -> None:
        record: dict[str, Any] = {"id": entity_id, "type": entity_type}
        if name:
            record["name"] = name[:1024]
        record["headquarters"] = headquarters
        record["jurisdiction"] = jurisdiction
        record["identifiers"] = identifiers
        record["source"] = {"format": self.format, **source, **({"notes": notes} if notes else {})}
        self.entities[entity_id] = record

    def link(self, draft: LinkDraft) -> None:
        draft.source = {"format": self.format, **draft.source}
        self.links.append(draft)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def placeholder(self, entity_id: str, entity_type: str, note: str, identifiers: list[dict[str, Any]]) -> None:
        """An entity that links name but the input does not describe: nothing known but its id."""
        if entity_id in self.entities:
            return
        self.placeholders += 1
        self.entities[entity_id] = {
            "id": entity_id,
            "type": entity_type,
            "headquarters": None,
            "jurisdiction": None,
            "identifiers": identifiers,
            "source": {"format": self.format, "placeholder": True, "notes": [note]},
        }

    def document(self, files: list[str]) -> dict[str, Any]:
        links = reconcile_stakes(self.links)
        ownership = [_link_json(draft) for draft in links]
        return {
            "source": {
                "importer": f"tos-policy import {self.format}",
                "format": self.format,
                "files": files,
                "records": self.records,
                "skipped": dict(sorted(self.skipped.items())),
                **({"notes": self.notes} if self.notes else {}),
            },
            "entities": list(self.entities.values()),
            "ownership": ownership,
        }


def _link_json(draft: LinkDraft) -> dict[str, Any]:
    out: dict[str, Any] = {"owner": draft.owner, "asset": draft.asset, "kind": draft.kind}
    if draft.kind in STAKE_KINDS or draft.share.min is not None or draft.share.max is not None:
        out.update(draft.share.fields())
    if draft.start is not None:
        out["start_date"] = draft.start.isoformat()
    if draft.end is not None:
        out["end_date"] = draft.end.isoformat()
    if draft.acting_jointly is not None:
        out["acting_jointly"] = draft.acting_jointly
    if draft.kind == NOMINEE:
        out["principal"] = draft.principal
    out["identifiers"] = draft.identifiers
    out["source"] = draft.source
    return out


def reconcile_stakes(links: list[LinkDraft]) -> list[LinkDraft]:
    """Several reports of one owner's stake in one asset over overlapping periods
    are versions of one stake, not stakes to add up. Where they overlap the stake
    is read as the range from the lowest to the highest reported value, so the
    three-valued decision reviews what the sources leave open."""
    groups: dict[tuple[str, str, str, str | None, str | None], list[LinkDraft]] = {}
    for draft in links:
        if draft.kind in STAKE_KINDS:
            key = (draft.owner, draft.asset, draft.kind, draft.acting_jointly, draft.principal)
            groups.setdefault(key, []).append(draft)
    replaced: dict[int, list[LinkDraft]] = {}
    for group in groups.values():
        if len(group) < 2 or not _overlapping(group):
            continue
        replaced[id(group[0])] = _split(group)
        for draft in group[1:]:
            replaced[id(draft)] = []
    out: list[LinkDraft] = []
    for draft in links:
        out.extend(replaced.get(id(draft), [draft]))
    return out


def _overlapping(group: list[LinkDraft]) -> bool:
    ordered = sorted(group, key=lambda d: d.start or date.min)
    for before, after in itertools.pairwise(ordered):
        if before.end is None or after.start is None or after.start < before.end:
            return True
    return False


def _split(group: list[LinkDraft]) -> list[LinkDraft]:
    bounds = sorted({d for draft in group for d in (draft.start, draft.end) if d is not None})
    edges: list[date | None] = [None, *bounds, None]
    pieces: list[LinkDraft] = []
    for start, end in itertools.pairwise(edges):
        active = [draft for draft in group if _covers(draft, start, end)]
        if not active:
            continue
        share = active[0].share
        for draft in active[1:]:
            share = share.hull(draft.share)
        sources = [draft.source for draft in active]
        if pieces and pieces[-1].end == start and pieces[-1].share == share and pieces[-1].source["reports"] == sources:
            pieces[-1].end = end
            continue
        source: dict[str, Any] = {"format": group[0].source.get("format"), "reports": sources}
        if len(active) > 1:
            source["notes"] = [
                f"{len(active)} overlapping reports of this stake; read as the range of the reported values"
            ]
        identifiers = [identifier for draft in active for identifier in draft.identifiers]
        pieces.append(
            LinkDraft(
                active[0].owner,
                active[0].asset,
                active[0].kind,
                share,
                start,
                end,
                source,
                identifiers,
                active[0].acting_jointly,
                active[0].principal,
            )
        )
    return pieces


def _covers(draft: LinkDraft, start: date | None, end: date | None) -> bool:
    """Whether the draft holds over the whole elementary period [start, end)."""
    starts_in_time = draft.start is None or (start is not None and draft.start <= start)
    ends_in_time = draft.end is None or (end is not None and end <= draft.end)
    return starts_in_time and ends_in_time


# ----------------------------------------------------------------------------
# Writing.


def write_atomically(document: dict[str, Any], output: Path) -> None:
    """Validate the facts, then write them to a temporary file beside OUTPUT and
    rename it into place: OUTPUT is either the complete new file or untouched."""
    validate_document(document, str(output))
    facts_from_document(document, str(output))  # references, ranges, countries: what `validate` checks
    directory = output.resolve().parent
    if not directory.is_dir():
        raise InputError("the output directory does not exist", file=str(output), path="-o", value=str(directory))
    with replaced_atomically(output) as temporary, temporary.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def schema_error(message: str, file: str, location: str, error_path: Any, value: Any) -> InputError:
    return InputError(message, file=file, path=where(location, json_path(error_path)), value=value)


# ----------------------------------------------------------------------------
# Invalid records: every one listed, or skipped with --skip-invalid.

LISTED_ERRORS = 20  # errors listed by name; the rest are counted
# What an owner read from nowhere (an unreadable record) may hold: a stake of unknown size and control.
UNREADABLE_KINDS = ("shareholding", "other_control")


class InvalidRecords(InputError):
    """Records that do not meet their format's schema: every error, each naming its file,
    record and JSON path. The first is the error's own text; `lines()` lists them all (the
    first LISTED_ERRORS, then a count of the rest)."""

    def __init__(self, errors: list[InputError], records: int, *, unskippable: bool = False) -> None:
        self.errors = errors
        self.records = records
        self.unskippable = unskippable
        first = errors[0]
        super().__init__(
            f"{first.message} (and {len(errors) - 1} more errors; {records} invalid records in all)"
            if len(errors) > 1
            else first.message,
            file=first.file,
            path=first.path,
            value=first.value,
        )

    def lines(self) -> list[str]:
        if len(self.errors) == 1:  # one bad record: one line, as every other input error
            error = self.errors[0]
            return [
                InputError(
                    f"{error.message}; {self._outcome()}", file=error.file, path=error.path, value=error.value
                ).render()
            ]
        shown = [error.render() for error in self.errors[:LISTED_ERRORS]]
        rest = len(self.errors) - len(shown)
        summary = f"{len(self.errors)} errors in {self.records} invalid records"
        if rest:
            summary += f" ({rest} more not listed)"
        return [*shown, f"{summary}; {self._outcome()}"]

    def _outcome(self) -> str:
        if self.unskippable:
            return (
                "they cannot be skipped: what they are about cannot be read, so no entity could be"
                " reviewed for them; nothing was written"
            )
        return "nothing was written (--skip-invalid imports the rest and reviews what invalid records are about)"


def review_unreadable(
    builder: Builder, subject: str, number: int, error: InputError, statement: str, identifier_scheme: str
) -> None:
    """--skip-invalid: what an unreadable record is about gets an owner nobody can read, holding
    a stake of unknown size and control, and a disclosure fact (status none) naming the record:
    it is reviewed, never allowed on what could be read."""
    where_text = f"{error.file}: {error.path}"
    owner = f"{subject}#unreadable-record-{number}"
    note = f"an owner described by an invalid record ({where_text}: {error.message})"
    builder.placeholder(owner, "unknown", note, [{"scheme": identifier_scheme, "id": where_text}])
    source = {"file": error.file, "location": error.path, "notes": [note]}
    # Its interest is unknown: a stake of any size and control (control is never capped by the
    # stakes others are known to hold, so reconciliation cannot read it away).
    for kind in UNREADABLE_KINDS:
        builder.link(LinkDraft(owner, subject, kind, Share(), None, None, dict(source), []))
    fact = {
        "status": "none",
        "statement": statement,
        "note": f"a record about its ownership could not be read: {error.message}"[:2000],
        "source": {"format": builder.format, **source},
    }
    facts = builder.entities[subject].setdefault("disclosure", [])
    if fact not in facts:
        facts.append(fact)


def note_skipped(builder: Builder, errors: list[InputError]) -> None:
    """Each skipped invalid record counted, and named in the document's notes (the first LISTED_ERRORS)."""
    for number, error in enumerate(errors, start=1):
        builder.skip("invalid record (--skip-invalid)")
        if number <= LISTED_ERRORS:
            builder.notes.append(f"invalid record skipped: {error.file}: {error.path}: {error.message}")
    if len(errors) > LISTED_ERRORS:
        builder.notes.append(f"and {len(errors) - LISTED_ERRORS} more invalid records skipped")
