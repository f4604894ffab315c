"""One nominee holding, as each source format can state it, becomes the same facts link (kind
nominee, held for the principal) and gets the same decision under every profile: BODS (a
nomination arrangement holding the shares, with its nominee and nominator), FollowTheMoney (an
Ownership whose role names a nominee, and the holder's nominee Representation of its client) and
the facts format itself. GLEIF relationship records have no nominee relationship
(docs/importers.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ..conftest import AS_OF
from .helpers import EXTERNAL, imported

PROFILES = ["terms_of_service", "ofac", "ofsi"]
COUNTRIES = {"principal": "CN", "nominee": "SG", "target": "SG", "founder": "SG"}
NAMES = {
    "principal": "Shenzhen Harbour Investment Co",
    "nominee": "Raffles Nominees Pte Ltd",
    "target": "Orchard Logistics Pte Ltd",
    "founder": "Tan Wei Ming",
}


def _facts(principal: str | None) -> dict[str, Any]:
    entities = [
        {"id": key, "type": "person" if key == "founder" else "company", "name": NAMES[key]}
        | ({} if key == "founder" else {"headquarters": COUNTRIES[key], "jurisdiction": COUNTRIES[key]})
        for key in NAMES
    ]
    return {
        "entities": entities,
        "ownership": [
            {"owner": "nominee", "asset": "target", "kind": "nominee", "principal": principal, "percentage": "60"},
            {"owner": "founder", "asset": "target", "percentage": 40},
        ],
    }


def _statement(record_id: str, record_type: str, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "statementId": f"statement-{record_id}-0000-0000-0000-000000000000",
        "declarationSubject": "target",
        "statementDate": "2024-01-01",
        "publicationDetails": {"publicationDate": "2024-01-02", "bodsVersion": "0.4", "publisher": {"name": "test"}},
        "recordId": record_id,
        "recordStatus": "new",
        "recordType": record_type,
        "recordDetails": {"isComponent": False, **details},
    }


def _bods_party(key: str) -> dict[str, Any]:
    if key == "founder":
        return _statement(key, "person", {"personType": "knownPerson", "names": [{"fullName": NAMES[key]}]})
    country = {"code": COUNTRIES[key], "name": COUNTRIES[key]}
    return _statement(
        key,
        "entity",
        {
            "entityType": {"type": "registeredEntity"},
            "name": NAMES[key],
            "jurisdiction": country,
            "addresses": [{"type": "business", "address": "1 Main Street", "country": country}],
        },
    )


def _bods(principal: bool) -> list[dict[str, Any]]:
    """The nomination arrangement holds 60%; the nominee and (when disclosed) the nominator are its parties."""

    def interest(kind: str, **extra: Any) -> dict[str, Any]:
        return {"type": kind, "directOrIndirect": "direct", "beneficialOwnershipOrControl": False, **extra}

    def relationship(record_id: str, party: str, subject: str, *interests: dict[str, Any]) -> dict[str, Any]:
        details = {"subject": subject, "interestedParty": party, "interests": list(interests)}
        return _statement(record_id, "relationship", details)

    arrangement = _statement(
        "nomination",
        "entity",
        {"entityType": {"type": "arrangement", "subtype": "nomination"}, "name": "Orchard nomination"},
    )
    statements = [*(_bods_party(key) for key in NAMES), arrangement]
    statements += [
        relationship("rel-held", "nomination", "target", interest("shareholding", share={"exact": 60})),
        relationship("rel-nominee", "nominee", "nomination", interest("nominee")),
        relationship("rel-founder", "founder", "target", interest("shareholding", share={"exact": 40})),
    ]
    if principal:
        statements.append(relationship("rel-nominator", "principal", "nomination", interest("nominator")))
    return statements


def _ftm(principal: bool) -> list[dict[str, Any]]:
    def party(key: str) -> dict[str, Any]:
        if key == "founder":
            return {"id": key, "schema": "Person", "properties": {"name": [NAMES[key]]}}
        country = [COUNTRIES[key].lower()]
        return {
            "id": key,
            "schema": "Company",
            "properties": {"name": [NAMES[key]], "jurisdiction": country, "country": country},
        }

    records = [party(key) for key in NAMES]
    records += [
        {
            "id": "own-held",
            "schema": "Ownership",
            "properties": {
                "owner": ["nominee"],
                "asset": ["target"],
                "role": ["Nominee shareholder"],
                "percentage": ["60"],
            },
        },
        {
            "id": "own-founder",
            "schema": "Ownership",
            "properties": {"owner": ["founder"], "asset": ["target"], "percentage": ["40"]},
        },
    ]
    if principal:
        records.append(
            {
                "id": "rep-nominee",
                "schema": "Representation",
                "properties": {"agent": ["nominee"], "client": ["principal"], "role": ["nominee"]},
            }
        )
    return records


def _written(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n")
    return path


@pytest.mark.parametrize("disclosed", [True, False], ids=["principal", "undisclosed-principal"])
def test_one_nominee_holding_is_decided_alike_from_every_format(decide: Any, tmp_path: Path, disclosed: bool) -> None:
    documents = {
        "facts": _facts("principal" if disclosed else None),
        "bods": imported("bods", _written(tmp_path, "nominee.bods.jsonl", _bods(disclosed))),
        "ftm": imported("ftm", _written(tmp_path, "nominee.ftm.jsonl", _ftm(disclosed))),
    }
    for name, document in documents.items():
        held = [link for link in document["ownership"] if link["owner"] == "nominee"]
        assert [(link["kind"], link["principal"], link["percentage"]) for link in held] == [
            ("nominee", "principal" if disclosed else None, "60")
        ], name
    expected = "deny" if disclosed else "review"
    for profile in PROFILES:
        decisions = {name: decide(document, profile=profile)["target"] for name, document in documents.items()}
        assert decisions == dict.fromkeys(documents, expected), profile


def test_a_nominee_board_member_stays_a_board_link(decide: Any) -> None:
    """The standard's own nomination example: the arrangement holds a board seat, not shares, so its
    nominee and nominator are read through it as any arrangement's parties are (their own interests
    in it, nominee and nominator, are other control): no shares are held for anyone."""
    document = imported("bods", EXTERNAL / "data-standard" / "nomination.json")
    kinds = {(link["owner"], link["asset"], link["kind"]) for link in document["ownership"]}
    assert ("101AB1984F", "104AB1984C", "other_control") in kinds
    assert ("102AB1984E", "104AB1984C", "other_control") in kinds
    assert all(link["kind"] != "nominee" for link in document["ownership"])
    assert decide(document, as_of=AS_OF)["104AB1984C"] in {"allow", "review"}
