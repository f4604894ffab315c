"""The import command: summary on stderr, output that `tos-policy validate` accepts."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tos_policy.cli.main import main
from tos_policy.importers.common import Progress

from .helpers import DATA, EXTERNAL


def test_import_writes_valid_facts_and_a_summary(tmp_path: Path) -> None:
    output = tmp_path / "facts.json"
    files = [
        str(EXTERNAL / "opencheck-bods" / "2138008KTNTDICZU8L25.jsonl"),
        str(EXTERNAL / "opencheck-bods" / "253400JT3MQWNDKMJE44.jsonl"),
    ]
    result = CliRunner().invoke(main, ["import", "bods", *files, "-o", str(output)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "imported 24 records: 11 entities" in result.stderr
    validated = CliRunner().invoke(main, ["validate", str(output)])
    assert validated.exit_code == 0 and "11 entities, 12 links" in validated.stdout
    document = json.loads(output.read_text())
    assert document["source"]["files"] == files
    evaluated = CliRunner().invoke(main, ["evaluate", str(output), "--as-of", "2025-10-01", "--profile", "ofsi"])
    assert json.loads(evaluated.stdout)["policy"]["profile"] == "ofsi"


def test_each_format_writes_valid_facts(tmp_path: Path) -> None:
    for fmt, source in (
        ("ftm", DATA / "ftm" / "volga-group.ftm.json"),
        ("gleif", EXTERNAL / "gleif-golden-copy" / "rr-data.xml"),
    ):
        output = tmp_path / f"{fmt}.json"
        assert CliRunner().invoke(main, ["import", fmt, str(source), "-o", str(output)]).exit_code == 0
        assert CliRunner().invoke(main, ["validate", str(output)]).exit_code == 0


def test_progress_bar_only_on_a_terminal() -> None:
    assert Progress(enabled=None).enabled is False  # pytest's stderr is not a terminal
    advanced: list[int] = []
    with Progress(enabled=True).file(DATA / "ftm" / "volga-group.ftm.json") as advance:
        advance(10)
        advanced.append(10)
    assert advanced == [10]
