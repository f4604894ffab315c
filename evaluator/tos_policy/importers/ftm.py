"""Import FollowTheMoney (FtM) entities: Person, Company, Organization, PublicBody
and LegalEntity become entities; Ownership and Control records become links.

FtM is read directly as JSON (one entity per line, as OpenSanctions and Aleph
export it) and checked against the FtM model: schema names and the properties
of the schemata mapped here come from ftm_model.json, generated from the
followthemoney package (which is not a dependency: it brings a compiled ICU
binding and a database toolkit for what is a lookup table here). Records of
other schemata (Sanction, Address, Directorship...) are counted and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from tos_policy import jsonio
from tos_policy.errors import InputError
from tos_policy.importers.common import (
    NOMINEE,
    Builder,
    InvalidRecords,
    LinkDraft,
    Progress,
    Share,
    day,
    note_skipped,
    one_country,
    percentage,
    read_json_records,
    review_unreadable,
)
from tos_policy.importers.disclosure import add_disclosure, statement_in_text

FORMAT = "ftm"
# The disclosure statement of an entity that an unreadable record is about (--skip-invalid).
UNREADABLE_RECORD = "import:unreadable-record"
MODEL_FILE = Path(__file__).resolve().parent / "ftm_model.json"

ENTITY_TYPES = {
    "Person": "person",
    "Company": "company",
    "Organization": "organization",
    "PublicBody": "public_body",
    "LegalEntity": "unknown",  # FtM's "person or organisation, we do not know which"
}
EDGES = {"Ownership": ("owner", "asset"), "Control": ("controller", "controlled")}
# agent represents client: where its role names a nominee, custodian or trustee, the client is the
# principal of the agent's nominee holdings (readings: principal_roles).
REPRESENTATION = "Representation"
IDENTIFIER_SCHEMES = {
    "leiCode": "XI-LEI",
    "innCode": "RU-INN",
    "ogrnCode": "RU-OGRN",
    "kppCode": "RU-KPP",
    "registrationNumber": "ftm:registrationNumber",
    "taxNumber": "ftm:taxNumber",
    "vatCode": "ftm:vatCode",
    "idNumber": "ftm:idNumber",
    "permId": "ftm:permId",
    "uniqueEntityId": "US-SAM",
    "dunsCode": "ftm:dunsCode",
    "swiftBic": "ftm:swiftBic",
    "wikidataId": "wikidata",
    "opencorporatesUrl": "opencorporates",
}
READINGS_FILE = Path(__file__).resolve().parent / "ftm_readings.json"


@cache
def model() -> dict[str, Any]:
    loaded: dict[str, Any] = jsonio.loads(MODEL_FILE.read_bytes(), file=str(MODEL_FILE), max_depth=1000, exact=False)[
        "schemata"
    ]
    return loaded


@cache
def readings() -> dict[str, Any]:
    """What roles, control types and statuses mean: data a lawyer edits (ftm_readings.json)."""
    loaded: dict[str, Any] = jsonio.loads(READINGS_FILE.read_bytes(), file=str(READINGS_FILE), max_depth=10)
    return loaded


# Free-text properties in which a register's statement about the owners may be given.
DISCLOSURE_TEXT = ("notes", "summary", "description")


@dataclass
class Seen:
    """What the import keeps of one FtM entity id until the end (fragments are merged)."""

    schema: str
    properties: dict[str, list[str]]
    source: dict[str, Any]
    extra_sources: list[dict[str, Any]] = field(default_factory=list)


def import_files(paths: list[Path], progress: Progress, *, skip_invalid: bool = False) -> Builder:
    builder = Builder(FORMAT)
    parties: dict[str, Seen] = {}
    others: dict[str, str] = {}  # id -> schema of records that are no party
    edges: list[Seen] = []
    errors: list[InputError] = []
    invalid: list[tuple[InputError, Any]] = []
    for path in paths:
        with progress.file(path) as advance:
            for record in read_json_records(path, advance):
                listed = record.path == "$" and isinstance(record.value, list)
                values = record.value if listed else [record.value]
                for index, value in enumerate(values):
                    place = record.locate(f"$[{index}]" if listed else "$")
                    try:
                        _read(value, str(path), (record.number, place), builder, parties, others, edges)
                    except InputError as exc:  # this record only: the next one is read
                        errors.append(exc)
                        invalid.append((exc, value))
    if errors and not skip_invalid:
        raise InvalidRecords(errors, len(invalid))
    unskippable = [error for error, value in invalid if _subjects(value) is None]
    if unskippable:
        raise InvalidRecords(unskippable, len(unskippable), unskippable=True)
    for entity_id, seen in parties.items():
        _entity(builder, entity_id, seen)
    principals = _principals(builder, edges)
    for edge in edges:
        if edge.schema != REPRESENTATION:
            _edge(builder, edge, others, principals)
    _review_invalid(builder, invalid)
    return builder


def _review_invalid(builder: Builder, invalid: list[tuple[InputError, Any]]) -> None:
    """--skip-invalid: an unreadable record is counted and noted, never silently dropped; what it
    is about (the asset or controlled party of an edge, or the entity itself) is reviewed."""
    note_skipped(builder, [error for error, _ in invalid])
    for number, (error, value) in enumerate(invalid, start=1):
        for subject in _subjects(value) or []:
            identifiers = [{"scheme": "ftm-id", "id": subject}]
            builder.placeholder(
                subject, "unknown", f"named by an invalid record ({error.file}: {error.path})", identifiers
            )
            review_unreadable(builder, subject, number, error, UNREADABLE_RECORD, "ftm-invalid-record")


def _subjects(value: Any) -> list[str] | None:
    """What an unreadable record is about: the asset or controlled party of an Ownership or
    Control, the entity itself for a party; nothing for a record of another known schema (a
    Sanction, an Address); None when that cannot be read (an edge without a readable asset,
    a record without a schema): skipping it could hide an owner of any entity."""
    if not isinstance(value, dict) or not isinstance(value.get("schema"), str):
        return None
    schema = value["schema"]
    properties = value.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    if schema in EDGES:
        held = properties.get(EDGES[schema][1])
        items = [held] if isinstance(held, str) else held if isinstance(held, list) else []
        found = [item for item in items if isinstance(item, str) and item]
        return found or None
    if schema in ENTITY_TYPES:
        return [value["id"]] if isinstance(value.get("id"), str) and value["id"] else None
    return []  # another schema (known or not): no party, no ownership


def _read(
    value: Any,
    file: str,
    at: tuple[int, str],
    builder: Builder,
    parties: dict[str, Seen],
    others: dict[str, str],
    edges: list[Seen],
) -> None:
    builder.records += 1
    number, place = at
    if isinstance(value, dict) and {"entity_id", "prop"} <= value.keys():
        raise InputError(
            "a FollowTheMoney statement (one property value per record), not an entity: "
            "export entities (one JSON object per entity with schema and properties)",
            file=file,
            path=place,
            value=value.get("entity_id"),
        )
    if not isinstance(value, dict) or not isinstance(value.get("schema"), str) or not isinstance(value.get("id"), str):
        raise InputError(
            "not a FollowTheMoney entity (an object with id, schema and properties)",
            file=file,
            path=place,
            value=value if not isinstance(value, dict) else sorted(value)[:6],
        )
    schema = value["schema"]
    properties = _checked_properties(value, file, place)
    entity_id = value["id"]
    if schema not in ENTITY_TYPES and schema not in EDGES and schema != REPRESENTATION:
        others[entity_id] = schema
        builder.skip(f"FtM {schema}: not a legal person or an ownership or control record")
        return
    notes: list[str] = []
    known = set(model()[schema].get("properties", []))
    unknown = sorted(set(properties) - known)
    if unknown:
        notes.append(f"properties not in the FtM {schema} schema, ignored: {unknown}")
    source: dict[str, Any] = {"file": file, "record": number, "id": entity_id, "schema": schema}
    for key in ("datasets", "referents", "first_seen", "last_seen", "last_change"):
        if value.get(key):
            source[key] = value[key]
    if notes:
        source["notes"] = notes
    kept = {name: items for name, items in properties.items() if name in known}
    if schema in EDGES or schema == REPRESENTATION:
        edges.append(Seen(schema, kept, source))
        return
    seen = parties.get(entity_id)
    if seen is None:
        parties[entity_id] = Seen(schema, kept, source)
        return
    # Another fragment of the same entity: FtM merges fragments by adding up their values.
    builder.merged += 1
    for name, items in kept.items():
        seen.properties[name] = list(dict.fromkeys([*seen.properties.get(name, []), *items]))
    seen.extra_sources.append(source)
    if seen.schema != schema:
        seen.source.setdefault("notes", []).append(f"fragment with schema {schema} merged into {seen.schema}")


def _checked_properties(value: dict[str, Any], file: str, place: str) -> dict[str, list[str]]:
    if value["schema"] not in model():
        raise InputError(
            "unknown FollowTheMoney schema (not in the FollowTheMoney 4 model)",
            file=file,
            path=place + ".schema",
            value=value["schema"],
        )
    properties = value.get("properties", {})
    if not isinstance(properties, dict) or not all(
        isinstance(items, list) and all(isinstance(item, str) for item in items) for items in properties.values()
    ):
        raise InputError(
            "properties must map each property name to a list of strings",
            file=file,
            path=place + ".properties",
            value=properties,
        )
    return properties


def _entity(builder: Builder, entity_id: str, seen: Seen) -> None:
    notes: list[str] = list(seen.source.pop("notes", []))
    props = seen.properties
    entity_type = ENTITY_TYPES[seen.schema]
    if entity_type == "person":
        headquarters = jurisdiction = None
    else:
        jurisdiction = one_country(props.get("jurisdiction", []), notes, "jurisdiction")
        main = props.get("mainCountry") or props.get("country") or []
        headquarters = one_country(main, notes, "headquarters")
        if not main:
            notes.append("headquarters: no mainCountry or country given; read as unknown")
    for dissolved in props.get("dissolutionDate", []):
        notes.append(f"dissolved on {dissolved}")
    identifiers: list[dict[str, Any]] = [{"scheme": "ftm-id", "id": entity_id}]
    for prop, scheme in IDENTIFIER_SCHEMES.items():
        identifiers.extend({"scheme": scheme, "id": item} for item in props.get(prop, []))
    names = props.get("name", [])
    source = dict(seen.source)
    if seen.extra_sources:
        source["merged"] = seen.extra_sources
    builder.entity(
        entity_id,
        entity_type,
        name=names[0] if names else None,
        headquarters=headquarters,
        jurisdiction=jurisdiction,
        identifiers=identifiers,
        source=source,
        notes=notes,
    )
    if entity_type != "person":
        # A register's statement about the owners (a GLEIF reporting exception, a UK PSC
        # statement) in the record's text is a disclosure fact, read as BODS and GLEIF read it.
        for prop in DISCLOSURE_TEXT:
            for text in props.get(prop, []):
                fact = statement_in_text(text, {"format": FORMAT, **seen.source, "property": prop})
                if fact is not None:
                    add_disclosure(builder.entities[entity_id], fact)


def _share(values: list[str], notes: list[str]) -> Share:
    numbers = [number for item in values if (number := percentage(item, notes, "percentage")) is not None]
    if not numbers:
        return Share()
    if len(set(numbers)) > 1:
        notes.append(f"several percentages {values}; read as the range between them")
    return Share(min(numbers), max(numbers))


def _words_kind(props: dict[str, list[str]], names: tuple[str, ...], table: str) -> str | None:
    text = " ".join(value for name in names for value in props.get(name, [])).lower()
    for word, kind, _ in readings()[table]:
        if word in text:
            return str(kind)
    return None


def _kind_and_share(schema: str, props: dict[str, list[str]], notes: list[str]) -> tuple[str, Share]:
    if schema != "Ownership":
        return _words_kind(props, ("controlType", "role"), "control_kinds") or "other_control", Share()
    kind = _words_kind(props, ("role", "ownershipType"), "ownership_roles")
    if kind is None:
        return "shareholding", _share(props.get("percentage", []), notes)
    notes.append(f"role {props.get('role') or props.get('ownershipType')} read as {kind}")
    return kind, _share(props.get("percentage", []), notes) if kind == NOMINEE else Share()


def _end_from_status(props: dict[str, list[str]], source: dict[str, Any], notes: list[str]) -> date | None:
    """A relationship without an endDate whose status says it is over ended by the latest
    date the record gives (the status held by then); with no date it is kept as holding."""
    statuses = [value for value in props.get("status", []) if value.strip()]
    ended_words = readings()["ended_statuses"]
    if not any(word in value.lower() for value in statuses for word in ended_words):
        return None
    dated = [*props.get("modifiedAt", []), *props.get("retrievedAt", []), *props.get("date", [])]
    dated += [str(source[key]) for key in ("last_change",) if source.get(key)]
    days = [d for item in dated if (d := day(item, [], "date", end=True)) is not None]
    if not days:
        notes.append(f"status {statuses} without any date: kept as holding")
        return None
    notes.append(f"status {statuses} without an endDate: ended by {max(days)}, the record's latest date")
    return max(days)


def _principals(builder: Builder, edges: list[Seen]) -> dict[str, list[str]]:
    """{agent: its clients} of the Representations whose role names a nominee, custodian or trustee."""
    words = readings()["principal_roles"]
    found: dict[str, list[str]] = {}
    for edge in edges:
        if edge.schema != REPRESENTATION:
            continue
        props = edge.properties
        role = " ".join(props.get("role", [])).lower()
        agents, clients = props.get("agent", []), props.get("client", [])
        if not any(word in role for word in words) or len(agents) != 1 or len(clients) != 1:
            builder.skip("FtM Representation that names no principal of a nominee, custodian or trustee")
            continue
        builder.skip("FtM Representation read as the principal of its agent's nominee holdings")
        found.setdefault(agents[0], [])
        if clients[0] not in found[agents[0]]:
            found[agents[0]].append(clients[0])
    return found


def _edge(builder: Builder, edge: Seen, others: dict[str, str], principals: dict[str, list[str]]) -> None:
    notes: list[str] = list(edge.source.pop("notes", []))
    owner_prop, asset_prop = EDGES[edge.schema]
    ends = []
    for prop in (owner_prop, asset_prop):
        items = edge.properties.get(prop, [])
        if len(items) != 1:
            builder.skip(f"FtM {edge.schema} without exactly one {prop}")
            return
        if items[0] in others:
            builder.skip(f"FtM {edge.schema} whose {prop} is no legal person ({others[items[0]]})")
            return
        builder.placeholder(
            items[0],
            "unknown",
            f"named as {prop} by {edge.schema} {edge.source['id']} but not in the input",
            [{"scheme": "ftm-id", "id": items[0]}],
        )
        ends.append(items[0])
    props = edge.properties
    kind, share = _kind_and_share(edge.schema, props, notes)
    starts = [d for item in props.get("startDate", []) if (d := day(item, notes, "startDate")) is not None]
    ends_on = [d for item in props.get("endDate", []) if (d := day(item, notes, "endDate", end=True)) is not None]
    if len(starts) > 1 or len(ends_on) > 1:
        notes.append("several start or end dates: the earliest start and the latest end are kept")
    start = min(starts) if starts else None
    end = max(ends_on) if ends_on else None
    if end is None:
        end = _end_from_status(props, edge.source, notes)
    if start is not None and end is not None and end < start:
        notes.append(f"endDate {end} before startDate {start}: dates ignored")
        start = end = None
    source = {"format": FORMAT, **edge.source}
    for prop in ("role", "ownershipType", "sharesCount", "sharesValue", "sharesCurrency", "controlType", "status"):
        if props.get(prop):
            source[prop] = props[prop]
    if notes:
        source["notes"] = notes
    identifiers = [{"scheme": "ftm-id", "id": edge.source["id"]}]
    identifiers.extend({"scheme": "ftm:recordId", "id": item} for item in props.get("recordId", []))
    draft = LinkDraft(ends[0], ends[1], kind, share, start, end, source, identifiers)
    if kind == NOMINEE:
        _held_for_clients(builder, draft, principals.get(ends[0], []))
    else:
        builder.link(draft)


def _held_for_clients(builder: Builder, draft: LinkDraft, clients: list[str]) -> None:
    """An Ownership read as nominee: held for the clients of the holder's nominee Representations, in
    proportions the source does not give when there are several (each from nothing to all of it);
    none named: for a principal the source does not disclose."""
    share = draft.share if len(clients) < 2 else Share(None, draft.share.max, False, draft.share.max_exclusive)
    named: list[str | None] = [*clients] or [None]
    for client in named:
        if client is not None:
            builder.placeholder(
                client,
                "unknown",
                f"named as client by a Representation of {draft.owner} but not in the input",
                [{"scheme": "ftm-id", "id": client}],
            )
        builder.link(replace(draft, share=share, source=dict(draft.source), principal=client))
