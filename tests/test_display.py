"""Ids and names are data: every text output prints them as written (Rich markup
literally), shows control and reordering characters as visible escapes, and never
crashes on them."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tos_policy.cli.main import main
from tos_policy.operations.alerts import markdown
from tos_policy.reports.display import printable

MARKUP = ["[bold]x[/bold]", "[/]", "[red]", "[link=http://example.com]y[/link]", "[/bold]", "\\[escaped]", ":smile:"]
CONTROL = [
    "esc\x1b[31mred\x1b[0m",
    "bell\x07",
    "cr\roverwrite",
    "line\nDecision: ALLOW",
    "rlo\u202eevil",
    "nul\x00",
    "c1\x9b2J",
]
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """Every hostile string as an id and as a name; each owned 60% by a restricted root."""
    entities = [{"id": "root[/]", "type": "company", "name": "[bold]Root[/]", "headquarters": "RU"}]
    links = []
    for number, text in enumerate(MARKUP + CONTROL):
        entities.append({"id": text, "type": "company", "headquarters": "US"})
        entities.append({"id": f"named-{number}", "type": "company", "name": text, "headquarters": "US"})
        links.append({"owner": "root[/]", "asset": text, "percentage": 60})
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps({"entities": entities, "ownership": links}))
    return path


def assert_safe(text: str) -> None:
    assert not RAW.search(text.replace("\n", "")), repr(RAW.search(text.replace("\n", "")))


def test_table_prints_markup_literally_and_controls_escaped(hostile: Path) -> None:
    code, out, err = run("evaluate", str(hostile), "--format", "table", "--as-of", "2025-10-01")
    assert code == 0, err
    assert_safe(out)
    flat = out.replace("│", "").replace(" ", "")
    for text in MARKUP:
        assert text.replace(" ", "") in flat, text
    assert "esc\\x1b[31mred\\x1b[0m" in out
    assert "rlo\\u202eevil" in out
    assert "Decision: ALLOW" not in out.splitlines()[0]


@pytest.mark.parametrize("which", range(len(MARKUP + CONTROL)))
def test_explain_prints_each_id_as_one_escaped_line(hostile: Path, which: int) -> None:
    text = (MARKUP + CONTROL)[which]
    code, out, err = run("explain", str(hostile), "--entity", text, "--as-of", "2025-10-01")
    assert code == 0, err
    assert_safe(out)
    assert out.splitlines()[0] == f"{printable(text)}: DENY"
    assert not any(line.startswith("Decision:") for line in out.splitlines())
    code, out, err = run("explain", str(hostile), "--entity", text, "--as-of", "2025-10-01", "--format", "mermaid")
    assert code == 0, err
    assert_safe(out)


def test_error_lines_name_hostile_files_and_values_safely(tmp_path: Path) -> None:
    path = tmp_path / "bad\x1b[2Jname\n.json"
    path.write_text(json.dumps({"entities": [{"id": "a\x1b[31m", "type": "company", "headquarters": "Narnia\x07"}]}))
    code, out, err = run("evaluate", str(path), "--as-of", "2025-10-01")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert_safe(err)
    assert "bad\\x1b[2Jname\\x0a.json" in err


def test_printable_keeps_ordinary_text_and_escapes_the_rest() -> None:
    assert printable("Société Générale 株式会社 [x]") == "Société Générale 株式会社 [x]"
    assert printable("a\x1bb\u2028c\u0085") == "a\\x1bb\\u2028c\\x85"
    assert printable("one\ntwo", keep_newlines=True) == "one\ntwo"
    assert printable("one\ntwo") == "one\\x0atwo"


FORMULAS = ["=HYPERLINK(\"http://example.com\",\"x\")", "+1+1", "-2+3", "@SUM(A1)"]


def test_review_queue_csv_neither_runs_formulas_nor_carries_controls(tmp_path: Path) -> None:
    """A spreadsheet reads a cell starting with = + - @ as a formula (CSV injection); click would
    also drop ANSI sequences silently, so two ids would print alike. Each text cell is shown as
    text: the formula quoted with an apostrophe, controls escaped, and every id still distinct."""
    entities = [{"id": "root", "type": "company", "headquarters": "RU"}]
    links = []
    for number, text in enumerate([*FORMULAS, *CONTROL, "<script>x</script>"]):
        entities.append({"id": text, "type": "unknown", "name": text, "headquarters": "US"})
        entities.append({"id": f"below-{number}", "type": "company", "headquarters": "US"})
        links.append({"owner": text, "asset": f"below-{number}", "percentage": 30})
    source = tmp_path / "facts.json"
    source.write_text(json.dumps({"entities": entities, "ownership": links}))
    code, out, err = run("review-queue", str(source), "--format", "csv", "--as-of", "2025-10-01")
    assert code == 0, err
    assert_safe(out)
    rows = list(csv.DictReader(io.StringIO(out)))
    cells = [row[field] for row in rows for field in ("entity", "name", "to_settle", "reasons")]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    shown = {row["entity"] for row in rows}
    for text in FORMULAS:
        assert "'" + printable(text) in shown, text
    for text in CONTROL:
        assert printable(text) in shown, text


def test_alerts_markdown_cells_hold_text_only() -> None:
    """HTML, pipes, line breaks and controls in an id or a fact stay inside their cell as text."""
    text = "<img src=x onerror=alert(1)>|x|\n| forged | row |\x1b[31m"
    item = {
        "load": 2,
        "known_on": "2026-01-01",
        "entity": text,
        "name": text,
        "old_decision": "allow",
        "new_decision": "deny",
        "new_reasons": [{"rule_id": text, "code": "X"}],
        "causes": [{"seed": text, "why": [{"link": text}]}, {"seed": "b", "why": []}],
    }
    table = markdown([item], 1)
    row = table.strip().splitlines()[-1]
    assert len(table.strip().splitlines()) == 7  # title, blank, count, blank, header, separator and one row
    assert "<img" not in table and "&lt;img" in row
    assert row.count("<br>") == 1  # the one break between the two causes
    assert len(re.findall(r"(?<!\\)\|", row)) == 8  # 7 cells: 8 unescaped bars
    assert_safe(row)
