"""Import GLEIF data: LEI records (Level 1, "who is who") and relationship records
and reporting exceptions (Level 2, "who owns whom").

Three shapes are read: the golden copy as XML (LEI-CDF 2.1, RR-CDF 1.1, reporting
exceptions; streamed with the standard library's iterparse and cleared as it
goes), the golden copy as JSON (an array or JSON Lines of records), and
responses of the GLEIF API v1 (JSON:API documents, one record or a page).

GLEIF relationships are control without shares: accounting consolidation
(direct or ultimate parent) and international branches. A child names its
parent, so owner = EndNode and asset = StartNode.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedET

from tos_policy.errors import InputError
from tos_policy.importers.common import (
    Builder,
    InvalidRecords,
    LinkDraft,
    Progress,
    Share,
    check_shape,
    country,
    day,
    note_skipped,
    read_json_records,
    record_shape,
    review_unreadable,
    where,
)
from tos_policy.importers.disclosure import add_disclosure, gleif_exception

FORMAT = "gleif"

NAMESPACES = {
    "http://www.gleif.org/data/schema/leidata/2016": "lei",
    "http://www.gleif.org/data/schema/rr/2016": "rr",
    "http://www.gleif.org/data/schema/repex/2016": "repex",
}
RECORD_TAGS = {"LEIRecord": "lei", "RelationshipRecord": "rr", "Exception": "repex"}

# (kind, owner end): who holds the link. A child IS_..._BY its parent, so the
# parent (EndNode) owns; a feeder fund holds units of its master fund.
RELATIONSHIP_TYPES = {
    "IS_DIRECTLY_CONSOLIDATED_BY": ("consolidation", "end"),
    "IS_ULTIMATELY_CONSOLIDATED_BY": ("consolidation", "end"),
    "IS_INTERNATIONAL_BRANCH_OF": ("branch", "end"),
    "IS_FUND-MANAGED_BY": ("other_control", "end"),
    "IS_SUBFUND_OF": ("other_control", "end"),
    "IS_FEEDER_TO": ("shareholding", "start"),
}
ENTITY_CATEGORIES = {
    "GENERAL": "company",
    "BRANCH": "company",
    "FUND": "fund",
    "SOLE_PROPRIETOR": "company",
    "RESIDENT_GOVERNMENT_ENTITY": "public_body",
    "INTERNATIONAL_ORGANIZATION": "organization",
}
# A reporting exception with one of these reasons hides a consolidating parent that
# exists: besides the disclosure fact, a placeholder parent with unknown countries.
HIDDEN_PARENT_REASONS = {
    "NON_PUBLIC",
    "NO_LEI",
    "BINDING_LEGAL_COMMITMENTS",
    "LEGAL_OBSTACLES",
    "DISCLOSURE_DETRIMENTAL",
    "DETRIMENT_NOT_EXCLUDED",
    "CONSENT_NOT_OBTAINED",
}
EXCEPTION_CATEGORIES = {
    "DIRECT_ACCOUNTING_CONSOLIDATION_PARENT": "direct",
    "ULTIMATE_ACCOUNTING_CONSOLIDATION_PARENT": "ultimate",
}
_LEI = re.compile(r"^[A-Z0-9]{18}[0-9]{2}$")


@dataclass(frozen=True)
class Raw:
    """One GLEIF record in a shape-neutral form: kind is lei, rr or repex."""

    kind: str  # lei, rr, repex; invalid: a record of no known shape (data: error and value)
    data: dict[str, Any]
    file: str
    number: int
    shape: str  # golden-copy-xml, golden-copy-json, api
    place: str = "$"  # where the record is in its file: `$[7]`, `line 3 $`, `$.data[2]`; XML: `record 7 $`
    # API records are read in the golden copy's shape: the API's own JSON path of each golden path named in errors
    origin: dict[str, str] = field(default_factory=dict)

    def at(self, path: str = "$") -> str:
        """Where `path` (a golden-copy JSON path inside the record) is in the file."""
        if self.shape == "api":
            path = self.origin.get(path, "$")
        return where(self.place, path)


def import_files(paths: list[Path], progress: Progress, *, skip_invalid: bool = False) -> Builder:
    """Every record of PATHS. A record whose content cannot be read (no LEI, an unknown
    relationship type or exception reason, a field of the wrong shape) does not stop the others:
    all are listed (InvalidRecords), or with skip_invalid counted and what they are about
    reviewed. A file that cannot be read as GLEIF at all (truncated, another format) stops."""
    builder = Builder(FORMAT)
    relationships: list[Raw] = []
    exceptions: list[Raw] = []
    invalid: list[tuple[InputError, Raw]] = []
    for path in paths:
        with progress.file(path) as advance:
            records = _records(path, advance, builder)
            while True:
                with record_shape(str(path), "$"):  # shapes are checked as records are read; this is a backstop
                    raw = next(records, None)
                if raw is None:
                    break
                builder.records += 1
                if raw.kind == "invalid":
                    invalid.append((raw.data["error"], raw))
                elif raw.kind == "lei":
                    _invalid_into(invalid, raw, _lei_record, builder)
                elif raw.kind == "rr":
                    relationships.append(raw)
                else:
                    exceptions.append(raw)
    for raw in relationships:
        _invalid_into(invalid, raw, _relationship, builder)
    for raw in exceptions:
        _invalid_into(invalid, raw, _exception, builder)
    _set_aside(builder, invalid, skip_invalid)
    return builder


def _set_aside(builder: Builder, invalid: list[tuple[InputError, Raw]], skip_invalid: bool) -> None:
    """Every unreadable record listed (InvalidRecords); with skip_invalid, counted and noted,
    and what it is about reviewed; one whose subject cannot be read is never skipped."""
    if invalid and not skip_invalid:
        raise InvalidRecords([error for error, _ in invalid], len(invalid))
    unskippable = [error for error, raw in invalid if _subjects(raw) is None]
    if unskippable:
        raise InvalidRecords(unskippable, len(unskippable), unskippable=True)
    note_skipped(builder, [error for error, _ in invalid])
    for number, (error, raw) in enumerate(invalid, start=1):
        for subject in _subjects(raw) or []:
            note = f"named by an invalid record ({error.file}: {error.path})"
            builder.placeholder(subject, "company", note, [{"scheme": "XI-LEI", "id": subject}])
            review_unreadable(builder, subject, number, error, UNREADABLE_RECORD, "gleif-invalid-record")


# The disclosure statement of an entity that an unreadable record is about (--skip-invalid).
UNREADABLE_RECORD = "import:unreadable-record"


def _invalid_into(
    invalid: list[tuple[InputError, Raw]], raw: Raw, read: Callable[[Builder, Raw], None], builder: Builder
) -> None:
    try:
        with record_shape(raw.file, raw.at()):
            read(builder, raw)
    except InputError as exc:  # this record only: the others are read
        invalid.append((exc, raw))


def _lei_of(value: Any) -> str | None:
    text = _text(value)
    return text if text is not None and _LEI.match(text) else None


def _subjects(raw: Raw) -> list[str] | None:
    """What an unreadable record is about: the entity of an LEI record or reporting exception
    (none for an LEI record without an LEI: nothing can name it); both ends of a relationship
    (which one owns depends on a type that may be the unreadable part). None when that cannot
    be read: skipping it could hide a parent of any entity."""
    data = raw.data if isinstance(raw.data, dict) else {}
    if raw.kind == "invalid":
        return None  # no known GLEIF shape: nothing says what it is about
    if raw.kind == "lei":
        lei = _lei_of(data.get("LEI"))
        return [lei] if lei else []
    if raw.kind == "repex":
        lei = _lei_of(data.get("LEI"))
        return [lei] if lei else None
    relationship = data.get("Relationship")
    relationship = relationship if isinstance(relationship, dict) else {}
    ends = [
        _lei_of(node.get("NodeID"))
        for node in (relationship.get("StartNode"), relationship.get("EndNode"))
        if isinstance(node, dict)
    ]
    found = [lei for lei in ends if lei]
    return found or None


# ----------------------------------------------------------------------------
# Reading the three shapes into Raw records.


def _records(path: Path, advance: Any, builder: Builder) -> Iterator[Raw]:
    try:
        with path.open("rb") as handle:
            head = handle.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=str(path), value=str(path)) from None
    if head.startswith(b"<"):
        yield from _xml_records(path, advance)
        return
    for record in read_json_records(path, advance):
        try:
            yield from _json_records(record.value, str(path), record.number, record.locate(), builder)
        except InputError as exc:  # a record of no known GLEIF shape: listed with the others
            yield Raw(
                "invalid", {"error": exc, "value": record.value}, str(path), record.number, "json", record.locate()
            )


def _local(tag: str) -> tuple[str, str]:
    namespace, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return namespace, name


def _element_dict(element: ET.Element) -> Any:
    """An XML element as the golden copy JSON writes it: repeated children become lists."""
    children = list(element)
    if not children:
        return (element.text or "").strip()
    out: dict[str, Any] = {}
    for child in children:
        _, name = _local(child.tag)
        value = _element_dict(child)
        if name in out:
            out[name] = out[name] if isinstance(out[name], list) else [out[name]]
            out[name].append(value)
        else:
            out[name] = value
    return out


def _xml_records(path: Path, advance: Any) -> Iterator[Raw]:
    file = str(path)
    number = 0
    checked = False
    last = 0
    try:
        with path.open("rb") as handle:
            # defusedxml: a DTD (entity definitions, the "billion laughs" bomb, external
            # entities) is refused before anything is expanded; GLEIF files have none.
            for event, element in DefusedET.iterparse(handle, events=("start", "end"), forbid_dtd=True):
                namespace, name = _local(element.tag)
                if not checked and event == "start":
                    checked = True
                    if namespace not in NAMESPACES:
                        raise InputError(
                            "unsupported GLEIF XML version or not a GLEIF file: expected LEI-CDF 2.1, RR-CDF 1.1 "
                            "or reporting exceptions (namespaces .../leidata/2016, .../rr/2016, .../repex/2016)",
                            file=file,
                            path="record 1 $",
                            value=element.tag,
                        )
                if event != "end" or name not in RECORD_TAGS:
                    continue
                number += 1
                if namespace not in NAMESPACES:
                    raise InputError(
                        "record in an unknown namespace", file=file, path=f"record {number} $", value=namespace
                    )
                data = _element_dict(element)
                element.clear()
                position = handle.tell()
                advance(position - last)
                last = position
                kind = RECORD_TAGS[name]
                yield Raw(kind, _from_xml(kind, data), file, number, "golden-copy-xml", f"record {number} $")
    except DefusedXmlException as exc:
        raise InputError(
            "XML with a document type declaration or entity definitions is refused (entity expansion can "
            f"exhaust memory; GLEIF files have none): {type(exc).__name__}",
            file=file,
            path=f"record {number + 1} $",
            value=str(exc)[:80],
        ) from None
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        # only an XML document that ends early looks truncated; any other fault is named as it is
        hint = "the file looks truncated" if reason.startswith(("no element found", "unclosed token")) else "damaged"
        raise InputError(
            f"not well-formed XML ({reason}); {hint}",
            file=file,
            path=f"record {number + 1} $",
            value=f"line {line} column {column}",
        ) from None


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _from_xml(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """XML nests lists one level deeper than the JSON golden copy; flatten them."""
    if kind == "rr":
        relationship = data.get("Relationship", {})
        periods = relationship.get("RelationshipPeriods", {})
        relationship["RelationshipPeriods"] = _as_list(periods.get("RelationshipPeriod") if periods else None)
        quantifiers = relationship.get("RelationshipQuantifiers", {})
        relationship["RelationshipQuantifiers"] = _as_list(
            quantifiers.get("RelationshipQuantifier") if quantifiers else None
        )
    return data


_GOLDEN = {"Relationship": "rr", "ExceptionCategory": "repex"}


def _json_records(value: Any, file: str, number: int, place: str, builder: Builder) -> Iterator[Raw]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_records(
                item, file, number if len(value) == 1 else number + index, where(place, f"$[{index}]"), builder
            )
        return
    if not isinstance(value, dict):
        raise InputError("a GLEIF record must be a JSON object", file=file, path=place, value=value)
    if "data" in value:  # GLEIF API v1 (JSON:API)
        check_shape("api-document", value, file, place, "GLEIF API document")
        pagination = (value.get("meta") or {}).get("pagination") or {}
        if (pagination.get("lastPage") or 1) > (pagination.get("currentPage") or 1):
            builder.notes.append(
                f"{file} is page {pagination.get('currentPage')} of {pagination['lastPage']} of a GLEIF API list: "
                "the other pages are not in the input"
            )
        many = isinstance(value["data"], list)
        items = value["data"] if many else [value["data"]]
        for index, item in enumerate(items):
            item_place = where(place, f"$.data[{index}]" if many else "$.data")
            yield _api_record(item, file, number if len(items) == 1 else index + 1, item_place)
        return
    kind = next((kind for key, kind in _GOLDEN.items() if key in value), None)
    if kind is None and "LEI" in value and "Entity" in value:
        kind = "lei"
    if kind is None:
        raise InputError(
            "unknown GLEIF record type (expected an LEI record, a relationship record or a reporting exception)",
            file=file,
            path=place,
            value=sorted(value)[:6],
        )
    check_shape(f"golden-{kind}", value, file, place, "GLEIF golden copy record")
    yield Raw(kind, value, file, number, "golden-copy-json", place)


_API_KINDS = {"lei-records": "lei", "relationship-records": "rr", "reporting-exceptions": "repex"}


# The API's JSON path of each golden-copy path an error can name, by record kind.
_API_ORIGIN = {
    "lei": {"$.LEI": "$.attributes.lei"},
    "rr": {
        "$.Relationship.RelationshipType": "$.attributes.relationship.type",
        **{
            f"$.Relationship.{label}{inner}": f"$.attributes.relationship.{api}{api_inner}"
            for label, api in (("StartNode", "startNode"), ("EndNode", "endNode"))
            for inner, api_inner in (("", ""), (".NodeID", ".id"))
        },
    },
    "repex": {"$.LEI": "$.attributes.lei", "$.ExceptionReason": "$.attributes.reason"},
}


def _api_record(item: Any, file: str, number: int, place: str) -> Raw:
    kind = _API_KINDS.get(str(item.get("type"))) if isinstance(item, dict) else None
    if kind is None:
        raise InputError(
            "unknown GLEIF API record type (expected lei-records, relationship-records or reporting-exceptions)",
            file=file,
            path=where(place, "$.type") if isinstance(item, dict) else place,
            value=item.get("type") if isinstance(item, dict) else item,
        )
    check_shape("api-record", item, file, place, "GLEIF API record")
    attributes = item.get("attributes") or {}
    if kind == "lei":
        entity = attributes.get("entity") or {}
        registration = attributes.get("registration") or {}
        data = {
            "LEI": attributes.get("lei") or item.get("id"),
            "Entity": {
                "LegalName": (entity.get("legalName") or {}).get("name"),
                "LegalAddress": {"Country": (entity.get("legalAddress") or {}).get("country")},
                "HeadquartersAddress": {"Country": (entity.get("headquartersAddress") or {}).get("country")},
                "LegalJurisdiction": entity.get("jurisdiction"),
                "EntityCategory": entity.get("category"),
                "EntityStatus": entity.get("status"),
                "RegistrationAuthority": {
                    "RegistrationAuthorityID": (entity.get("registeredAt") or {}).get("id"),
                    "RegistrationAuthorityEntityID": entity.get("registeredAs"),
                },
            },
            "Registration": {
                "RegistrationStatus": registration.get("status"),
                "LastUpdateDate": registration.get("lastUpdateDate"),
            },
        }
    elif kind == "rr":
        relationship = attributes.get("relationship") or {}
        registration = attributes.get("registration") or {}
        data = {
            "Relationship": {
                "StartNode": {
                    "NodeID": (relationship.get("startNode") or {}).get("id"),
                    "NodeIDType": (relationship.get("startNode") or {}).get("type"),
                },
                "EndNode": {
                    "NodeID": (relationship.get("endNode") or {}).get("id"),
                    "NodeIDType": (relationship.get("endNode") or {}).get("type"),
                },
                "RelationshipType": relationship.get("type"),
                "RelationshipStatus": relationship.get("status"),
                "RelationshipPeriods": [
                    {"StartDate": p.get("startDate"), "EndDate": p.get("endDate"), "PeriodType": p.get("type")}
                    for p in relationship.get("periods") or []
                ],
                "RelationshipQuantifiers": [
                    {
                        "MeasurementMethod": q.get("measurementMethod"),
                        "QuantifierAmount": q.get("quantifierAmount"),
                        "QuantifierUnits": q.get("quantifierUnits"),
                    }
                    for q in relationship.get("quantifiers") or []
                ],
            },
            "Registration": {
                "RegistrationStatus": registration.get("status"),
                "LastUpdateDate": registration.get("lastUpdateDate"),
            },
            "id": item.get("id"),
        }
    else:
        data = {
            "LEI": attributes.get("lei"),
            "ExceptionCategory": attributes.get("category"),
            "ExceptionReason": attributes.get("reason"),
            "id": item.get("id"),
        }
    return Raw(kind, data, file, number, "api", place, _API_ORIGIN[kind])


# ----------------------------------------------------------------------------
# Records to facts.


def _text(value: Any) -> str | None:
    if isinstance(value, dict):  # an XML element with attributes or children: take its text if any
        return None
    return str(value) if value not in (None, "") else None


def _source(raw: Raw, **extra: Any) -> dict[str, Any]:
    return {"file": raw.file, "record": raw.number, "shape": raw.shape, **extra}


def _lei_record(builder: Builder, raw: Raw) -> None:
    data = raw.data
    lei = _text(data.get("LEI"))
    if lei is None:
        raise InputError("LEI record without an LEI", file=raw.file, path=raw.at("$.LEI"), value=None)
    entity = data.get("Entity") or {}
    registration = data.get("Registration") or {}
    notes: list[str] = []
    category = _text(entity.get("EntityCategory"))
    entity_type = ENTITY_CATEGORIES.get(category or "GENERAL")
    if entity_type is None:
        notes.append(f"entity category {category!r} not known; read as a company")
        entity_type = "company"
    if category == "SOLE_PROPRIETOR":
        notes.append("sole proprietor: a business of a natural person, read as an organisation (cautious)")
    jurisdiction = country(_text(entity.get("LegalJurisdiction")), notes, "jurisdiction")
    headquarters = country(_text((entity.get("HeadquartersAddress") or {}).get("Country")), notes, "headquarters")
    legal_country = _text((entity.get("LegalAddress") or {}).get("Country"))
    status = _text(entity.get("EntityStatus"))
    if status and status != "ACTIVE":
        notes.append(f"entity status {status}")
    registration_status = _text(registration.get("RegistrationStatus"))
    if registration_status and registration_status != "ISSUED":
        notes.append(f"LEI registration status {registration_status}: the record may be out of date")
    identifiers: list[dict[str, Any]] = [{"scheme": "XI-LEI", "id": lei}]
    authority = entity.get("RegistrationAuthority") or {}
    if _text(authority.get("RegistrationAuthorityEntityID")):
        identifiers.append(
            {
                "scheme": f"GLEIF-RA:{_text(authority.get('RegistrationAuthorityID')) or 'unknown'}",
                "id": _text(authority.get("RegistrationAuthorityEntityID")),
            }
        )
    name = entity.get("LegalName")
    if lei in builder.entities:
        if builder.entities[lei]["source"].get("placeholder"):
            builder.placeholders -= 1  # a record named earlier by a relationship arrives after all
        else:
            builder.merged += 1  # the same LEI record again (another API response): the last one is kept
    builder.entity(
        lei,
        entity_type,
        name=_text(name) if not isinstance(name, dict) else None,
        headquarters=headquarters,
        jurisdiction=jurisdiction,
        identifiers=identifiers,
        source=_source(
            raw,
            lei=lei,
            legalAddressCountry=legal_country,
            lastUpdateDate=_text(registration.get("LastUpdateDate")),
        ),
        notes=notes,
    )


def _node(builder: Builder, raw: Raw, node: dict[str, Any], label: str) -> str:
    node_id = _text(node.get("NodeID"))
    node_type = _text(node.get("NodeIDType")) or "LEI"
    if node_id is None or node_type != "LEI":
        raise InputError(
            f"relationship {label} is not an LEI", file=raw.file, path=raw.at(f"$.Relationship.{label}"), value=node
        )
    if not _LEI.match(node_id):
        raise InputError("not an LEI", file=raw.file, path=raw.at(f"$.Relationship.{label}.NodeID"), value=node_id)
    builder.placeholder(
        node_id,
        "company",
        "named by a GLEIF relationship; its LEI record is not in the input",
        [{"scheme": "XI-LEI", "id": node_id}],
    )
    return node_id


def _relationship(builder: Builder, raw: Raw) -> None:
    relationship = raw.data.get("Relationship") or {}
    registration = raw.data.get("Registration") or {}
    relationship_type = _text(relationship.get("RelationshipType"))
    if relationship_type not in RELATIONSHIP_TYPES:
        raise InputError(
            "unknown GLEIF relationship type",
            file=raw.file,
            path=raw.at("$.Relationship.RelationshipType"),
            value=relationship_type,
        )
    kind, owner_end = RELATIONSHIP_TYPES[relationship_type]
    start_node = _node(builder, raw, relationship.get("StartNode") or {}, "StartNode")
    end_node = _node(builder, raw, relationship.get("EndNode") or {}, "EndNode")
    owner, asset = (end_node, start_node) if owner_end == "end" else (start_node, end_node)
    notes: list[str] = []
    start = end = None
    for period in _as_list(relationship.get("RelationshipPeriods")):
        if _text(period.get("PeriodType")) == "RELATIONSHIP_PERIOD":
            start = day(_text(period.get("StartDate")), notes, "StartDate")
            end = day(_text(period.get("EndDate")), notes, "EndDate")
    status = _text(relationship.get("RelationshipStatus"))
    last_update = _text(registration.get("LastUpdateDate"))
    if status == "INACTIVE" and end is None:
        end = day(last_update, notes, "LastUpdateDate")
        notes.append("inactive relationship without an end date: its last update is read as the end")
    if start is not None and end is not None and end <= start:
        notes.append(f"end {end} not after start {start}: dates ignored")
        start, end = None, None
    quantifiers = []
    for quantifier in _as_list(relationship.get("RelationshipQuantifiers")):
        quantifiers.append({key: _text(value) for key, value in quantifier.items()})
    if quantifiers:
        notes.append("relationship quantifiers (accounting consolidation) kept as provenance, not read as a stake")
    registration_status = _text(registration.get("RegistrationStatus"))
    if registration_status and registration_status != "PUBLISHED":
        notes.append(f"relationship registration status {registration_status}")
    source = _source(
        raw,
        relationshipType=relationship_type,
        relationshipStatus=status,
        registrationStatus=registration_status,
        lastUpdateDate=last_update,
    )
    if quantifiers:
        source["quantifiers"] = quantifiers
    if raw.data.get("id"):
        source["id"] = raw.data["id"]
    if notes:
        source["notes"] = notes
    identifiers = [{"scheme": "GLEIF-RR", "id": f"{start_node}|{relationship_type}|{end_node}"}]
    builder.link(LinkDraft(owner, asset, kind, Share(), start, end, source, identifiers))


def _exception(builder: Builder, raw: Raw) -> None:
    lei = _text(raw.data.get("LEI"))
    category = _text(raw.data.get("ExceptionCategory"))
    reason = _text(raw.data.get("ExceptionReason"))
    if lei is None or category is None or reason is None:
        raise InputError(
            "reporting exception without LEI, category or reason",
            file=raw.file,
            path=raw.at(),
            value=raw.data,
        )
    builder.placeholder(
        lei,
        "company",
        "named by a GLEIF reporting exception; its LEI record is not in the input",
        [{"scheme": "XI-LEI", "id": lei}],
    )
    level = EXCEPTION_CATEGORIES.get(category)
    if level is None:
        builder.skip(f"reporting exception category {category} (not about a consolidating parent)")
        return
    source = {"format": builder.format, **_source(raw, exceptionCategory=category, exceptionReason=reason)}
    fact = gleif_exception(reason, category, source)
    if fact is None:
        raise InputError(
            "unknown GLEIF reporting exception reason",
            file=raw.file,
            path=raw.at("$.ExceptionReason"),
            value=reason,
        )
    # Never a silent "no parent": the exception is a disclosure fact the rules weigh.
    add_disclosure(builder.entities[lei], fact)
    if reason not in HIDDEN_PARENT_REASONS:
        return
    parent = f"{lei}#undisclosed-{level}-parent"
    builder.placeholder(
        parent,
        "company",
        f"{level} consolidating parent of {lei} that GLEIF does not disclose (reporting exception {reason})",
        [{"scheme": "GLEIF-REPEX", "id": f"{lei}|{category}|{reason}"}],
    )
    builder.placeholders -= 1  # counted as an entity stated by the source, not a missing record
    source = _source(raw, exceptionCategory=category, exceptionReason=reason)
    source["notes"] = ["the parent exists but is not disclosed: its country is unknown"]
    builder.link(
        LinkDraft(parent, lei, "consolidation", Share(), None, None, source, [{"scheme": "XI-LEI", "id": lei}])
    )
