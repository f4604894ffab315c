"""Limits: each has a documented default and an option to change it, and input past
it gives a clear error (exit 2, or 3 for time) naming the limit, the option, the
file, the JSON path and the value, with nothing decided."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tos_policy.cli.main import main
from tos_policy.errors import InputError, LimitExceeded
from tos_policy.facts.load import load_facts
from tos_policy.limits import MIB, Limits, option_name, watchdog

ROOT = Path(__file__).parent.parent
AS_OF = "2025-10-01"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


def _companies(count: int, prefix: str = "e") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{index}", "type": "company", "headquarters": "SG"} for index in range(count)]


def _chain(links: int) -> dict[str, Any]:
    entities = [{"id": "e0", "type": "company", "headquarters": "CN"}, *_companies(links + 1)[1:]]
    ownership = [{"owner": f"e{index}", "asset": f"e{index + 1}", "percentage": "60"} for index in range(links)]
    return {"entities": entities, "ownership": ownership}


def assert_limit_error(result: Result, file: Path | str, path: str, option: str, value: str = "") -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout[:200], result.stderr[:300])
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.rstrip("\n").split("\n")
    assert len(lines) == 1, result.stderr[:500]
    line = lines[0]
    assert line.startswith(f"tos-policy: error: {file}: {path}"), line[:300]
    assert f"raise it with {option}" in line, line
    assert value in line, line
    assert len(line) < 1000
    return line


# --- Documented defaults, options, validation.


def test_every_limit_has_a_documented_default_and_an_option() -> None:
    security = (ROOT / "SECURITY.md").read_text()
    help_text = run("evaluate", "--help").stdout + run("explain", "--help").stdout
    defaults = Limits()
    for item in fields(Limits):
        option = option_name(item.name)
        assert help_text.count(option) == 2, option
        default = getattr(defaults, item.name)
        if item.name == "max_input_bytes":
            shown = f"{default // MIB} MiB"
        else:
            shown = f"{default:g}" if isinstance(default, float) else f"{default:,}"
        row = next((line for line in security.splitlines() if f"`{option}`" in line), "")
        assert shown in row, f"SECURITY.md does not give the default of {option} ({shown}): {row!r}"


@pytest.mark.parametrize("value", [0, -1, True, float("nan"), float("inf"), "10"])
def test_a_limit_must_be_a_positive_finite_number(value: Any) -> None:
    with pytest.raises(InputError, match="a limit must be"):
        Limits(max_entities=value)


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "ten"])
def test_a_bad_limit_option_is_a_usage_error(value: str) -> None:
    result = run("evaluate", str(ROOT / "examples" / "chain.json"), "--max-seconds", value)
    assert result.exit_code == 2 and result.stdout == ""
    assert "--max-seconds" in result.stderr and "Traceback" not in result.stderr


# --- Input size.


def test_a_file_over_max_input_bytes_is_refused_before_it_is_read(tmp_path: Path) -> None:
    file = _write(tmp_path / "facts.json", {"entities": _companies(20)})
    size = file.stat().st_size
    assert_limit_error(
        run("evaluate", str(file), "--max-input-bytes", str(size - 1)), file, "$", "--max-input-bytes", f"{size}"
    )
    assert run("evaluate", str(file), "--as-of", AS_OF, "--max-input-bytes", str(size)).exit_code == 0


def test_the_default_input_limit_refuses_a_file_one_byte_over_it_at_once(tmp_path: Path) -> None:
    file = tmp_path / "huge.json"
    size = Limits().max_input_bytes + 1
    with file.open("wb") as handle:  # sparse: takes no disk, and must never be read
        handle.truncate(size)
    started = time.monotonic()
    assert_limit_error(run("evaluate", str(file)), file, "$", "--max-input-bytes", f"{size:,}")
    assert time.monotonic() - started < 5


def test_an_endless_input_is_cut_at_the_limit() -> None:
    """A pipe that starts like a facts file and never ends: read one byte past the limit at most."""
    feeder = subprocess.Popen(
        ["sh", "-c", 'printf \'{"entities": ["\'; exec cat /dev/zero'], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tos_policy", "evaluate", "/dev/stdin", "--max-input-bytes", "1000000"],
            stdin=feeder.stdout,
            capture_output=True,
            timeout=120,
            check=False,
        )
    finally:
        feeder.kill()
        feeder.wait()
    assert done.returncode == 2 and done.stdout == b"", done.stderr
    assert b"/dev/stdin: $: the file is too large: more than 1,000,000 bytes" in done.stderr
    assert b"raise it with --max-input-bytes" in done.stderr


def test_an_input_that_cannot_be_json_is_refused_at_its_first_bytes() -> None:
    started = time.monotonic()
    result = run("evaluate", "/dev/zero")  # endless, and not JSON from its first byte
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(
        "tos-policy: error: /dev/zero: $: not valid JSON: Expecting value at line 1 column 1"
    )
    assert time.monotonic() - started < 5


def test_a_10_mb_string_is_refused_with_a_short_message(tmp_path: Path) -> None:
    file = _write(tmp_path / "facts.json", {"entities": [{"id": "a", "type": "company", "name": "n" * 10_000_000}]})
    result = run("evaluate", str(file))
    assert result.exit_code == 2 and result.stdout == ""
    line = result.stderr.rstrip("\n")
    assert "\n" not in line and len(line) < 1000
    assert f"{file}: $.entities[0].name: the value is too long" in line


# --- JSON nesting.


def _nested(depth: int) -> str:
    """A document nested `depth` deep: the top object, "source", then arrays."""
    return '{"entities": [], "source": {"note": ' + "[" * (depth - 2) + "]" * (depth - 2) + "}}"


def test_json_nesting_to_the_limit_is_accepted_and_one_more_level_refused(tmp_path: Path) -> None:
    limit = Limits().max_json_depth
    file = tmp_path / "nested.json"
    file.write_text(_nested(limit))
    assert run("evaluate", str(file), "--as-of", AS_OF).exit_code == 0
    file.write_text(_nested(limit + 1))
    line = assert_limit_error(run("evaluate", str(file)), file, "$.source.note[0][0]", "--max-json-depth")
    assert re.search(rf"\(limit {limit} levels", line)
    assert run("evaluate", str(file), "--as-of", AS_OF, "--max-json-depth", str(limit + 1)).exit_code == 0


def test_100000_deep_nesting_is_refused_without_recursion(tmp_path: Path) -> None:
    file = tmp_path / "deep.json"
    file.write_text(_nested(100_000))
    assert_limit_error(run("evaluate", str(file)), file, "$.source.note[0]", "--max-json-depth", "[[[[")
    # past Python's own recursion limit too: still the same clean error, not "nested too deeply" by accident
    assert_limit_error(run("evaluate", str(file), "--max-json-depth", "5000"), file, "$.source", "--max-json-depth")


def test_nesting_inside_strings_does_not_count(tmp_path: Path) -> None:
    file = _write(tmp_path / "facts.json", {"entities": [{"id": "[" * 200, "type": "company", "name": "{" * 500}]})
    assert run("evaluate", str(file), "--as-of", AS_OF).exit_code == 0


# --- Entities and links.


def test_more_entities_than_max_entities_are_refused(tmp_path: Path) -> None:
    file = _write(tmp_path / "facts.json", {"entities": _companies(11)})
    assert_limit_error(run("evaluate", str(file), "--max-entities", "10"), file, "$.entities", "--max-entities", "11")
    assert run("evaluate", str(file), "--as-of", AS_OF, "--max-entities", "11").exit_code == 0


def test_more_links_than_max_links_are_refused(tmp_path: Path) -> None:
    file = _write(tmp_path / "facts.json", _chain(5))
    assert_limit_error(run("evaluate", str(file), "--max-links", "4"), file, "$.ownership", "--max-links", "5")
    assert run("evaluate", str(file), "--as-of", AS_OF, "--max-links", "5").exit_code == 0


def test_counts_are_checked_before_the_slow_schema_validation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def never(*_: Any) -> None:
        raise AssertionError("validated a document that is over the entity limit")

    monkeypatch.setattr("tos_policy.facts.load.validate_document", never)
    file = _write(tmp_path / "facts.json", {"entities": _companies(200_000)})
    assert_limit_error(run("evaluate", str(file), "--max-entities", "1000"), file, "$.entities", "--max-entities")


def test_entity_limits_count_all_files_together(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.json", {"entities": _companies(3, "a")})
    second = _write(tmp_path / "b.json", {"entities": _companies(3, "b")})
    assert len(load_facts([first, second], limits=Limits(max_entities=6)).entities) == 6
    with pytest.raises(LimitExceeded) as caught:
        load_facts([first, second], limits=Limits(max_entities=5))
    assert caught.value.file == str(second) and caught.value.path == "$.entities"
    assert "6" in caught.value.message


# --- Chain depth (fixpoint rounds).


def test_a_chain_as_long_as_max_chain_depth_is_decided_and_one_link_longer_refused(tmp_path: Path) -> None:
    file = _write(tmp_path / "chain.json", _chain(20))
    decided = run("evaluate", str(file), "--as-of", AS_OF, "--entity", "e20", "--max-chain-depth", "20")
    assert decided.exit_code == 0, decided.stderr
    assert json.loads(decided.stdout)["decisions"][0]["decision"] == "deny"
    refused = run("evaluate", str(file), "--as-of", AS_OF, "--entity", "e20", "--max-chain-depth", "19")
    line = assert_limit_error(refused, file, "$.entities[20]", "--max-chain-depth", "'e20'")
    assert "(limit 19 links" in line


def test_explain_honours_the_limits_too(tmp_path: Path) -> None:
    file = _write(tmp_path / "chain.json", _chain(20))
    refused = run("explain", str(file), "--entity", "e20", "--as-of", AS_OF, "--max-chain-depth", "5")
    assert_limit_error(refused, file, "$.entities[6]", "--max-chain-depth", "'e6'")


# --- Evaluation time.


def test_an_evaluation_longer_than_max_seconds_stops_with_exit_3(tmp_path: Path) -> None:
    file = _write(tmp_path / "chain.json", _chain(3000))
    started = time.monotonic()
    result = run("evaluate", str(file), "--as-of", AS_OF, "--entity", "e3000", "--max-seconds", "0.05")
    assert time.monotonic() - started < 10
    assert result.exit_code == 3, result.stderr
    assert result.stdout == ""
    assert "time limit of 0.05s (raise it with --max-seconds)" in result.stderr


WEDGED_ENGINE = """
import sys, time
import tos_policy.cli.main as cli

class Wedged:
    name = "wedged"

    def decide(self, batch):
        time.sleep(600)  # one engine call that never returns

    def close(self):
        pass

cli.make_engine = lambda *args: Wedged()
cli.main()
"""


def test_one_engine_call_that_never_returns_is_stopped_by_the_watchdog(tmp_path: Path) -> None:
    started = time.monotonic()
    arguments = ["--as-of", AS_OF, "--max-seconds", "0.5", "--decision-log", str(tmp_path / "log.jsonl")]
    done = subprocess.run(
        [sys.executable, "-c", WEDGED_ENGINE, "evaluate", str(ROOT / "examples" / "chain.json"), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "time limit of 0.5s" in done.stderr
    assert "inside one engine call" in done.stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "log.jsonl").exists()


def test_the_watchdog_is_called_off_when_the_block_ends() -> None:
    with watchdog(0.05, grace=0.05):
        pass
    time.sleep(0.3)  # still alive: the process was not stopped
