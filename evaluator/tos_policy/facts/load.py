"""Load facts files: parse JSON exactly, validate against schemas/facts.schema.json,
normalise countries and percentages, and check the graph's references.

Every problem becomes an InputError naming the file, the JSON path and the value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from tos_policy import jsonio
from tos_policy.dates import strict_date
from tos_policy.errors import InputError
from tos_policy.facts.countries import normalise_country, normalise_place, normalise_subdivision
from tos_policy.facts.identity import strong_identifiers
from tos_policy.facts.provenance import Source, record_sources
from tos_policy.facts.reading import read_limited
from tos_policy.jsonio import json_path as json_path  # noqa: PLC0414 - re-exported: its home was here
from tos_policy.limits import Limits, exceeded
from tos_policy.resources import schema
from tos_policy.schema_check import validator_for

HUNDRED = Decimal(100)
ZERO = Decimal(0)


class Share(NamedTuple):
    """An exact percentage range; an exact stake has min == max, both inclusive.

    Facts are named tuples rather than dataclasses: immutable, and quick to
    build by the million when screening a registry."""

    min: Decimal
    max: Decimal
    min_exclusive: bool = False
    max_exclusive: bool = False

    @property
    def exact(self) -> bool:
        return self.min == self.max and not (self.min_exclusive or self.max_exclusive)

    def text(self) -> str:
        if self.exact:
            return f"{plain_decimal(self.min)}%"
        low = ("more than " if self.min_exclusive else "") + f"{plain_decimal(self.min)}%"
        high = ("less than " if self.max_exclusive else "at most ") + f"{plain_decimal(self.max)}%"
        return f"{low} to {high}"

    def as_json(self) -> dict[str, Any]:
        if self.exact:
            return {"percentage": plain_decimal(self.min)}
        return {
            "percentage_min": plain_decimal(self.min),
            "percentage_max": plain_decimal(self.max),
            "min_exclusive": self.min_exclusive,
            "max_exclusive": self.max_exclusive,
        }


UNKNOWN_SHARE = Share(ZERO, HUNDRED)


class ShareClass(NamedTuple):
    """A class of an entity's shares: what it weighs among all its economic rights and votes
    (percent, None when the facts do not say) and its share counts."""

    name: str
    economic: Decimal | None = None
    voting: Decimal | None = None
    issued: int | None = None
    treasury: int | None = None


class Capital(NamedTuple):
    """An entity's share counts (of its shares without a class) and its share classes."""

    issued: int | None = None
    treasury: int | None = None
    classes: tuple[ShareClass, ...] = ()


class ShareBasis(NamedTuple):
    """How a link states its stake when it is not a plain percentage of the outstanding shares:
    a number of shares, or percentages of the issued shares; with the counts its source gives."""

    shares: int | None = None
    issued: int | None = None
    treasury: int | None = None
    of_issued: bool = False


# The entity facts that may carry dated values, and the type an entity has on a day when
# its facts give none (or several): the facts' own word for an unknown type.
DATED_FIELDS = ("type", "name", "headquarters", "jurisdiction")
UNKNOWN_TYPE = "unknown"


class Dated(NamedTuple):
    """One dated value of an entity fact (`field`): start inclusive, end exclusive, as for links."""

    field: str
    value: str | None
    start_date: date | None = None
    end_date: date | None = None
    path: str = "$"  # file:JSON path of the value
    subdivision: str | None = None  # of a place (headquarters, jurisdiction)

    def active_on(self, day: date) -> bool:
        if self.start_date is not None and day < self.start_date:
            return False
        return self.end_date is None or day < self.end_date


class Entity(NamedTuple):
    id: str
    type: str
    name: str | None = None
    headquarters: str | None = None
    jurisdiction: str | None = None
    path: str = "$"
    # How complete its ownership facts are: the statuses ("full", "partial", "none")
    # and register statements ("gleif:NON_CONSOLIDATING") of its disclosure facts,
    # sorted and distinct. Empty: nothing disclosed.
    disclosure: tuple[str, ...] = ()
    # ISO 3166-2 subdivisions of headquarters and jurisdiction (UA-43: Crimea), when the facts give them.
    headquarters_subdivision: str | None = None
    jurisdiction_subdivision: str | None = None
    # Dated values of its facts (DATED_FIELDS), as loaded. A field given by dated values reads as
    # unknown until `on(day)` picks the value in force: a stage that forgot to would review, not allow.
    history: tuple[Dated, ...] = ()
    dated_on: date | None = None  # the day `on` read its dated values for (None: as loaded)
    capital: Capital | None = None  # share counts and classes, when the facts give them
    # What its record says of its own origin (facts/provenance.py), when it says: cited by decisions.
    sources: tuple[Source, ...] = ()

    # Its strong identifiers, normalised (SCHEME:VALUE, sorted: facts/identity.py); records
    # sharing one are one legal person (facts/merge.py).
    identifiers: tuple[str, ...] = ()
    # Named by a link but not described by its source (an importer's placeholder): reported
    # apart from the screened organisations.
    placeholder: bool = False
    # The records merged into it (facts/merge.py), each with its place and origins: a decision
    # resting on its facts cites every one of them.
    records: tuple[tuple[str, tuple[Source, ...]], ...] = ()

    def on(self, day: date) -> Entity:
        """The entity as its facts stand on `day`: each dated field takes the value in force; none in
        force, or values in force that differ, leave the field unknown (a type: "unknown")."""
        if not self.history:
            return self
        changes: dict[str, Any] = {"dated_on": day}
        for field_name in dict.fromkeys(item.field for item in self.history):
            found = {(item.value, item.subdivision) for item in self.in_force(day, field_name)}
            value, subdivision = found.pop() if len(found) == 1 else (None, None)
            if field_name == "type":
                changes["type"] = value or UNKNOWN_TYPE
            elif field_name == "name":
                changes["name"] = value
            else:
                changes[field_name] = value
                changes[f"{field_name}_subdivision"] = subdivision
        return self._replace(**changes)

    def dated_facts(self) -> list[dict[str, Any]]:
        """For a report: each dated field and the values in force on the day it was read for
        (none, or several that differ, leave it unknown), each citing its fact (file:JSON path)."""
        if not self.history or self.dated_on is None:
            return []
        out = []
        for field_name in dict.fromkeys(item.field for item in self.history):
            values = [
                {
                    "value": item.value,
                    **({"subdivision": item.subdivision} if item.subdivision else {}),
                    "start_date": None if item.start_date is None else item.start_date.isoformat(),
                    "end_date": None if item.end_date is None else item.end_date.isoformat(),
                    "fact": item.path,
                }
                for item in self.in_force(self.dated_on, field_name)
            ]
            known = len({(value["value"], value.get("subdivision")) for value in values}) == 1
            out.append({"field": field_name, "in_force": values, "known": known})
        return out

    def in_force(self, day: date, field_name: str | None = None) -> list[Dated]:
        """Its dated values in force on `day` (of one field, or of all)."""
        return [
            item for item in self.history if (field_name is None or item.field == field_name) and item.active_on(day)
        ]

    @property
    def subject(self) -> str:
        """What its decision is about: "organisation" (screened), "person" or "placeholder"
        (decided, since owners' decisions restrict what they hold, but reported apart)."""
        if self.placeholder:
            return "placeholder"
        return "person" if self.type == "person" else "organisation"


class Link(NamedTuple):
    owner: str
    asset: str
    kind: str
    share: Share
    start_date: date | None = None
    end_date: date | None = None
    acting_jointly: str | None = None
    path: str = "$"
    # Its share of the votes when the facts give it apart from `share` (the economic share);
    # None: the same. Of the whole entity once facts/stakes.py has read share classes and counts.
    voting: Share | None = None
    share_class: str | None = None
    basis: ShareBasis | None = None
    # What its record says of its own origin (facts/provenance.py), when it says.
    sources: tuple[Source, ...] = ()
    # The other reports of this stake that reconciliation read as one with it (facts/reconcile.py):
    # a decision resting on the stake cites every one of them.
    reports: tuple[Link, ...] = ()
    # Shares the owner holds for another party (kind nominee): the party's id, None when the
    # facts do not disclose it. facts/nominees.py makes such a link the principal's stake
    # (owner: the principal, holder: the registered holder) and the holder's legal title.
    principal: str | None = None
    holder: str | None = None

    def parties(self) -> tuple[str, ...]:
        """Whose status the link carries to its asset: its owner, and the principal the owner
        holds it for, when the facts name one."""
        return (self.owner,) if self.principal is None or self.principal == self.owner else (self.owner, self.principal)

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
    # Other names of entities: merged records' ids and identifiers -> entity id (facts/merge.py);
    # merge.AMBIGUOUS for a bare number that two entities share.
    aliases: dict[str, str] = field(default_factory=dict)
    # Entity id -> the ids and places of the records merged into it (only for merged entities).
    merged: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def active_links(self, as_of: date) -> list[Link]:
        return [link for link in self.links if link.active_on(as_of)]

    def entities_on(self, as_of: date) -> dict[str, Entity]:
        """The entities as their facts stand on `as_of` (Entity.on): the same dict when none is dated."""
        dated = [entity for entity in self.entities.values() if entity.history]
        if not dated:
            return self.entities
        resolved = dict(self.entities)
        for entity in dated:
            resolved[entity.id] = entity.on(as_of)
        return resolved


def plain_decimal(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 60, 33.33."""
    return format(value.normalize(), "f")


_DEFAULT_DEPTH = Limits().max_json_depth


def parse_json_bytes(raw: bytes, file: str, *, max_depth: int | None = None, line: int | None = None) -> Any:
    """A facts file (or one JSON Lines record) read by the strict reader (tos_policy.jsonio), with
    nesting past max_depth (default: Limits().max_json_depth) reported as a limit, naming its option."""
    depth_limit = _DEFAULT_DEPTH if max_depth is None else max_depth

    def too_deep(where: str, value: str) -> InputError:
        return exceeded(
            "JSON nested too deeply", "max_json_depth", depth_limit, "levels", file=file, path=where, value=value
        )

    return jsonio.loads(raw, file=file, line=line, max_depth=depth_limit, depth_error=too_deep)


_validator: Draft202012Validator | None = None
_fast_check: Callable[[Any], Any] | None = None


def _facts_validator() -> Draft202012Validator:
    global _validator
    if _validator is None:
        _validator = validator_for(_inlined_facts_schema())
    return _validator


def _fast_facts_check() -> Callable[[Any], Any]:
    """The facts schema compiled to Python (fastjsonschema, as screening checks records): it
    accepts what jsonschema accepts (ECMA-262 `$`, dates checked; the inlined schema has no
    references whose siblings an older draft would skip), hundreds of times faster."""
    global _fast_check
    if _fast_check is None:
        inlined = {key: value for key, value in _inlined_facts_schema().items() if key not in ("$schema", "$id")}
        _fast_check = fastjsonschema.compile(inlined)
    return _fast_check


def _inlined_facts_schema() -> dict[str, Any]:
    facts_schema = schema("facts")
    inlined: dict[str, Any] = _inline_refs(facts_schema, facts_schema.get("$defs", {}), depth=0)
    return inlined


_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment"})


def _inline_refs(node: Any, defs: dict[str, Any], depth: int) -> Any:
    """The schema with its local "#/$defs/..." references replaced by what they point at.

    Same meaning, about twice as fast to validate (no reference lookups per record);
    the facts schema's references are not recursive."""
    if depth > 32:
        raise ValueError("the facts schema's references nest too deeply (are they recursive?)")
    if isinstance(node, list):
        return [_inline_refs(item, defs, depth) for item in node]
    if not isinstance(node, dict):
        return node
    rest = {key: _inline_refs(value, defs, depth) for key, value in node.items() if key not in ("$ref", "$defs")}
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return rest
    name = ref.removeprefix("#/$defs/")
    if name == ref or name not in defs:
        raise ValueError(f"the facts schema has a reference that is not a local definition: {ref}")
    target = _inline_refs(defs[name], defs, depth + 1)
    if isinstance(target, dict) and not (set(rest) - _ANNOTATIONS) & set(target):
        return {**target, **rest}
    return {"allOf": [target, rest]}


def schema_violation(error: ValidationError, file: str, prefix: str = "$") -> InputError:
    """A schema error as one short line: file, JSON path (under `prefix`), value."""
    message = error.message
    shown = repr(error.instance)
    if len(shown) > 60:  # jsonschema starts its messages with the whole value; keep the line short
        message = message.replace(shown, "the value")
    return InputError(message, file=file, path=prefix + json_path(error.absolute_path)[1:], value=error.instance)


_COMPILE_FROM_RECORDS = 500  # compiling takes ~60 ms; jsonschema checks ~4 records a millisecond


def _record_count(document: Any) -> int:
    if not isinstance(document, dict):
        return 0
    return sum(len(records) for key in ("entities", "ownership") if isinstance(records := document.get(key), list))


def validate_document(document: Any, file: str) -> None:
    """Refuse a document the facts schema does not accept. In a large document the compiled check
    decides what passes; jsonschema, slower, explains a refusal (and is trusted over the compiled
    check where they differ). A small one is left to jsonschema: compiling costs more there."""
    if _record_count(document) >= _COMPILE_FROM_RECORDS and _passes_compiled_check(document):
        return
    error = best_match(_facts_validator().iter_errors(document))
    if error is not None:
        raise schema_violation(error, file)


def _passes_compiled_check(document: Any) -> bool:
    try:
        _fast_facts_check()(document)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def load_facts(paths: Iterable[str | Path], *, limits: Limits | None = None, deadline: float | None = None) -> Facts:
    """Load, check and join facts files; every problem is an InputError naming file, JSON path and value.
    `deadline` (a time.monotonic() value) bounds the reading: a pipe or FIFO that has not sent its
    facts by then raises EvaluationTimeout."""
    limits = limits or Limits()
    facts = Facts()
    for path in paths:
        file = str(path)
        raw = read_limited(Path(path), file, limits.max_input_bytes, deadline=deadline, max_seconds=limits.max_seconds)
        document = parse_json_bytes(raw, file, max_depth=limits.max_json_depth)
        del raw  # the bytes are not needed past parsing: not held while the facts are built
        add_document(facts, document, file, limits=limits)
    return complete(facts)


def facts_from_document(document: Any, file: str = "<facts>", *, limits: Limits | None = None) -> Facts:
    facts = Facts()
    add_document(facts, document, file, limits=limits)
    return complete(facts)


def complete(facts: Facts) -> Facts:
    """Facts whose records are all read: references checked, then one entity per legal person
    (records sharing a strong identifier merged: facts/merge.py). Every loader ends here."""
    from tos_policy.facts.merge import merge_legal_persons  # merge builds on this module's types

    check_references(facts)
    return merge_legal_persons(facts)


def check_counts(facts: Facts, document: Any, file: str, limits: Limits) -> None:
    """Refuse more entities or links than the limits allow, before the (slow) schema validation."""
    if not isinstance(document, dict):
        return
    for key, noun, field_name, already in (
        ("entities", "entities", "max_entities", len(facts.entities)),
        ("ownership", "links", "max_links", len(facts.links)),
    ):
        records = document.get(key)
        limit = getattr(limits, field_name)
        if isinstance(records, list) and already + len(records) > limit:
            what = f"too many {noun}: {already + len(records):,}"
            if already:
                what += f" with the {already:,} of the files before this one"
            raise exceeded(what, field_name, limit, noun, file=file, path=f"$.{key}", value=len(records))


def add_document(facts: Facts, document: Any, file: str, *, limits: Limits | None = None) -> None:
    check_counts(facts, document, file, limits or Limits())
    validate_document(document, file)
    facts.files.append(file)
    for index, record in enumerate(document["entities"]):
        entity = entity_from_record(record, file, f"$.entities[{index}]")
        if entity.id in facts.entities:
            raise InputError("duplicate entity id", file=file, path=f"$.entities[{index}].id", value=entity.id)
        facts.entities[entity.id] = entity
    for index, record in enumerate(document.get("ownership", [])):
        facts.links.append(link_from_record(record, file, f"$.ownership[{index}]"))


def country_code(value: str | None, file: str, path: str) -> str | None:
    """The ISO alpha-2 code for a country in the input, None for null; an unknown name is an InputError."""
    if value is None:
        return None
    code = normalise_country(value)
    if code is None:
        raise InputError("unknown country (use ISO 3166-1 code or name)", file=file, path=path, value=value)
    return code


def place_code(value: str | None, file: str, path: str) -> tuple[str | None, str | None]:
    """(alpha-2 country, ISO 3166-2 subdivision or None) for a country code or name or a
    subdivision code ("UA-43"); (None, None) for null; anything else is an InputError."""
    if value is None:
        return None, None
    found = normalise_place(value)
    if found is None:
        raise InputError(
            "unknown country (use ISO 3166-1 code or name, or ISO 3166-2 subdivision code)",
            file=file,
            path=path,
            value=value,
        )
    return found


def place(
    record: Mapping[str, Any], field_name: str, file: str, path: str, subdivision_key: str | None = None
) -> tuple[str | None, str | None]:
    """(country, subdivision) of an entity's headquarters or jurisdiction. The country field
    may be a country or an ISO 3166-2 subdivision code ("UA-43"); FIELD_subdivision (or
    `subdivision_key`) may give the subdivision too, and must then lie in that country."""
    value = record.get(field_name)
    country, subdivision = place_code(value, file, f"{path}.{field_name}")
    key = subdivision_key or f"{field_name}_subdivision"
    given = record.get(key)
    if given is None:
        return country, subdivision
    where = f"{path}.{key}"
    code = normalise_subdivision(given)
    if code is None:
        raise InputError(
            "unknown subdivision (use an ISO 3166-2 code such as UA-43)", file=file, path=where, value=given
        )
    if (country is not None and not code.startswith(country + "-")) or subdivision not in (None, code):
        raise InputError(f"subdivision is not in {field_name} {value!r}", file=file, path=where, value=given)
    return code.partition("-")[0], code


def share_count(value: Any) -> int | None:
    """A schema-checked share count (an integer or a string of digits)."""
    return None if value is None else int(value)


def capital_of(record: Mapping[str, Any], file: str, path: str) -> Capital | None:
    if not any(key in record for key in ("issued_shares", "treasury_shares", "share_classes")):
        return None
    classes: list[ShareClass] = []
    for index, item in enumerate(record.get("share_classes", ())):
        where = f"{path}.share_classes[{index}]"
        if any(other.name == item["name"] for other in classes):
            raise InputError("duplicate share class name", file=file, path=f"{where}.name", value=item["name"])
        classes.append(
            ShareClass(
                item["name"],
                None if "economic" not in item else parse_percentage(item["economic"], file, f"{where}.economic"),
                None if "voting" not in item else parse_percentage(item["voting"], file, f"{where}.voting"),
                *_counts(item, file, where),
            )
        )
    for measure in ("economic", "voting"):
        total = sum((getattr(item, measure) or ZERO for item in classes), ZERO)
        if total > HUNDRED:
            raise InputError(
                f"the share classes' {measure} weights add up to {plain_decimal(total)}%, over 100%",
                file=file,
                path=f"{path}.share_classes",
                value=plain_decimal(total),
            )
    return Capital(*_counts(record, file, path), tuple(classes))


def _counts(record: Mapping[str, Any], file: str, path: str) -> tuple[int | None, int | None]:
    """(issued, treasury) shares; treasury shares are some of the issued ones."""
    issued, treasury = share_count(record.get("issued_shares")), share_count(record.get("treasury_shares"))
    if treasury is not None and (issued is None or treasury > issued):
        raise InputError(
            "treasury_shares needs issued_shares, and cannot exceed them",
            file=file,
            path=f"{path}.treasury_shares",
            value=record["treasury_shares"],
        )
    return issued, treasury


def entity_from_record(record: Mapping[str, Any], file: str, path: str, *, cite: bool = True) -> Entity:
    """`cite`: keep what the record says of its origin (False where no decision will cite it)."""
    history = tuple(
        item
        for field_name in DATED_FIELDS
        if isinstance(record.get(field_name), list)
        for item in dated_values(record, field_name, file, path)
    )
    plain = {key: value for key, value in record.items() if not isinstance(value, list) or key not in DATED_FIELDS}
    headquarters, headquarters_subdivision = place(plain, "headquarters", file, path)
    jurisdiction, jurisdiction_subdivision = place(plain, "jurisdiction", file, path)
    identifiers = record.get("identifiers")
    return Entity(
        id=record["id"],
        type=plain.get("type", UNKNOWN_TYPE),
        name=plain.get("name"),
        headquarters=headquarters,
        jurisdiction=jurisdiction,
        path=f"{file}:{path}",
        disclosure=disclosure_terms(record.get("disclosure")),
        headquarters_subdivision=headquarters_subdivision,
        jurisdiction_subdivision=jurisdiction_subdivision,
        history=history,
        capital=capital_of(record, file, path),
        identifiers=strong_identifiers(identifiers, jurisdiction) if identifiers else (),
        placeholder=_is_placeholder(record.get("source")),
        sources=record_sources(record.get("source")) if cite else (),
    )


def _is_placeholder(source: Any) -> bool:
    return isinstance(source, dict) and source.get("placeholder") is True


def dated_values(record: Mapping[str, Any], field_name: str, file: str, path: str) -> list[Dated]:
    """The dated values of one field (schema-checked): places normalised, periods checked. A place
    with dated values takes its subdivision from each value, not from FIELD_subdivision."""
    if record.get(f"{field_name}_subdivision") is not None:
        raise InputError(
            f"{field_name} has dated values: give the subdivision in each of them",
            file=file,
            path=f"{path}.{field_name}_subdivision",
            value=record[f"{field_name}_subdivision"],
        )
    found = []
    for index, item in enumerate(record[field_name]):
        where = f"{path}.{field_name}[{index}]"
        start, end = _date(item.get("start_date")), _date(item.get("end_date"))
        if start is not None and end is not None and end < start:
            raise InputError(
                "end_date is before start_date", file=file, path=f"{where}.end_date", value=item["end_date"]
            )
        value, subdivision = item["value"], None
        if field_name in ("headquarters", "jurisdiction"):
            value, subdivision = place(item, "value", file, where, "subdivision")
        found.append(Dated(field_name, value, start, end, f"{file}:{where}", subdivision))
    return found


def disclosure_terms(value: Any) -> tuple[str, ...]:
    """The statuses and register statements of an entity's disclosure facts (schema-checked):
    "full" alone, or a list of {status, statement?}."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    terms = {item["status"] for item in value} | {item["statement"] for item in value if "statement" in item}
    return tuple(sorted(terms))


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
    return None if value is None else strict_date(value)


_PERCENTAGES = ("percentage", "percentage_min", "percentage_max")


def _rights(value: Any, file: str, path: str) -> Share:
    """A share of one kind of rights (economic or voting): a percentage or a range object."""
    if isinstance(value, dict):
        return _share(value, file, path)
    exact = parse_percentage(value, file, path)
    return Share(exact, exact)


def _stake(record: Mapping[str, Any], file: str, path: str) -> tuple[Share, Share | None, ShareBasis | None]:
    """(economic share, votes if given apart, basis) of a link. Votes given alone leave the economic
    share unknown, and an economic share given alone leaves the votes unknown."""
    given = [key for key in (*_PERCENTAGES, "economic", "shares") if key in record]
    families = list(dict.fromkeys("percentage" if key in _PERCENTAGES else key for key in given))
    if len(families) > 1:
        clash = next(
            key for key in given if key == families[1] or (families[1] == "percentage" and key in _PERCENTAGES)
        )
        raise InputError(
            f"give one of percentage (or percentage_min/percentage_max), economic or shares, not {families[0]} and "
            f"{families[1]}",
            file=file,
            path=f"{path}.{clash}",
            value=record[clash],
        )
    voting = _rights(record["voting"], file, f"{path}.voting") if "voting" in record else None
    basis = None
    if (
        any(key in record for key in ("shares", "issued_shares", "treasury_shares"))
        or record.get("percentage_of") == "issued"
    ):
        issued, treasury = _counts(record, file, path)
        basis = ShareBasis(share_count(record.get("shares")), issued, treasury, record.get("percentage_of") == "issued")
    if "economic" in record:
        economic = _rights(record["economic"], file, f"{path}.economic")
        return economic, voting if voting is not None else UNKNOWN_SHARE, basis
    if "shares" in record:
        return UNKNOWN_SHARE, voting, basis  # read against the outstanding shares by facts/stakes.py
    share = _share(record, file, path)
    if voting is not None and not any(key in record for key in _PERCENTAGES):
        return UNKNOWN_SHARE, voting, basis
    return share, voting, basis


def link_from_record(record: Mapping[str, Any], file: str, path: str, *, cite: bool = True) -> Link:
    start, end = _date(record.get("start_date")), _date(record.get("end_date"))
    if start is not None and end is not None and end < start:
        raise InputError("end_date is before start_date", file=file, path=f"{path}.end_date", value=record["end_date"])
    share, voting, basis = _stake(record, file, path)
    return Link(
        owner=record["owner"],
        asset=record["asset"],
        kind=record.get("kind", "shareholding"),
        share=share,
        start_date=start,
        end_date=end,
        acting_jointly=record.get("acting_jointly"),
        path=f"{file}:{path}",
        voting=None if voting == share else voting,
        share_class=record.get("share_class"),
        basis=basis,
        sources=record_sources(record.get("source")) if cite else (),
        principal=record.get("principal"),
    )


def _split(located: str) -> tuple[str, str]:
    file, _, path = located.rpartition(":")
    return file, path


def check_references(facts: Facts) -> None:
    for link in facts.links:
        file, path = _split(link.path)
        for role in ("owner", "asset", "principal"):
            ref = getattr(link, role)
            if ref is not None and ref not in facts.entities:
                raise InputError(f"{role} names an unknown entity", file=file, path=f"{path}.{role}", value=ref)
