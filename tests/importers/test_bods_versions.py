"""BODS 0.1-0.3 statements (the Open Ownership register's format) and drafts of 0.4, read
as the 0.4 records they describe: real examples of the standard's own history, and the shapes
Open Ownership's pipelines published, with the decisions a lawyer would expect."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tos_policy.errors import InputError
from tos_policy.importers import bods_versions

from ..conftest import AS_OF
from .helpers import EXTERNAL, imported, links_between

LEGACY = EXTERNAL / "data-standard-legacy"
SINGLE = LEGACY / "1-single-direct.0-2.json"
UPDATE = LEGACY / "2-single-update.0-2.json"
JOINT = LEGACY / "3-joint-ownership.0-2.json"
INDIRECT = LEGACY / "os-03-dr-03.0-2.json"
ANONYMOUS = LEGACY / "os-01-dr-02-dc-05.0-2.json"
DRAFT = LEGACY / "1-single-direct.draft-0-4.json"
PSC = EXTERNAL / "opencheck-bods" / "psc-bands-sample.jsonl"

CHRINON = "1dc0e987-5c57-4a1c-b3ad-61353b66a9b7"
TAGGART = "019a93f1-e470-42e9-957b-03559861b2e2"


def test_a_0_2_package_reads_as_its_0_4_records(decide: Any) -> None:
    document = imported("bods", SINGLE)
    entities = {e["id"]: e for e in document["entities"]}
    assert (entities[CHRINON]["type"], entities[TAGGART]["type"]) == ("company", "person")
    assert {"scheme": "GB-COH", "id": "07444723"} in entities[CHRINON]["identifiers"]
    assert entities[CHRINON]["source"]["bodsVersion"] == "0.2"
    [link] = links_between(document, TAGGART, CHRINON)
    assert (link["kind"], link["percentage"], link["start_date"]) == ("shareholding", "100", "2016-04-06")
    assert link["source"]["directOrIndirect"] == "direct"  # 0.2's interestLevel
    # The example gives the company no country at all: an unknown country could be a restricted one.
    assert decide(document, as_of=AS_OF)[CHRINON] == "review"


def test_the_draft_0_4_label_on_the_0_3_shape_reads_as_0_3() -> None:
    draft = imported("bods", DRAFT)
    assert draft["entities"][0]["source"]["bodsVersion"] == "0.3"
    assert "draft of 0.4" in " ".join(draft["entities"][0]["source"]["read_as"])
    # Same statements as the 0.2 example: the same facts, whatever the label.
    assert _facts(draft) == _facts(imported("bods", SINGLE))


def test_replaces_statements_withdraws_the_old_stake() -> None:
    document = imported("bods", SINGLE, UPDATE)
    # The 100% statement is withdrawn by the two that replace it: 50% to Taggart and 50% to an owner
    # who has not said who they are (an unknown owner with its 50%, and a disclosure of none).
    assert "fbfd0547-d0c6-4a00-b559-5c5e91c34f5c" not in json.dumps(document["ownership"])
    assert [link["percentage"] for link in links_between(document, TAGGART, CHRINON)] == ["50"]
    unknown = [link for link in document["ownership"] if link["owner"].endswith("#unspecified-party")]
    assert [link["percentage"] for link in unknown] == ["50"]
    chrinon = next(e for e in document["entities"] if e["id"] == CHRINON)
    assert [fact["statement"] for fact in chrinon["disclosure"]] == ["bods:interestedPartyHasNotProvidedInformation"]
    assert document["source"]["skipped"]["a statement withdrawn by a later one (replacesStatements)"] == 1


def test_joint_ownership_and_a_repeated_statement_id(decide: Any) -> None:
    document = imported("bods", JOINT)
    # The example gives both parties' statements one statementID: both are kept (never dropped), so
    # the arrangement is read through to two owners of 50% each, acting jointly.
    owners = {(link["owner"], link["percentage"], link["acting_jointly"]) for link in document["ownership"]}
    assert owners == {
        ("17bfeb0d-4a63-41d3-814d-b8a54c81a1f", "50", "26e786f0-54c5-497d-a52d-b83439ce3dad"),
        ("d1eb52de-ff02-4690-8359-f4bbf9c128b1", "50", "26e786f0-54c5-497d-a52d-b83439ce3dad"),
    }
    company = next(e for e in document["entities"] if e["id"] == CHRINON)
    assert (company["jurisdiction"], company["headquarters"]) == ("GB", "GB")  # incorporatedInJurisdiction
    assert decide(document, as_of=AS_OF)[CHRINON] == "allow"  # two natural persons own a UK company


def test_components_and_unknown_interest_types() -> None:
    document = imported("bods", INDIRECT)
    # The indirect 30% is described by its components: it is not added again.
    ids = {link["source"]["statementId"] for link in document["ownership"]}
    assert ids == {"426b7dc8-8b7a-4d50-93de-8e200a4aedf5", "24e604f2-790f-4600-8ff2-7fd8e46f047e"}
    assert all(link["kind"] == "shareholding" and "percentage" not in link for link in document["ownership"])


def test_an_anonymous_person_exempt_from_disclosure(decide: Any) -> None:
    document = imported("bods", ANONYMOUS)
    listed = next(e for e in document["entities"] if e["type"] == "company")
    # 0.2's kebab-case reason becomes 0.4's camelCase one, read as every 0.4 reason is.
    assert [fact["statement"] for fact in listed["disclosure"]] == ["bods:interestedPartyExemptFromDisclosure"]
    assert decide(document, as_of=AS_OF)[listed["id"]] == "review"


def test_draft_0_4_nulls_and_empty_strings_mean_not_given() -> None:
    lines = PSC.read_text(encoding="utf-8").splitlines()
    drafted = []
    for line in lines:
        statement = json.loads(line)
        details = statement["recordDetails"]
        if statement["recordType"] == "entity":
            details["foundingDate"] = None
            for address in details.get("addresses") or []:
                if address.get("country"):
                    address["country"]["code"] = ""
        if statement["recordType"] == "relationship":
            for interest in details["interests"]:
                interest.setdefault("endDate", None)
        drafted.append(statement)
    path = Path(_tmp()) / "draft.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in drafted) + "\n")
    document = imported("bods", path)
    notes = [note for e in document["entities"] for note in e["source"].get("read_as", [])]
    assert any("foundingDate null" in note for note in notes)
    # A country whose code was "" is read from its name where it has one, else unknown: never a guess.
    original = {e["id"]: e for e in imported("bods", PSC)["entities"]}
    for entity in document["entities"]:
        assert entity["headquarters"] in (None, original[entity["id"]]["headquarters"])


def _tmp() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="bods-draft-")


def _facts(document: dict[str, Any]) -> Any:
    def strip(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k not in ("source", "identifiers")}

    return [strip(e) for e in document["entities"]], [strip(link) for link in document["ownership"]]


def test_unsupported_versions_and_legacy_errors(tmp_path: Path) -> None:
    statement = json.loads(SINGLE.read_text())[0]
    for version in ("0.5", "1.0"):
        bad = copy.deepcopy(statement)
        bad["publicationDetails"]["bodsVersion"] = version
        path = tmp_path / "bad.json"
        path.write_text(json.dumps([bad]))
        with pytest.raises(InputError, match=rf"unsupported BODS version {version}"):
            imported("bods", path)
    bad = copy.deepcopy(statement)
    bad["entityType"] = "spaceship"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([bad]))
    with pytest.raises(InputError, match=r"\$\[0\]\.entityType: not a valid BODS 0.2 statement"):
        imported("bods", path)


def test_detection_by_shape() -> None:
    statements = json.loads(SINGLE.read_text())
    unlabelled = [{k: v for k, v in statement.items() if k != "publicationDetails"} for statement in statements]
    # 0.2 names an interest's level interestLevel; an entity or person statement says nothing either
    # way and is read as 0.3, whose schema it meets.
    assert [bods_versions.detect(statement)[0] for statement in unlabelled] == ["0.3", "0.3", "0.2"]
    assert bods_versions.detect({k: v for k, v in unlabelled[0].items() if k != "isComponent"})[0] == "0.1"
    assert bods_versions.detect({"recordType": "entity"})[0] == "0.4"
    # Without publicationDetails (required from 0.2 on) a statement is read as the first version
    # whose schema it meets: the entity and the relationship meet 0.1's. The person does not (0.1
    # has no "alternative" name type): refused, naming the field, never guessed.
    assert [bods_versions.legacy_reading(s, "0.3", ["by its shape"])[0] for s in unlabelled[::2]] == ["0.1", "0.1"]
    path = Path(_tmp()) / "unlabelled.json"
    path.write_text(json.dumps(unlabelled))
    with pytest.raises(InputError, match=r"\$\[1\]: not a valid BODS 0.3 statement"):
        imported("bods", path)


BOUND = st.decimals(min_value=0, max_value=100, places=2)


@settings(max_examples=60, deadline=None)
@given(low=BOUND, high=BOUND, low_ex=st.booleans() | st.none(), high_ex=st.booleans() | st.none())
def test_old_share_flags_never_narrow_a_range_unasked(low: Any, high: Any, low_ex: Any, high_ex: Any) -> None:
    share: dict[str, Any] = {"minimum": low, "maximum": high}
    if low_ex is not None:
        share["exclusiveMinimum"] = low_ex
    if high_ex is not None:
        share["exclusiveMaximum"] = high_ex
    current = bods_versions._share(share)
    # A bound is exclusive only where the statement says true; otherwise inclusive (the wider range).
    assert ("exclusiveMinimum" in current) == (low_ex is True)
    assert ("exclusiveMaximum" in current) == (high_ex is True)
    assert set(current.values()) <= {low, high}


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(sorted(bods_versions.crosswalk()["interest_types"])),
    share=st.integers(min_value=0, max_value=100),
)
def test_every_old_interest_type_reads_as_its_0_4_type(tmp_path_factory: Any, kind: str, share: int) -> None:
    statements = json.loads(SINGLE.read_text())
    statements[2]["interests"][0]["type"] = kind
    statements[2]["interests"][0]["share"] = {"exact": share, "minimum": share, "maximum": share}
    path = tmp_path_factory.mktemp("kinds") / "in.json"
    path.write_text(json.dumps(statements))
    try:
        document = imported("bods", path)
    except InputError as exc:  # a 0.1-only code in a 0.2 statement: refused, never guessed
        assert kind in bods_versions.crosswalk()["interest_types"] and "not a valid BODS 0.2" in str(exc)
        return
    current = bods_versions.crosswalk()["interest_types"][kind]
    assert {link["source"]["interestType"] for link in document["ownership"]} <= {current}


def _enums(node: Any, key: str) -> set[str]:
    """Every enum value under a property named `key` anywhere in a schema."""
    found: set[str] = set()
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for name, value in item.items():
                if name == key and isinstance(value, dict) and "enum" in value:
                    found |= {str(code) for code in value["enum"]}
                pending.append(value)
        elif isinstance(item, list):
            pending.extend(item)
    return found


def test_the_crosswalk_covers_every_old_code_with_a_0_4_code() -> None:
    schemas = bods_versions.SCHEMA_DIR
    current_interests = _enums(json.loads((schemas / "relationship-record.json").read_text()), "type")
    current_reasons = _enums(json.loads((schemas / "components.json").read_text()), "reason")
    current_reasons |= _enums(json.loads((schemas / "relationship-record.json").read_text()), "reason")
    walk = bods_versions.crosswalk()
    for version in bods_versions.LEGACY:
        package = json.loads((schemas / f"bods-package-{version.replace('.', '-')}-0.json").read_text())
        for code in _enums(package, "type") & (set(walk["interest_types"]) | current_interests):
            assert walk["interest_types"].get(code, code) in current_interests, (version, code)
        for code in _enums(package, "reason"):
            assert walk["unspecified_reasons"].get(code, code) in current_reasons, (version, code)
    old_interests = {
        code
        for version in bods_versions.LEGACY
        for code in _enums(
            json.loads((schemas / f"bods-package-{version.replace('.', '-')}-0.json").read_text())["items"]["oneOf"][2][
                "properties"
            ]["interests"],
            "type",
        )
    }
    assert old_interests - current_interests <= set(walk["interest_types"])  # every old type is mapped


def test_file_order_does_not_change_a_replacement(decide: Any) -> None:
    # The replacing statements may come before the statement they replace (another file first).
    forward = imported("bods", SINGLE, UPDATE)
    backward = imported("bods", UPDATE, SINGLE)
    assert sorted(json.dumps(link, sort_keys=True) for link in _facts(forward)[1]) == sorted(
        json.dumps(link, sort_keys=True) for link in _facts(backward)[1]
    )
    assert decide(forward, as_of=AS_OF) == decide(backward, as_of=AS_OF)
