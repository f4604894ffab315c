"""Latency of single decisions: one engine call deciding a one-item batch, for one
entity with N restricted owners (N in 0, 1, 5, 20), with the embedded engine
(regopy, in process) and with the OPA server backend (OpaEngine against a local
`opa run --server --bundle` on 127.0.0.1, fed a bundle built by tos_policy.release.bundle).

    python benchmarks/single_decisions.py            # about a minute on 2 cores
    python benchmarks/single_decisions.py --quick    # a few seconds, for a smoke test

Prints Markdown: the main table (decisions per second, p50 and p99 latency), then
where the time goes: for the embedded engine the phases of EmbeddedEngine.decide
(building the regopy Input, one ctypes call per JSON node; set_input; evaluating
the entrypoint; parsing the output), for OPA the server's own handler time
(?metrics=true) against the round trip seen by the client.

Every measured call is timed with time.perf_counter_ns after a warm-up; a case stops
at its iteration count or its time budget, whichever comes first, so a run stays well
under two minutes. The OPA server is started and stopped (by pid) by this script.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import importlib.metadata
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests  # type: ignore[import-untyped, unused-ignore]
from regopy import Input, Interpreter
from regopy.rego_shared import rego_bundle_query_entrypoint, rego_output_string

from tos_policy.engines import check_results
from tos_policy.engines.embedded import BATCH_ENTRYPOINT, EmbeddedEngine
from tos_policy.engines.opa import BATCH_REF, OpaEngine
from tos_policy.engines.opa_server import opa_binary, start_server
from tos_policy.policy.ruleset import RuleSet, load_rules
from tos_policy.release.bundle import build_bundle

OWNER_COUNTS = (0, 1, 5, 20)
STAKE_PERCENT = 2  # each restricted owner holds 2%: at most 40% in all, so every rule runs and the answer is allow
TARGETS_NS = {"embedded": 100_000, "opa": 2_000_000}  # p50 targets of issue 3
ENGINE_LABELS = {"embedded": "embedded (regopy)", "opa": "OPA server (loopback)"}


@dataclass
class Sample:
    engine: str
    owners: int
    latencies_ns: list[int]

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ns, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ns, 99)

    @property
    def per_second(self) -> float:
        return len(self.latencies_ns) / (sum(self.latencies_ns) / 1e9)


def percentile(values: list[int], percent: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))
    return float(ordered[int(rank) - 1])


def single_batch(owners: int, profile: str) -> dict[str, Any]:
    """The engine input deciding one Singapore company held by `owners` restricted companies."""
    links = [
        {
            "index": index,
            "kind": "shareholding",
            "owner_type": "company",
            "min": STAKE_PERCENT,
            "min_exclusive": False,
            "max": STAKE_PERCENT,
            "max_exclusive": False,
            "group": index,
        }
        for index in range(owners)
    ]
    item = {"scale": 1, "entity": {"type": "company", "headquarters": "SG", "jurisdiction": "SG"}, "links": links}
    return {"profile": profile, "reading": "lower", "items": [item]}


def json_nodes(value: Any) -> int:
    """JSON values in `value` (each becomes at least one ctypes call when regopy builds its Input)."""
    if isinstance(value, dict):
        return 1 + sum(1 + json_nodes(item) for item in value.values())
    if isinstance(value, list):
        return 1 + sum(json_nodes(item) for item in value)
    return 1


def measure(call: Callable[[], Any], iterations: int, warmup: int, budget_s: float) -> list[int]:
    for _ in range(warmup):
        call()
    latencies: list[int] = []
    deadline = time.perf_counter_ns() + int(budget_s * 1e9)
    clock = time.perf_counter_ns
    while len(latencies) < iterations:
        started = clock()
        call()
        ended = clock()
        latencies.append(ended - started)
        if ended > deadline:
            break
    return latencies


def embedded_phases(engine: EmbeddedEngine, batch: dict[str, Any], iterations: int) -> dict[str, float]:
    """p50 in ns of each phase of EmbeddedEngine.decide, run step by step (same calls, same order)."""
    rego, bundle = engine._rego, engine._bundle
    timings: dict[str, list[int]] = {"input": [], "set_input": [], "evaluate": [], "parse": []}
    clock = time.perf_counter_ns
    for _ in range(iterations):
        t0 = clock()
        value = Input(batch)
        t1 = clock()
        rego.set_input(value)
        t2 = clock()
        raw = rego_output_string(rego_bundle_query_entrypoint(rego._impl, bundle._impl, BATCH_ENTRYPOINT))
        t3 = clock()
        check_results(batch["items"], orjson.loads(raw)["expressions"][0], engine.name)
        t4 = clock()
        for name, (start, end) in zip(timings, [(t0, t1), (t1, t2), (t2, t3), (t3, t4)], strict=True):
            timings[name].append(end - start)
    return {name: percentile(values, 50) for name, values in timings.items()}


PROBE_MODULE = "package probe\n\nconstant := true\n\necho := input\n"


class RegopyFloor:
    """rego-cpp's cost without the rules: a constant rule, and a rule that returns its input unchanged."""

    def __init__(self) -> None:
        self._rego = Interpreter()
        self._rego.add_module("probe.rego", PROBE_MODULE)
        self._bundle = self._rego.build(None, ["probe/constant", "probe/echo"])

    def times(self, batch: dict[str, Any], iterations: int) -> dict[str, float]:
        """p50s: the constant rule, the echo rule, and the other way in (set_input_term with the JSON text)."""
        text = orjson.dumps(batch).decode()
        result = {"input_term": percentile(measure(lambda: self._rego.set_input_term(text), iterations, 10, 5.0), 50)}
        self._rego.set_input(Input(batch))
        for entrypoint in ("constant", "echo"):
            query = functools.partial(self._query, f"probe/{entrypoint}")
            assert orjson.loads(query())["expressions"], entrypoint
            result[entrypoint] = percentile(measure(query, iterations, iterations // 10, 5.0), 50)
        return result

    def _query(self, entrypoint: str) -> str:
        return str(rego_output_string(rego_bundle_query_entrypoint(self._rego._impl, self._bundle._impl, entrypoint)))


def opa_server_times(url: str, batch: dict[str, Any], iterations: int) -> dict[str, float]:
    """p50 in ns of OPA's own times (?metrics=true: evaluation, whole handler) and of bare round trips of
    the same request: through a requests.Session (as opa-python-client sends it) and through http.client."""
    path = f"/v1/data/{BATCH_REF.removeprefix('data.').replace('.', '/')}"
    body = orjson.dumps({"input": batch})
    headers = {"Content-Type": "application/json"}
    times: dict[str, list[int]] = {"evaluation": [], "handler": [], "requests": [], "http_client": []}
    clock = time.perf_counter_ns
    with requests.Session() as session:
        for _ in range(iterations):
            response = session.post(f"{url}{path}?metrics=true", data=body, headers=headers, timeout=10)
            metrics = response.json()["metrics"]
            times["evaluation"].append(int(metrics.get("timer_rego_query_eval_ns", 0)))
            times["handler"].append(int(metrics["timer_server_handler_ns"]))
        for _ in range(iterations):
            started = clock()
            session.post(f"{url}{path}", data=body, headers=headers, timeout=10).json()
            times["requests"].append(clock() - started)
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        for _ in range(iterations):
            started = clock()
            connection.request("POST", path, body=body, headers=headers)
            orjson.loads(connection.getresponse().read())
            times["http_client"].append(clock() - started)
    finally:
        connection.close()
    return {name: percentile(values, 50) for name, values in times.items()}


def microseconds(ns: float) -> str:
    return f"{ns / 1000:,.1f} µs" if ns < 1_000_000 else f"{ns / 1e6:,.2f} ms"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    opa_version = subprocess.run(
        [str(opa_binary()), "version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout.splitlines()[0]
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in ("regopy", "opa-python-client", "requests")
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; {versions}; OPA {opa_version.removeprefix('Version: ')}"
    )


@dataclass
class Results:
    batches: dict[int, dict[str, Any]]
    samples: list[Sample] = field(default_factory=list)
    phases: dict[int, dict[str, float]] = field(default_factory=dict)
    server_times: dict[int, dict[str, float]] = field(default_factory=dict)


def bench_embedded(rules: RuleSet, results: Results, args: argparse.Namespace) -> None:
    embedded = EmbeddedEngine(rules)
    floor = RegopyFloor()
    try:
        for owners, batch in results.batches.items():
            latencies = measure(functools.partial(embedded.decide, batch), args.iterations, args.warmup, args.budget)
            results.samples.append(Sample("embedded", owners, latencies))
            detail = min(args.iterations, 1000)
            results.phases[owners] = {**embedded_phases(embedded, batch, detail), **floor.times(batch, detail)}
    finally:
        embedded.close()


def bench_opa(rules: RuleSet, results: Results, args: argparse.Namespace) -> None:
    embedded = EmbeddedEngine(rules)  # to check that both engines give the same answers
    with tempfile.TemporaryDirectory(prefix="tos-policy-bench-") as scratch:
        bundle = build_bundle(rules, Path(scratch) / "bundle.tar.gz").path
        server = start_server(opa_binary(), bundle=bundle)
        try:
            opa = OpaEngine(rules, server.url, timeout=10.0, load_rules=False)
            try:
                for owners, batch in results.batches.items():
                    # The same answer from both engines, or the numbers mean nothing.
                    assert opa.decide(batch) == embedded.decide(batch), owners
                    latencies = measure(
                        functools.partial(opa.decide, batch), args.opa_iterations, args.opa_warmup, args.budget
                    )
                    results.samples.append(Sample("opa", owners, latencies))
                    results.server_times[owners] = opa_server_times(server.url, batch, min(args.opa_iterations, 500))
            finally:
                opa.close()
        finally:
            server.stop()  # by pid
            assert not server.running(), f"the OPA server (pid {server.pid}) is still running"
    embedded.close()


def print_report(results: Results, elapsed: float) -> None:
    print(f"Machine: {machine()}")
    print(f"Run: {' '.join(['python', 'benchmarks/single_decisions.py', *sys.argv[1:]])} ({elapsed:.0f}s)")
    print()
    print("| engine | restricted owners | input JSON nodes | iterations | decisions/s | p50 | p99 | p50 target |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for sample in results.samples:
        target = TARGETS_NS[sample.engine]
        verdict = "met" if sample.p50 < target else f"missed ({sample.p50 / target:.1f}x)"
        print(
            f"| {ENGINE_LABELS[sample.engine]} | {sample.owners} | {json_nodes(results.batches[sample.owners])} "
            f"| {len(sample.latencies_ns):,} | {sample.per_second:,.0f} | {microseconds(sample.p50)} "
            f"| {microseconds(sample.p99)} | < {microseconds(target)}: {verdict} |"
        )
    print()
    print("Embedded engine, p50 of each phase of one decide call, and of rego-cpp without the rules:")
    print()
    print(
        "| restricted owners | regopy Input (ctypes per node) | set_input | evaluate entrypoint | parse output "
        "| floor: `constant := true` | floor: `echo := input` | instead of Input + set_input: set_input_term(JSON) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for owners, times in results.phases.items():
        print(
            f"| {owners} | {microseconds(times['input'])} | {microseconds(times['set_input'])} "
            f"| {microseconds(times['evaluate'])} | {microseconds(times['parse'])} "
            f"| {microseconds(times['constant'])} | {microseconds(times['echo'])} "
            f"| {microseconds(times['input_term'])} |"
        )
    print()
    print("OPA server, p50: the server's own time against round trips seen by the client:")
    print()
    print(
        "| restricted owners | OPA evaluation | OPA handler (decode, evaluate, encode) | round trip, http.client "
        "| round trip, requests | OpaEngine.decide |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    by_owners = {sample.owners: sample for sample in results.samples if sample.engine == "opa"}
    for owners, times in results.server_times.items():
        print(
            f"| {owners} | {microseconds(times['evaluation'])} | {microseconds(times['handler'])} "
            f"| {microseconds(times['http_client'])} | {microseconds(times['requests'])} "
            f"| {microseconds(by_owners[owners].p50)} |"
        )


def run(args: argparse.Namespace) -> int:
    rules = load_rules()
    profile = str(rules.policy_set["default_profile"])
    results = Results(batches={owners: single_batch(owners, profile) for owners in OWNER_COUNTS})
    started = time.monotonic()
    bench_embedded(rules, results, args)
    bench_opa(rules, results, args)
    print_report(results, time.monotonic() - started)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=3000, help="measured calls per case, embedded engine")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured calls first, embedded engine")
    parser.add_argument("--opa-iterations", type=int, default=1000, help="measured calls per case, OPA server")
    parser.add_argument("--opa-warmup", type=int, default=100, help="unmeasured calls first, OPA server")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds at most per measured case")
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke test, not a measurement")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.warmup, args.opa_iterations, args.opa_warmup, args.budget = 200, 20, 100, 10, 2.0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
