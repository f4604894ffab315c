"""Which BODS version a statement is, and older shapes read as BODS 0.4 records.

The Open Ownership register and the standard's own examples publish BODS 0.1-0.3:
statements with a `statementType` (entityStatement, personStatement,
ownershipOrControlStatement) that point at each other by `statementID` and withdraw
earlier ones with `replacesStatements`. Open Ownership's pipelines also published
drafts of 0.4. Each statement's version is read from `publicationDetails.bodsVersion`
where given, else from its shape; it is validated against that version's published
schema (bods_schema/) and then rewritten as the 0.4 record the 0.4 reading maps to
facts. What each old code becomes is data (bods_legacy.json), listed in
docs/importers.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker, ValidationError

from tos_policy import jsonio

SCHEMA_DIR = Path(__file__).resolve().parent / "bods_schema"
CROSSWALK_FILE = Path(__file__).resolve().parent / "bods_legacy.json"
LEGACY = ("0.1", "0.2", "0.3")
CURRENT = "0.4"
RECORD_TYPES = {
    "entityStatement": "entity",
    "personStatement": "person",
    "ownershipOrControlStatement": "relationship",
}
# Fields of a 0.4 draft that the final schema refuses as null or "" and that mean "not given".
_EMPTY_MEANS_ABSENT = frozenset(
    {"foundingDate", "dissolutionDate", "birthDate", "deathDate", "startDate", "endDate", "code", "uri"}
)


class UnsupportedVersion(ValueError):
    """A bodsVersion this importer has no schema for."""


@cache
def crosswalk() -> dict[str, Any]:
    loaded: dict[str, Any] = jsonio.loads(CROSSWALK_FILE.read_bytes(), file=str(CROSSWALK_FILE), max_depth=10)
    return loaded


def is_legacy_shape(statement: dict[str, Any]) -> bool:
    return "statementType" in statement or "statementID" in statement


def detect(statement: dict[str, Any]) -> tuple[str, list[str]]:
    """The version a statement is read as, and notes on how that was decided."""
    details = statement.get("publicationDetails")
    declared = details.get("bodsVersion") if isinstance(details, dict) else None
    legacy = is_legacy_shape(statement)
    if declared is None:
        if not legacy:
            return CURRENT, []
        guess = _legacy_by_shape(statement)
        return guess, [f"no bodsVersion: read as BODS {guess} by its shape"]
    if not isinstance(declared, str) or declared not in (*LEGACY, CURRENT):
        raise UnsupportedVersion(str(declared))
    if not legacy and declared in LEGACY:
        raise UnsupportedVersion(f"{declared} on a statement in the 0.4 shape (recordType, recordDetails)")
    if legacy and declared == CURRENT:
        # The standard's own examples while 0.4 was drafted: 0.3 statements labelled 0.4.
        return "0.3", ["labelled BODS 0.4 in the 0.1-0.3 statement shape (a draft of 0.4): read as BODS 0.3"]
    return declared, []


def _legacy_by_shape(statement: dict[str, Any]) -> str:
    if "isComponent" not in statement:
        return "0.1"  # 0.2 and 0.3 require isComponent
    interests = statement.get("interests")
    kebab = any(
        isinstance(interest, dict) and ("interestLevel" in interest or "-" in str(interest.get("type") or ""))
        for interest in (interests if isinstance(interests, list) else [])
    )
    return "0.2" if kebab or "incorporatedInJurisdiction" in statement else "0.3"


@cache
def _legacy_validators(version: str) -> dict[str, Draft4Validator]:
    path = SCHEMA_DIR / f"bods-package-{version.replace('.', '-')}-0.json"
    package = jsonio.loads(path.read_bytes(), file=str(path), max_depth=1000, exact=False)
    found: dict[str, Draft4Validator] = {}
    for schema in package["items"]["oneOf"]:
        for statement_type in schema["properties"]["statementType"]["enum"]:
            found[statement_type] = Draft4Validator(schema, format_checker=FormatChecker())
    return found


def legacy_reading(statement: dict[str, Any], version: str, notes: list[str]) -> tuple[str, list[ValidationError]]:
    """The version a 0.1-0.3 statement is read as, and its schema errors. Without a bodsVersion
    the statement is read as the first version whose schema it meets (the guess from its shape
    first); when it meets none, the guess's errors are reported."""
    errors = list(legacy_errors(statement, version))
    if not errors or not any("by its shape" in note for note in notes):
        return version, errors
    for other in sorted(LEGACY, reverse=True):
        if other != version and not any(True for _ in legacy_errors(statement, other)):
            notes[:] = [f"no bodsVersion: read as BODS {other}, whose schema it meets"]
            return other, []
    return version, errors


def legacy_errors(statement: dict[str, Any], version: str) -> Iterator[ValidationError]:
    """Every schema error of a 0.1-0.3 statement against its version's published schema."""
    validator = _legacy_validators(version).get(str(statement.get("statementType")))
    if validator is None:
        yield ValidationError(
            f"{statement.get('statementType')!r} is not one of {sorted(RECORD_TYPES)}",
            path=["statementType"] if "statementType" in statement else [],
            instance=statement.get("statementType"),
        )
        return
    yield from validator.iter_errors(statement)


# ----------------------------------------------------------------------------
# 0.1-0.3 -> 0.4


def to_current(statement: dict[str, Any], version: str) -> dict[str, Any]:
    """The 0.4 record a valid 0.1-0.3 statement describes (its recordId is its statementID;
    references stay statementIDs, resolved through replacements when the import is built)."""
    statement_id = statement["statementID"]
    record_type = RECORD_TYPES[statement["statementType"]]
    if record_type == "entity":
        details = _entity_details(statement)
    elif record_type == "person":
        details = _person_details(statement)
    else:
        details = _relationship_details(statement)
    out: dict[str, Any] = {
        "statementId": statement_id,
        "recordId": statement_id,
        "recordType": record_type,
        "recordDetails": details,
        "publicationDetails": {**(statement.get("publicationDetails") or {}), "bodsVersion": version},
    }
    if statement.get("statementDate"):
        out["statementDate"] = statement["statementDate"]
    return out


def _reason(reason: Any) -> Any:
    return crosswalk()["unspecified_reasons"].get(reason, reason)


def _unspecified(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {**value, "reason": _reason(value.get("reason"))}


def _addresses(statement: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"type": address.get("type"), "country": {"code": address["country"]} if address.get("country") else None}
        for address in statement.get("addresses") or []
    ]


def _entity_details(statement: dict[str, Any]) -> dict[str, Any]:
    entity_type: dict[str, Any] = {"type": statement["entityType"]}
    subtype = statement.get("entitySubtype") or {}
    category = crosswalk()["state_body_subtypes"].get(subtype.get("generalCategory"))
    if category:
        entity_type["subtype"] = category
    details: dict[str, Any] = {"isComponent": bool(statement.get("isComponent")), "entityType": entity_type}
    for key in ("name", "identifiers", "dissolutionDate", "foundingDate"):
        if statement.get(key):
            details[key] = statement[key]
    jurisdiction = statement.get("jurisdiction") or statement.get("incorporatedInJurisdiction")
    if jurisdiction:
        details["jurisdiction"] = jurisdiction
    details["addresses"] = _addresses(statement)
    unspecified = _unspecified(statement.get("unspecifiedEntityDetails"))
    if unspecified:
        details["unspecifiedEntityDetails"] = unspecified
    return details


def _person_details(statement: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {"isComponent": bool(statement.get("isComponent")), "personType": statement["personType"]}
    if statement.get("names"):
        details["names"] = statement["names"]
    unspecified = _unspecified(statement.get("unspecifiedPersonDetails"))
    if unspecified:
        details["unspecifiedPersonDetails"] = unspecified
    return details


def _relationship_details(statement: dict[str, Any]) -> dict[str, Any]:
    party = statement["interestedParty"]
    interested: Any = party.get("describedByEntityStatement") or party.get("describedByPersonStatement")
    if interested is None:
        interested = _unspecified(party.get("unspecified")) or {"reason": "unknown"}
    details: dict[str, Any] = {
        "isComponent": bool(statement.get("isComponent")),
        "subject": statement["subject"]["describedByEntityStatement"],
        "interestedParty": interested,
        "interests": [_interest(interest) for interest in statement.get("interests") or []],
    }
    if statement.get("componentStatementIDs"):
        details["componentRecords"] = list(statement["componentStatementIDs"])
    return details


def _interest(interest: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kind = interest.get("type")
    if kind is not None:
        out["type"] = crosswalk()["interest_types"].get(kind, kind)
    level = interest.get("directOrIndirect", interest.get("interestLevel"))
    if level is not None:
        out["directOrIndirect"] = level
    for key in ("beneficialOwnershipOrControl", "details", "startDate", "endDate"):
        if key in interest:
            out[key] = interest[key]
    if isinstance(interest.get("share"), dict):
        out["share"] = _share(interest["share"])
    return out


def _share(share: dict[str, Any]) -> dict[str, Any]:
    """0.1-0.3 bounds with boolean exclusiveMinimum/exclusiveMaximum flags as 0.4 bounds.

    The old schemas' prose says the maximum is exclusive by default, their `default` says
    inclusive: a bound is read as exclusive only where the statement says so, the wider
    (safe) range where it does not."""
    out: dict[str, Any] = {}
    if "exact" in share:
        out["exact"] = share["exact"]
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if bound in share:
            out[flag if share.get(flag) is True else bound] = share[bound]
    return out


# ----------------------------------------------------------------------------
# Drafts of 0.4


def clean_draft(statement: dict[str, Any]) -> list[str]:
    """Open Ownership's pipelines wrote drafts of 0.4 with null for optional fields not known
    (`foundingDate: null`) and "" for missing dates and country codes (`startDate: ""`,
    `country: {"name": ..., "code": ""}`), which the final schema refuses. Each means "not
    given": such fields are removed, in place, with a note. A required field left empty still
    fails validation."""
    notes: list[str] = []
    pending: list[tuple[Any, str]] = [(statement.get("recordDetails"), "$.recordDetails")]
    while pending:
        node, path = pending.pop()
        if isinstance(node, dict):
            for key in list(node):
                value = node[key]
                if value is None or (value == "" and key in _EMPTY_MEANS_ABSENT):
                    del node[key]
                    notes.append(f"draft 0.4: {path}.{key} {'null' if value is None else 'empty'}, read as not given")
                else:
                    pending.append((value, f"{path}.{key}"))
        elif isinstance(node, list):
            pending.extend((item, f"{path}[{index}]") for index, item in enumerate(node))
    return notes
