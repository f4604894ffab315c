"""GLEIF round trips on real golden copy excerpts (XML and JSON) and API responses."""

from __future__ import annotations

import json
from typing import Any

from tos_policy.importers.gleif import HIDDEN_PARENT_REASONS

from ..conftest import AS_OF
from .helpers import EXTERNAL, imported, links_between

API = EXTERNAL / "gleif-api"
GOLDEN = EXTERNAL / "gleif-golden-copy"
BLOOMBERG = "5493001KJTIIGC8Y1R12"
AMAZON_UK = "254900LNRYNOQ9YPU758"
SHELL = "21380068P1DRHMJ8KU70"


def _without_file(document: dict[str, Any]) -> dict[str, Any]:
    for record in document["entities"] + document["ownership"]:
        record["source"].pop("file", None)
        record["source"].pop("shape", None)
        for fact in record.get("disclosure", []):
            fact["source"].pop("file", None)
            fact["source"].pop("shape", None)
    document["source"].pop("files")
    return document


def test_golden_copy_xml_and_json_give_the_same_facts() -> None:
    xml = imported("gleif", GOLDEN / "lei-data.xml", GOLDEN / "rr-data.xml", GOLDEN / "repex-data.xml")
    as_json = imported("gleif", GOLDEN / "lei-data.json", GOLDEN / "rr-data.json", GOLDEN / "repex-data.json")
    assert _without_file(xml) == _without_file(as_json)


def test_golden_copy_round_trip() -> None:
    document = imported("gleif", GOLDEN / "lei-data.json", GOLDEN / "rr-data.json", GOLDEN / "repex-data.json")
    leis = {r["LEI"] for r in json.loads((GOLDEN / "lei-data.json").read_text())}
    relationships = json.loads((GOLDEN / "rr-data.json").read_text())
    exceptions = json.loads((GOLDEN / "repex-data.json").read_text())
    real = {e["id"] for e in document["entities"] if not e["source"].get("placeholder")}
    assert real == leis
    # Every relationship is a link; every exception is a disclosure fact of its entity, and an
    # exception hiding a parent that exists is also a link from an undisclosed parent.
    hidden_parents = [link for link in document["ownership"] if "#undisclosed-" in link["owner"]]
    assert len(document["ownership"]) == len(relationships) + len(hidden_parents)
    assert sum(len(entity.get("disclosure", [])) for entity in document["entities"]) == len(exceptions)
    assert len(hidden_parents) == sum(1 for item in exceptions if item["ExceptionReason"] in HIDDEN_PARENT_REASONS)
    kinds = {(link["source"].get("relationshipType"), link["kind"]) for link in document["ownership"]}
    assert kinds == {
        ("IS_FUND-MANAGED_BY", "other_control"),
        ("IS_SUBFUND_OF", "other_control"),
        ("IS_DIRECTLY_CONSOLIDATED_BY", "consolidation"),
        ("IS_ULTIMATELY_CONSOLIDATED_BY", "consolidation"),
        (None, "consolidation"),  # the undisclosed parent of a reporting exception
    }
    fund = {e["id"]: e for e in document["entities"]}["001GPB6A9XPE8XJICC14"]
    assert fund["type"] == "fund" and fund["jurisdiction"] == "US"  # US-MA is a US subdivision
    # Parent first: owner = EndNode (parent), asset = StartNode (child), dated from the relationship period.
    consolidated = links_between(document, "ZZG38T0MDR3QY1ETUA76", "010CMKZ3VON21WF2ZD45")
    assert consolidated[0]["start_date"] == "2018-02-06"
    assert consolidated[0]["identifiers"] == [
        {"scheme": "GLEIF-RR", "id": "010CMKZ3VON21WF2ZD45|IS_DIRECTLY_CONSOLIDATED_BY|ZZG38T0MDR3QY1ETUA76"}
    ]


def test_bloomberg_with_its_parents_is_allowed_and_without_them_reviewed(decide: Any) -> None:
    files = [
        API / f"{name}_{BLOOMBERG}.json"
        for name in (
            "single_lei_record",
            "direct-parent",
            "ultimate-parent",
            "direct-parent-relationship",
            "ultimate-parent-relationship",
        )
    ]
    document = imported("gleif", *files)
    # Bloomberg Finance L.P. (US) is consolidated by Bloomberg L.P. (US): no restricted region
    # anywhere in the chain, but GLEIF says nothing of who holds the parent's shares: review.
    # Once every entity's ownership is declared complete: allow.
    assert decide(document, as_of=AS_OF)[BLOOMBERG] == "review"
    declared = {**document, "entities": [{**entity, "disclosure": "full"} for entity in document["entities"]]}
    assert decide(declared, as_of=AS_OF)[BLOOMBERG] == "allow"
    # The same relationships without the parents' LEI records: the parent's country is unknown,
    # and a consolidating parent could be restricted: review, never allow on silence.
    partial = imported("gleif", files[0], files[3], files[4])
    placeholders = [e for e in partial["entities"] if e["source"].get("placeholder")]
    assert placeholders and all(e["headquarters"] is None for e in placeholders)
    assert decide(partial, as_of=AS_OF)[BLOOMBERG] == "review"


def test_undisclosed_parent_leads_to_review(decide: Any) -> None:
    document = imported(
        "gleif",
        API / f"single_lei_record_{AMAZON_UK}.json",
        API / f"ultimate-parent_{AMAZON_UK}.json",
        API / f"ultimate-parent-relationship_{AMAZON_UK}.json",
        API / f"direct-parent-reporting-exception_{AMAZON_UK}.json",
    )
    # GLEIF withholds Amazon Digital UK's direct parent (reporting exception NON_PUBLIC). A parent
    # exists and consolidates it; its country is unknown: review, even though the ultimate parent
    # (Amazon.com, US) is known and unrestricted.
    hidden = f"{AMAZON_UK}#undisclosed-direct-parent"
    assert links_between(document, hidden, AMAZON_UK)[0]["kind"] == "consolidation"
    assert decide(document, as_of=AS_OF)[AMAZON_UK] == "review"


def test_no_known_person_exception_is_a_disclosure_fact_and_pages_are_flagged(decide: Any) -> None:
    document = imported(
        "gleif",
        API / f"single_lei_record_{SHELL}.json",
        API / f"direct-parent-reporting-exception_{SHELL}.json",
        API / f"ultimate-parent-reporting-exception_{SHELL}.json",
        API / f"direct-child-relationships_{SHELL}.json",
    )
    shell = {e["id"]: e for e in document["entities"]}[SHELL]
    # Shell plc has no parent that controls it (NO_KNOWN_PERSON): a statement that its holders
    # below control are not reported, not that they are clean. Under the strict default: review.
    assert {(item["status"], item["statement"]) for item in shell["disclosure"]} == {
        ("partial", "gleif:NO_KNOWN_PERSON")
    }
    assert decide(document, as_of=AS_OF)[SHELL] == "review"
    # The children list is page 1 of 8: the import says so instead of passing it off as complete.
    assert any("page 1 of 8" in note for note in document["source"]["notes"])
    assert len(links_between(document, SHELL, "2138009AGE4DW1J76R35")) == 1
