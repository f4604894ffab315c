"""Bad input exits 2 with one line naming the file, the JSON path and the value,
and prints no decisions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tos_policy.cli.main import main


def _doc(entities: list[dict[str, Any]], ownership: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"entities": entities, "ownership": ownership or []})


SG = {"id": "a", "type": "company", "headquarters": "SG", "jurisdiction": "SG"}
CN = {"id": "b", "type": "company", "headquarters": "CN", "jurisdiction": "CN"}

CASES: dict[str, tuple[str, str, str]] = {
    # name: (file content, expected JSON path, expected value text)
    "not json": ('{"entities": [', "$.entities[0]", "line 1 column 15"),
    "nan percentage": (
        '{"entities": [{"id": "a", "type": "company"}, {"id": "b", "type": "company"}],'
        ' "ownership": [{"owner": "b", "asset": "a", "percentage": NaN}]}',
        "$.ownership[0].percentage",
        "'NaN'",
    ),
    "wrong type": (_doc([{"id": "a", "type": "company", "headquarters": 7}]), "$.entities[0].headquarters", "7"),
    "unknown entity type": (_doc([{"id": "a", "type": "spaceship"}]), "$.entities[0].type", "'spaceship'"),
    "unknown country": (
        _doc([{"id": "a", "type": "company", "headquarters": "Narnia"}]),
        "$.entities[0].headquarters",
        "'Narnia'",
    ),
    "duplicate ids": (_doc([SG, {**CN, "id": "a"}]), "$.entities[1].id", "'a'"),
    "negative stake": (
        _doc([SG, CN], [{"owner": "b", "asset": "a", "percentage": -5}]),
        "$.ownership[0].percentage",
        "-5",
    ),
    "stake over 100": (
        _doc([SG, CN], [{"owner": "b", "asset": "a", "percentage": "150"}]),
        "$.ownership[0].percentage",
        "'150'",
    ),
    "stake in words": (
        _doc([SG, CN], [{"owner": "b", "asset": "a", "percentage": "fifty"}]),
        "$.ownership[0].percentage",
        "'fifty'",
    ),
    "stake with percent sign": (
        _doc([SG, CN], [{"owner": "b", "asset": "a", "percentage": "50%"}]),
        "$.ownership[0].percentage",
        "'50%'",
    ),
    "unknown owner": (
        _doc([SG], [{"owner": "ghost", "asset": "a", "percentage": "60"}]),
        "$.ownership[0].owner",
        "'ghost'",
    ),
    "unknown asset": (
        _doc([SG], [{"owner": "a", "asset": "ghost", "percentage": "60"}]),
        "$.ownership[0].asset",
        "'ghost'",
    ),
    "impossible date": (
        _doc([SG, CN], [{"owner": "b", "asset": "a", "percentage": "60", "start_date": "2025-02-30"}]),
        "$.ownership[0].start_date",
        "'2025-02-30'",
    ),
    "unknown field": (_doc([{**SG, "ceo": "x"}]), "$.entities[0]", ""),
    "missing entities": ('{"ownership": []}', "$", ""),
    "empty range": (
        _doc([SG, CN], [{"owner": "b", "asset": "a", "percentage_min": "60", "percentage_max": "40"}]),
        "$.ownership[0].percentage_min",
        "'60'",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_exits_2_with_file_path_and_value(tmp_path: Path, name: str) -> None:
    content, path, value = CASES[name]
    file = tmp_path / "facts.json"
    file.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(main, ["evaluate", str(file), "--as-of", "2025-10-01"])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(file) in lines[0]
    assert f": {path}:" in lines[0]
    assert value in lines[0]
    assert "Traceback" not in result.stderr


def test_non_utf8_bytes(tmp_path: Path) -> None:
    file = tmp_path / "latin1.json"
    file.write_bytes(b'{"entities": [{"id": "caf\xe9", "type": "company"}]}')
    result = CliRunner().invoke(main, ["evaluate", str(file)])
    assert result.exit_code == 2
    assert "not UTF-8" in result.stderr and str(file) in result.stderr


def test_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "nope.json" in result.stderr


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    file = tmp_path / "bom.json"
    file.write_bytes(b"\xef\xbb\xbf" + _doc([SG]).encode())
    result = CliRunner().invoke(main, ["evaluate", str(file), "--as-of", "2025-10-01"])
    assert result.exit_code == 0, result.stderr


def test_bad_as_of_date(tmp_path: Path) -> None:
    file = tmp_path / "facts.json"
    file.write_text(_doc([SG]))
    result = CliRunner().invoke(main, ["evaluate", str(file), "--as-of", "2025-13-01"])
    assert result.exit_code == 2
    assert "--as-of" in result.stderr and "2025-13-01" in result.stderr


def test_unknown_entity_flag(tmp_path: Path) -> None:
    file = tmp_path / "facts.json"
    file.write_text(_doc([SG]))
    result = CliRunner().invoke(main, ["evaluate", str(file), "--entity", "zz"])
    assert result.exit_code == 2
    assert "'zz'" in result.stderr


def test_country_aliases_normalise(decide: Any) -> None:
    document = {
        "entities": [
            {"id": "a", "type": "company", "headquarters": "china"},
            {"id": "b", "type": "company", "headquarters": "RUS"},
            {"id": "c", "type": "company", "headquarters": "Russia"},
            {"id": "d", "type": "company", "headquarters": "North Korea", "jurisdiction": "Iran"},
            {"id": "e", "type": "company", "headquarters": "Singapore", "jurisdiction": "sgp", "disclosure": "full"},
        ]
    }
    assert decide(document) == {"a": "deny", "b": "deny", "c": "deny", "d": "deny", "e": "allow"}
