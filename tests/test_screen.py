"""`screen` decides exactly as `evaluate` does, in any partitioning, from JSON or
JSON Lines, writes its output atomically, and keeps memory bounded."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from tos_policy import evaluate, facts_from_document
from tos_policy.cli.main import main
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.facts.streaming import load_streaming
from tos_policy.ownership.fixpoint import StepCache
from tos_policy.ownership.pipeline import prepare
from tos_policy.ownership.screening import screen
from tos_policy.ownership.steps import build_step_input
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.records import decision_record

from .conftest import AS_OF
from .strategies import ownership_graphs


def _evaluate_records(document: dict[str, Any], rules: RuleSet, engine: EmbeddedEngine) -> dict[str, Any]:
    report = evaluate(facts_from_document(document), rules, engine, as_of=AS_OF)
    # screen's records are evaluate's without the facts' sources (kept compact)
    return {item.entity.id: decision_record(report, item, sources=False) for item in report.decisions}


def _screen_records(facts_path: Path, rules: RuleSet, out: Path, workers: int = 1) -> dict[str, Any]:
    facts = load_streaming([facts_path])
    screen(facts, rules, EmbeddedEngine, as_of=AS_OF, out=out, workers=workers)
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    return {record["entity"]: record for record in records}


def _as_jsonl(document: dict[str, Any], path: Path) -> Path:
    lines = [orjson.dumps(entity) for entity in document["entities"]]
    lines += [orjson.dumps(link) for link in document.get("ownership", [])]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=ownership_graphs(max_entities=15))
def test_screen_decides_exactly_as_evaluate(
    graph: dict[str, Any], rules: RuleSet, engine: EmbeddedEngine, tmp_path_factory: Any
) -> None:
    folder = tmp_path_factory.mktemp("screen")
    expected = _evaluate_records(graph, rules, engine)
    from_jsonl = _screen_records(_as_jsonl(graph, folder / "facts.jsonl"), rules, folder / "a.jsonl")
    (folder / "facts.json").write_text(json.dumps(graph))
    from_json = _screen_records(folder / "facts.json", rules, folder / "b.jsonl", workers=2)
    assert from_jsonl == expected
    assert from_json == expected


def test_screen_cli_writes_json_lines_and_a_summary(tmp_path: Path) -> None:
    registry = tmp_path / "registry.jsonl"
    out = tmp_path / "decisions.jsonl"
    runner = CliRunner()
    assert runner.invoke(main, ["synth", "--entities", "3000", "--seed", "7", "-o", str(registry)]).exit_code == 0
    result = runner.invoke(
        main, ["screen", str(registry), "--as-of", "2025-10-01", "--out", str(out), "--workers", "2"]
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert len(records) == summary["entities"] == 3000
    assert sum(summary["decisions"].values()) + sum(summary["not_screened"].values()) == 3000
    assert {record["decision"] for record in records} == {"allow", "deny", "review"}
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no temporary leftovers


def test_synth_is_reproducible(tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("a.jsonl", "b.jsonl"):
        assert (
            runner.invoke(main, ["synth", "--entities", "2000", "--seed", "3", "-o", str(tmp_path / name)]).exit_code
            == 0
        )
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_bad_line_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    registry = tmp_path / "registry.jsonl"
    registry.write_text(
        '{"id": "a", "type": "company", "headquarters": "SG"}\n'
        '{"id": "b", "type": "company", "headquarters": "CN"}\n'
        '{"owner": "b", "asset": "a", "percentage": "fifty"}\n'
    )
    out = tmp_path / "decisions.jsonl"
    result = CliRunner().invoke(main, ["screen", str(registry), "--out", str(out)])
    assert result.exit_code == 2
    assert "line 3" in result.stderr and "fifty" in result.stderr and str(registry) in result.stderr
    assert not out.exists()


def test_json_numbers_are_read_as_the_decimals_written(tmp_path: Path, rules: RuleSet) -> None:
    # 16.67 + 16.67 + 16.66 is exactly 50 as decimals, and 49.999999999999 stays below it.
    registry = tmp_path / "registry.jsonl"
    lines = [
        '{"id": "t1", "type": "company", "headquarters": "SG", "jurisdiction": "SG", "disclosure": "full"}',
        '{"id": "t2", "type": "company", "headquarters": "SG", "jurisdiction": "SG", "disclosure": "full"}',
    ]
    for index, share in enumerate((16.67, 16.67, 16.66)):
        lines.append(f'{{"id": "o{index}", "type": "company", "headquarters": "CN"}}')
        lines.append(f'{{"owner": "o{index}", "asset": "t1", "percentage": {share}}}')
    lines.append('{"owner": "o0", "asset": "t2", "percentage": 49.999999999999}')
    registry.write_text("\n".join(lines) + "\n")
    records = _screen_records(registry, rules, tmp_path / "out.jsonl")
    assert records["t1"]["decision"] == "deny"
    assert records["t2"]["decision"] == "allow"


def test_a_literal_too_long_to_be_exact_is_refused_not_rounded(tmp_path: Path) -> None:
    registry = tmp_path / "registry.jsonl"
    registry.write_text(
        '{"id": "a", "type": "company", "headquarters": "SG"}\n'
        '{"id": "b", "type": "company", "headquarters": "CN"}\n'
        '{"owner": "b", "asset": "a", "percentage": 49.99999999999999999}\n'
    )
    result = CliRunner().invoke(main, ["screen", str(registry), "--out", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2
    assert "49.99999999999999999" in result.stderr and "line 3" in result.stderr


def test_screen_memory_stays_bounded_on_a_large_registry(tmp_path: Path) -> None:
    """200,000 entities in a separate process: peak memory well under the 4 GiB budget
    for 1,000,000 entities, and the output holds one line per entity."""
    registry = tmp_path / "registry.jsonl"
    out = tmp_path / "decisions.jsonl"
    subprocess.run(["tos-policy", "synth", "--entities", "200000", "--seed", "11", "-o", str(registry)], check=True)
    done = subprocess.run(
        ["tos-policy", "screen", str(registry), "--as-of", "2025-10-01", "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    summary = json.loads(done.stderr.strip().splitlines()[-1])
    assert summary["entities"] == 200_000
    assert summary["peak_rss_mib"] < 1024, summary
    with out.open("rb") as handle:
        assert sum(1 for _ in handle) == 200_000


def test_as_of_applies_to_screen(tmp_path: Path, rules: RuleSet) -> None:
    registry = tmp_path / "registry.jsonl"
    registry.write_text(
        '{"id": "a", "type": "company", "headquarters": "DE", "jurisdiction": "DE", "disclosure": "full"}\n'
        '{"id": "b", "type": "company", "headquarters": "RU", "jurisdiction": "RU"}\n'
        '{"owner": "b", "asset": "a", "percentage": "100", "end_date": "2022-06-01"}\n'
    )
    facts = load_streaming([registry])
    for day, expected in ((date(2022, 5, 31), "deny"), (date(2022, 6, 1), "allow")):
        out = tmp_path / f"{day}.jsonl"
        screen(facts, rules, EmbeddedEngine, as_of=day, out=out)
        records = {r["entity"]: r for r in map(orjson.loads, out.read_bytes().splitlines())}
        assert records["a"]["decision"] == expected


def test_the_same_input_gives_the_same_bytes_whatever_the_number_of_workers(tmp_path: Path) -> None:
    registry = tmp_path / "registry.jsonl"
    runner = CliRunner()
    assert runner.invoke(main, ["synth", "--entities", "4000", "--seed", "5", "-o", str(registry)]).exit_code == 0
    outputs = []
    for workers in ("1", "2", "3"):
        out = tmp_path / f"decisions-{workers}.jsonl"
        result = runner.invoke(
            main, ["screen", str(registry), "--as-of", "2025-10-01", "--out", str(out), "--workers", workers]
        )
        assert result.exit_code == 0, result.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def _screen_summary(registry: Path, rules: RuleSet, out: Path) -> Any:
    from tos_policy.engines.compiled import module_for
    from tos_policy.engines.wasm import WasmEngine

    module = module_for(rules, build=False)
    assert module is not None
    return screen(load_streaming([registry]), rules, lambda loaded: WasmEngine(loaded, module), as_of=AS_OF, out=out)


def test_a_varied_registry_is_reproducible_valid_and_defeats_the_step_cache(tmp_path: Path, rules: RuleSet) -> None:
    """--varied: same seed, same bytes; it loads; most step inputs are distinct, many times
    more than in the default registry; and it holds every kind of fact it promises."""
    runner = CliRunner()
    paths = {}
    for name, extra in (("default", []), ("varied", ["--varied"]), ("again", ["--varied"])):
        paths[name] = tmp_path / f"{name}.jsonl"
        done = runner.invoke(main, ["synth", "--entities", "3000", "--seed", "5", *extra, "-o", str(paths[name])])
        assert done.exit_code == 0, done.stderr
    assert paths["varied"].read_bytes() == paths["again"].read_bytes()
    assert paths["varied"].read_bytes() != paths["default"].read_bytes()
    default = _screen_summary(paths["default"], rules, tmp_path / "d.jsonl")
    varied = _screen_summary(paths["varied"], rules, tmp_path / "v.jsonl")
    # Distinct situations: a few hundred in the default registry, several times more when varied.
    assert varied.rule_calls > 5 * default.rule_calls
    assert varied.rule_calls > 10 * varied.cache_hits
    records = [orjson.loads(line) for line in paths["varied"].read_bytes().splitlines()]
    links = [record for record in records if "owner" in record]
    countries = {record.get("headquarters") for record in records if "id" in record}
    assert len(countries) > 150
    assert {record.get("kind") for record in links} >= {None, "branch", "consolidation", "significant_influence"}
    assert any("percentage_min" in record and record.get("max_exclusive") for record in links)
    assert len({record.get("percentage") for record in links}) > len(links) / 3


def _synth_records(tmp_path: Path, name: str, *extra: str) -> list[dict[str, Any]]:
    path = tmp_path / f"{name}.jsonl"
    done = CliRunner().invoke(main, ["synth", "--entities", "2000", "--seed", "3", *extra, "-o", str(path)])
    assert done.exit_code == 0, done.stderr
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_the_default_registry_states_disclosure_as_a_register_would(tmp_path: Path, rules: RuleSet) -> None:
    """Most companies fully disclosed, their holders (when any is known) adding up to 100%; some partially,
    a few not at all. --no-disclosure: the same entities and links, no statement, nothing completed."""
    stated = _synth_records(tmp_path, "stated")
    bare = _synth_records(tmp_path, "bare", "--no-disclosure")
    companies = [record for record in stated if record.get("type") == "company"]
    statuses = [record.get("disclosure", "none") for record in companies]
    assert statuses.count("full") > 0.8 * len(companies)
    assert 0 < statuses.count("partial") < 0.15 * len(companies)
    assert 0 < statuses.count("none") < 0.15 * len(companies)
    assert not any("disclosure" in record for record in bare)
    stripped = [{k: v for k, v in record.items() if k != "disclosure"} for record in stated]
    completing = stripped[len(bare) :]
    assert stripped[: len(bare)] == bare  # the same registry, completing links after it
    persons = {record["id"] for record in bare if record.get("type") == "person"}
    full = {record["id"] for record in companies if record.get("disclosure") == "full"}
    assert completing and all(link["owner"] in persons and link["asset"] in full for link in completing)
    prepared = prepare(load_streaming([tmp_path / "stated.jsonl"]), rules, as_of=AS_OF)
    totals: dict[str, Decimal] = {}
    for link in prepared.links:
        if link.kind == "shareholding":
            totals[link.asset] = totals.get(link.asset, Decimal(0)) + link.share.min
    banded = {link.asset for link in prepared.links if link.share.min_exclusive}
    held = (full - banded) & totals.keys()  # a group's head may have no holder in the registry
    assert held and all(totals[company] == 100 for company in held)


def test_the_step_cache_keeps_at_most_its_bound_and_asks_again_for_what_it_dropped(
    rules: RuleSet, engine: EmbeddedEngine
) -> None:
    facts = facts_from_document(
        {
            "entities": [
                {"id": f"c{n}", "type": "company", "headquarters": country, "jurisdiction": country}
                for n, country in enumerate(("DE", "FR", "GB"))
            ]
        }
    )
    step = [
        build_step_input(entity, [], facts.entities, "lower", "terms_of_service").payload
        for entity in facts.entities.values()
    ]
    unbounded, bounded = StepCache(), StepCache(max_entries=2)
    for cache in (unbounded, bounded):
        first = cache.decide(engine, step, batch_size=256)  # three distinct inputs in one call, over the bound
        assert [answer["restricted"] for answer in first] == [False, False, False]
        assert cache.decide(engine, step[1:], batch_size=256) == first[1:]
    assert (unbounded.calls, unbounded.hits, len(unbounded)) == (3, 2, 3)
    assert (bounded.calls, bounded.hits, len(bounded), bounded.evicted) == (3, 2, 2, 1)
    assert bounded.decide(engine, step[:1], batch_size=256) == first[:1]  # dropped: asked again, same answer
    assert (bounded.calls, bounded.hits, len(bounded)) == (4, 2, 2)
    assert bounded.decide(engine, step[2:], batch_size=256) == first[2:]  # most recently used: kept
    assert (bounded.calls, bounded.hits) == (4, 3)
