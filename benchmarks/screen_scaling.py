"""Screening at registry scale (issue 6): `tos-policy screen` on synthetic registries of
10k, 100k and 1M entities, beside the plain-Python floor and the naive whole-graph Rego.

    python benchmarks/screen_scaling.py [--sizes 10000,100000,1000000] [--naive-sizes 1000,10000]

Every figure comes from this run on this machine. `screen` runs as a separate process
(`tos-policy screen FILE --out ...`), timed wall-clock by this script, with its own
summary (peak RSS from getrusage). The floor and the naive baseline run in this process
on facts loaded by the same streaming loader; their load time is reported apart."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from regopy import Input, Interpreter

from tos_policy.facts.streaming import load_streaming
from tos_policy.ownership.steps import _decimals
from tos_policy.policy.ruleset import load_rules

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from python_floor import decide_all

AS_OF = "2025-10-01"
HERE = Path(__file__).resolve().parent


def synth(size: int, folder: Path) -> Path:
    target = folder / f"registry-{size}.jsonl"
    subprocess.run(["tos-policy", "synth", "--entities", str(size), "--seed", "1", "-o", str(target)], check=True)
    return target


def run_screen(path: Path, folder: Path) -> dict[str, Any]:
    out = folder / f"{path.stem}.decisions.jsonl"
    started = time.perf_counter()
    done = subprocess.run(
        ["tos-policy", "screen", str(path), "--as-of", AS_OF, "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    summary = json.loads(done.stderr.strip().splitlines()[-1])
    counts = Counter(orjson.loads(line)["decision"] for line in out.open("rb"))
    return {"wall": wall, "summary": summary, "counts": dict(counts)}


def run_floor(path: Path) -> dict[str, Any]:
    started = time.perf_counter()
    facts = load_streaming([path])
    loaded = time.perf_counter()
    decisions = decide_all(facts, facts.active_links(date.fromisoformat(AS_OF)))
    finished = time.perf_counter()
    return {"load": loaded - started, "decide": finished - loaded, "counts": dict(Counter(decisions.values()))}


def run_naive(path: Path, limit: float) -> dict[str, Any]:
    """Lower and upper readings, one whole-graph query per round; gives up past `limit` seconds."""
    facts = load_streaming([path])
    links = facts.active_links(date.fromisoformat(AS_OF))
    rules = load_rules()
    rego = Interpreter()
    for name, source in sorted(rules.modules.items()):
        rego.add_module(name, source)
    rego.add_module("naive.rego", (HERE / "naive_whole_graph.rego").read_text())
    rego.add_data_json(orjson.dumps(rules.data).decode())
    bundle = rego.build(None, ["naive/decisions"])
    digits = max((max(_decimals(link.share.min), _decimals(link.share.max)) for link in links), default=0)
    scale = 10**digits
    entities = [
        {"id": e.id, "type": e.type, "headquarters": e.headquarters, "jurisdiction": e.jurisdiction}
        for e in facts.entities.values()
    ]
    link_records = [
        {
            "index": index,
            "owner": link.owner,
            "asset": link.asset,
            "kind": link.kind,
            "owner_type": facts.entities[link.owner].type,
            "min": int(link.share.min * scale),
            "min_exclusive": link.share.min_exclusive,
            "max": int(link.share.max * scale),
            "max_exclusive": link.share.max_exclusive,
            "group": link.acting_jointly or link.owner,
        }
        for index, link in enumerate(links)
    ]
    started = time.perf_counter()
    results: dict[str, set[str]] = {}
    rounds = 0
    for reading in ("lower", "upper"):
        restricted: dict[str, bool] = {}
        while True:
            if time.perf_counter() - started > limit:
                return {"seconds": None, "rounds": rounds}
            document = {"profile": "terms_of_service", "reading": reading, "scale": scale}
            document.update(entities=entities, links=link_records, restricted=restricted)
            rego.set_input(Input(document))
            output = orjson.loads(str(rego.query_bundle_entrypoint(bundle, "naive/decisions")))
            rounds += 1
            now = {e["id"]: True for e, r in zip(entities, output["expressions"][0], strict=True) if r["restricted"]}
            if now == restricted:
                break
            restricted = now
        results[reading] = set(restricted)
    seconds = time.perf_counter() - started
    counts = Counter(
        "deny" if e["id"] in results["lower"] else "review" if e["id"] in results["upper"] else "allow"
        for e in entities
    )
    return {"seconds": seconds, "rounds": rounds, "counts": dict(counts)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--naive-sizes", default="1000,10000")
    parser.add_argument("--naive-limit", type=float, default=300.0, help="seconds before the naive run gives up")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    naive_sizes = [int(size) for size in args.naive_sizes.split(",") if size]
    rows = []
    with tempfile.TemporaryDirectory(prefix="tos-bench-") as tmp:
        folder = Path(tmp)
        for size in sorted(set(sizes) | set(naive_sizes)):
            path = synth(size, folder)
            row: dict[str, Any] = {"entities": size}
            if size in sizes:
                row["screen"] = run_screen(path, folder)
                row["floor"] = run_floor(path)
                if row["screen"]["counts"] != row["floor"]["counts"]:
                    raise SystemExit(
                        f"screen and the floor disagree at {size}: {row['screen']['counts']} {row['floor']['counts']}"
                    )
            if size in naive_sizes:
                row["naive"] = run_naive(path, args.naive_limit)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(
        "| entities | links | screen wall | screen (decide only) | peak RSS | rule calls | floor: load + decide | naive whole-graph Rego | deny / review / allow |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        screen = row.get("screen")
        floor = row.get("floor")
        naive = row.get("naive")
        naive_text = "-"
        if naive is not None:
            naive_text = (
                f"{naive['seconds']:.1f} s ({naive['rounds']} rounds)"
                if naive["seconds"] is not None
                else (f"gave up after {args.naive_limit:.0f} s ({naive['rounds']} rounds)")
            )
        if screen is None:
            print(f"| {row['entities']:,} | - | - | - | - | - | - | {naive_text} | - |")
            continue
        summary = screen["summary"]
        counts = screen["counts"]
        print(
            f"| {row['entities']:,} | {summary['links']:,} | {screen['wall']:.1f} s | {summary['seconds']:.1f} s "
            f"| {summary['peak_rss_mib']:,.0f} MiB | {summary['rule_calls']:,} "
            f"| {floor['load']:.1f} + {floor['decide']:.1f} s | {naive_text} "
            f"| {counts.get('deny', 0):,} / {counts.get('review', 0):,} / {counts.get('allow', 0):,} |"
        )
    screened = [row for row in rows if "screen" in row]
    for small, large in itertools.pairwise(screened):
        ratio = large["screen"]["wall"] / small["screen"]["wall"]
        print(f"\n{large['entities']:,} / {small['entities']:,} entities: {ratio:.1f}x the wall time")


if __name__ == "__main__":
    main()
