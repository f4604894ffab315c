"""`screen` has the limits of `evaluate`, with the same messages, and reads within them.

Input bytes, JSON nesting, entities, links, chain depth and --max-seconds: the same
document refused by both commands with the same line; JSON Lines refused at the first
record past a limit; an endless or binary input (/dev/zero) refused at once; a FIFO that
never sends ends at the time limit (exit 3) instead of blocking. SECURITY.md promise 5."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tos_policy.cli.main import main
from tos_policy.limits import Limits, option_name
from tos_policy.policy.ruleset import load_rules

AS_OF = "2025-10-01"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _companies(count: int, country: str = "SG") -> list[dict[str, Any]]:
    return [{"id": f"e{index}", "type": "company", "headquarters": country} for index in range(count)]


def _restricted_country() -> str:
    """A country the default profile restricts, read from the rules' data: a restriction must travel the chain."""
    rules = load_rules()
    return str(sorted(code for code in rules.data["regions"]["restricted"] if "-" not in code)[0])


def _chain(links: int) -> dict[str, Any]:
    entities = _companies(links + 1)
    entities[0]["headquarters"] = _restricted_country()
    ownership = [{"owner": f"e{index}", "asset": f"e{index + 1}", "percentage": "60"} for index in range(links)]
    return {"entities": entities, "ownership": ownership}


def _nested(depth: int) -> dict[str, Any]:
    note: Any = []
    for _ in range(depth - 3):  # the top object, source, and depth - 2 arrays
        note = [note]
    return {"entities": [], "source": {"note": note}}


def _one_line_error(result: Result, exit_code: int = 2) -> str:
    assert result.exit_code == exit_code, (result.exit_code, result.stdout[:200], result.stderr[:300])
    assert result.stdout == ""
    lines = result.stderr.rstrip("\n").split("\n")
    assert len(lines) == 1 and "Traceback" not in lines[0], result.stderr[:500]
    return lines[0]


def _size(document: dict[str, Any]) -> int:
    return len(json.dumps(document).encode())


# limit: (document, value at the limit (accepted), value one past it (refused))
CASES: dict[str, tuple[dict[str, Any], int, int]] = {
    "max_input_bytes": (_chain(3), _size(_chain(3)), _size(_chain(3)) - 1),
    "max_json_depth": (_nested(10), 10, 9),
    "max_entities": (_chain(3), 4, 3),
    "max_links": (_chain(3), 3, 2),
    "max_chain_depth": (_chain(3), 3, 2),
}


@pytest.mark.parametrize("limit", sorted(CASES))
def test_screen_and_evaluate_refuse_one_past_each_limit_with_the_same_line(tmp_path: Path, limit: str) -> None:
    document, at, past = CASES[limit]
    file = tmp_path / "facts.json"
    file.write_text(json.dumps(document), encoding="utf-8")
    option = option_name(limit)
    accepted = run("screen", str(file), "--as-of", AS_OF, option, str(at))
    assert accepted.exit_code == 0, accepted.stderr
    screened = _one_line_error(run("screen", str(file), "--as-of", AS_OF, option, str(past)))
    evaluated = _one_line_error(run("evaluate", str(file), "--as-of", AS_OF, option, str(past)))
    assert screened == evaluated
    assert screened.startswith(f"tos-policy: error: {file}: ") and f"raise it with {option}" in screened


@pytest.mark.parametrize(("limit", "count"), [("max_entities", 3), ("max_links", 2)])
def test_json_lines_stop_at_the_first_record_past_a_count(tmp_path: Path, limit: str, count: int) -> None:
    document = _chain(3)
    registry = tmp_path / "registry.jsonl"
    records = [*document["entities"], *document["ownership"]]
    registry.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    line = _one_line_error(run("screen", str(registry), "--as-of", AS_OF, option_name(limit), str(count)))
    first_past = count + 1 if limit == "max_entities" else len(document["entities"]) + count + 1
    assert line.startswith(f"tos-policy: error: {registry}: line {first_past} $: too many ")
    assert f"raise it with {option_name(limit)}" in line


def test_json_lines_nesting_and_size_are_limited(tmp_path: Path) -> None:
    registry = tmp_path / "registry.jsonl"
    registry.write_text('{"id": "a", "type": "company"}\n{"id": "b", "type": "company", "x": [[[[1]]]]}\n')
    line = _one_line_error(run("screen", str(registry), "--as-of", AS_OF, "--max-json-depth", "3"))
    assert line.startswith(f"tos-policy: error: {registry}: line 2 $.x[0][0]: JSON nested too deeply")
    size = registry.stat().st_size
    line = _one_line_error(run("screen", str(registry), "--as-of", AS_OF, "--max-input-bytes", str(size - 1)))
    assert f"the file is too large: {size:,} bytes" in line


def test_screen_stops_at_max_seconds(tmp_path: Path) -> None:
    file = tmp_path / "chain.json"
    file.write_text(json.dumps(_chain(2000)), encoding="utf-8")
    line = _one_line_error(run("screen", str(file), "--as-of", AS_OF, "--max-seconds", "0.05"), exit_code=3)
    assert "time limit of 0.05s (raise it with --max-seconds)" in line


def test_dev_zero_is_refused_at_once() -> None:
    started = time.monotonic()
    for command in ("screen", "evaluate"):
        line = _one_line_error(run(command, "/dev/zero", "--as-of", AS_OF))
        assert line.startswith("tos-policy: error: /dev/zero: $: not valid JSON"), line
    assert time.monotonic() - started < 30  # without the check: 256 MiB read, then refused


def _tos_policy(*args: str, stdin: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tos_policy", *args], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _finish(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, bytes, bytes]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()  # by pid: this test's own child
        process.communicate()
        pytest.fail(f"still running after {timeout}s: reading is not inside the time limit")
    return process.returncode, out, err


def test_an_endless_line_is_cut_at_the_input_limit(tmp_path: Path) -> None:
    """A stream that starts like a record and never ends: read in bounded pieces, refused at the limit."""
    feeder = subprocess.Popen(
        ["sh", "-c", 'printf \'{"id": "\'; exec cat /dev/zero'], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        screen = _tos_policy(
            "screen", "/dev/stdin", "--as-of", AS_OF, "--max-input-bytes", "3000000", stdin=feeder.stdout
        )
        assert feeder.stdout is not None
        feeder.stdout.close()
        code, out, err = _finish(screen, 120)
    finally:
        feeder.kill()
        feeder.wait()
    assert code == 2 and out == b"", err
    assert b"the file is too large: more than 3,000,000 bytes" in err and b"--max-input-bytes" in err


@pytest.mark.parametrize("writer", [False, True], ids=["no-writer", "silent-writer"])
def test_a_fifo_that_never_sends_ends_at_max_seconds(tmp_path: Path, writer: bool) -> None:
    fifo = tmp_path / "facts.jsonl"
    os.mkfifo(fifo)
    held = os.open(fifo, os.O_RDWR) if writer else None  # a writer that never writes (and never blocks us)
    try:
        started = time.monotonic()
        code, out, err = _finish(_tos_policy("screen", str(fifo), "--as-of", AS_OF, "--max-seconds", "2"), 120)
    finally:
        if held is not None:
            os.close(held)
    assert code == 3 and out == b"", err
    assert b"time limit of 2s" in err and err.count(b"\n") == 1
    assert time.monotonic() - started >= 2


def test_the_limits_are_options_of_screen() -> None:
    help_text = run("screen", "--help").stdout
    for name in Limits.__dataclass_fields__:
        assert option_name(name) in help_text


READERS = {  # every command that reads facts files and takes --max-seconds; {} is the facts file
    "evaluate": ["evaluate", "{}"],
    "explain": ["explain", "{}", "--entity", "x"],
    "screen": ["screen", "{}"],
    "review-queue": ["review-queue", "{}"],
}


@pytest.mark.parametrize(
    ("command", "writer"),
    [*((command, "none") for command in sorted(READERS)), *((command, writer) for command in ("evaluate", "screen") for writer in ("silent", "slow"))],
)
def test_a_fifo_ends_the_read_at_max_seconds_exactly(tmp_path: Path, command: str, writer: str) -> None:
    """The read itself stops at the time limit (exit 3, one line naming the file), not the watchdog
    at the limit plus its grace: no writer, a writer that never writes, one that sent half a record."""
    fifo = tmp_path / ("facts.jsonl" if command == "screen" else "facts.json")
    os.mkfifo(fifo)
    held = None
    if writer != "none":
        held = os.open(fifo, os.O_RDWR)  # a writer that holds the FIFO open (and never blocks us)
        if writer == "slow":
            os.write(held, b'{"entities": [{"id": "a", ' if command != "screen" else b'{"id": "a", "type"')
    args = [part.replace("{}", str(fifo)) for part in READERS[command]]
    try:
        started = time.monotonic()
        # 5 s: the time limit counts from the start of the command (for screen, building the engine
        # too), so the limit leaves room for that on a loaded machine; the watchdog would fire at 6 s.
        code, out, err = _finish(_tos_policy(*args, "--as-of", AS_OF, "--max-seconds", "5"), 60)
        elapsed = time.monotonic() - started
    finally:
        if held is not None:
            os.close(held)
    assert code == 3 and out == b"", err
    assert err.count(b"\n") == 1 and b"time limit of 5s" in err, err
    assert f"waiting for {fifo} to send its facts".encode() in err, err  # the reader, not the watchdog
    assert elapsed >= 5
