"""The Python API (tos_policy.Policy, tos_policy.evaluate): the same decisions as the
command line, typed records, version fields, thread safety, and one decision from its
owners' closure only."""

from __future__ import annotations

import dataclasses
import json
import threading
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, get_args

import pytest
from click.testing import CliRunner

import tos_policy
from tos_policy import Policy, evaluate, facts_from_document, load_facts
from tos_policy.cli.main import main
from tos_policy.errors import InputError
from tos_policy.shapes import Verdict
from tos_policy.versions import code_digest, decision_code_files

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
AS_OF = date(2025, 10, 1)


@pytest.fixture(scope="module")
def policy() -> Any:
    with Policy.load() as loaded:
        yield loaded


def _cli_decisions(file: Path, *entities: str) -> list[dict[str, Any]]:
    args = ["evaluate", str(file), "--as-of", AS_OF.isoformat(), *(arg for e in entities for arg in ("--entity", e))]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    decisions: list[dict[str, Any]] = json.loads(result.stdout)["decisions"]
    return decisions


@pytest.mark.parametrize("example", sorted(path.name for path in EXAMPLES.glob("*.json")))
def test_policy_decides_every_example_as_the_command_line_does(policy: Policy, example: str) -> None:
    facts = load_facts([EXAMPLES / example])
    registry = policy.prepare(facts, as_of=AS_OF)
    batch = policy.decide_batch(registry)
    assert batch == _cli_decisions(EXAMPLES / example)
    for record in batch:
        assert record["decision"] in get_args(Verdict)
        assert policy.decide(registry, record["entity"]) == record
        assert policy.decide(facts, record["entity"], as_of=AS_OF) == record


def test_evaluate_without_an_engine_uses_the_default_engine(policy: Policy) -> None:
    facts = load_facts([EXAMPLES / "chain.json"])
    report = evaluate(facts, policy.rules, as_of=AS_OF)
    assert report.engine == "regopy"
    assert {item.entity.id: item.decision for item in report.decisions} == {
        record["entity"]: record["decision"] for record in policy.decide_batch(facts, as_of=AS_OF)
    }


def test_one_decision_evaluates_only_the_owners_closure(policy: Policy) -> None:
    """Many unrelated entities next to a short chain: deciding the chain's end evaluates the chain alone."""
    entities = [{"id": "root", "type": "company", "headquarters": "CN"}, {"id": "mid", "type": "company"}]
    entities += [{"id": "end", "type": "company"}, {"id": "below", "type": "company"}]
    entities += [{"id": f"other{index}", "type": "company", "headquarters": "CN"} for index in range(200)]
    links = [
        {"owner": "root", "asset": "mid", "percentage": "60"},
        {"owner": "mid", "asset": "end", "percentage": "60"},
        {"owner": "end", "asset": "below", "percentage": "60"},
        {"owner": "other0", "asset": "other1", "percentage": "60"},
    ]
    registry = policy.prepare(facts_from_document({"entities": entities, "ownership": links}), as_of=AS_OF)
    report = policy.report(registry, ["end"])
    assert report.stats["entities_evaluated"] == 3
    assert report.graph is not None and set(report.graph.entities) == {"root", "mid", "end"}
    whole = {record["entity"]: record for record in policy.decide_batch(registry)}
    assert policy.decide(registry, "end") == whole["end"]
    assert policy.decide(registry, "end")["paths"] == [["root", "mid", "end"]]


def test_a_registry_prepared_with_other_rules_is_refused(policy: Policy) -> None:
    registry = policy.prepare(load_facts([EXAMPLES / "chain.json"]), as_of=AS_OF)
    other = Policy(dataclasses.replace(policy.rules, digest="sha256:other"), policy._engine)
    with pytest.raises(InputError, match="prepared with other rules"):
        other.decide(registry, next(iter(registry.facts.entities)))


def test_concurrent_decisions_equal_serial_ones(policy: Policy) -> None:
    facts = load_facts([EXAMPLES / "unknown-owner.json"])
    registry = policy.prepare(facts, as_of=AS_OF)
    serial = {entity: policy.decide(registry, entity) for entity in facts.entities}
    results: list[tuple[str, Any]] = []
    errors: list[BaseException] = []

    def work(entity: str) -> None:
        try:
            for _ in range(5):
                results.append((entity, policy.decide(registry, entity)))
        except BaseException as exc:  # a race must fail the test, not vanish in a thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(entity,)) for entity in list(facts.entities) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 5 * len(threads)
    assert all(record == serial[entity] for entity, record in results)


def test_records_name_the_evaluator_version_and_code_digest(policy: Policy) -> None:
    record = policy.decide(load_facts([EXAMPLES / "chain.json"]), "nl-opco", as_of=AS_OF)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert record["evaluator_version"] == project["version"] == tos_policy.__version__
    assert record["code_digest"] == code_digest()
    assert record["policy_version"] == policy.version


def test_the_code_digest_covers_the_decision_code_and_moves_when_it_changes(tmp_path: Path) -> None:
    package = ROOT / "evaluator" / "tos_policy"
    names = {path.relative_to(package).as_posix() for path in decision_code_files(package)}
    assert {"ownership/fixpoint.py", "ownership/steps.py", "facts/load.py", "engines/embedded.py"} <= names
    assert not any(name.startswith(("reports/", "cli/", "release/")) for name in names)
    copy = tmp_path / "tos_policy"
    for name in names:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((package / name).read_bytes())
    before = code_digest.__wrapped__(copy)
    (copy / "ownership" / "steps.py").write_text((package / "ownership" / "steps.py").read_text() + "\n# changed\n")
    assert code_digest.__wrapped__(copy) != before


def test_version_shows_the_tool_and_the_policy(policy: Policy) -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert f"tos-policy {tos_policy.__version__}" in result.stdout
    assert f"policy {policy.rules.policy_set['name']} {policy.version}" in result.stdout
    assert policy.rules.digest in result.stdout


def test_decide_access_gives_the_record_decide_gives(policy: Policy) -> None:
    request_file = EXAMPLES / "access" / "subsidiary-request.json"
    facts_file = EXAMPLES / "access" / "facts.json"
    args = ["decide", str(request_file), "--facts", str(facts_file), "--as-of", AS_OF.isoformat()]
    result = CliRunner().invoke(main, [*args, "--engine", "embedded"])  # the API's default engine
    assert result.exit_code in (0, 1), result.stderr
    record = policy.decide_access(json.loads(request_file.read_text()), load_facts([facts_file]), as_of=AS_OF)
    assert record == json.loads(result.stdout)


def test_bad_calls_raise_input_errors(policy: Policy) -> None:
    facts = load_facts([EXAMPLES / "chain.json"])
    with pytest.raises(InputError):
        policy.decide(facts, "nl-opco")  # no as_of for facts that are not prepared
    with pytest.raises(InputError):
        policy.decide(facts, "nobody", as_of=AS_OF)
    registry = policy.prepare(facts, as_of=AS_OF)
    with pytest.raises(InputError):
        policy.decide(registry, "nl-opco", as_of=date(2020, 1, 1))
