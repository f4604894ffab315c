"""`evaluate`'s memory is bounded by its input, not by the size of its report.

The JSON report of many decisions is many times larger than the facts (every decision
carries its reasons, paths and versions); it is written as it is made, never built as one
string (nor as the list of millions of fragments the standard encoder joins). Measured in
a separate process by the kernel's high-water mark (VmHWM, which exec resets; ru_maxrss
would carry over the test runner's). Figures: docs/benchmarks.md, "Memory of evaluate".
SECURITY.md promise 5."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Run the command line, then record the process's peak resident memory in bytes.
CHILD = """
import sys
from tos_policy.cli.main import main
try:
    main(sys.argv[2:], prog_name="tos-policy")
finally:
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(sys.argv[1], "w") as out:
        out.write(str(kib * 1024))
"""
COUNTRIES = ["SG", "DE", "FR", "GB", "JP", "US"]


def _peak(tmp_path: Path, facts: Path) -> tuple[int, int]:
    """(peak bytes, stdout bytes) of `tos-policy evaluate FACTS`."""
    peak_file = tmp_path / f"{facts.stem}.peak"
    with (tmp_path / f"{facts.stem}.out").open("wb") as out:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(peak_file), "evaluate", str(facts), "--as-of", "2026-12-01"],
            stdout=out,
            stderr=subprocess.PIPE,
            timeout=600,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    return int(peak_file.read_text()), (tmp_path / f"{facts.stem}.out").stat().st_size


def _facts(tmp_path: Path, name: str, count: int) -> Path:
    entities = [
        {"id": f"e{i}", "type": "company", "headquarters": COUNTRIES[i % 6], "jurisdiction": COUNTRIES[i % 6]}
        for i in range(count)
    ]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"entities": entities, "ownership": []}), encoding="utf-8")
    return path


def test_evaluate_memory_is_proportional_to_the_facts_not_the_report(tmp_path: Path) -> None:
    """30,000 entities (2.4 MB of facts, 28 MB of report): peak memory above the interpreter's,
    rules' and engine's own (one entity) stays under 40 times the facts. Building the report
    as one string took about 90 times (215 MiB over that base); writing it as made, about 20."""
    baseline, _ = _peak(tmp_path, _facts(tmp_path, "one", 1))
    facts = _facts(tmp_path, "many", 30_000)
    peak, report = _peak(tmp_path, facts)
    size = facts.stat().st_size
    assert report > 10 * size  # the report dwarfs the facts: what this test is about
    assert peak - baseline < 40 * size, (
        f"evaluate of {size:,} bytes of facts peaked {(peak - baseline) / 2**20:.0f} MiB above its "
        f"{baseline / 2**20:.0f} MiB base ({(peak - baseline) / size:.0f}x the facts)"
    )
    assert os.path.getsize(tmp_path / "many.out") == report
