"""Register statements about how complete ownership is become disclosure facts, read the same
way by every importer, and an entity they leave open is never allowed."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tos_policy.importers.disclosure import GLEIF_REASONS

from .helpers import EXTERNAL, imported, json_lines

GOLDEN = EXTERNAL / "gleif-golden-copy"
OPENCHECK = EXTERNAL / "opencheck-bods"
SADERAT_FILE = OPENCHECK / "2138008KTNTDICZU8L25.jsonl"
SADERAT_LEI = "XI-LEI-2138008KTNTDICZU8L25"  # Bank Saderat PLC, London
SADERAT_COH = "GB-COH-01126618"  # the same bank in the UK PSC register
AS_OF = date(2025, 10, 1)


def _statements(entity: dict[str, Any]) -> set[tuple[str, str | None]]:
    return {(item["status"], item.get("statement")) for item in entity.get("disclosure", [])}


def test_every_gleif_reporting_exception_is_a_disclosure_fact_never_a_silent_no_parent() -> None:
    exceptions = json.loads((GOLDEN / "repex-data.json").read_text())
    document = imported("gleif", GOLDEN / "lei-data.json", GOLDEN / "repex-data.json")
    entities = {entity["id"]: entity for entity in document["entities"]}
    assert not any("no parent" in reason for reason in document["source"]["skipped"])
    for exception in exceptions:
        reason = exception["ExceptionReason"]
        facts = [item for item in entities[exception["LEI"]]["disclosure"] if item["statement"] == f"gleif:{reason}"]
        assert facts, exception
        status, meaning = GLEIF_REASONS[reason]
        assert {item["status"] for item in facts} == {status}
        assert all(meaning in item["note"] and item["source"]["format"] == "gleif" for item in facts)


def test_each_published_reason_has_a_meaning() -> None:
    published = {
        "NATURAL_PERSONS",
        "NON_CONSOLIDATING",
        "NO_KNOWN_PERSON",
        "NON_PUBLIC",
        "BINDING_LEGAL_COMMITMENTS",
        "LEGAL_OBSTACLES",
        "DISCLOSURE_DETRIMENTAL",
        "DETRIMENT_NOT_EXCLUDED",
        "CONSENT_NOT_OBTAINED",
    }
    assert published <= set(GLEIF_REASONS)
    # Only the reasons that name natural persons or nobody in control leave part of it known.
    assert {reason for reason, (status, _) in GLEIF_REASONS.items() if status != "none"} == {
        "NATURAL_PERSONS",
        "NO_KNOWN_PERSON",
    }


def _one_fact_three_ways(tmp_path: Path, reason: str) -> dict[str, dict[str, Any]]:
    """One GLEIF reporting exception about one company, as GLEIF publishes it, as a BODS 0.4
    relationship with an unspecified interested party (Open Ownership's pipelines name the
    GLEIF reason in its description), and as a FollowTheMoney company whose notes name it."""
    lei = "2138008KTNTDICZU8L25"
    gleif = tmp_path / "repex.json"
    gleif.write_text(
        json.dumps(
            [
                {"LEI": lei, "ExceptionCategory": "DIRECT_ACCOUNTING_CONSOLIDATION_PARENT", "ExceptionReason": reason},
            ]
        )
    )
    entity = next(s for s in json_lines(SADERAT_FILE) if s.get("recordId") == f"XI-LEI-{lei}")
    relationship = {
        "statementId": "00000000-0000-4000-8000-000000000001",
        "declarationSubject": entity["recordId"],
        "statementDate": "2025-01-01",
        "recordId": f"{entity['recordId']}-repex",
        "recordType": "relationship",
        "recordStatus": "new",
        "recordDetails": {
            "isComponent": False,
            "subject": entity["recordId"],
            "interestedParty": {
                "reason": "interestedPartyExemptFromDisclosure",
                "description": f"From LEI ExemptionReason `{reason}`",
            },
            "interests": [],
        },
        "publicationDetails": entity["publicationDetails"],
    }
    bods = tmp_path / "statements.jsonl"
    bods.write_text(json.dumps(entity) + "\n" + json.dumps(relationship) + "\n")
    ftm = tmp_path / "entities.ftm.json"
    company = {
        "id": f"lei-{lei}",
        "schema": "Company",
        "properties": {
            "name": ["BANK SADERAT PLC"],
            "jurisdiction": ["gb"],
            "leiCode": [lei],
            "notes": [f"GLEIF reporting exception (direct parent): {reason}"],
        },
    }
    ftm.write_text(json.dumps(company) + "\n")
    out = {}
    for fmt, path in (("gleif", gleif), ("bods", bods), ("ftm", ftm)):
        document = imported(fmt, path)
        [subject] = [e for e in document["entities"] if e.get("disclosure")]
        out[fmt] = subject
    return out


@pytest.mark.parametrize("reason", ["NON_CONSOLIDATING", "NATURAL_PERSONS", "NON_PUBLIC"])
def test_bods_ftm_and_gleif_read_the_same_fact_the_same_way(tmp_path: Path, reason: str) -> None:
    read = _one_fact_three_ways(tmp_path, reason)
    expected = {(GLEIF_REASONS[reason][0], f"gleif:{reason}")}
    for fmt, subject in read.items():
        assert _statements(subject) == expected, fmt


@pytest.mark.parametrize("reason", ["NON_CONSOLIDATING", "NO_KNOWN_PERSON", "NATURAL_PERSONS"])
def test_a_bank_with_only_a_gleif_exception_is_never_allowed(tmp_path: Path, decide: Any, reason: str) -> None:
    for fmt, subject in _one_fact_three_ways(tmp_path, reason).items():
        document = {"entities": [subject], "ownership": []}
        assert decide(document, as_of=AS_OF)[subject["id"]] == "review", fmt


def test_bank_saderat_plc_is_never_allowed_whatever_part_of_the_real_sample_is_read(
    tmp_path: Path, decide: Any
) -> None:
    """Bank Saderat PLC (London) is consolidated by Bank Saderat Iran: denied on the whole
    sample; on its UK PSC records alone (two persons with significant influence, no
    statement of complete disclosure) it is left open, never allowed."""
    whole = imported("bods", SADERAT_FILE)
    assert decide(whole, as_of=AS_OF)[SADERAT_LEI] == "deny"
    psc_only = [s for s in json_lines(SADERAT_FILE) if not s["recordId"].startswith("XI-LEI")]
    assert psc_only and all(s["recordId"].startswith("GB-COH") for s in psc_only)
    part = tmp_path / "psc-only.jsonl"
    part.write_text("".join(json.dumps(statement) + "\n" for statement in psc_only))
    assert decide(imported("bods", part), as_of=AS_OF)[SADERAT_COH] == "review"
