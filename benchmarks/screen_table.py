"""One table: `tos-policy screen` with each engine and plan beside its peers (plain
Python, DuckDB SQL, the I/O floor) on the default and the --varied registry.

    python benchmarks/screen_table.py [--sizes 10000,100000,1000000] [--kinds default,varied]
                                      [--budget 900] [--embedded-max 10000] [--opa-max 10000]

Every figure comes from this run: each tool runs as its own process, timed wall-clock
here, with CPU (user + system) and peak RSS from the kernel's rusage of that process
(os.wait4). Every tool's decision counts are checked against screen's: a disagreement
stops the run. A tool that passes --budget seconds is stopped (by pid) and reported as
such. The machine's load average is printed before and after, since the 2 cores may be
shared. Prints Markdown: the table, then the issue's target ratios, met or missed."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson

AS_OF = "2025-10-01"
HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers.py"


@dataclass
class Run:
    tool: str
    wall: float | None  # None: stopped at the budget
    cpu: float
    rss_mib: float
    counts: dict[str, int]
    rule_calls: int | None = None


def measure(command: list[str], budget: float) -> tuple[float | None, float, float, str]:
    """(wall, CPU, peak RSS MiB, stderr) of one process; wall None when stopped at the budget."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        deadline = started + budget
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.kill(process.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(process.pid, 0)
                process.returncode = -9
                return None, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, ""
            time.sleep(0.05)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        text = errors.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {text[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, text


def counts_of(path: Path) -> dict[str, int]:
    with path.open("rb") as handle:
        return dict(Counter(orjson.loads(line)["decision"] for line in handle))


def synth(size: int, kind: str, folder: Path) -> Path:
    target = folder / f"{kind}-{size}.jsonl"
    extra = ["--varied"] if kind == "varied" else []
    subprocess.run(
        ["tos-policy", "synth", "--entities", str(size), "--seed", "1", *extra, "-o", str(target)], check=True
    )
    return target


def screen(registry: Path, out: Path, engine: str, plan: str, budget: float, extra: tuple[str, ...] = ()) -> Run:
    command = ["tos-policy", "screen", str(registry), "--as-of", AS_OF, "--out", str(out), "--engine", engine]
    command += ["--max-seconds", str(int(budget) + 60), *extra]  # the budget stops it, not screen's 600 s default
    wall, cpu, rss, stderr = measure([*command, "--plan", plan], budget)
    tool = f"screen --engine {engine}" + (" --plan columnar" if plan == "columnar" else "")
    if wall is None:
        return Run(tool, None, cpu, rss, {})
    summary = json.loads(stderr.strip().splitlines()[-1])
    return Run(tool, wall, cpu, rss, counts_of(out), summary["rule_calls"])


def _process_cpu(pid: int) -> float:
    """User + system seconds of a running process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def screen_with_opa(registry: Path, out: Path, budget: float) -> Run:
    """screen --engine opa against a real `opa run --server` on 127.0.0.1 started for this run
    (stopped by pid): the server's CPU is added to screen's, and its peak memory beside it."""
    opa = HERE.parent / ".tools" / "bin" / "opa"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(opa), "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
                if answer.status == 200:
                    break
            time.sleep(0.05)
        before = _process_cpu(server.pid)
        run = screen(registry, out, "opa", "rows", budget, ("--opa-url", url))
        run.cpu += _process_cpu(server.pid) - before
        run.rss_mib += _process_peak_mib(server.pid)
        run.tool = "screen --engine opa (CPU and peak RSS with the server's)"
        return run
    finally:
        server.terminate()
        server.wait(timeout=30)


def peer(name: str, registry: Path, out: Path, budget: float) -> Run:
    wall, cpu, rss, _ = measure([sys.executable, str(PEERS), name, str(registry), str(out), "--as-of", AS_OF], budget)
    label = {"io": "I/O floor (orjson parse + write)", "python": "plain-Python peer", "duckdb": "DuckDB SQL peer"}[name]
    return Run(label, wall, cpu, rss, counts_of(out) if wall is not None and name != "io" else {})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--kinds", default="default,varied")
    parser.add_argument("--budget", type=float, default=900.0, help="seconds before a tool is stopped")
    parser.add_argument("--embedded-max", type=int, default=10_000, help="largest registry for the embedded engine")
    parser.add_argument("--opa-max", type=int, default=10_000, help="largest registry for the OPA server engine")
    parser.add_argument("--columnar-max", type=int, default=1_000_000, help="largest registry for --plan columnar")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    kinds = [kind for kind in args.kinds.split(",") if kind]
    load_before = os.getloadavg()
    table: list[tuple[str, int, int, Run]] = []
    with tempfile.TemporaryDirectory(prefix="tos-bench-") as tmp:
        folder = Path(tmp)
        for kind in kinds:
            for size in sizes:
                registry = synth(size, kind, folder)
                links = sum(1 for line in registry.open("rb") if b'"owner"' in line)
                out = folder / "out.jsonl"
                runs = [screen(registry, out, "wasm", "rows", args.budget)]
                reference = runs[0].counts
                if size <= args.columnar_max:
                    runs.append(screen(registry, out, "wasm", "columnar", args.budget))
                if size <= args.embedded_max:
                    runs.append(screen(registry, out, "embedded", "rows", args.budget))
                if size <= args.opa_max:
                    runs.append(screen_with_opa(registry, out, args.budget))
                runs += [peer(name, registry, out, args.budget) for name in ("python", "duckdb", "io")]
                for run in runs:
                    if run.counts and reference and run.counts != reference:
                        raise SystemExit(f"{run.tool} disagrees at {kind} {size}: {run.counts} vs {reference}")
                    table.append((kind, size, links, run))
                    print(json.dumps([kind, size, run.__dict__]), file=sys.stderr, flush=True)
                out.unlink(missing_ok=True)
                registry.unlink()
    load_after = os.getloadavg()
    print(
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"load average (1/5/15 min) before {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, "
        f"after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}.\n"
    )
    print(
        "| registry | entities | links | tool | wall | CPU | peak RSS | wall / DuckDB peer | rule calls | deny / review / allow |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---|")
    duckdb_wall = {(kind, size): run.wall for kind, size, _, run in table if run.tool.startswith("DuckDB")}
    for kind, size, links, run in table:
        base = duckdb_wall.get((kind, size))
        wall = f"{run.wall:.1f} s" if run.wall is not None else f"stopped at {args.budget:.0f} s"
        ratio = f"{run.wall / base:.1f}x" if run.wall is not None and base else "-"
        counts = run.counts
        decided = (
            f"{counts.get('deny', 0):,} / {counts.get('review', 0):,} / {counts.get('allow', 0):,}" if counts else "-"
        )
        calls = f"{run.rule_calls:,}" if run.rule_calls is not None else "-"
        print(
            f"| {kind} | {size:,} | {links:,} | {run.tool} | {wall} | {run.cpu:.1f} s | {run.rss_mib:,.0f} MiB "
            f"| {ratio} | {calls} | {decided} |"
        )
    _targets(table)


def _targets(table: list[tuple[str, int, int, Run]]) -> None:
    def get(kind: str, size: int, prefix: str, field: str) -> float | None:
        for k, s, _, run in table:
            if k == kind and s == size and run.tool.startswith(prefix) and run.wall is not None:
                value: float = getattr(run, field)
                return value
        return None

    print("\nTargets (issue), measured in this run; wall, and CPU (user + system) beside it, since the")
    print("cores may be shared:\n")
    screen = "screen --engine wasm"
    largest = max(size for _, size, _, _ in table)
    ratios: list[tuple[str, str, str, float]] = [
        (f"{largest:,} default: screen / DuckDB peer", "default", "DuckDB", 1.5),
        (f"{largest:,} default: screen / plain-Python peer (below 1)", "default", "plain-Python", 1.0),
    ]
    for label, kind, other, limit in ratios:
        _verdict(label, get(kind, largest, screen, "wall"), get(kind, largest, other, "wall"), limit)
        _verdict(label + " (CPU)", get(kind, largest, screen, "cpu"), get(kind, largest, other, "cpu"), limit)
    memory = get("default", largest, screen, "rss_mib")
    if memory is not None:
        _verdict(f"{largest:,} default: screen peak RSS, GiB", memory / 1024, 1.0, 1.5)
    for field in ("wall", "cpu"):
        _verdict(
            f"{largest:,} varied / default screen ({field})",
            get("varied", largest, screen, field),
            get("default", largest, screen, field),
            3.0,
        )
        for kind in ("default", "varied"):
            _verdict(
                f"{kind}: {largest:,} / {largest // 10:,} entities, screen ({field})",
                get(kind, largest, screen, field),
                get(kind, largest // 10, screen, field),
                11.0,
            )


def _verdict(label: str, value: float | None, base: float | None, limit: float) -> None:
    if value is None or not base:
        return
    ratio = value / base
    met = ratio < limit if limit == 1.0 else ratio <= limit
    print(f"- {label}: {ratio:.2f} (target {limit:g}: {'met' if met else f'missed by {ratio / limit:.1f}x'})")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
