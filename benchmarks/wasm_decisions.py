"""Per-decision cost of the Wasm engine (the rules compiled by OPA, run by wasmtime) beside
the embedded engine (regopy): one entity held by N restricted owners (N in 0, 1, 5, 20),
decided alone (a one-item batch) and in 256-item batches, as Engine.decide is called
by the fixpoint (input encoding, evaluation, answer decoding and checking included).

    python benchmarks/wasm_decisions.py [--budget 10]

Prints Markdown: p50 and p99 per decision (a batch's time divided by its items), and the
issue's targets (single p50 under 100 µs, p50 per item in 256-item batches under 20 µs).
Each case runs until its iteration count or its time budget, whichever comes first."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from single_decisions import OWNER_COUNTS, measure, percentile, single_batch

from tos_policy.engines.compiled import module_for
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.engines.wasm import WasmEngine
from tos_policy.policy.ruleset import load_rules

TARGETS_NS = {1: 100_000, 256: 20_000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per case at most")
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    rules = load_rules()
    module = module_for(rules)
    assert module is not None, "no compiled rules: run scripts/build-wasm"
    engines: dict[str, Any] = {"wasm": WasmEngine(rules, module), "embedded (regopy)": EmbeddedEngine(rules)}
    profile = str(rules.policy_set["default_profile"])
    load = os.getloadavg()
    rows = []
    for owners in OWNER_COUNTS:
        one = single_batch(owners, profile)
        for size in (1, 256):
            batch = {**one, "items": one["items"] * size}
            answers = {name: engine.decide(batch) for name, engine in engines.items()}
            assert len({repr(answer) for answer in answers.values()}) == 1, "the engines disagree"
            for name, engine in engines.items():
                iterations = args.iterations if size == 1 else max(20, args.iterations // 50)
                latencies = measure(functools.partial(engine.decide, batch), iterations, 10, args.budget)
                per_item = [value / size for value in latencies]
                rows.append((name, owners, size, percentile(per_item, 50), percentile(per_item, 99), len(latencies)))
    print(f"Load average before the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min), 2 cores.\n")
    print("| engine | restricted owners | batch | p50 per decision | p99 per decision | calls timed | target (p50) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, owners, size, p50, p99, count in rows:
        target = TARGETS_NS[size]
        verdict = "met" if p50 < target else f"missed by {p50 / target:.1f}x"
        print(
            f"| {name} | {owners} | {size} | {p50 / 1000:,.1f} µs | {p99 / 1000:,.1f} µs | {count:,} "
            f"| < {target / 1000:.0f} µs: {verdict} |"
        )


if __name__ == "__main__":
    main()
