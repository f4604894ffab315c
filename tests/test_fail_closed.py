"""Fail closed: whatever goes wrong in the engine, the rules or the evaluation, no
entity is allowed, nothing is printed on stdout, and the command exits non-zero.

Faults are injected through the engine interface (a fake engine whose decide
raises, returns undefined or malformed results, contradicts itself, or is too
slow), through broken copies of the rules run by the real embedded engine, and by
making the evaluation itself raise. The OPA server's own faults are tested in
tests/opa. The sandbox (no network, clock, randomness or environment in rules) is
tested at the end, for the embedded engine's check and OPA's capabilities file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tos_policy import EngineError, evaluate, facts_from_document, load_rules
from tos_policy.cli.main import main
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.engines.opa_server import opa_binary
from tos_policy.errors import EvaluationTimeout, NonMonotoneRuleError, RulesError
from tos_policy.limits import Limits
from tos_policy.policy.ruleset import FORBIDDEN_BUILTINS, RuleSet, check_builtin_uses, is_forbidden_builtin

ROOT = Path(__file__).parent.parent
RULES = ROOT / "rules"
CHAIN = ROOT / "examples" / "chain.json"
AS_OF = date(2025, 10, 1)
DOCUMENT = json.loads(CHAIN.read_text())


# --- Fake engines: the embedded interface, each with one fault.


class FakeEngine:
    name = "fake"

    def __init__(self, answer: Callable[[dict[str, Any]], Any]) -> None:
        self.answer = answer
        self.closed = False

    def decide(self, batch: dict[str, Any]) -> Any:
        return self.answer(batch)

    def close(self) -> None:
        self.closed = True


def _raise(exc: BaseException) -> Callable[[dict[str, Any]], Any]:
    def answer(_: dict[str, Any]) -> Any:
        raise exc

    return answer


def _each(result: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda batch: [result for _ in batch["items"]]


UNRESTRICTED = {"restricted": False, "reasons": []}

FAULTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "engine error": _raise(EngineError("fake: the engine failed")),
    "engine crash": _raise(RuntimeError("segfault-ish")),
    "engine timeout": _raise(TimeoutError("timed out")),
    "engine out of memory": _raise(MemoryError()),
    "undefined result": lambda _: None,
    "empty result": lambda _: [],
    "result for fewer items": lambda batch: [UNRESTRICTED for _ in batch["items"][1:]],
    "result for more items": lambda batch: [UNRESTRICTED for _ in [*batch["items"], None]],
    "object instead of list": lambda _: {"restricted": False, "reasons": []},
    "restricted missing": _each({"reasons": []}),
    "restricted null": _each({"restricted": None, "reasons": []}),
    "restricted as a string": _each({"restricted": "false", "reasons": []}),
    "restricted as 0": _each({"restricted": 0, "reasons": []}),
    "reasons missing": _each({"restricted": False}),
    "reasons not a list": _each({"restricted": False, "reasons": "none"}),
    "item not an object": _each("allow"),
}


def _facts() -> Any:
    return facts_from_document(DOCUMENT, file=str(CHAIN))


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_an_engine_fault_raises_engine_error_and_decides_nothing(rules: RuleSet, fault: str) -> None:
    with pytest.raises(EngineError):
        evaluate(_facts(), rules, FakeEngine(FAULTS[fault]), as_of=AS_OF)


def _invoke_with(monkeypatch: pytest.MonkeyPatch, engine: Any, *args: str) -> Result:
    monkeypatch.setattr("tos_policy.cli.main.make_engine", lambda *_: engine)
    return CliRunner().invoke(main, ["evaluate", str(CHAIN), "--as-of", AS_OF.isoformat(), *args])


def _assert_failed_closed(result: Result, exit_code: int, words: str) -> None:
    assert result.exit_code == exit_code, (result.exit_code, result.stdout[:200], result.stderr)
    assert result.stdout == ""  # no decision at all, so no allow
    assert "Traceback" not in result.stderr
    lines = result.stderr.rstrip("\n").split("\n")
    assert len(lines) == 1 and words in lines[0], result.stderr


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_the_command_exits_3_on_an_engine_fault_and_logs_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fault: str
) -> None:
    engine = FakeEngine(FAULTS[fault])
    log = tmp_path / "decisions.jsonl"
    result = _invoke_with(monkeypatch, engine, "--decision-log", str(log), "--fail-on", "deny")
    _assert_failed_closed(result, 3, "fake")
    assert not log.exists()
    assert engine.closed


class SlowEngine(EmbeddedEngine):
    """The real engine, answering each batch only after a pause."""

    def __init__(self, rules: RuleSet, pause: float) -> None:
        super().__init__(rules)
        self.pause = pause
        self.calls = 0

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        self.calls += 1
        time.sleep(self.pause)
        return super().decide(batch)


def test_an_engine_slower_than_the_time_limit_decides_nothing(rules: RuleSet) -> None:
    engine = SlowEngine(rules, 0.2)  # every answer comes after the 0.1 s limit, however loaded the machine
    with pytest.raises(EvaluationTimeout, match="--max-seconds"):
        evaluate(_facts(), rules, engine, as_of=AS_OF, limits=Limits(max_seconds=0.1))
    assert engine.calls == 1  # stopped after the first late answer, not after every batch
    engine.calls = 0
    evaluate(_facts(), rules, engine, as_of=AS_OF)
    assert engine.calls > 1  # without the limit, the same facts take several batches


def test_the_command_exits_3_when_the_time_limit_passes(monkeypatch: pytest.MonkeyPatch, rules: RuleSet) -> None:
    result = _invoke_with(monkeypatch, SlowEngine(rules, 0.2), "--max-seconds", "0.1")
    _assert_failed_closed(result, 3, "time limit of 0.1s")


def test_a_rule_that_unrestricts_an_entity_is_caught_not_looped(rules: RuleSet) -> None:
    # Restricted when nothing restricted holds it, unrestricted once something does: not monotone.
    engine = FakeEngine(lambda batch: [{"restricted": not item["links"], "reasons": []} for item in batch["items"]])
    with pytest.raises(NonMonotoneRuleError):
        evaluate(_facts(), rules, engine, as_of=AS_OF)


def test_a_rule_stricter_on_known_than_on_unknown_facts_is_caught(rules: RuleSet) -> None:
    engine = FakeEngine(
        lambda batch: [{"restricted": batch["reading"] == "lower", "reasons": []}] * len(batch["items"])
    )
    with pytest.raises(EngineError, match="read leniently but not when they are read strictly"):
        evaluate(_facts(), rules, engine, as_of=AS_OF)


@pytest.mark.parametrize("error", [ValueError("bad state"), KeyError("entity"), RecursionError(), MemoryError()])
def test_an_exception_while_deciding_exits_non_zero_with_nothing_printed_or_logged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: BaseException
) -> None:
    def broken(*_: Any) -> Any:
        raise error

    monkeypatch.setattr("tos_policy.ownership.pipeline.decide", broken)
    log = tmp_path / "decisions.jsonl"
    result = CliRunner().invoke(
        main, ["evaluate", str(CHAIN), "--as-of", AS_OF.isoformat(), "--decision-log", str(log)]
    )
    assert result.exit_code in (1, 2), result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and len(result.stderr.rstrip("\n").split("\n")) == 1
    assert not log.exists()


# --- Broken rules, run by the real embedded engine.


def _rules_copy(tmp_path: Path, edit: Callable[[str], str] | None = None) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    if edit is not None:
        module = target / "ownership" / "ownership.rego"
        module.write_text(edit(module.read_text()))
    return target


def _replace(pattern: str, replacement: str) -> Callable[[str], str]:
    def edit(source: str) -> str:
        changed, count = re.subn(pattern, replacement, source, count=1, flags=re.MULTILINE)
        assert count == 1, f"the rules no longer contain {pattern!r}: update this test"
        return changed

    return edit


BROKEN_RULES = {
    "batch undefined": _replace(r"^batch := ", "batch := [] if false\n\n_batch_unused := "),
    "verdict not a boolean": _replace(r'"restricted": count\(reasons\) > 0', '"restricted": "no"'),
    "verdict missing": _replace(r'"restricted": count\(reasons\) > 0, ', ""),
    "runtime error drops items": _replace(
        r"^batch := ", "batch := [decide(item) | some item in input.items; 1 / 0 > 0]\n\n_batch_unused := "
    ),
    "rules do not compile": lambda source: source + "\nthis is not rego {\n",
}
BROKEN_RULES_CASES = sorted(BROKEN_RULES)


# Rules OPA itself refuses: edited rules are read by OPA (their index is out of step) before any engine.
REFUSED_BY_OPA = {"rules do not compile", "batch undefined"}


@pytest.mark.opa  # edited rules are read by OPA (the rules index is out of step)
@pytest.mark.parametrize("engine", ["embedded", "wasm"])
@pytest.mark.parametrize("fault", BROKEN_RULES_CASES)
def test_broken_rules_exit_3_with_nothing_decided(tmp_path: Path, fault: str, engine: str) -> None:
    """Both in-process engines; the Wasm one compiles the broken rules with OPA (or, without
    OPA, has no module for them): exit 3 either way."""
    rules_dir = _rules_copy(tmp_path, BROKEN_RULES[fault])
    result = CliRunner().invoke(
        main, ["evaluate", str(CHAIN), "--as-of", AS_OF.isoformat(), "--rules", str(rules_dir), "--engine", engine]
    )
    words = "the rules do not compile (read by OPA" if fault in REFUSED_BY_OPA else engine.replace("embedded", "regopy")
    _assert_failed_closed(result, 3, words)


@pytest.mark.opa
def test_compile_errors_go_to_stderr_not_stdout(tmp_path: Path) -> None:
    """rego-cpp prints compile errors on file descriptor 1; stdout must still hold nothing.
    The rule is one OPA reads and rego-cpp cannot compile."""
    rules_dir = _rules_copy(tmp_path, lambda source: source + "\n_every if every y in [1] { y == 1 }\n")
    done = subprocess.run(
        [
            "tos-policy",
            "evaluate",
            str(CHAIN),
            "--as-of",
            AS_OF.isoformat(),
            "--rules",
            str(rules_dir),
            "--engine",
            "embedded",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith("tos-policy: error: regopy: the rules do not compile")


@pytest.mark.opa
def test_a_built_in_error_in_the_verdict_is_not_read_as_unrestricted(tmp_path: Path) -> None:
    edit = _replace(r'"restricted": count\(reasons\) > 0', '"restricted": to_number("not a number") > 0')
    result = CliRunner().invoke(
        main, ["evaluate", str(CHAIN), "--as-of", AS_OF.isoformat(), "--rules", str(_rules_copy(tmp_path, edit))]
    )
    assert result.exit_code == 3, result.stdout[:300]
    assert result.stdout == ""


def _edit_profile(rules_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = rules_dir / "ownership" / "profiles" / "terms_of_service" / "data.json"
    profile = json.loads(path.read_text())
    change(profile)
    path.write_text(json.dumps(profile))


def test_policy_data_that_does_not_fit_its_schema_is_refused_before_any_decision(tmp_path: Path) -> None:
    rules_dir = _rules_copy(tmp_path)
    _edit_profile(rules_dir, lambda profile: profile.pop("link_effects"))
    for command in (["validate", "--rules", str(rules_dir)], ["evaluate", str(CHAIN), "--rules", str(rules_dir)]):
        result = CliRunner().invoke(main, command)
        _assert_failed_closed(result, 2, "link_effects")


def test_a_link_kind_the_policy_data_does_not_name_leads_to_review_not_allow(tmp_path: Path) -> None:
    """Facts and policy data out of step: the profile no longer says what a branch is."""
    rules_dir = _rules_copy(tmp_path)
    _edit_profile(rules_dir, lambda profile: profile["link_effects"].pop("branch"))
    facts = {
        "entities": [
            {"id": "head", "type": "company", "headquarters": "CN"},
            {"id": "branch", "type": "company", "headquarters": "DE", "jurisdiction": "DE"},
        ],
        "ownership": [{"owner": "head", "asset": "branch", "kind": "branch"}],
    }
    file = tmp_path / "branch.json"
    file.write_text(json.dumps(facts))
    result = CliRunner().invoke(main, ["evaluate", str(file), "--as-of", "2025-10-01", "--rules", str(rules_dir)])
    assert result.exit_code == 0, result.stderr
    decisions = {item["entity"]: item["decision"] for item in json.loads(result.stdout)["decisions"]}
    assert decisions == {"head": "deny", "branch": "review"}


# --- Sandboxed rules: no network, clock, randomness or environment.

FORBIDDEN_MODULES = {
    "time.now_ns": "x := time.now_ns()",
    "http.send": 'x := http.send({"method": "get", "url": "http://example.com"})',
    "net.lookup_ip_addr": 'x := net.lookup_ip_addr("example.com")',
    "net.cidr_contains": 'x := net.cidr_contains("10.0.0.0/8", "10.1.1.1")',
    "opa.runtime": "x := opa.runtime()",
    "opa.runtime, a field of it": "x := opa.runtime().env",
    "rand.intn": 'x := rand.intn("seed", 10)',
    "uuid.rfc4122": 'x := uuid.rfc4122("seed")',
    "json.verify_schema": 'x := json.verify_schema({"$ref": "http://example.com/s.json"})',
    "io.jwt.decode_verify": 'x := io.jwt.decode_verify("t", {"secret": "s"})',
    "crypto.x509.parse_and_verify_certificates": 'x := crypto.x509.parse_and_verify_certificates("pem")',
    "trace": 'x if trace("t")',
    "bracketed name": 'x := time["now_ns"]()',
    "bracketed name over two lines": 'x := opa[\n\t"runtime"\n]()',
    "raw-string bracketed name": "x := time[`now_ns`]()",
    "inside a template string": 'x := $"now {time.now_ns()}"',
    "after a string holding #": 'x := ["#", time.now_ns()]',
    # built-ins that take a zone read the host's zoneinfo or TZ
    "time.clock with the host's zone": 'x := time.clock([0, "Local"])',
    "time.clock in UTC": 'x := time.clock([0, "UTC"])',
    "time.date": "x := time.date(0)",
    "time.weekday": 'x := time.weekday([0, "Europe/Paris"])',
    "time.format": 'x := time.format([0, "America/New_York", "2006-01-02"])',
    "time.diff": 'x := time.diff([0, "Asia/Tokyo"], 1)',
    "time.parse_ns with a zone abbreviation": 'x := time.parse_ns("2006-01-02 MST", "2025-01-01 EST")',
}
EMBEDDED_ONLY = {
    # OPA's compiler always knows print (and drops its calls unless printing is enabled)
    "print": "x if print(1)",
}
ALLOWED_MODULES = {
    "a comment": "# time.now_ns() is not allowed here\nx := 1",
    "a string": 'x := "http.send"',
    "a field named like a built-in": "x := input.print",
    "data named like a built-in": "x := data.time.now_ns",
    "a deterministic time built-in": 'x := time.parse_rfc3339_ns("2025-01-01T00:00:00+01:00")',
    "time.add_date, in UTC": "x := time.add_date(0, 1, 0, 0)",
}


def _module(body: str) -> str:
    return f"package sandbox\n\n{body}\n"


def _rules_with(tmp_path: Path, body: str) -> Path:
    rules_dir = _rules_copy(tmp_path)
    (rules_dir / "sandbox").mkdir()
    (rules_dir / "sandbox" / "sandbox.rego").write_text(_module(body))
    return rules_dir


@pytest.mark.opa  # edited rules are read by OPA (the rules index is out of step)
@pytest.mark.parametrize("name", sorted({**FORBIDDEN_MODULES, **EMBEDDED_ONLY}))
def test_validate_refuses_rules_that_reach_the_network_clock_or_environment(tmp_path: Path, name: str) -> None:
    body = {**FORBIDDEN_MODULES, **EMBEDDED_ONLY}[name]
    rules_dir = _rules_with(tmp_path, body)
    module = rules_dir / "sandbox" / "sandbox.rego"
    for command in (["validate", "--rules", str(rules_dir)], ["evaluate", str(CHAIN), "--rules", str(rules_dir)]):
        result = CliRunner().invoke(main, command)
        _assert_failed_closed(result, 2, "non-deterministic built-in")
        assert f"{module}: line 3:" in result.stderr  # names the file and the line


@pytest.mark.opa  # edited rules are read by OPA (the rules index is out of step)
@pytest.mark.parametrize("body", ["x := max([5, 10])", "x := min([5, 10])", "f(values) := max(values)"])
def test_validate_refuses_built_ins_the_engines_read_differently(tmp_path: Path, body: str) -> None:
    """rego-cpp compares numbers as text in max and min (max([5, 10]) is 5): a rule calling either
    would decide by engine, so the sandbox refuses it, naming the file and the line."""
    rules_dir = _rules_with(tmp_path, body)
    result = CliRunner().invoke(main, ["validate", "--rules", str(rules_dir)])
    _assert_failed_closed(result, 2, "compares numbers as text")
    assert f"{rules_dir / 'sandbox' / 'sandbox.rego'}: line 3:" in result.stderr


@pytest.mark.opa
@pytest.mark.parametrize("name", sorted(ALLOWED_MODULES))
def test_validate_accepts_names_of_built_ins_outside_code(tmp_path: Path, name: str) -> None:
    result = CliRunner().invoke(main, ["validate", "--rules", str(_rules_with(tmp_path, ALLOWED_MODULES[name]))])
    assert result.exit_code == 0, result.stderr


def test_every_forbidden_pattern_is_refused_by_the_sandbox() -> None:
    """Each pattern, as OPA's reading of a module (the rules index) names it, is refused."""
    for pattern in FORBIDDEN_BUILTINS:
        name = pattern.replace("*", "anything")
        with pytest.raises(RulesError, match=re.escape(name)):
            check_builtin_uses("sandbox.rego", [(name, 3)], _module(f"x := {name}(1)"))


def test_rules_out_of_step_with_their_index_and_no_opa_fail_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Edited rules are read by OPA; where there is none, nothing is decided (exit 3) and the
    one line says what regenerates the index."""
    monkeypatch.setattr("tos_policy.engines.opa_server.DEFAULT_BINARY", tmp_path / "no-opa")
    monkeypatch.setenv("OPA_BINARY", str(tmp_path / "no-opa"))
    monkeypatch.setenv("PATH", str(tmp_path))
    rules_dir = _rules_with(tmp_path, "x := 1")
    for command in (["validate", "--rules", str(rules_dir)], ["evaluate", str(CHAIN), "--rules", str(rules_dir)]):
        result = CliRunner().invoke(main, command)
        _assert_failed_closed(result, 3, "tos-policy index")
        assert "out of step" in result.stderr and "scripts/build-opa" in result.stderr


def test_the_shipped_rules_pass_the_sandbox() -> None:
    load_rules(RULES)  # raises RulesError on a forbidden built-in


def _opa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(opa_binary()), *args], capture_output=True, text=True, timeout=60, check=False)


CAPABILITIES = ROOT / "opa" / "capabilities.json"


@pytest.mark.opa
def test_the_capabilities_file_is_opas_built_ins_less_the_forbidden_ones() -> None:
    current = json.loads(_opa("capabilities", "--current").stdout)
    allowed = json.loads(CAPABILITIES.read_text())
    names = {builtin["name"] for builtin in current["builtins"]}
    assert {builtin["name"] for builtin in allowed["builtins"]} == {n for n in names if not is_forbidden_builtin(n)}
    nondeterministic = {builtin["name"] for builtin in current["builtins"] if builtin.get("nondeterministic")}
    assert all(is_forbidden_builtin(name) for name in nondeterministic), "OPA marks a new built-in non-deterministic"
    assert {key: value for key, value in allowed.items() if key != "builtins"} == {
        key: value for key, value in current.items() if key != "builtins"
    }


@pytest.mark.opa
def test_opa_check_with_the_capabilities_accepts_the_shipped_rules() -> None:
    checked = _opa("check", "--strict", "--capabilities", str(CAPABILITIES), str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.opa
@pytest.mark.parametrize("name", sorted(FORBIDDEN_MODULES))
def test_opa_check_with_the_capabilities_refuses_each_forbidden_built_in(tmp_path: Path, name: str) -> None:
    module = tmp_path / "sandbox.rego"
    module.write_text(_module(FORBIDDEN_MODULES[name]))
    assert _opa("check", "--strict", str(module)).returncode == 0  # valid Rego: refused only for the built-in
    checked = _opa("check", "--strict", "--capabilities", str(CAPABILITIES), str(module))
    assert checked.returncode != 0
    assert "undefined function" in checked.stdout + checked.stderr
