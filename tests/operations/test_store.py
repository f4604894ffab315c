"""The registry store: loads are appended whole or not at all, facts as known on any
date are replayed exactly, commands read the store as they read files, and bad input
is refused with the same line and exit code as from a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result

from tos_policy.cli.main import main

from ..conftest import uncited

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
AS_OF = "2025-10-01"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "registry.duckdb"
    assert run("store", "init", str(path)).exit_code == 0
    return path


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


def _chain() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / "chain.json").read_text())
    return document


def test_init_refuses_an_existing_store(db: Path) -> None:
    result = run("store", "init", str(db))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert str(db) in result.stderr


def test_evaluate_and_explain_from_the_store_equal_the_file(db: Path) -> None:
    run("store", "load", str(db), str(EXAMPLES / "chain.json"), "--known-on", AS_OF)
    from_file = run("evaluate", str(EXAMPLES / "chain.json"), "--as-of", AS_OF)
    from_store = run("evaluate", "--store", str(db), "--as-of", AS_OF)
    assert from_store.exit_code == 0
    assert from_store.stdout == from_file.stdout  # facts digest included: same content, same bytes
    explain_file = run("explain", str(EXAMPLES / "chain.json"), "--entity", "nl-opco", "--as-of", AS_OF)
    explain_store = run("explain", "--store", str(db), "--entity", "nl-opco", "--as-of", AS_OF)
    assert explain_store.stdout == explain_file.stdout


def test_screen_from_the_store_equals_screen_from_the_file(db: Path, tmp_path: Path) -> None:
    run("store", "load", str(db), str(EXAMPLES / "chain.json"), str(EXAMPLES / "divestment.json"), "--known-on", AS_OF)
    from_file = run("screen", str(EXAMPLES / "chain.json"), str(EXAMPLES / "divestment.json"), "--as-of", AS_OF)
    from_store = run("screen", "--store", str(db), "--as-of", AS_OF)
    assert from_store.exit_code == 0
    assert from_store.stdout == from_file.stdout


def test_facts_as_known_on_any_date_are_replayed(db: Path, tmp_path: Path) -> None:
    first = _chain()
    second = _chain()
    second["entities"][4]["headquarters"] = "CN"  # us-minority moves
    second["ownership"].pop(0)  # ir-parent no longer holds ae-holding
    files = [_write(tmp_path / "day1.json", first), _write(tmp_path / "day2.json", second)]
    run("store", "load", str(db), str(files[0]), "--known-on", "2025-10-01")
    run("store", "load", str(db), str(files[1]), "--known-on", "2025-10-03")
    for known_on, facts_file in (("2025-10-01", files[0]), ("2025-10-02", files[0]), ("2025-10-03", files[1])):
        stored = _json(run("evaluate", "--store", str(db), "--known-on", known_on, "--as-of", AS_OF))
        direct = _json(run("evaluate", str(facts_file), "--as-of", AS_OF))
        assert uncited(stored) == uncited(direct)
    by_load = _json(run("evaluate", "--store", str(db), "--load", "1", "--as-of", AS_OF))
    assert by_load == _json(run("evaluate", str(files[0]), "--as-of", AS_OF))
    early = run("evaluate", "--store", str(db), "--known-on", "2025-09-30")
    assert early.exit_code == 2 and early.stdout == "" and "--known-on" in early.stderr


def test_the_store_is_append_only(db: Path, tmp_path: Path) -> None:
    first = _chain()
    run("store", "load", str(db), str(_write(tmp_path / "a.json", first)), "--known-on", "2025-10-01")
    with duckdb.connect(str(db), read_only=True) as connection:
        before = connection.execute("SELECT * FROM records ORDER BY load_id, seq").fetchall()
    first["ownership"].pop()
    run("store", "load", str(db), str(_write(tmp_path / "b.json", first)), "--known-on", "2025-10-02")
    with duckdb.connect(str(db), read_only=True) as connection:
        after = connection.execute("SELECT * FROM records ORDER BY load_id, seq").fetchall()
        loads = connection.execute("SELECT load_id, known_on, mode, added, removed FROM loads").fetchall()
    assert after[: len(before)] == before  # nothing rewritten
    assert [row[2] for row in after[len(before) :]] == ["remove"]  # the dropped link, as a new row
    assert [(row[0], row[3], row[4]) for row in loads] == [(1, len(before), 0), (2, 0, 1)]


def test_loads_must_come_in_date_order(db: Path) -> None:
    run("store", "load", str(db), str(EXAMPLES / "chain.json"), "--known-on", "2025-10-02")
    result = run("store", "load", str(db), str(EXAMPLES / "chain.json"), "--known-on", "2025-10-01")
    assert result.exit_code == 2 and result.stdout == ""


@pytest.mark.parametrize(
    "name",
    [
        "dangling-owner.json",
        "duplicate-ids.json",
        "empty-range.json",
        "end-before-start.json",
        "huge-id.json",
        "latin1.json",
    ],
)
def test_bad_files_are_refused_as_evaluate_refuses_them_and_nothing_is_stored(db: Path, name: str) -> None:
    bad = Path(__file__).resolve().parents[1] / "bad_input" / name
    loaded = run("store", "load", str(db), str(bad), "--known-on", AS_OF)
    screened = run("screen", str(bad), "--as-of", AS_OF)
    assert loaded.exit_code == screened.exit_code == 2
    assert loaded.stdout == ""
    assert loaded.stderr == screened.stderr  # the same line: file, JSON path, value
    assert run("store", "log", str(db)).stdout == ""


def test_a_delta_naming_an_unknown_entity_is_refused(db: Path, tmp_path: Path) -> None:
    run("store", "load", str(db), str(EXAMPLES / "chain.json"), "--known-on", AS_OF)
    delta = _write(
        tmp_path / "delta.json",
        {"entities": [], "ownership": [{"owner": "nobody", "asset": "nl-opco", "percentage": 5}]},
    )
    result = run("store", "load", str(db), str(delta), "--delta", "--known-on", AS_OF)
    assert result.exit_code == 2 and result.stdout == ""
    assert f"{delta}: $.ownership[0].owner" in result.stderr
    assert len(run("store", "log", str(db)).stdout.splitlines()) == 1


def test_not_a_store(tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as connection:
        connection.execute("CREATE TABLE meta (key VARCHAR, value VARCHAR)")
    for args in (
        ("evaluate", "--store", str(other)),
        ("alerts", "--store", str(other), "--since", "0"),
        ("evaluate", "--store", str(tmp_path / "missing.duckdb")),
    ):
        result = run(*args)
        assert result.exit_code == 2 and result.stdout == "", result.output


def test_alerts_list_exactly_the_decisions_that_changed_with_their_causes(db: Path, tmp_path: Path) -> None:
    day1 = _chain()
    run("store", "load", str(db), str(_write(tmp_path / "day1.json", day1)), "--known-on", AS_OF)
    delta = {
        "entities": [{**day1["entities"][4], "headquarters": "CN"}],
        "ownership": [{"owner": "ae-holding", "asset": "vg-spv", "percentage": "10"}],
    }
    day2 = json.loads(json.dumps(day1))
    day2["entities"][4]["headquarters"] = "CN"
    day2["ownership"][1]["percentage"] = "10"
    run("store", "load", str(db), str(_write(tmp_path / "delta.json", delta)), "--delta", "--known-on", AS_OF)
    old = {d["entity"]: d for d in _json(run("evaluate", str(tmp_path / "day1.json"), "--as-of", AS_OF))["decisions"]}
    new = {
        d["entity"]: d
        for d in _json(run("evaluate", str(_write(tmp_path / "day2.json", day2)), "--as-of", AS_OF))["decisions"]
    }
    expected = {entity for entity in new if new[entity]["decision"] != old[entity]["decision"]}
    assert expected  # the change moves something
    lines = run("alerts", "--store", str(db), "--since", "1").stdout.splitlines()
    items = [json.loads(line) for line in lines]
    assert {item["entity"] for item in items} == expected
    for item in items:
        assert (item["old_decision"], item["new_decision"]) == (
            old[item["entity"]]["decision"],
            new[item["entity"]]["decision"],
        )
        assert item["new_reasons"] == uncited(new[item["entity"]]["reasons"])  # the store keeps compact records
        facts = [fact for cause in item["causes"] for fact in cause["facts"]]
        assert facts
        for fact in facts:  # what the delta brought, and what it replaced (cited where it was loaded from)
            source = tmp_path / ("day1.json" if fact["change"] == "removed" else "delta.json")
            assert fact["source"] == str(source)
    log = [json.loads(line) for line in run("store", "log", str(db)).stdout.splitlines()]
    assert log[1]["full_screen"] is False and log[1]["decided"] < len(new)  # only what the change reaches
    markdown = run("alerts", "--store", str(db), "--since", "1", "--format", "markdown").stdout
    assert all(f"({entity})" in markdown for entity in expected)
    assert run("alerts", "--store", str(db), "--since", "2").stdout == ""
    assert run("alerts", "--store", str(db), "--since", "3").exit_code == 2


def test_store_load_logs_its_decisions(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    run("store", "load", str(db), str(EXAMPLES / "chain.json"), "--known-on", AS_OF, "--decision-log", str(log))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert {record["entity"] for record in records} == {e["id"] for e in _chain()["entities"]}
    assert all(record["load"] == 1 and record["facts_digest"].startswith("sha256:") for record in records)


def test_imported_registry_files_load_and_replay(db: Path, tmp_path: Path) -> None:
    """Facts made by `tos-policy import` (a real GLEIF golden-copy sample) load like any facts file."""
    sample = Path(__file__).resolve().parents[1] / "data" / "external" / "gleif-golden-copy"
    imported = tmp_path / "gleif.json"
    done = run("import", "gleif", str(sample / "lei-data.json"), str(sample / "rr-data.json"), "-o", str(imported))
    assert done.exit_code == 0, done.output
    loaded = run("store", "load", str(db), str(imported), "--known-on", AS_OF)
    assert loaded.exit_code == 0, loaded.output
    assert (
        run("evaluate", "--store", str(db), "--as-of", AS_OF).stdout
        == run("evaluate", str(imported), "--as-of", AS_OF).stdout
    )
    again = _json(run("store", "load", str(db), str(imported), "--known-on", AS_OF))
    assert (again["added"], again["removed"], again["decided"]) == (0, 0, 0)  # the same extract changes nothing
