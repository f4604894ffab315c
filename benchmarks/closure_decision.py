"""One decision on a large registry after loading: the cost of `Policy.decide` for one
organisation once the rules are loaded and the registry prepared, against the registry's size.

    python benchmarks/closure_decision.py                          # 10k, 100k, 1M entities
    python benchmarks/closure_decision.py --sizes 10000 --decisions 200

For each size: a registry made as `tos-policy synth --entities N --seed 1` does, loaded by
the streaming loader; the rules loaded and compiled once (`Policy.load`, engine `--engine`);
the registry prepared once (`policy.prepare`, its owners index built); then `--decisions`
organisations drawn at random (seed 1) are decided one at a time with `policy.decide`, each
timed with time.perf_counter. A decision evaluates only the part of its owners' closure
that no earlier decision on the prepared registry evaluated (the outcomes are kept), so
the first decision pays for the closure's shared core and later ones little. Reported: the
first decision apart, then p50 / p99 / max of the others, and per decision the entities
evaluated (p50 / max) and the rule calls in all. Prints a Markdown table.
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
from tos_policy.engines import make_engine
from tos_policy.facts.streaming import load_streaming
from tos_policy.facts.synth import SynthOptions, generate
from tos_policy.policy.ruleset import load_rules

AS_OF = date(2025, 10, 1)


def write_registry(entities: int, seed: int, directory: Path) -> Path:
    path = directory / f"registry-{entities}.jsonl"
    with path.open("wb") as target:
        for record in generate(SynthOptions(entities=entities, seed=seed)):
            target.write(orjson.dumps(record) + b"\n")
    return path


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(size: int, decisions: int, seed: int, policy: Policy, directory: Path) -> str:
    path = write_registry(size, seed, directory)
    started = time.perf_counter()
    facts = load_streaming([path])
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    registry = policy.prepare(facts, as_of=AS_OF)
    registry.incoming()  # the owners index is part of preparing, built once
    registry.position(next(iter(facts.entities)))  # and the input positions
    _ = registry.facts_digest  # and the facts digest every record names (computed once)
    prepared = time.perf_counter() - started
    chosen = random.Random(seed).sample(sorted(facts.entities), min(decisions, len(facts.entities)))
    times, evaluated, calls = [], [], 0
    for entity_id in chosen:
        started = time.perf_counter()
        report = policy.report(registry, [entity_id])
        times.append(time.perf_counter() - started)
        evaluated.append(report.stats["entities_evaluated"])
        calls += report.stats["rule_calls"]
    first, rest = times[0] * 1000, [value * 1000 for value in times[1:]] or [times[0] * 1000]
    return (
        f"| {size:,} | {len(facts.links):,} | {loaded:.1f} s | {prepared:.2f} s | {first:,.1f} ms "
        f"({evaluated[0]:,} entities) | {statistics.median(rest):.2f} ms | {_quantile(rest, 0.99):.2f} ms "
        f"| {max(rest):.2f} ms | {statistics.median(evaluated[1:] or evaluated):.0f} / {max(evaluated[1:] or evaluated):,} "
        f"| {calls:,} | {len(registry.settled):,} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", default="auto", choices=("auto", "wasm", "embedded"))
    args = parser.parse_args()
    print(
        "| entities | links | load | prepare | first decision (evaluated) | later decisions p50 | p99 | max "
        "| evaluated per later decision p50 / max | rule calls in all | outcomes kept |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rules = load_rules()
    with (
        Policy(rules, make_engine(rules, args.engine)) as policy,
        tempfile.TemporaryDirectory(prefix="closure-bench-") as directory,
    ):
        for size in (int(item) for item in args.sizes.split(",")):
            print(run(size, args.decisions, args.seed, policy, Path(directory)), flush=True)


if __name__ == "__main__":
    main()
