"""Load facts files: parse JSON exactly, validate against schemas/facts.schema.json,
normalise countries and percentages, and check the graph's references.

Every problem becomes an InputError naming the file, the JSON path and the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from .countries import normalise_country
from .errors import InputError
from .resources import schema

HUNDRED = Decimal(100)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Share:
    """An exact percentage range; an exact stake has min == max, both inclusive."""

    min: Decimal
    max: Decimal
    min_exclusive: bool = False
    max_exclusive: bool = False

    @property
    def exact(self) -> bool:
        return self.min == self.max and not (self.min_exclusive or self.max_exclusive)

    def text(self) -> str:
        if self.exact:
            return f"{_plain(self.min)}%"
        low = ("more than " if self.min_exclusive else "") + f"{_plain(self.min)}%"
        high = ("less than " if self.max_exclusive else "at most ") + f"{_plain(self.max)}%"
        return f"{low} to {high}"

    def as_json(self) -> dict[str, Any]:
        if self.exact:
            return {"percentage": _plain(self.min)}
        return {
            "percentage_min": _plain(self.min),
            "percentage_max": _plain(self.max),
            "min_exclusive": self.min_exclusive,
            "max_exclusive": self.max_exclusive,
        }


UNKNOWN_SHARE = Share(ZERO, HUNDRED)


@dataclass(frozen=True, slots=True)
class Entity:
    id: str
    type: str
    name: str | None = None
    headquarters: str | None = None
    jurisdiction: str | None = None
    path: str = "$"


@dataclass(frozen=True, slots=True)
class Link:
    owner: str
    asset: str
    kind: str
    share: Share
    start_date: date | None = None
    end_date: date | None = None
    acting_jointly: str | None = None
    path: str = "$"

    def active_on(self, day: date) -> bool:
        """Start inclusive, end exclusive: a stake sold on day D no longer counts on D."""
        if self.start_date is not None and day < self.start_date:
            return False
        return self.end_date is None or day < self.end_date


@dataclass
class Facts:
    """Entities by id (file order kept) and links, from one or more files."""

    entities: dict[str, Entity] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def active_links(self, as_of: date) -> list[Link]:
        return [link for link in self.links if link.active_on(as_of)]


def _plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 60, 33.33."""
    return format(value.normalize(), "f")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number allowed in facts")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in one object")
        result[key] = value
    return result


def parse_json_bytes(raw: bytes, file: str) -> Any:
    """Parse JSON with exact decimals; reject NaN, Infinity, duplicate keys, bad UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start})", file=file, path="$", value=raw[exc.start : exc.start + 8]
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark is harmless; drop it
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicate_keys,
        )
    except json.JSONDecodeError as exc:
        snippet = text[max(0, exc.pos - 10) : exc.pos + 10]
        raise InputError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", file=file, value=snippet
        ) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", file=file, value=text[:40]) from None
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}", file=file, value=None) from None


def json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


_validator: Draft202012Validator | None = None


def _facts_validator() -> Draft202012Validator:
    global _validator
    if _validator is None:
        _validator = Draft202012Validator(schema("facts"), format_checker=FormatChecker())
    return _validator


def validate_document(document: Any, file: str) -> None:
    error = best_match(_facts_validator().iter_errors(document))
    if error is not None:
        raise InputError(error.message, file=file, path=json_path(error.absolute_path), value=error.instance)


def load_facts(paths: Iterable[str | Path]) -> Facts:
    facts = Facts()
    for path in paths:
        file = str(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read file: {exc.strerror}", file=file, value=file) from None
        add_document(facts, parse_json_bytes(raw, file), file)
    check_references(facts)
    return facts


def facts_from_document(document: Any, file: str = "<facts>") -> Facts:
    facts = Facts()
    add_document(facts, document, file)
    check_references(facts)
    return facts


def add_document(facts: Facts, document: Any, file: str) -> None:
    validate_document(document, file)
    facts.files.append(file)
    for index, record in enumerate(document["entities"]):
        entity = _entity(record, file, f"$.entities[{index}]")
        if entity.id in facts.entities:
            raise InputError("duplicate entity id", file=file, path=f"$.entities[{index}].id", value=entity.id)
        facts.entities[entity.id] = entity
    for index, record in enumerate(document.get("ownership", [])):
        facts.links.append(_link(record, file, f"$.ownership[{index}]"))


def _country(value: str | None, file: str, path: str) -> str | None:
    if value is None:
        return None
    code = normalise_country(value)
    if code is None:
        raise InputError("unknown country (use ISO 3166-1 code or name)", file=file, path=path, value=value)
    return code


def _entity(record: Mapping[str, Any], file: str, path: str) -> Entity:
    return Entity(
        id=record["id"],
        type=record["type"],
        name=record.get("name"),
        headquarters=_country(record.get("headquarters"), file, f"{path}.headquarters"),
        jurisdiction=_country(record.get("jurisdiction"), file, f"{path}.jurisdiction"),
        path=f"{file}:{path}",
    )


def parse_percentage(value: Any, file: str, path: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise InputError("not a decimal percentage", file=file, path=path, value=value) from None
    if not number.is_finite():
        raise InputError("percentage must be a finite number", file=file, path=path, value=value)
    if number < ZERO or number > HUNDRED:
        raise InputError("percentage must be between 0 and 100", file=file, path=path, value=value)
    if number.as_tuple().exponent < -12:  # type: ignore[operator]
        raise InputError("percentage has more than 12 decimal places", file=file, path=path, value=value)
    return number


def _share(record: Mapping[str, Any], file: str, path: str) -> Share:
    if "percentage" in record:
        if "percentage_min" in record or "percentage_max" in record:
            raise InputError(
                "give either percentage or percentage_min/percentage_max, not both",
                file=file,
                path=f"{path}.percentage",
                value=record["percentage"],
            )
        exact = parse_percentage(record["percentage"], file, f"{path}.percentage")
        return Share(exact, exact)
    low = parse_percentage(record.get("percentage_min", 0), file, f"{path}.percentage_min")
    high = parse_percentage(record.get("percentage_max", 100), file, f"{path}.percentage_max")
    share = Share(low, high, bool(record.get("min_exclusive", False)), bool(record.get("max_exclusive", False)))
    if low > high or (low == high and (share.min_exclusive or share.max_exclusive)):
        raise InputError(
            "empty percentage range (percentage_min above percentage_max)",
            file=file,
            path=f"{path}.percentage_min",
            value=record.get("percentage_min"),
        )
    return share


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _link(record: Mapping[str, Any], file: str, path: str) -> Link:
    start, end = _date(record.get("start_date")), _date(record.get("end_date"))
    if start is not None and end is not None and end < start:
        raise InputError("end_date is before start_date", file=file, path=f"{path}.end_date", value=record["end_date"])
    return Link(
        owner=record["owner"],
        asset=record["asset"],
        kind=record.get("kind", "shareholding"),
        share=_share(record, file, path),
        start_date=start,
        end_date=end,
        acting_jointly=record.get("acting_jointly"),
        path=f"{file}:{path}",
    )


def _split(located: str) -> tuple[str, str]:
    file, _, path = located.rpartition(":")
    return file, path


def check_references(facts: Facts) -> None:
    for link in facts.links:
        file, path = _split(link.path)
        for role in ("owner", "asset"):
            ref = getattr(link, role)
            if ref not in facts.entities:
                raise InputError(f"{role} names an unknown entity", file=file, path=f"{path}.{role}", value=ref)


def check_share_totals(links: Iterable[Link]) -> None:
    """Shares held in one asset, read at their lowest, cannot add up to over 100%."""
    totals: dict[str, Decimal] = {}
    for link in links:
        if link.kind != "shareholding":
            continue
        total = totals.get(link.asset, ZERO) + link.share.min
        totals[link.asset] = total
        if total > HUNDRED:
            file, path = _split(link.path)
            raise InputError(
                f"shares held in {link.asset!r} add up to {_plain(total)}%, over 100%",
                file=file,
                path=f"{path}.percentage",
                value=_plain(link.share.min),
            )
