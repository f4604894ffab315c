"""One engine shared by many threads answers every call as a single thread would.

A sign-up service keeps one compiled engine and calls `decide_access` (or `evaluate`)
from many request threads at once. Every answer must equal the single-threaded one:
never another request's decision, never an allow from a race, never a spurious error.
SECURITY.md promise 2."""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

from tos_policy import evaluate, load_facts
from tos_policy.access import decide_access, load_request
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.ownership.screening import screen
from tos_policy.policy.ruleset import RuleSet
from tos_policy.resources import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
AS_OF = date(2025, 10, 1)
THREADS = 8
CALLS = 400


def _report_answer(report: Any) -> list[tuple[str, str, str]]:
    return [(item.entity.id, item.decision, repr(item.reasons)) for item in report.decisions]


def _jobs(engine: EmbeddedEngine, rules: RuleSet) -> list[Callable[[], Any]]:
    access_facts = load_facts([EXAMPLES / "access" / "facts.json"])
    jobs: list[Callable[[], Any]] = []
    for path in sorted((EXAMPLES / "access").glob("*-request.json")):
        request = load_request(path)
        facts = access_facts if request.organisation is not None else None
        jobs.append(functools.partial(lambda r, f: decide_access(r, f, rules, engine, as_of=AS_OF).as_json(), request, facts))
    for path in sorted(EXAMPLES.glob("*.json")):
        facts = load_facts([path])
        jobs.append(functools.partial(lambda f: _report_answer(evaluate(f, rules, engine, as_of=AS_OF)), facts))
    return jobs


def test_one_embedded_engine_shared_by_many_threads(rules: RuleSet) -> None:
    engine = EmbeddedEngine(rules)
    jobs = _jobs(engine, rules)
    expected = [job() for job in jobs]  # one thread
    assert {answer["decision"] for answer in expected if isinstance(answer, dict)} >= {"allow", "deny"}
    order = [random.Random(seed).randrange(len(jobs)) for seed in range(CALLS)]
    start = threading.Barrier(THREADS)

    def run(index: int) -> tuple[int, Any]:
        if index < THREADS:
            start.wait()  # every thread starts at once
        try:
            return index, jobs[order[index]]()
        except Exception as exc:  # a race may raise: that is a wrong answer too
            return index, f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(run, range(CALLS)))
    wrong = [(index, order[index]) for index, answer in answers if answer != expected[order[index]]]
    assert wrong == [], f"{len(wrong)} of {CALLS} answers differ from the single-threaded ones"


def test_screen_from_many_threads(rules: RuleSet, tmp_path: Path) -> None:
    """screen() keeps per-run state for its workers: runs from several threads must not mix."""
    fact_sets = [load_facts([path]) for path in sorted(EXAMPLES.glob("*.json"))]

    def factory(loaded: RuleSet) -> EmbeddedEngine:
        return EmbeddedEngine(loaded)

    def run(index: int) -> bytes:
        out = tmp_path / f"run{index}.jsonl"
        screen(fact_sets[index % len(fact_sets)], rules, factory, as_of=AS_OF, out=out)
        return out.read_bytes()

    expected = [run(index) for index in range(len(fact_sets))]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(run, range(len(fact_sets), 3 * len(fact_sets))))
    assert answers == [expected[index % len(fact_sets)] for index in range(len(fact_sets), 3 * len(fact_sets))]
