"""The new commands keep the contract of the others: bad input exits 2 with one line
and nothing on stdout, engine failure exits 3, limits are refused naming their option,
decisions are logged, and a failed load leaves the store as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tos_policy.cli.main import main
from tos_policy.engines.opa_server import free_port
from tos_policy.operations.store import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHAIN = str(EXAMPLES / "chain.json")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "r.duckdb"
    run("store", "init", str(path))
    return path


def _loads(db: Path) -> int:
    with Store.open(db) as store:
        return len(store.loads())


def test_engine_failure_exits_3_and_stores_nothing(db: Path) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    result = run("store", "load", str(db), CHAIN, "--engine", "opa", "--opa-url", unreachable, "--timeout", "2")
    assert result.exit_code == 3 and result.stdout == ""
    assert _loads(db) == 0


@pytest.mark.parametrize(
    ("option", "value"), [("--max-entities", "3"), ("--max-links", "2"), ("--max-input-bytes", "100")]
)
def test_limits_are_refused_naming_their_option(db: Path, tmp_path: Path, option: str, value: str) -> None:
    result = run("store", "load", str(db), CHAIN, option, value)
    assert result.exit_code == 2 and result.stdout == ""
    assert option in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert _loads(db) == 0
    queue = run("review-queue", CHAIN, option, value)
    assert queue.exit_code == 2 and option in queue.stderr


def test_reading_a_store_applies_the_limits(db: Path) -> None:
    run("store", "load", str(db), CHAIN, "--known-on", "2025-10-01")
    result = run("evaluate", "--store", str(db), "--max-entities", "3")
    assert result.exit_code == 2 and "--max-entities" in result.stderr and result.stdout == ""


def test_a_store_another_process_is_writing_is_refused_not_waited_on(db: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        result = run("store", "load", str(db), CHAIN)
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 2 and result.stdout == ""
    assert "cannot open the store" in result.stderr
    assert _loads(db) == 0


HOLD = """
import sys
from pathlib import Path
from tos_policy.operations.store import Store
store = Store.open(Path(sys.argv[1]), read_only=False)
print("holding", flush=True)
sys.stdin.read()
"""


def test_review_queue_logs_its_decisions(tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    result = run(
        "review-queue", str(EXAMPLES / "unknown-owner.json"), "--as-of", "2025-10-01", "--decision-log", str(log)
    )
    assert result.exit_code == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    decided = json.loads(run("evaluate", str(EXAMPLES / "unknown-owner.json"), "--as-of", "2025-10-01").stdout)
    assert {(r["entity"], r["decision"]) for r in records} == {
        (d["entity"], d["decision"]) for d in decided["decisions"]
    }
    assert all(r["facts_digest"] == decided["facts_digest"] for r in records)


def test_outputs_are_written_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "queue.html"
    target.write_text("previous")
    bad = Path(__file__).resolve().parents[1] / "bad_input" / "dangling-owner.json"
    result = run("review-queue", str(bad), "--format", "html", "-o", str(target))
    assert result.exit_code == 2
    assert target.read_text() == "previous"
    assert [path.name for path in tmp_path.iterdir()] == ["queue.html"]
