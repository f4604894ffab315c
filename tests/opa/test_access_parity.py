"""The access rules on a real OPA server and in the embedded engine (rego-cpp): the same
decisions for the same reasons, for random requests under every access policy variant; and
undefined results fail closed on both."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.access.strategies import POLICIES, signals
from tos_policy.access import ACCESS_ENTRYPOINT, check_access_result, decide_access, load_request, request_from_document
from tos_policy.cli.main import main
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.engines.opa import OpaEngine
from tos_policy.engines.opa_server import OpaServer
from tos_policy.errors import EngineError
from tos_policy.facts.load import facts_from_document, load_facts
from tos_policy.policy.ruleset import RuleSet

pytestmark = pytest.mark.opa

AS_OF = date(2025, 10, 1)
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "access"
PARITY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
OWNERSHIP_RULE_IDS = ["TOS-OWN-1", "TOS-OWN-2", "TOS-OWN-3", "TOS-OWN-4"]


@pytest.fixture
def opa_access(opa_server: OpaServer, access_rules: RuleSet) -> Iterator[OpaEngine]:
    """A fresh engine per test: it (re)loads these rules into the shared server."""
    engine = OpaEngine(access_rules, opa_server.url, timeout=10.0)
    yield engine
    engine.close()


@st.composite
def organisations(draw: st.DrawFn) -> dict[str, Any] | None:
    """The organisation part of the access input: none, or an ownership decision with reasons."""
    if draw(st.booleans()):
        return None
    decision = draw(st.sampled_from(["allow", "deny", "review"]))
    rule_ids = [] if decision == "allow" else draw(st.lists(st.sampled_from(OWNERSHIP_RULE_IDS), max_size=3))
    return {"id": "org", "decision": decision, "reasons": [{"rule_id": rule_id, "code": "X"} for rule_id in rule_ids]}


def normalised(result: Any, policy: str, engine: str) -> tuple[str, list[dict[str, Any]]]:
    """The result as check_access_result reads it: consistent, reasons in one order."""
    return check_access_result(result, policy, engine)


@PARITY_SETTINGS
@given(organisation=organisations(), signal_values=signals(), policy=st.sampled_from(POLICIES))
def test_both_engines_give_the_same_result_for_random_inputs(
    access_engine: EmbeddedEngine,
    opa_access: OpaEngine,
    organisation: dict[str, Any] | None,
    signal_values: dict[str, Any],
    policy: str,
) -> None:
    request = request_from_document({"organisation": None, "signals": signal_values})
    query = {"policy": policy, "organisation": organisation, "signals": request.signals}
    from_embedded = access_engine.query(ACCESS_ENTRYPOINT, query)
    from_opa = opa_access.query(ACCESS_ENTRYPOINT, query)
    assert normalised(from_embedded, policy, "regopy") == normalised(from_opa, policy, "opa")
    # OPA gives the reasons sorted (Rego `sort`); rego-cpp orders objects the same way.
    assert from_embedded == from_opa


@st.composite
def graphs_with_an_applicant(draw: st.DrawFn) -> dict[str, Any]:
    countries = st.sampled_from(["CN", "RU", "SG", "US", "DE", None])
    entities = [
        {"id": f"e{index}", "type": "company", "headquarters": draw(countries), "jurisdiction": draw(countries)}
        for index in range(draw(st.integers(1, 4)))
    ]
    links = [
        {"owner": entity["id"], "asset": "e0", "percentage": str(draw(st.integers(0, 25)))} for entity in entities[1:]
    ]
    return {"entities": entities, "ownership": links}


@settings(PARITY_SETTINGS, max_examples=25)
@given(facts=graphs_with_an_applicant(), signal_values=signals(), policy=st.sampled_from(POLICIES))
def test_both_engines_decide_whole_requests_alike(
    access_rules: RuleSet,
    access_engine: EmbeddedEngine,
    opa_access: OpaEngine,
    facts: dict[str, Any],
    signal_values: dict[str, Any],
    policy: str,
) -> None:
    request = request_from_document({"organisation": "e0", "signals": signal_values})
    loaded = facts_from_document(facts)
    one = decide_access(request, loaded, access_rules, access_engine, as_of=AS_OF, policy=policy).as_json()
    other = decide_access(request, loaded, access_rules, opa_access, as_of=AS_OF, policy=policy).as_json()
    assert (one.pop("engine"), other.pop("engine")) == ("regopy", "opa")
    assert one == other


@pytest.mark.parametrize("name", sorted(path.name for path in EXAMPLES.glob("*-request.json")))
def test_examples_decide_alike_on_both_engines(
    access_rules: RuleSet, access_engine: EmbeddedEngine, opa_access: OpaEngine, name: str
) -> None:
    request = load_request(EXAMPLES / name)
    facts = load_facts([EXAMPLES / "facts.json"]) if request.organisation else None
    one = decide_access(request, facts, access_rules, access_engine, as_of=AS_OF).as_json()
    other = decide_access(request, facts, access_rules, opa_access, as_of=AS_OF).as_json()
    one.pop("engine"), other.pop("engine")
    assert one == other


def test_decide_through_the_cli_with_the_opa_engine(opa_server: OpaServer) -> None:
    common = [str(EXAMPLES / "vpn-request.json"), "--facts", str(EXAMPLES / "facts.json"), "--as-of", "2025-10-01"]
    embedded = CliRunner().invoke(main, ["decide", *common, "--engine", "embedded"])
    opa = CliRunner().invoke(main, ["decide", *common, "--engine", "opa", "--opa-url", opa_server.url])
    assert embedded.exit_code == 0 and opa.exit_code == 0, opa.stderr
    one, other = json.loads(embedded.stdout), json.loads(opa.stdout)
    assert (one.pop("engine"), other.pop("engine")) == ("regopy", "opa")
    assert one == other
    assert one["decision"] == "review"


@pytest.mark.parametrize(
    "query",
    [
        {"policy": "no_such_policy", "organisation": None},
        {"policy": "terms_of_service", "organisation": {"decision": "deny"}},
        {"policy": "terms_of_service", "organisation": None, "drop": "ip_is_vpn"},
    ],
    ids=["unknown policy", "organisation without id", "missing signal"],
)
def test_an_undefined_result_is_an_engine_error_on_both_engines(
    access_engine: EmbeddedEngine, opa_access: OpaEngine, query: dict[str, Any]
) -> None:
    signals_in = dict(request_from_document({"organisation": None, "signals": {}}).signals)
    signals_in.pop(query.pop("drop", ""), None)
    query["signals"] = signals_in
    with pytest.raises(EngineError, match="undefined"):
        access_engine.query(ACCESS_ENTRYPOINT, query)
    with pytest.raises(EngineError, match=r"data\.access\.result is undefined .*OPA server http://"):
        opa_access.query(ACCESS_ENTRYPOINT, query)


def test_a_server_gone_after_start_is_an_engine_error_never_an_allow(
    start_opa: Callable[[], OpaServer], access_rules: RuleSet
) -> None:
    server = start_opa()  # this test's own server: stopping it disturbs no other test
    engine = OpaEngine(access_rules, server.url, timeout=2.0)
    try:
        server.stop()
        request = request_from_document({"organisation": None, "signals": {}})
        with pytest.raises(EngineError, match=r"cannot reach the server to evaluate data\.access\.result"):
            decide_access(request, None, access_rules, engine, as_of=AS_OF)
    finally:
        engine.close()


def test_a_bundle_fed_server_decides_access_requests_like_the_embedded_engine(
    tmp_path: Path, opa_bin: Path, rules: RuleSet
) -> None:
    """The fleet path: `tos-policy bundle`, `opa run --server --bundle`, `decide --opa-no-load`."""
    from tos_policy.engines.opa_server import start_server
    from tos_policy.release.bundle import build_bundle

    built = build_bundle(rules, tmp_path / "bundle.tar.gz")
    assert "access" in built.roots
    server = start_server(opa_bin, bundle=built.path)
    try:
        common = [str(EXAMPLES / "reseller-request.json"), "--facts", str(EXAMPLES / "facts.json"), "--as-of", "2025-10-01"]
        embedded = CliRunner().invoke(main, ["decide", *common, "--engine", "embedded"])
        served = CliRunner().invoke(
            main, ["decide", *common, "--engine", "opa", "--opa-url", server.url, "--opa-no-load"]
        )
        assert served.exit_code == 0, served.stderr
        one, other = json.loads(embedded.stdout), json.loads(served.stdout)
        one.pop("engine"), other.pop("engine")
        assert one == other
        assert one["decision"] == "deny"
    finally:
        server.stop()
    assert not server.running()
