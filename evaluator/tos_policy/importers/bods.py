"""Import Beneficial Ownership Data Standard (BODS) statements: 0.4, and 0.1-0.3 and drafts
of 0.4 read as 0.4 records (bods_versions.py).

Each statement is checked against its version's published JSON Schema (bods_schema/);
every statement that fails is listed, or with skip_invalid set aside and its subject
reviewed. Statements are streamed; for each record (recordId) only its
latest statement is kept, since a BODS statement replaces the record's earlier
ones. Entity records that share a register identifier (an LEI, a company
number) are one legal person reported by several sources, and become one
entity. Arrangements (joint holdings, nominations, trusts without legal
personality) are not legal persons: their parties become owners of what the
arrangement holds, acting jointly. docs/importers.md has the mapping tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from tos_policy import jsonio
from tos_policy.errors import InputError
from tos_policy.facts.identity import canonical_rank, strong_identifiers
from tos_policy.importers import bods_versions
from tos_policy.importers.common import (
    HUNDRED,
    LISTED_ERRORS,
    NOMINEE,
    STAKE_KINDS,
    ZERO,
    Builder,
    InvalidRecords,
    LinkDraft,
    Progress,
    Record,
    Share,
    country,
    day,
    one_country,
    percentage,
    read_json_records,
    review_unreadable,
    shape_validator,
)
from tos_policy.importers.disclosure import add_disclosure, bods_unspecified
from tos_policy.jsonio import json_path
from tos_policy.schema_check import StrictValidator
from tos_policy.unionfind import UnionFind

FORMAT = "bods"
# The disclosure statement of an entity that an unreadable statement is about (--skip-invalid).
UNREADABLE_STATEMENT = "import:unreadable-statement"
VERSION = "0.4"
SCHEMA_DIR = Path(__file__).resolve().parent / "bods_schema"

ENTITY_TYPES = {
    "registeredEntity": "company",
    "legalEntity": "company",
    "anonymousEntity": "unknown",
    "unknownEntity": "unknown",
    "state": "public_body",
    "stateBody": "public_body",
}

# GLEIF relationship types as the GLEIF-to-BODS pipeline writes them into details.
GLEIF_DETAILS = {
    "IS_DIRECTLY_CONSOLIDATED_BY": "consolidation",
    "IS_ULTIMATELY_CONSOLIDATED_BY": "consolidation",
    "IS_INTERNATIONAL_BRANCH_OF": "branch",
    "IS_FUND-MANAGED_BY": "other_control",
    "IS_SUBFUND_OF": "other_control",
    "IS_FEEDER_TO": "other_control",
}

CONTROL_INTERESTS = {
    "appointmentOfBoard": "board_appointment",
    "settlor": "other_control",
    "trustee": "other_control",
    "protector": "other_control",
    "beneficiaryOfLegalArrangement": "other_control",
    "rightsGrantedByContract": "other_control",
    "conditionalRightsGrantedByContract": "other_control",
    "controlViaCompanyRulesOrArticles": "other_control",
    "controlByLegalFramework": "other_control",
    "boardMember": "significant_influence",
    "boardChair": "significant_influence",
    "enjoymentAndUseOfAssets": "other_control",
    "nominee": "other_control",
    "nominator": "other_control",
}
# Economic interests read as a stake when the relationship states no shareholding.
ECONOMIC_INTERESTS = {
    "rightsToSurplusAssetsOnDissolution",
    "rightsToProfitOrIncome",
    "rightToProfitOrIncomeFromAssets",
    "unknownInterest",
    "unpublishedInterest",
    None,
}
NOT_OWNERSHIP = {"seniorManagingOfficial": "senior managing official: an officer, not an owner"}

# Unspecified interested parties that mean "nobody to report", not "somebody unknown".
NO_OWNER_REASONS = {
    "noBeneficialOwners": "the source reports no beneficial owners",
    "subjectExemptFromDisclosure": "the subject is exempt from disclosure (for example, listed on a regulated market)",
}

# UK PSC bands (Companies House nature-of-control codes): 25-50 is more than 25% and
# at most 50%; 50-75 is more than 50% and less than 75%; 75-100 is 75% or more.
PSC_BANDS = {(25, 50): (True, False), (50, 75): (True, True), (75, 100): (False, False)}


@cache
def statement_validator() -> Draft202012Validator:
    resources = []
    for name in ("statement", "components", "entity-record", "person-record", "relationship-record"):
        path = SCHEMA_DIR / f"{name}.json"
        contents = jsonio.loads(path.read_bytes(), file=str(path), max_depth=1000, exact=False)
        resources.append((contents["$id"], Resource.from_contents(contents)))
    registry: Registry[Any] = Registry().with_resources(resources)
    validator: Draft202012Validator = StrictValidator(
        {"$ref": "urn:statement#/$defs/Statement"}, registry=registry, format_checker=FormatChecker()
    )
    return validator


@dataclass
class Kept:
    """The latest statement of one record, reduced to what the import needs."""

    order: tuple[str, int]  # (statementDate, position in input): the later one wins
    statement: dict[str, Any]
    source: dict[str, Any]


@dataclass
class State:
    records: dict[str, Kept] = field(default_factory=dict)
    statement_ids: set[str] = field(default_factory=set)
    position: int = 0
    # BODS 0.1-0.3: statements withdrawn by a later one's replacesStatements, and for an
    # entity or person statement replaced so, the statement that now describes it.
    replaced: set[str] = field(default_factory=set)
    successors: dict[str, str] = field(default_factory=dict)
    legacy_content: dict[str, dict[str, Any]] = field(default_factory=dict)
    invalid: list[InvalidStatement] = field(default_factory=list)
    # Every dated statement of each entity record (the latest included): their statement dates
    # date the record's headquarters, jurisdiction and name (_dated).
    versions: dict[str, list[Kept]] = field(default_factory=dict)

    def current(self, statement_id: str) -> str:
        """The statement that now describes what `statement_id` described."""
        seen = {statement_id}
        while statement_id in self.successors and self.successors[statement_id] not in seen:
            statement_id = self.successors[statement_id]
            seen.add(statement_id)
        return statement_id


def _note_replacements(statement: dict[str, Any], state: State) -> None:
    for old in statement.get("replacesStatements") or []:
        state.replaced.add(old)
        if statement.get("statementType") in ("entityStatement", "personStatement"):
            state.successors[old] = statement["statementID"]


def _apply_replacements(state: State, builder: Builder) -> None:
    """BODS 0.1-0.3: a replaced statement is withdrawn, and what pointed at a replaced
    entity or person statement points at its replacement."""
    for old in sorted(state.replaced):
        kept = state.records.get(old)
        if kept is not None and kept.source.get("bodsVersion") in bods_versions.LEGACY:
            del state.records[old]
            builder.skip("a statement withdrawn by a later one (replacesStatements)")
    for kept in state.records.values():
        if kept.source.get("bodsVersion") not in bods_versions.LEGACY:
            continue
        details = kept.statement["recordDetails"]
        for role in ("subject", "interestedParty"):
            if isinstance(details.get(role), str):
                details[role] = state.current(details[role])


def import_files(paths: list[Path], progress: Progress, *, skip_invalid: bool = False) -> Builder:
    """Every statement of PATHS; statements that do not meet their version's schema are all
    listed (InvalidRecords), or with skip_invalid counted as skipped, their subjects reviewed."""
    builder = Builder(FORMAT)
    state = State()
    errors: list[InputError] = []
    for path in paths:
        with progress.file(path) as advance:
            for record in read_json_records(path, advance):
                if isinstance(record.value, list) and record.path == "$":
                    raise InputError(
                        "expected one statement per line, found an array", file=str(path), path=record.locate()
                    )
                try:
                    _read_statement(record, str(path), state, builder)
                except _Invalid as exc:
                    errors.extend(exc.errors)
                    state.invalid.append(exc.invalid)
    if errors and not skip_invalid:
        raise InvalidRecords(errors, len(state.invalid))
    unskippable = [invalid for invalid in state.invalid if invalid.unattributable]
    if unskippable:
        raise InvalidRecords([invalid.error for invalid in unskippable], len(unskippable), unskippable=True)
    _set_aside_invalid(state, builder)
    _build(state, builder)
    return builder


@dataclass(frozen=True)
class InvalidStatement:
    """What an unreadable statement still says: where it is, its record and the entity it is about."""

    file: str
    location: str
    message: str
    record_id: str | None
    subject: str | None
    error: InputError
    # A relationship (or a statement of unknown type) naming no subject: skipping it could
    # hide an owner of any entity, so it cannot be skipped.
    unattributable: bool = False


class _Invalid(Exception):
    def __init__(self, errors: list[InputError], invalid: InvalidStatement) -> None:
        super().__init__(errors[0].render())
        self.errors = errors
        self.invalid = invalid


def _about(statement: Any) -> tuple[str | None, str | None]:
    """The record id and the subject an unreadable statement names, where it names them as text."""
    if not isinstance(statement, dict):
        return None, None
    details = statement.get("recordDetails")
    details = details if isinstance(details, dict) else {}
    record_id = statement.get("recordId", statement.get("statementID"))
    subject: Any = details.get("subject")
    legacy_subject = statement.get("subject")
    if isinstance(legacy_subject, dict):
        subject = legacy_subject.get("describedByEntityStatement")
    if statement.get("recordType") in ("entity", "person") or statement.get("statementType") in (
        "entityStatement",
        "personStatement",
    ):
        subject = record_id  # an unreadable description of the entity itself
    if not isinstance(subject, str) or not subject:
        subject = statement.get("declarationSubject")
    return (
        record_id if isinstance(record_id, str) else None,
        subject if isinstance(subject, str) and subject else None,
    )


def _invalid(statement: Any, file: str, errors: list[InputError]) -> _Invalid:
    record_id, subject = _about(statement)
    describes_a_party = isinstance(statement, dict) and (
        statement.get("recordType") in ("entity", "person")
        or statement.get("statementType") in ("entityStatement", "personStatement")
    )
    invalid = InvalidStatement(
        file,
        errors[0].path,
        errors[0].message,
        record_id,
        subject,
        errors[0],
        unattributable=subject is None and not describes_a_party,
    )
    return _Invalid(errors, invalid)


def _checked(statement: Any, file: str, record: Record, state: State) -> tuple[dict[str, Any], str, list[str]]:
    """The statement as a valid 0.4 record, the version it was read as and notes on the reading;
    _Invalid with every error, each naming the record and the JSON path of what is wrong."""
    if not isinstance(statement, dict):
        error = InputError("a BODS statement must be a JSON object", file=file, path=record.locate(), value=statement)
        raise _invalid(statement, file, [error])
    try:
        version, notes = bods_versions.detect(statement)
    except bods_versions.UnsupportedVersion as exc:
        error = InputError(
            f"unsupported BODS version {exc}: this importer reads BODS 0.1 to {VERSION} statements",
            file=file,
            path=record.locate("$.publicationDetails.bodsVersion"),
            value=(statement.get("publicationDetails") or {}).get("bodsVersion"),
        )
        raise _invalid(statement, file, [error]) from None
    if version in bods_versions.LEGACY:
        version, found = bods_versions.legacy_reading(statement, version, notes)
    else:
        record_type = statement.get("recordType")
        if record_type not in ("entity", "person", "relationship"):
            error = InputError(
                "unknown statement type (recordType must be entity, person or relationship)",
                file=file,
                path=record.locate("$.recordType"),
                value=record_type,
            )
            raise _invalid(statement, file, [error])
        notes += bods_versions.clean_draft(statement)
        found = list(statement_validator().iter_errors(statement))
        # fields read beyond the 0.4 schema (importers/shapes.json) must have the types read
        found += list(shape_validator("bods-statement").iter_errors(statement))
    if found:
        errors = [
            InputError(
                f"not a valid BODS {version} statement: {error.message}",
                file=file,
                path=record.locate(json_path(error.absolute_path)),
                value=error.instance,
            )
            for error in sorted(found, key=lambda error: [str(part) for part in error.absolute_path])
        ]
        raise _invalid(statement, file, errors)
    if version in bods_versions.LEGACY:
        _note_replacements(statement, state)
        statement = bods_versions.to_current(statement, version)
    return statement, version, notes


def _set_aside_invalid(state: State, builder: Builder) -> None:
    """--skip-invalid: an unreadable statement is counted and noted, never silently dropped. Its
    record is unreadable as a whole (a later, unreadable statement may replace a readable one), so
    the record's other statements are set aside too; what it is about is reviewed (_build)."""
    for invalid in state.invalid:
        builder.skip("invalid statement (--skip-invalid)")
        if invalid.record_id is not None and state.records.pop(invalid.record_id, None) is not None:
            builder.skip("a statement of a record that has an invalid statement (--skip-invalid)")
    shown = [f"invalid statement skipped: {i.file}: {i.location}: {i.message}" for i in state.invalid[:LISTED_ERRORS]]
    if len(state.invalid) > LISTED_ERRORS:
        shown.append(f"and {len(state.invalid) - LISTED_ERRORS} more invalid statements skipped")
    builder.notes.extend(shown)


def _review_invalid_subjects(state: State, builder: Builder, groups: UnionFind) -> None:
    """The subject of an unreadable statement may have an owner nobody can read: one stands in
    (common.review_unreadable), so it is reviewed, never allowed on what could be read."""
    for number, invalid in enumerate(state.invalid, start=1):
        if invalid.subject is None:
            continue
        subject = groups.find(state.current(invalid.subject))
        builder.placeholder(
            subject,
            "unknown",
            f"named by an invalid statement ({invalid.file}: {invalid.location}) and not described otherwise",
            [{"scheme": "bods-recordId", "id": invalid.subject}],
        )
        review_unreadable(builder, subject, number, invalid.error, UNREADABLE_STATEMENT, "bods-invalid-statement")


def _read_statement(record: Record, file: str, state: State, builder: Builder) -> None:
    builder.records += 1
    number = record.number
    statement, version, version_notes = _checked(record.value, file, record, state)
    statement_id = statement["statementId"]
    compact = _compact(statement)
    if statement_id in state.statement_ids:
        if version not in bods_versions.LEGACY or state.legacy_content.get(statement_id) == compact:
            builder.skip("the same statement repeated")
            return
        # A publisher's slip (the standard's own joint-ownership example does it): another
        # statement under the same statementID is kept as its own record, never dropped.
        repeated = sum(1 for key in state.records if key.startswith(f"{statement_id}#")) + 2
        version_notes.append(f"statementID {statement_id} repeated with other content: kept as record {repeated}")
        statement["recordId"] = compact["recordId"] = f"{statement_id}#{repeated}"
    state.statement_ids.add(statement_id)
    if version in bods_versions.LEGACY:
        state.legacy_content[statement_id] = compact
    state.position += 1
    source = {
        "file": file,
        "record": number,
        "statementId": statement_id,
        "recordId": statement["recordId"],
        "statementDate": statement.get("statementDate"),
    }
    publisher = ((statement.get("publicationDetails") or {}).get("publisher") or {}).get("name")
    if isinstance(publisher, str) and publisher:  # cited by the decisions resting on the record
        source["publisher"] = publisher
    if version != VERSION or version_notes:
        source["bodsVersion"] = version
    if version_notes:
        source["read_as"] = version_notes
    if statement.get("recordStatus"):
        source["recordStatus"] = statement["recordStatus"]
    kept = Kept((str(statement.get("statementDate") or ""), state.position), compact, source)
    if statement["recordType"] == "entity" and statement.get("statementDate"):
        state.versions.setdefault(statement["recordId"], []).append(kept)
    previous = state.records.get(statement["recordId"])
    if previous is None or previous.order <= kept.order:
        if previous is not None:
            builder.skip("an earlier statement of a record replaced by a later one")
        state.records[statement["recordId"]] = kept
    else:
        builder.skip("an earlier statement of a record replaced by a later one")


_KEEP = ("statementId", "statementDate", "recordId", "recordType", "recordStatus")
_DETAILS = (
    "entityType",
    "name",
    "jurisdiction",
    "incorporatedInJurisdiction",
    "identifiers",
    "dissolutionDate",
    "names",
    "subject",
    "interestedParty",
    "interests",
    "componentRecords",
    "unspecifiedEntityDetails",
    "unspecifiedPersonDetails",
)


def _compact(statement: dict[str, Any]) -> dict[str, Any]:
    """What the import needs of a statement: the rest (publication details, annotations,
    address lines, birth dates) is not held in memory while the input streams past."""
    details = statement["recordDetails"]
    kept = {key: details[key] for key in _DETAILS if key in details}
    if "names" in kept:
        kept["names"] = kept["names"][:1]
    kept["addresses"] = [
        {"type": address.get("type"), "country": address.get("country")} for address in details.get("addresses") or []
    ]
    return {**{key: statement[key] for key in _KEEP if key in statement}, "recordDetails": kept}


# ----------------------------------------------------------------------------
# Entities and persons


def _identifiers(details: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for identifier in details.get("identifiers") or []:
        item = {key: identifier[key] for key in ("scheme", "id", "schemeName") if identifier.get(key)}
        if item:
            found.append(item)
    return found


def _register_keys(details: dict[str, Any]) -> tuple[str, ...]:
    """The strong identifiers of an entity record, normalised as the evaluator reads them
    (facts/identity.py): `GB-COH 1126618` and `01126618` in Companies House are one key."""
    return strong_identifiers(details.get("identifiers") or [], _jurisdiction(details, []))


def _is_arrangement(statement: dict[str, Any]) -> bool:
    details = statement["recordDetails"]
    return statement["recordType"] == "entity" and (details.get("entityType") or {}).get("type") == "arrangement"


def _build(state: State, builder: Builder) -> None:
    _apply_replacements(state, builder)
    records = state.records
    order = {record_id: kept.order[1] for record_id, kept in records.items()}
    by_key: dict[str, str] = {}
    keys = {
        record_id: _register_keys(kept.statement["recordDetails"])
        for record_id, kept in records.items()
        if kept.statement["recordType"] == "entity" and not _is_arrangement(kept.statement)
    }
    rank = {record_id: canonical_rank(record_id, found) for record_id, found in keys.items()}
    groups = UnionFind(rank.__getitem__)  # a group goes by its best-ranked record, whatever the order
    for record_id, found in keys.items():
        for key in found:
            if key in by_key:
                groups.union(by_key[key], record_id)
            else:
                by_key[key] = record_id
    members: dict[str, list[str]] = {}
    for record_id, kept in records.items():
        if kept.statement["recordType"] != "relationship":
            members.setdefault(groups.find(record_id), []).append(record_id)
    arrangements: set[str] = set()
    for canonical, ids in members.items():
        ids.sort(key=lambda record_id: (record_id != canonical, order[record_id]))  # the named record first
        _entity(builder, canonical, [records[record_id] for record_id in ids])
        if len(ids) == 1 and not _is_arrangement(records[canonical].statement):
            _dated(builder.entities[canonical], state.versions.get(canonical, []))
        builder.merged += len(ids) - 1
        if _is_arrangement(records[canonical].statement):
            arrangements.add(canonical)
    for kept in sorted((k for k in records.values() if k.statement["recordType"] == "relationship"), key=_by_order):
        _relationship(builder, kept, groups, records)
    _review_invalid_subjects(state, builder, groups)
    _collapse_arrangements(builder, arrangements)


def _by_order(kept: Kept) -> int:
    return kept.order[1]


def _headquarters(details: dict[str, Any], notes: list[str]) -> str | None:
    addresses = details.get("addresses") or []
    for kind in ("business", "registered", "alternative"):
        values = [(a.get("country") or {}).get("code") or (a.get("country") or {}).get("name") for a in addresses]
        values = [
            value for a, value in zip(addresses, values, strict=True) if a.get("type") == kind and value is not None
        ]
        if values:
            if kind != "business":
                notes.append(f"headquarters: no business address; taken from the {kind} address")
            return one_country(values, notes, "headquarters")
    return None


def _jurisdiction(details: dict[str, Any], notes: list[str]) -> str | None:
    value = details.get("jurisdiction") or details.get("incorporatedInJurisdiction")
    if not value:
        return None
    return country(value.get("code") or value.get("name"), notes, "jurisdiction")


def _entity(builder: Builder, canonical: str, kept_list: list[Kept]) -> None:
    notes: list[str] = []
    first = kept_list[0].statement
    details = first["recordDetails"]
    if first["recordType"] == "person":
        entity_type, name = "person", _person_name(details)
        headquarters = jurisdiction = None
    else:
        entity_type = _entity_type(details.get("entityType") or {})
        name = details.get("name")
        headquarters, jurisdiction = None, None
        for kept in kept_list:  # the first record that knows a country decides; conflicts are noted
            hq_notes: list[str] = []
            ju_notes: list[str] = []
            hq = _headquarters(kept.statement["recordDetails"], hq_notes)
            ju = _jurisdiction(kept.statement["recordDetails"], ju_notes)
            if headquarters is None:
                notes.extend(hq_notes)
            if jurisdiction is None:
                notes.extend(ju_notes)
            headquarters = _agree(headquarters, hq, notes, "headquarters")
            jurisdiction = _agree(jurisdiction, ju, notes, "jurisdiction")
        if details.get("dissolutionDate"):
            notes.append(f"dissolved on {details['dissolutionDate']}")
    identifiers: list[dict[str, Any]] = []
    for kept in kept_list:
        for identifier in _identifiers(kept.statement["recordDetails"]):
            if identifier not in identifiers:
                identifiers.append(identifier)
        identifiers.append({"scheme": "bods-recordId", "id": kept.statement["recordId"]})
        identifiers.append({"scheme": "bods-statementId", "id": kept.statement["statementId"]})
    source = dict(kept_list[0].source)
    if len(kept_list) > 1:
        source["merged"] = [kept.source for kept in kept_list[1:]]
        notes.append(f"{len(kept_list)} records with a common register identifier read as one legal person")
    builder.entity(
        canonical,
        entity_type,
        name=name,
        headquarters=headquarters,
        jurisdiction=jurisdiction,
        identifiers=identifiers,
        source=source,
        notes=notes,
    )


def _dated(record: dict[str, Any], versions: list[Kept]) -> None:
    """A record's headquarters, jurisdiction and name as dated values when its statements
    (each dated by its statementDate) give different ones: each value holds from its
    statement's date until the next statement's; the first since before any date (the
    earliest statement is all the source says of the time before it)."""
    ordered = sorted(versions, key=lambda kept: kept.order)
    if len(ordered) < 2:
        return
    notes: list[str] = []
    readers: dict[str, Callable[[dict[str, Any]], str | None]] = {
        "headquarters": lambda details: _headquarters(details, notes),
        "jurisdiction": lambda details: _jurisdiction(details, notes),
        "name": lambda details: details.get("name"),
    }
    starts = [day(kept.statement["statementDate"], notes, "statementDate") for kept in ordered]
    for field_name, read in readers.items():
        values = [read(kept.statement["recordDetails"]) for kept in ordered]
        if len(set(values)) < 2 or (field_name == "name" and None in values):
            continue  # one value throughout (or a statement without a name): the latest, undated
        dated: list[dict[str, Any]] = []
        for position, (value, start) in enumerate(zip(values, starts, strict=True)):
            if dated and dated[-1]["value"] == value:
                continue  # the same value restated
            if dated:
                dated[-1]["end_date"] = start.isoformat() if start else None
            item: dict[str, Any] = {"value": value[:1024] if field_name == "name" and value else value}
            if position and start:
                item["start_date"] = start.isoformat()
            item["source"] = {"statementId": ordered[position].source["statementId"]}
            dated.append(item)
        for item in dated:
            if item.get("end_date") is None:
                item.pop("end_date", None)
        record[field_name] = dated
    if any(isinstance(record.get(name), list) for name in readers):
        record["source"].setdefault("notes", []).append(
            "headquarters, jurisdiction or name changed between the record's statements: dated by statementDate"
        )


def _entity_type(entity_type: dict[str, Any]) -> str:
    bods_type, subtype = entity_type.get("type"), entity_type.get("subtype")
    if bods_type in ("arrangement", "legalEntity") and subtype == "trust":
        return "trust"
    if bods_type == "arrangement":
        return "unknown"  # kept only when no party is named (otherwise read through)
    return ENTITY_TYPES[str(bods_type)]


def _person_name(details: dict[str, Any]) -> str | None:
    names = details.get("names") or []
    name = next((n.get("fullName") for n in names if n.get("fullName")), None)
    if name is None and names:
        name = " ".join(str(names[0].get(part)) for part in ("givenName", "familyName") if names[0].get(part))
    return name


def _agree(current: str | None, new: str | None, notes: list[str], label: str) -> str | None:
    if current is None or new is None or current == new:
        return current or new
    notes.append(f"{label}: merged records disagree ({current}, {new}); the first record's is kept")
    return current


# ----------------------------------------------------------------------------
# Relationships


def _share(interest: dict[str, Any], notes: list[str], label: str) -> Share:
    share = interest.get("share") or {}
    if "exact" in share:
        exact = percentage(share["exact"], notes, label)
        return Share() if exact is None else Share.exact(exact)
    low_ex = "exclusiveMinimum" in share and "minimum" not in share
    high_ex = "exclusiveMaximum" in share and "maximum" not in share
    low = share.get("minimum", share.get("exclusiveMinimum"))
    high = share.get("maximum", share.get("exclusiveMaximum"))
    low_pct = None if low is None else percentage(low, notes, label)
    high_pct = None if high is None else percentage(high, notes, label)
    details = str(interest.get("details") or "")
    if low_pct is not None and high_pct is not None and not (low_ex or high_ex):
        band = (int(low_pct), int(high_pct)) if low_pct == int(low_pct) and high_pct == int(high_pct) else None
        if band in PSC_BANDS and re.search(rf"-{band[0]}-to-{band[1]}-percent", details):
            low_ex, high_ex = PSC_BANDS[band]
            notes.append(f"UK PSC band {band[0]}-{band[1]}: {Share(low_pct, high_pct, low_ex, high_ex).fields()}")
    if (
        low_pct is not None
        and high_pct is not None
        and (low_pct > high_pct or (low_pct == high_pct and (low_ex or high_ex)))
    ):
        notes.append(f"{label}: empty range {share!r}; share read as unknown")
        return Share()
    return Share(low_pct, high_pct, low_ex, high_ex)


def _kind(interest: dict[str, Any], share: Share) -> str | None:
    interest_type = interest.get("type")
    if interest_type == "shareholding":
        return "shareholding"
    if interest_type == "votingRights":
        majority = share.low > 50 or (share.low == 50 and share.min_exclusive)
        return "voting_majority" if majority else "significant_influence"
    if interest_type == "otherInfluenceOrControl":
        details = str(interest.get("details") or "")
        for gleif_type, kind in GLEIF_DETAILS.items():
            if gleif_type in details:
                return kind
        return "significant_influence"
    if interest_type in CONTROL_INTERESTS:
        return CONTROL_INTERESTS[interest_type]
    if interest_type in ECONOMIC_INTERESTS:
        return "shareholding?"
    return None


def _unspecified_party_disclosure(builder: Builder, kept: Kept, subject: str, records: dict[str, Kept]) -> None:
    """An interested party recorded as an anonymous or unknown entity or person: its reason
    is a disclosure fact about the subject, as an unspecified party's would be."""
    value = kept.statement["recordDetails"]["interestedParty"]
    described = records.get(value) if isinstance(value, str) else None
    if described is None:
        return
    details = described.statement.get("recordDetails") or {}
    unspecified = details.get("unspecifiedEntityDetails") or details.get("unspecifiedPersonDetails")
    if isinstance(unspecified, dict):
        source = {"format": builder.format, **kept.source}
        fact = bods_unspecified(unspecified.get("reason"), str(unspecified.get("description") or ""), source)
        add_disclosure(builder.entities[subject], fact)


def _party(builder: Builder, kept: Kept, role: str, groups: UnionFind) -> str | None:
    details = kept.statement["recordDetails"]
    value = details[role]
    if isinstance(value, str):
        canonical = groups.find(value)
        builder.placeholder(
            canonical,
            "unknown",
            f"named as {role} by relationship {kept.statement['recordId']} but not described in the input",
            [{"scheme": "bods-recordId", "id": value}],
        )
        return canonical
    return None


def _relationship(builder: Builder, kept: Kept, groups: UnionFind, records: dict[str, Kept]) -> None:
    statement = kept.statement
    details = statement["recordDetails"]
    record_id = statement["recordId"]
    if details.get("componentRecords"):
        builder.skip("indirect relationship described by its component relationships")
        return
    subject = _party(builder, kept, "subject", groups)
    if subject is None:
        builder.skip("relationship without a specified subject")
        return
    party = details["interestedParty"]
    owner = _party(builder, kept, "interestedParty", groups)
    if owner is None:
        reason = party.get("reason")
        fact = bods_unspecified(reason, str(party.get("description") or ""), {"format": builder.format, **kept.source})
        add_disclosure(builder.entities[subject], fact)  # never a silent "no owner"
        if reason in NO_OWNER_REASONS:
            builder.entities[subject]["source"].setdefault("notes", []).append(NO_OWNER_REASONS[reason])
            builder.skip(f"no owner to report ({reason})")
            return
        owner = f"{record_id}#unspecified-party"
        builder.placeholder(
            owner,
            "unknown",
            f"an interested party the source does not name (reason: {reason}; {party.get('description', '')})".strip(),
            [{"scheme": "bods-recordId", "id": record_id}],
        )
    else:
        _unspecified_party_disclosure(builder, kept, subject, records)
    closed_on = statement.get("statementDate") if statement.get("recordStatus") == "closed" else None
    interests = details.get("interests") or [{}]
    has_shareholding = any(interest.get("type") == "shareholding" for interest in interests)
    for index, interest in enumerate(interests):
        draft = _interest_link(builder, kept, interest, index, (owner, subject), has_shareholding, closed_on)
        if draft is not None:
            builder.link(draft)


def _interest_link(
    builder: Builder,
    kept: Kept,
    interest: dict[str, Any],
    index: int,
    parties: tuple[str, str],
    has_shareholding: bool,
    closed_on: str | None,
) -> LinkDraft | None:
    statement = kept.statement
    record_id = statement["recordId"]
    notes: list[str] = []
    share = _share(interest, notes, f"interests[{index}].share")
    kind = _kind(interest, share)
    if kind is None:
        builder.skip(NOT_OWNERSHIP.get(str(interest.get("type")), f"interest type {interest.get('type')}"))
        return None
    if kind == "shareholding?":
        if has_shareholding:
            builder.skip("economic interest beside a shareholding in the same relationship")
            return None
        kind = "shareholding"
        notes.append(f"interest {interest.get('type') or 'without a type'} read as a stake")
    start = day(interest.get("startDate"), notes, "startDate")
    end = day(interest.get("endDate"), notes, "endDate")
    if end is None and closed_on:
        end = day(closed_on, notes, "statementDate")
        notes.append("record closed without an end date: the closing statement's date is read as the end")
    if start is not None and end is not None and end < start:
        notes.append(f"endDate {end} before startDate {start}: dates ignored")
        start = end = None
    source = {**kept.source, "interest": index, "interestType": interest.get("type")}
    for key in ("details", "directOrIndirect", "beneficialOwnershipOrControl"):
        if key in interest:
            source[key] = interest[key]
    if notes:
        source["notes"] = notes
    identifiers = [
        {"scheme": "bods-recordId", "id": record_id},
        {"scheme": "bods-statementId", "id": statement["statementId"]},
    ]
    return LinkDraft(parties[0], parties[1], kind, share, start, end, source, identifiers)


def _product(first: Share, second: Share) -> Share:
    if first.min is None and first.max is None and second.min is None and second.max is None:
        return Share()
    low = first.low * second.low / HUNDRED
    high = first.high * second.high / HUNDRED
    return Share(
        low,
        high,
        low > ZERO and (first.min_exclusive or second.min_exclusive),
        first.max_exclusive or second.max_exclusive,
    )


def _later(first: date | None, second: date | None) -> date | None:
    return second if first is None else first if second is None else max(first, second)


def _earlier(first: date | None, second: date | None) -> date | None:
    return second if first is None else first if second is None else min(first, second)


def _held_for_nominators(
    arrangement: str, held: LinkDraft, nominees: list[LinkDraft], nominators: list[LinkDraft]
) -> list[LinkDraft]:
    """The shares a nominee arrangement holds, as links of kind nominee from each nominee (the
    registered holder) to the asset, held for each nominator (the principal; None when the source
    names none). Several nominators share the holding in proportions the source does not give:
    each holds from nothing to all of it."""
    principals: list[str | None] = [link.owner for link in nominators] or [None]
    share = held.share if len(principals) == 1 else Share(None, held.share.max, False, held.share.max_exclusive)
    out = []
    for nominee in nominees:
        for principal in principals:
            start = _later(nominee.start, held.start)
            end = _earlier(nominee.end, held.end)
            if start is not None and end is not None and end <= start:
                continue
            source = {
                "format": FORMAT,
                "through_arrangement": arrangement,
                "party_link": nominee.source,
                "arrangement_link": held.source,
                "notes": [f"held by nominee {nominee.owner} for {principal or 'a principal the source does not name'}"],
            }
            identifiers = nominee.identifiers + held.identifiers
            out.append(
                LinkDraft(nominee.owner, held.asset, NOMINEE, share, start, end, source, identifiers, None, principal)
            )
    return out


def _collapse_arrangements(builder: Builder, arrangements: set[str]) -> None:
    """An arrangement is no legal person: its parties own, jointly, what it holds.

    A party's stake through the arrangement is its stake in the arrangement times
    the arrangement's stake in the asset; control over the arrangement is control
    over what it holds. An arrangement nobody is named in stays as an entity."""
    for _ in range(len(arrangements) + 1):
        pending = [
            a
            for a in sorted(arrangements)
            if any(link.asset == a for link in builder.links) and any(link.owner == a for link in builder.links)
        ]
        if not pending:
            return
        arrangement = pending[0]
        incoming = [link for link in builder.links if link.asset == arrangement]
        outgoing = [link for link in builder.links if link.owner == arrangement]
        if any(link.owner == arrangement for link in incoming):
            return  # an arrangement holding itself: keep as it is
        kept = [link for link in builder.links if arrangement not in (link.asset, link.owner)]
        nominees = [link for link in incoming if link.source.get("interestType") == "nominee"]
        nominators = [link for link in incoming if link.source.get("interestType") == "nominator"]
        for held in outgoing:
            if nominees and held.kind in STAKE_KINDS:  # shares a nominee holds for its nominators
                kept.extend(_held_for_nominators(arrangement, held, nominees, nominators))
                through = [link for link in incoming if link not in nominees and link not in nominators]
            else:
                through = incoming
            for party in through:
                start, end = _later(party.start, held.start), _earlier(party.end, held.end)
                if start is not None and end is not None and end <= start:
                    continue
                stake = party.kind in STAKE_KINDS and held.kind in STAKE_KINDS
                kind = held.kind if party.kind in STAKE_KINDS else party.kind
                share = _product(party.share, held.share) if stake else Share()
                source = {
                    "format": FORMAT,
                    "through_arrangement": arrangement,
                    "party_link": party.source,
                    "arrangement_link": held.source,
                    "notes": [f"held through arrangement {arrangement}, acting jointly with its other parties"],
                }
                kept.append(
                    LinkDraft(
                        party.owner,
                        held.asset,
                        kind,
                        share,
                        start,
                        end,
                        source,
                        party.identifiers + held.identifiers,
                        arrangement,
                    )
                )
        builder.links = kept
        del builder.entities[arrangement]
        arrangements.discard(arrangement)
        builder.skip("arrangement read through to its parties")
