"""Bad input to each importer: a clear error naming the file and the record number,
exit code 2, and nothing (not even a half-written file) at the output path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tos_policy.cli.main import main

from .helpers import DATA, EXTERNAL

SADERAT = EXTERNAL / "opencheck-bods" / "2138008KTNTDICZU8L25.jsonl"
VOLGA = DATA / "ftm" / "volga-group.ftm.json"
RR_XML = EXTERNAL / "gleif-golden-copy" / "rr-data.xml"
LEI_JSON = EXTERNAL / "gleif-golden-copy" / "lei-data.json"


def _bods_lines() -> list[str]:
    return SADERAT.read_text(encoding="utf-8").splitlines()


def _edit_line(lines: list[str], index: int, change: dict[str, object]) -> str:
    record = json.loads(lines[index])
    record.update(change)
    copy = list(lines)
    copy[index] = json.dumps(record)
    return "\n".join(copy) + "\n"


def _truncated(text: str, keep: float = 0.6) -> str:
    return text[: int(len(text) * keep)]


CASES: dict[str, tuple[str, str, str, str]] = {
    # name: (format, file name, content, expected text in the error)
    "bods truncated": ("bods", "in.jsonl", _truncated(SADERAT.read_text()), "looks truncated"),
    "bods wrong version": (
        "bods",
        "in.jsonl",
        _edit_line(
            _bods_lines(),
            3,
            {"publicationDetails": {"bodsVersion": "0.2", "publicationDate": "2020-01-01", "publisher": {"name": "x"}}},
        ),
        "line 4 $.publicationDetails.bodsVersion: unsupported BODS version 0.2",
    ),
    "bods 0.2 statement": (
        "bods",
        "in.jsonl",
        '{"statementID": "x", "statementType": "entityStatement"}\n',
        "line 1 $: not a valid BODS 0.1 statement: 'entityType' is a required property",
    ),
    "bods unknown statement type": (
        "bods",
        "in.jsonl",
        _edit_line(_bods_lines(), 5, {"recordType": "annotation"}),
        "line 6 $.recordType: unknown statement type",
    ),
    "bods schema violation": (
        "bods",
        "in.jsonl",
        _edit_line(_bods_lines(), 0, {"recordStatus": "archived"}),
        "line 1 $.recordStatus: not a valid BODS 0.4 statement",
    ),
    "ftm truncated": ("ftm", "in.ftm.json", _truncated(VOLGA.read_text()), "looks truncated"),
    "ftm unknown schema": (
        "ftm",
        "in.ftm.json",
        VOLGA.read_text() + '{"id": "z", "schema": "Spaceship", "properties": {}}\n',
        "line 17 $.schema: unknown FollowTheMoney schema",
    ),
    "ftm statements instead of entities": (
        "ftm",
        "in.ftm.json",
        '{"entity_id": "a", "schema": "Company", "prop": "name", "value": "A"}\n',
        "line 1 $: a FollowTheMoney statement",
    ),
    "gleif xml truncated": ("gleif", "rr.xml", _truncated(RR_XML.read_text()), "looks truncated"),
    "gleif xml wrong version": (
        "gleif",
        "rr.xml",
        RR_XML.read_text().replace("schema/rr/2016", "schema/rr/2014"),
        "unsupported GLEIF XML version",
    ),
    "gleif unknown relationship type": (
        "gleif",
        "rr.xml",
        RR_XML.read_text().replace("IS_SUBFUND_OF", "IS_FRIEND_OF", 1),
        "record 2 $.Relationship.RelationshipType: unknown GLEIF relationship type",  # XML: no JSON path,
    ),
    "gleif json truncated": ("gleif", "lei.json", _truncated(LEI_JSON.read_text()), "looks truncated"),
    "gleif unknown record type": (
        "gleif",
        "x.json",
        json.dumps([{"Something": "else"}]),
        "$[0]: unknown GLEIF record type",
    ),
    "gleif api unknown type": (
        "gleif",
        "x.json",
        json.dumps({"data": {"type": "fields", "id": "1"}}),
        "unknown GLEIF API record type",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_names_the_record_and_writes_nothing(tmp_path: Path, name: str) -> None:
    fmt, file_name, content, expected = CASES[name]
    source = tmp_path / file_name
    source.write_text(content, encoding="utf-8")
    output = tmp_path / "out" / "facts.json"
    output.parent.mkdir()
    output.write_text("previous facts\n")
    result = CliRunner().invoke(main, ["import", fmt, str(source), "-o", str(output)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert str(source) in lines[0] and expected in lines[0], result.stderr
    # One line; or, for records that do not meet the schema, one line per error and a count.
    assert len(lines) == 1 or "invalid records; nothing was written" in lines[-1], lines
    # The previous output is untouched and no temporary file is left beside it.
    assert output.read_text() == "previous facts\n"
    assert [p.name for p in output.parent.iterdir()] == ["facts.json"]


def test_truncated_json_lines_names_the_line(tmp_path: Path) -> None:
    lines = VOLGA.read_text().splitlines()
    source = tmp_path / "in.ftm.json"
    source.write_text("\n".join(lines[:6]) + "\n" + lines[6][:30])
    result = CliRunner().invoke(main, ["import", "ftm", str(source), "-o", str(tmp_path / "o.json")])
    assert result.exit_code == 2
    assert "line 7 $.schema" in result.stderr and "looks truncated" in result.stderr
    assert not (tmp_path / "o.json").exists()


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    for path in (tmp_path / "nope.jsonl", empty):
        result = CliRunner().invoke(main, ["import", "bods", str(path), "-o", str(tmp_path / "o.json")])
        assert result.exit_code == 2 and str(path) in result.stderr


def test_one_odd_country_does_not_stop_an_import(tmp_path: Path) -> None:
    record = {"id": "x", "schema": "Company", "properties": {"name": ["X"], "jurisdiction": ["Narnia"]}}
    source = tmp_path / "in.ftm.json"
    source.write_text(json.dumps(record) + "\n")
    output = tmp_path / "o.json"
    result = CliRunner().invoke(main, ["import", "ftm", str(source), "-o", str(output)])
    assert result.exit_code == 0, result.stderr
    entity = json.loads(output.read_text())["entities"][0]
    assert entity["jurisdiction"] is None and "Narnia" in " ".join(entity["source"]["notes"])
