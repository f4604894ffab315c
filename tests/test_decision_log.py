"""Reproducible, auditable decisions: the same command gives the same bytes, every
decision record says which policy, rules, facts, date and engine made it, and
`--decision-log` appends whole JSON lines or nothing."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tos_policy.cli.main import main
from tos_policy.reports.decision_log import RECORD_FIELDS, append_lines, encode_lines

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
AS_OF = "2025-10-01"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def read_log(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode("ascii").split("\n")[:-1]]


def test_the_same_command_twice_gives_the_same_bytes_and_the_same_log_lines(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    args = ["evaluate", str(EXAMPLES / "unknown-owner.json"), "--as-of", AS_OF, "--decision-log", str(log)]
    first, second = run(*args), run(*args)
    assert first.exit_code == second.exit_code == 0, first.stderr
    assert first.stdout == second.stdout
    lines = log.read_bytes().split(b"\n")[:-1]
    half = len(lines) // 2
    assert half == len(json.loads(first.stdout)["decisions"]) > 0
    assert lines[:half] == lines[half:]


@pytest.mark.parametrize("example", ["chain.json", "unknown-owner.json", "divestment.json"])
def test_output_and_log_are_the_same_in_other_processes_and_hash_seeds(tmp_path: Path, example: str) -> None:
    outputs = []
    for seed in ("0", "4242"):
        log = tmp_path / f"log-{seed}.jsonl"
        command = [sys.executable, "-m", "tos_policy.cli.main", "evaluate", str(EXAMPLES / example), "--as-of", AS_OF]
        done = subprocess.run(
            [*command, "--decision-log", str(log)],
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append((done.stdout, log.read_bytes()))
    assert outputs[0] == outputs[1]


def test_every_record_carries_what_is_needed_to_audit_and_reproduce_it(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    result = run("evaluate", str(EXAMPLES / "chain.json"), "--as-of", AS_OF, "--decision-log", str(log))
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    records = read_log(log)
    assert [record["entity"] for record in records] == [item["entity"] for item in report["decisions"]]
    for record, item in zip(records, report["decisions"], strict=True):
        assert set(RECORD_FIELDS) <= set(record)
        assert record["policy_version"] == report["policy"]["version"]
        assert record["profile"] == report["policy"]["profile"]
        assert record["rules_digest"] == report["policy"]["rules_digest"]
        assert record["facts_digest"] == report["facts_digest"]
        assert record["as_of"] == report["as_of"] == AS_OF
        assert record["engine"] == report["engine"] == "wasm"  # the default engine, the shipped module
        for key in ("decision", "reasons", "paths"):
            assert record[key] == item[key]
    for line in log.read_bytes().split(b"\n")[:-1]:
        assert line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":")).encode("ascii")


def test_log_lines_are_ascii_so_no_reader_splits_them(tmp_path: Path) -> None:
    facts = {
        "entities": [
            {"id": "line\u2028separator", "type": "company", "headquarters": "CN", "name": "Société \u2029 🏦"},
        ]
    }
    file = tmp_path / "facts.json"
    file.write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")
    log = tmp_path / "decisions.jsonl"
    assert run("evaluate", str(file), "--as-of", AS_OF, "--decision-log", str(log)).exit_code == 0
    data = log.read_bytes()
    assert data.isascii() and len(data.decode("ascii").splitlines()) == 1
    assert read_log(log)[0]["entity"] == "line\u2028separator"


def test_explain_logs_the_decision_it_explains(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    result = run(
        "explain", str(EXAMPLES / "chain.json"), "--entity", "nl-opco", "--as-of", AS_OF, "--decision-log", str(log)
    )
    assert result.exit_code == 0, result.stderr
    [record] = read_log(log)
    assert (record["entity"], record["decision"]) == ("nl-opco", "deny")


def test_with_as_of_the_clock_is_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoClock:
        @staticmethod
        def now(*_: Any) -> Any:
            raise AssertionError("read the clock although --as-of was given")

    monkeypatch.setattr("tos_policy.cli.support.datetime", NoClock)
    assert run("evaluate", str(EXAMPLES / "divestment.json"), "--as-of", AS_OF).exit_code == 0


# --- Whole lines or nothing.

def record(**fields: Any) -> dict[str, Any]:
    """A decision record (every field of RECORD_FIELDS) with these fields set."""
    return {**dict.fromkeys(RECORD_FIELDS, ""), **fields}


EARLIER = encode_lines([record(decision="deny", entity="earlier")])


def test_a_failed_run_logs_nothing(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_bytes(EARLIER)
    bad = tmp_path / "bad.json"
    bad.write_text('{"entities": [{"id": "a", "type": "company", "headquarters": "Narnia"}]}')
    result = run("evaluate", str(bad), "--decision-log", str(log))
    assert result.exit_code == 2 and result.stdout == ""
    assert log.read_bytes() == EARLIER
    assert run("evaluate", str(bad), "--decision-log", str(tmp_path / "new.jsonl")).exit_code == 2
    assert not (tmp_path / "new.jsonl").exists()


def test_a_write_that_fails_leaves_the_log_as_it_was_and_prints_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_bytes(EARLIER)

    def disk_full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("tos_policy.reports.decision_log.os.write", disk_full)
    result = run("evaluate", str(EXAMPLES / "chain.json"), "--as-of", AS_OF, "--decision-log", str(log))
    assert result.exit_code == 2 and result.stdout == ""
    assert f"{log}: $: cannot append to the decision log: No space left on device" in result.stderr
    assert log.read_bytes() == EARLIER


def test_a_short_write_is_rolled_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_bytes(EARLIER)
    real_write = os.write

    def half(fd: int, data: bytes) -> int:
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr("tos_policy.reports.decision_log.os.write", half)
    result = run("evaluate", str(EXAMPLES / "chain.json"), "--as-of", AS_OF, "--decision-log", str(log))
    assert result.exit_code == 2 and result.stdout == ""
    assert "nothing was appended" in result.stderr
    assert log.read_bytes() == EARLIER


def test_a_torn_last_line_left_by_a_killed_writer_is_removed_on_the_next_append(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_bytes(EARLIER + b'{"decision":"all')
    append_lines(log, encode_lines([record(entity="next", decision="review")]))
    assert read_log(log) == [record(decision="deny", entity="earlier"), record(decision="review", entity="next")]


def test_append_lines_takes_only_whole_lines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="whole lines"):
        append_lines(tmp_path / "log.jsonl", b'{"a": 1}')


def test_a_log_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    result = run("evaluate", str(EXAMPLES / "chain.json"), "--as-of", AS_OF, "--decision-log", str(tmp_path))
    assert result.exit_code == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr


def test_a_process_killed_mid_run_leaves_no_partial_line(tmp_path: Path) -> None:
    size = 20_000
    ring = {
        "entities": [{"id": f"c{i}", "type": "company", "headquarters": "SG"} for i in range(size)],
        "ownership": [{"owner": f"c{i}", "asset": f"c{(i + 1) % size}", "percentage": "60"} for i in range(size)],
    }
    facts = tmp_path / "ring.json"
    facts.write_text(json.dumps(ring))
    log = tmp_path / "decisions.jsonl"
    log.write_bytes(EARLIER)
    command = [sys.executable, "-m", "tos_policy.cli.main", "evaluate", str(facts), "--as-of", AS_OF]
    process = subprocess.Popen(
        [*command, "--decision-log", str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(1.0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    data = log.read_bytes()
    assert data.startswith(EARLIER) and data.endswith(b"\n")
    assert all(json.loads(line) for line in data.split(b"\n")[:-1])


def _append_batches(path: str, writer: int, batches: int, lines: int) -> None:
    for batch in range(batches):
        records = [record(writer=writer, batch=batch, line=n, pad="x" * 200) for n in range(lines)]
        append_lines(Path(path), encode_lines(records))


def test_concurrent_writers_never_interleave_or_tear_lines(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    writers, batches, lines = 4, 25, 40
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_append_batches, args=(str(log), writer, batches, lines)) for writer in range(writers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    records = read_log(log)
    assert len(records) == writers * batches * lines
    for start in range(0, len(records), lines):  # each batch's lines are together, in order
        chunk = records[start : start + lines]
        assert [(r["writer"], r["batch"]) for r in chunk] == [(chunk[0]["writer"], chunk[0]["batch"])] * lines
        assert [r["line"] for r in chunk] == list(range(lines))


# --- A file that is not a decision log is never cut or written to.

FACTS_TEXT = (EXAMPLES / "chain.json").read_bytes()
NOT_LOGS = {
    "facts file": FACTS_TEXT,
    "facts file without its last newline": FACTS_TEXT.rstrip(b"\n"),
    "notes": b"meeting notes\nsecond line, no newline",
    "one line of notes": b"remember the milk",
    "JSON lines of something else": b'{"id": "a"}\n{"id": "b"}\n{"id": "c',
    "a log with a foreign first line": b"notes\n" + EARLIER,
    "a log with a foreign last line": EARLIER + b"notes\n",
    "a log with a foreign line in the middle, torn": EARLIER + b"notes\n" + EARLIER + b'{"decision":"al',
    "a log whose only line is torn": EARLIER[:40],
}


@pytest.mark.parametrize("name", NOT_LOGS)
def test_a_file_that_is_not_a_decision_log_is_refused_and_kept(tmp_path: Path, name: str) -> None:
    target = tmp_path / "target.json"
    target.write_bytes(NOT_LOGS[name])
    result = run("evaluate", str(EXAMPLES / "chain.json"), "--as-of", AS_OF, "--decision-log", str(target))
    assert result.exit_code == 2 and result.stdout == "", result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(target) in result.stderr and "not a decision log" in result.stderr
    assert target.read_bytes() == NOT_LOGS[name]


def test_a_log_of_real_records_is_appended_to_and_repaired(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    args = ["evaluate", str(EXAMPLES / "chain.json"), "--as-of", AS_OF, "--decision-log", str(log)]
    assert run(*args).exit_code == 0
    whole = log.read_bytes()
    log.write_bytes(whole + whole[:50])  # a writer killed mid-line
    assert run(*args).exit_code == 0
    assert log.read_bytes() == whole + whole


@pytest.mark.parametrize("special", ["/dev/null", "fifo"])
def test_a_decision_log_must_be_a_regular_file(tmp_path: Path, special: str) -> None:
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    result = run("evaluate", str(EXAMPLES / "chain.json"), "--as-of", AS_OF, "--decision-log", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert str(path) in result.stderr and "regular file" in result.stderr
