"""Sign-ups decided by an OPA fleet: load test of `access/result` on a real `opa run --server`
fed a bundle with screened organisation decisions (`tos-policy bundle --decisions`).

    python benchmarks/signup_load.py                        # 60 s at 500 requests/s (docs/benchmarks.md)
    python benchmarks/signup_load.py --seconds 5 --rate 100 # a quick look

A synthetic registry is screened, its decisions packed into the bundle, and the server
started on 127.0.0.1 (stopped by pid at the end). Requests are sent open-loop: request i
leaves at start + i/rate whatever the answers before it, over 64 keep-alive
connections, so a slow answer cannot hide the ones queued behind it; latency is measured
from the moment a request was due. Each request is a sign-up: an organisation by id or
identifier alias (some not in the bundle) or an individual, and the request's signals.

Every answer is checked: HTTP 200, a defined result, and the same result as the embedded
engine gives for the same input and data; an organisation not in the bundle must never be
allowed. Errors count any failure of these. Prints one Markdown table row and a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

COUNTRIES = ["DE", "FR", "US", "GB", "SG", "CN", "RU", "IR", None]
POLICY = "terms_of_service"


@dataclass
class LoadResult:
    rate: float
    seconds: float
    sent: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, from when each request was due
    answers: list[tuple[int, Any]] = field(default_factory=list)  # (request index, result or None)
    errors: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def summary(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "seconds": self.seconds,
            "requests": self.sent,
            "answered": len(self.answers),
            "errors": len(self.errors),
            "p50_ms": round(self.percentile(0.50) * 1000, 3),
            "p99_ms": round(self.percentile(0.99) * 1000, 3),
            "max_ms": round(max(self.latencies, default=float("nan")) * 1000, 3),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 3) if self.latencies else None,
        }


def sign_up_inputs(organisations: dict[str, Any], count: int, seed: int) -> list[dict[str, Any]]:
    """Distinct sign-up inputs: organisations by id or alias, unknown organisations, individuals."""
    chooser = random.Random(seed)
    names = sorted(organisations["aliases"])
    inputs = []
    for index in range(count):
        roll = chooser.random()
        if roll < 0.8 and names:
            organisation: dict[str, Any] | None = {"id": chooser.choice(names)}
        elif roll < 0.9:
            organisation = {"id": f"not-screened-{index}"}
        else:
            organisation = None
        signals = {
            "billing_country": chooser.choice(COUNTRIES),
            "phone_country": chooser.choice(COUNTRIES),
            "id_document_country": chooser.choice(COUNTRIES),
            "ip_country": chooser.choice(COUNTRIES),
            "ip_is_vpn": chooser.random() < 0.1,
            "ip_is_proxy": chooser.random() < 0.05,
            "ip_is_hosting": chooser.random() < 0.05,
            "reseller": None,
        }
        # mostly clean signals, so that the organisation's decision is what decides
        if chooser.random() < 0.7:
            for key in ("billing_country", "phone_country", "id_document_country", "ip_country"):
                signals[key] = "DE"
        inputs.append({"policy": POLICY, "organisation": organisation, "signals": signals})
    return inputs


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a kept-alive connection: the status and the body (Content-Length or chunked)."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:] if ":" in line}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += await reader.readexactly(size + 2)
        body = body[:-2]
    await reader.readuntil(b"\r\n")
    return status, body


async def _fire(url: str, inputs: list[dict[str, Any]], rate: float, seconds: float, result: LoadResult) -> None:
    """Open loop: a scheduler queues request i at start + i/rate; 64 connections take them as they come.
    A small HTTP/1.1 client on asyncio streams keeps the generator's own CPU use low."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = []
    for item in inputs:
        body = json.dumps({"input": item}).encode()
        requests.append(
            f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    total = int(rate * seconds)
    result.sent = total
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (job := await queue.get()) is not None:
                index, due = job
                which = index % len(requests)
                try:
                    status, text = await asyncio.wait_for(_exchange(reader, writer, requests[which]), timeout=10)
                except (
                    OSError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    TimeoutError,
                    ValueError,
                ) as exc:
                    result.errors.append(f"request {index}: {type(exc).__name__}: {exc}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)  # a fresh connection after a failure
                    continue
                result.latencies.append(loop.time() - due)
                if status != 200:
                    result.errors.append(f"request {index}: HTTP {status}")
                    continue
                answer = json.loads(text).get("result")
                if answer is None:
                    result.errors.append(f"request {index}: undefined result")
                    continue
                result.answers.append((which, answer))
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(64)]
    start = loop.time() + 0.1
    for index in range(total):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((index, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)


def run_load(url: str, inputs: list[dict[str, Any]], rate: float, seconds: float) -> LoadResult:
    result = LoadResult(rate, seconds)
    asyncio.run(_fire(url, inputs, rate, seconds, result))
    return result


def check_answers(result: LoadResult, inputs: list[dict[str, Any]], expected: Any) -> None:
    """Every answer must equal `expected(input)` (the embedded engine's), and an organisation
    the bundle does not hold must never be allowed."""
    cache: dict[int, Any] = {}
    for which, answer in result.answers:
        if which not in cache:
            cache[which] = expected(inputs[which])
        if answer != cache[which]:
            result.errors.append(f"input {which}: OPA answered {answer}, the embedded engine {cache[which]}")
        organisation = inputs[which]["organisation"]
        if organisation and str(organisation["id"]).startswith("not-screened-") and answer["decision"] == "allow":
            result.errors.append(f"input {which}: an organisation not in the bundle was allowed")


def build_signup_bundle(directory: Path, entities: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """Synthesise a registry, screen it, pack its decisions into a bundle; the bundle and its organisations data."""
    from tos_policy.operations.org_bundle import aliases_of, organisations_data, read_decisions
    from tos_policy.policy.ruleset import load_rules

    registry, decisions, bundle = (
        directory / "registry.jsonl",
        directory / "decisions.jsonl",
        directory / "bundle.tar.gz",
    )
    tool = [sys.executable, "-m", "tos_policy"]
    subprocess.run([*tool, "synth", "--entities", str(entities), "--seed", str(seed), "-o", str(registry)], check=True)
    subprocess.run(
        [*tool, "screen", str(registry), "--as-of", "2025-10-01", "--out", str(decisions)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*tool, "bundle", "--decisions", str(decisions), "--facts", str(registry), "-o", str(bundle)],
        check=True,
        capture_output=True,
    )
    from tos_policy.facts.streaming import iter_records, load_streaming
    from tos_policy.ownership.pipeline import facts_digest

    entity_records = [record for kind, _, record in iter_records(registry) if kind == "entity"]
    data = organisations_data(
        read_decisions(decisions), aliases_of(entity_records), load_rules(), facts_digest(load_streaming([registry]))
    )
    return bundle, data


def embedded_answers(organisations: dict[str, Any]) -> Any:
    """The expected answer for a sign-up: the organisation looked up here, in Python, by id or alias in
    the bundle's table, and its decision given to the embedded engine (rules data only); one not found
    is given by id alone, as an unscreened organisation."""
    from tos_policy.engines.embedded import EmbeddedEngine
    from tos_policy.policy.ruleset import load_rules

    engine = EmbeddedEngine(load_rules())
    cache: dict[str, Any] = {}

    def expected(item: dict[str, Any]) -> Any:
        organisation = item["organisation"]
        key = organisations["aliases"].get(organisation["id"]) if organisation else None
        if key is not None:
            entry = organisations["decisions"][key]
            organisation = {"id": key, "decision": entry["decision"], "reasons": entry["reasons"]}
        request = {**item, "organisation": organisation}
        text = json.dumps(request, sort_keys=True)
        if text not in cache:
            cache[text] = engine.query("access/result", request)
        return cache[text]

    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second (open loop)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--entities", type=int, default=20_000, help="organisations screened into the bundle")
    parser.add_argument("--distinct", type=int, default=5_000, help="distinct sign-up inputs, sent round-robin")
    arguments = parser.parse_args()

    from tos_policy.engines.opa_server import opa_binary, start_server

    with tempfile.TemporaryDirectory(prefix="signup-load-") as name:
        bundle, organisations = build_signup_bundle(Path(name), arguments.entities, seed=1)
        inputs = sign_up_inputs(organisations, arguments.distinct, seed=2)
        with start_server(opa_binary(), bundle=bundle) as server:
            url = f"{server.url}/v1/data/access/result"
            run_load(url, inputs, arguments.rate, arguments.warmup)
            began = time.perf_counter()
            result = run_load(url, inputs, arguments.rate, arguments.seconds)
            wall = time.perf_counter() - began
        check_answers(result, inputs, embedded_answers(organisations))
    summary = {**result.summary(), "wall_seconds": round(wall, 1), "organisations": len(organisations["decisions"])}
    print("| rate (req/s) | seconds | requests | errors | p50 (ms) | p99 (ms) | max (ms) |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {summary['rate']:g} | {summary['seconds']:g} | {summary['requests']} | {summary['errors']} | "
        f"{summary['p50_ms']} | {summary['p99_ms']} | {summary['max_ms']} |"
    )
    print(json.dumps(summary, sort_keys=True))
    for error in result.errors[:10]:
        print(error, file=sys.stderr)
    sys.exit(1 if result.errors else 0)


if __name__ == "__main__":
    main()
