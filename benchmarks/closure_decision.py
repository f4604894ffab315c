"""One decision on a large registry after loading: the cost of `Policy.decide` for one
organisation once the registry is loaded and prepared, against the registry's size.

    python benchmarks/closure_decision.py                          # 2k, 20k, 100k entities
    python benchmarks/closure_decision.py --sizes 1000000 --whole-max 0

For each size: a registry made as `tos-policy synth --entities N --seed 1` does, loaded by
the streaming loader; the rules loaded and compiled once (`Policy.load()`); the registry
prepared once (`policy.prepare`); then `--decisions` organisations drawn at random (seed 1)
are decided one at a time, each timed with time.perf_counter. A decision evaluates only its
owners' closure (what can reach it), so its cost follows the closure, not the registry.
For sizes up to --whole-max, the whole-graph evaluation (every entity, what one decision
cost before) is timed once beside it. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import orjson

from tos_policy import Policy
from tos_policy.facts.streaming import load_streaming
from tos_policy.facts.synth import SynthOptions, generate

AS_OF = date(2025, 10, 1)


def write_registry(entities: int, seed: int, directory: Path) -> Path:
    path = directory / f"registry-{entities}.jsonl"
    with path.open("wb") as target:
        for record in generate(SynthOptions(entities=entities, seed=seed)):
            target.write(orjson.dumps(record) + b"\n")
    return path


def run(size: int, decisions: int, seed: int, whole_max: int, policy: Policy, directory: Path) -> str:
    path = write_registry(size, seed, directory)
    started = time.perf_counter()
    facts = load_streaming([path])
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    registry = policy.prepare(facts, as_of=AS_OF)
    registry.incoming()  # the owners index is part of preparing, built once
    prepared = time.perf_counter() - started
    chosen = random.Random(seed).sample(sorted(facts.entities), min(decisions, len(facts.entities)))
    times, closures = [], []
    for entity_id in chosen:
        started = time.perf_counter()
        report = policy.report(registry, [entity_id])
        times.append(time.perf_counter() - started)
        closures.append(report.stats["entities_evaluated"])
    whole = "-"
    if size <= whole_max:
        started = time.perf_counter()
        policy.report(registry)
        whole = f"{time.perf_counter() - started:.2f} s"
    times_ms = sorted(value * 1000 for value in times)
    p90 = times_ms[int(0.9 * (len(times_ms) - 1))]
    return (
        f"| {size:,} | {len(facts.links):,} | {loaded:.1f} s | {prepared:.2f} s | {statistics.median(times_ms):.1f} ms "
        f"| {p90:.1f} ms | {times_ms[-1]:.1f} ms | {statistics.median(closures):.0f} / {max(closures):,} | {whole} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,20000,100000")
    parser.add_argument("--decisions", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--whole-max", type=int, default=20000, help="largest size also evaluated whole")
    args = parser.parse_args()
    print("| entities | links | load | prepare | decision p50 | p90 | max | closure p50 / max | whole graph |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with Policy.load() as policy, tempfile.TemporaryDirectory(prefix="closure-bench-") as directory:
        for size in (int(item) for item in args.sizes.split(",")):
            print(run(size, args.decisions, args.seed, args.whole_max, policy, Path(directory)), flush=True)


if __name__ == "__main__":
    main()
