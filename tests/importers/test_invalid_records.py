"""Records that do not meet their format's schema: every error of a file listed (the first
20, then a count), each naming file, line and JSON path, exit 2 and nothing written; with
--skip-invalid each is a counted, noted skip whose subject is reviewed, never allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tos_policy.cli.main import main
from tos_policy.importers import InvalidRecords, convert
from tos_policy.importers.bods import UNREADABLE_STATEMENT
from tos_policy.importers.common import LISTED_ERRORS

from ..conftest import AS_OF
from .helpers import EXTERNAL

CARE_UK = EXTERNAL / "opencheck-bods" / "213800DBE5Y9ZM58PN63.jsonl"
STATEMENTS = [json.loads(line) for line in CARE_UK.read_text(encoding="utf-8").splitlines() if line.strip()]
RELATIONSHIPS = [i for i, s in enumerate(STATEMENTS) if s["recordType"] == "relationship"]


def _write(tmp_path: Path, statements: list[dict[str, Any]], name: str = "in.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(s) + "\n" for s in statements), encoding="utf-8")
    return path


def _broken(indexes: list[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(json.dumps(STATEMENTS))
    for index in indexes:
        out[index]["recordStatus"] = "archived"  # not in the recordStatus codelist
        out[index]["recordDetails"]["interests"] = "all of them"  # not an array
    return out


def test_every_error_is_listed_capped_with_a_count(tmp_path: Path) -> None:
    broken = RELATIONSHIPS[:12]  # two errors each: 24 errors in 12 records
    source = _write(tmp_path, _broken(broken))
    output = tmp_path / "facts.json"
    result = CliRunner().invoke(main, ["import", "bods", str(source), "-o", str(output)])
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == LISTED_ERRORS + 1
    # In file order, each naming the file, its line and the JSON path, in the one location format.
    first = broken[0] + 1
    assert lines[0].startswith(f"tos-policy: error: {source}: line {first} $.recordDetails.interests: ")
    assert lines[1].startswith(f"tos-policy: error: {source}: line {first} $.recordStatus: ")
    assert all(f"{source}: line " in line for line in lines[:-1])
    assert lines[-1].endswith(
        "24 errors in 12 invalid records (4 more not listed); nothing was written"
        " (--skip-invalid imports the rest and reviews what invalid records are about)"
    )
    assert not output.exists()


def test_errors_of_several_files_and_of_an_array(tmp_path: Path) -> None:
    lines_file = _write(tmp_path, _broken(RELATIONSHIPS[:1]))
    array = tmp_path / "in.json"
    array.write_text(json.dumps(_broken(RELATIONSHIPS[1:2])))
    result = CliRunner().invoke(main, ["import", "bods", str(lines_file), str(array), "-o", str(tmp_path / "o.json")])
    assert result.exit_code == 2
    errors = result.stderr.strip().splitlines()[:-1]
    assert {line.split(": ")[2] for line in errors} == {str(lines_file), str(array)}
    assert any(f"{array}: $[{RELATIONSHIPS[1]}].recordStatus:" in line for line in errors)


def test_skip_invalid_counts_notes_and_reviews(tmp_path: Path, decide: Any) -> None:
    broken = RELATIONSHIPS[:3]
    source = _write(tmp_path, _broken(broken))
    output = tmp_path / "facts.json"
    result = CliRunner().invoke(main, ["import", "bods", str(source), "-o", str(output), "--skip-invalid"])
    assert result.exit_code == 0, result.stderr
    assert "3 invalid statement (--skip-invalid)" in result.stderr
    document = json.loads(output.read_text())
    assert document["source"]["skipped"]["invalid statement (--skip-invalid)"] == 3
    notes = document["source"]["notes"]
    assert [note.split(": ")[2] for note in notes] == [
        f"line {index + 1} $.recordDetails.interests" for index in broken
    ]
    entities = {e["id"]: e for e in document["entities"]}
    subjects = {STATEMENTS[index]["recordDetails"]["subject"] for index in broken}
    for subject in subjects:
        statements = [fact.get("statement") for fact in entities[subject].get("disclosure", [])]
        assert UNREADABLE_STATEMENT in statements
    for subject in subjects:
        # An owner nobody can read: a stake of unknown size, and control (which reconciliation
        # never caps by the stakes others are known to hold).
        unreadable = [link for link in document["ownership"] if "#unreadable-record-" in link["owner"]]
        assert {link["kind"] for link in unreadable if link["asset"] == subject} == {"shareholding", "other_control"}
    decisions = _complete(decide, document)
    assert all(decisions[subject] == "review" for subject in subjects)


def test_gleif_unreadable_records_listed_and_skipped(tmp_path: Path, decide: Any) -> None:
    rr = (EXTERNAL / "gleif-golden-copy" / "rr-data.xml").read_text(encoding="utf-8")
    source = tmp_path / "rr.xml"
    source.write_text(rr.replace("IS_SUBFUND_OF", "IS_FRIEND_OF", 1), encoding="utf-8")
    lei = EXTERNAL / "gleif-golden-copy" / "lei-data.xml"
    result = CliRunner().invoke(main, ["import", "gleif", str(lei), str(source), "-o", str(tmp_path / "o.json")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    [line] = lines  # one invalid record: one line, with what happened
    assert "record 2 $.Relationship.RelationshipType: unknown GLEIF relationship type" in line
    assert "nothing was written (--skip-invalid" in line
    document: dict[str, Any] = dict(convert("gleif", [lei, source], skip_invalid=True)[0])
    assert document["source"]["skipped"]["invalid record (--skip-invalid)"] == 1
    # Which end owns depends on the type that cannot be read: both ends are reviewed.
    unreadable = [link for link in document["ownership"] if "#unreadable-record-" in link["owner"]]
    assert len({link["asset"] for link in unreadable}) == 2
    decisions = _complete(decide, document)
    assert all(decisions[link["asset"]] == "review" for link in unreadable)


FTM_RECORDS = [
    {"id": "ru", "schema": "Company", "properties": {"name": ["Volga"], "jurisdiction": ["ru"]}},
    {"id": "gb", "schema": "Company", "properties": {"name": ["Thames"], "jurisdiction": ["gb"], "country": ["gb"]}},
    {"id": "p", "schema": "Person", "properties": {"name": ["Ann"]}},
    {"id": "o1", "schema": "Ownership", "properties": {"owner": ["p"], "asset": ["gb"], "percentage": ["100"]}},
    # Unreadable: a percentage that is a number, not a list of strings; an unknown schema.
    {"id": "o2", "schema": "Ownership", "properties": {"owner": ["ru"], "asset": ["gb"], "percentage": 60}},
    {"id": "x", "schema": "Spaceship", "properties": {}},
]


def test_ftm_errors_listed_and_skipped(tmp_path: Path, decide: Any) -> None:
    source = _write(tmp_path, FTM_RECORDS, "in.ftm.json")
    result = CliRunner().invoke(main, ["import", "ftm", str(source), "-o", str(tmp_path / "o.json")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split(": ")[3] for line in lines[:-1]] == ["line 5 $.properties", "line 6 $.schema"]
    assert "2 errors in 2 invalid records" in lines[-1]
    document, _ = convert("ftm", [source], skip_invalid=True)
    assert document["source"]["skipped"]["invalid record (--skip-invalid)"] == 2  # type: ignore[index]
    # Without the unreadable Russian 60%, the facts would say a person owns all of it: allow.
    # The asset of the unreadable Ownership is reviewed instead.
    assert decide(document, as_of=AS_OF)["gb"] == "review"
    readable = convert("ftm", [_write(tmp_path, FTM_RECORDS[:4], "ok.ftm.json")])[0]
    assert _complete(decide, dict(readable))["gb"] == "allow"


def test_an_unreadable_later_statement_sets_its_record_aside(tmp_path: Path, decide: Any) -> None:
    # A later statement of a relationship record may replace what the earlier one said: when it
    # cannot be read, the earlier one is not used as if nothing had changed.
    index = RELATIONSHIPS[0]
    later = json.loads(json.dumps(STATEMENTS[index]))
    later["statementId"] = later["statementId"] + "-later"
    later["statementDate"] = "2099-01-01"
    later["recordStatus"] = "archived"
    document: dict[str, Any] = dict(convert("bods", [_write(tmp_path, [*STATEMENTS, later])], skip_invalid=True)[0])
    record_id = STATEMENTS[index]["recordId"]
    assert record_id not in json.dumps([link["identifiers"] for link in document["ownership"]])
    assert document["source"]["skipped"]["a statement of a record that has an invalid statement (--skip-invalid)"] == 1
    assert _complete(decide, document)[STATEMENTS[index]["recordDetails"]["subject"]] == "review"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sets(st.sampled_from(range(len(STATEMENTS))), min_size=1, max_size=3))
def test_an_invalid_statement_never_turns_a_decision_into_allow(
    tmp_path_factory: Any, decide: Any, indexes: set[int]
) -> None:
    """Whatever statements cannot be read (entities, persons or relationships), no entity is
    allowed that was not allowed when they could be read, and what they are about is reviewed."""
    tmp = tmp_path_factory.mktemp("invalid")
    whole = convert("bods", [_write(tmp, STATEMENTS, "all.jsonl")])[0]
    before = _by_record(whole, _complete(decide, whole))
    broken = json.loads(json.dumps(STATEMENTS))
    for index in indexes:
        broken[index]["recordStatus"] = "archived"
    document, _ = convert("bods", [_write(tmp, broken, "broken.jsonl")], skip_invalid=True)
    after = _complete(decide, document)
    for record_id, decision in _by_record(document, after).items():
        if decision == "allow":  # (entity ids may differ: merged records come apart)
            assert before.get(record_id) == "allow", record_id
    for index in indexes:
        details = STATEMENTS[index]["recordDetails"]
        about = (
            details["subject"] if STATEMENTS[index]["recordType"] == "relationship" else STATEMENTS[index]["recordId"]
        )
        assert after[_canonical(document, about)] != "allow"


def _by_record(document: dict[str, Any], decisions: dict[str, str]) -> dict[str, str]:
    """Each BODS record's entity's decision."""
    return {
        item["id"]: decisions[entity["id"]]
        for entity in document["entities"]
        for item in entity["identifiers"]
        if item.get("scheme") == "bods-recordId"
    }


def _canonical(document: dict[str, Any], record_id: str) -> str:
    for entity in document["entities"]:
        if {"scheme": "bods-recordId", "id": record_id} in entity["identifiers"]:
            return str(entity["id"])
    return record_id


def _complete(decide: Any, document: dict[str, Any]) -> dict[str, str]:
    """Decisions once every entity's ownership is declared fully disclosed (as a compliance team
    would after checking): only what the import itself adds can then lead to review."""
    declared = {
        **document,
        "entities": [
            {**e, "disclosure": [*d, {"status": "full"}] if isinstance(d := e.get("disclosure", []), list) else d}
            for e in document["entities"]
        ],
    }
    decided: dict[str, str] = decide(declared, as_of=AS_OF)
    return decided


VOLGA = [
    json.loads(line)
    for path in (
        EXTERNAL.parent / "ftm" / "volga-group.ftm.json",
        EXTERNAL.parent / "ftm" / "roles-and-status.ftm.json",
    )
    for line in path.read_text(encoding="utf-8").splitlines()
    if line.strip()
]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sets(st.sampled_from(range(len(VOLGA))), min_size=1, max_size=3))
def test_an_invalid_ftm_record_never_turns_a_decision_into_allow(
    tmp_path_factory: Any, decide: Any, indexes: set[int]
) -> None:
    tmp = tmp_path_factory.mktemp("ftm-invalid")
    before = _complete(decide, dict(convert("ftm", [_write(tmp, VOLGA, "all.ftm.json")])[0]))
    broken = json.loads(json.dumps(VOLGA))
    for index in indexes:
        broken[index]["properties"] = {**broken[index]["properties"], "name": "not a list"}
        if index % 3 == 0:
            broken[index]["properties"] = {"name": "not a list"}  # the asset too is unreadable
    try:
        document = dict(convert("ftm", [_write(tmp, broken, "broken.ftm.json")], skip_invalid=True)[0])
    except InvalidRecords as exc:  # a record whose subject cannot be read: refused, nothing decided
        assert exc.unskippable
        return
    after = _complete(decide, document)
    for entity, decision in after.items():
        if decision == "allow":
            assert before.get(entity) == "allow", entity


def test_a_record_whose_subject_cannot_be_read_cannot_be_skipped(tmp_path: Path) -> None:
    # An Ownership whose asset cannot be read may be about any entity: skipping it could hide an
    # owner of any of them, so even --skip-invalid stops, naming it.
    records = [*FTM_RECORDS[:4], {"id": "o3", "schema": "Ownership", "properties": {"owner": ["ru"], "asset": 7}}]
    source = _write(tmp_path, records, "in.ftm.json")
    args = ["import", "ftm", str(source), "-o", str(tmp_path / "o.json"), "--skip-invalid"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "line 5 $.properties" in result.stderr
    assert "cannot be skipped: what they are about cannot be read" in result.stderr
    statement = json.loads(json.dumps(STATEMENTS[RELATIONSHIPS[0]]))
    del statement["recordDetails"]["subject"], statement["declarationSubject"]
    bods = _write(tmp_path, [*STATEMENTS, statement])
    result = CliRunner().invoke(main, ["import", "bods", str(bods), "-o", str(tmp_path / "o.json"), "--skip-invalid"])
    assert result.exit_code == 2 and "cannot be skipped" in result.stderr


def test_gleif_records_of_no_known_shape_are_all_listed_and_never_skipped(tmp_path: Path) -> None:
    lines = (EXTERNAL / "gleif-golden-copy" / "lei-data.json").read_text(encoding="utf-8")
    records = json.loads(lines)
    source = tmp_path / "lei.json"
    source.write_text(json.dumps([{"Something": "else"}, *records[:2], {"Other": 1}]), encoding="utf-8")
    for extra in ([], ["--skip-invalid"]):
        result = CliRunner().invoke(main, ["import", "gleif", str(source), "-o", str(tmp_path / "o.json"), *extra])
        assert result.exit_code == 2
        listed = result.stderr.strip().splitlines()
        assert [line.split(": ")[3] for line in listed[:-1]] == ["$[0]", "$[3]"]  # the one location format
    assert "cannot be skipped" in listed[-1]
