"""What the OPA engine believes of a server: nothing it cannot check.

- Answers are read by the strict reader: duplicate keys (`restricted` twice, two `result`
  keys), NaN and wrong types are engine failures (exit 3), shown with a tiny real HTTP
  server on 127.0.0.1 that sends crafted bytes.
- A server that answers well-formed lies (an entity restricted on its own facts returned
  unrestricted) is caught by the cross-check against the local rules.
- With --opa-no-load the server's policy set must be the local one (policy_set, bundle
  revision, modules, data), before deciding and again before reporting: a `PUT` of
  `regions.restricted: []` to a running server is refused.
- Redirects and environment proxies are not followed unless asked.

SECURITY.md promise 2."""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests  # type: ignore[import-untyped, unused-ignore]
from click.testing import CliRunner

from tests.opa.rest import rest
from tos_policy import EngineError, evaluate, facts_from_document
from tos_policy.access import COUNTRY_SIGNALS, DEFAULT_ACCESS_POLICY, decide_access, request_from_document
from tos_policy.cli.main import main
from tos_policy.engines import ACCESS_RESULT
from tos_policy.engines.opa import POLICY_ID_PREFIX, OpaEngine
from tos_policy.engines.opa_server import OpaServer, start_server
from tos_policy.policy.ruleset import RuleSet

AS_OF = date(2025, 10, 1)
ACCESS_MODULE = "access/access.rego"
Answer = Callable[[dict[str, Any]], bytes]


class CraftedServer:
    """A real HTTP server on 127.0.0.1 (in a thread of the test) that accepts every load and
    answers each query with the bytes `answer(query body)` makes, or redirects everything."""

    def __init__(self, answer: Answer | None = None, redirect_to: str | None = None) -> None:
        self.answer = answer
        self.redirect_to = redirect_to
        self.seen: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path  # a proxied request carries the absolute URL
                outer.seen.append(f"{self.command} {self.path}")
                if outer.redirect_to is not None:
                    self.send_response(307)
                    self.send_header("Location", outer.redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.command == "GET" and path == "/v1/policies":
                    payload = b'{"result": []}'
                elif self.command == "POST" and outer.answer is not None:
                    payload = outer.answer(json.loads(body))
                else:
                    payload = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _reply

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def crafted() -> Iterator[Callable[..., CraftedServer]]:
    servers: list[CraftedServer] = []

    def make(answer: Answer | None = None, redirect_to: str | None = None) -> CraftedServer:
        servers.append(CraftedServer(answer, redirect_to))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()


def _restricted_country(rules: RuleSet) -> str:
    """A country the shared regions list restricts, read from its data (not written here)."""
    return str(sorted(code for code in rules.data["regions"]["restricted"] if "-" not in code)[0])


def _facts(rules: RuleSet) -> dict[str, Any]:
    country = _restricted_country(rules)
    return {
        "entities": [
            {"id": "own-country", "type": "company", "headquarters": country, "jurisdiction": country},
            {"id": "clean", "type": "company", "headquarters": "SG", "jurisdiction": "SG"},
        ],
        "ownership": [],
    }


def _items(query: dict[str, Any]) -> int:
    return len(query["input"]["items"])


MALFORMED: dict[str, Answer] = {
    "restricted twice": lambda q: (
        b'{"result": [' + b",".join([b'{"restricted": true, "reasons": [], "restricted": false}'] * _items(q)) + b"]}"
    ),
    "two result keys": lambda q: (
        b'{"result": ['
        + b",".join([b'{"restricted": true, "reasons": [{"code": "X"}]}'] * _items(q))
        + b'], "result": ['
        + b",".join([b'{"restricted": false, "reasons": []}'] * _items(q))
        + b"]}"
    ),
    "NaN": lambda q: (
        b'{"result": [' + b",".join([b'{"restricted": false, "reasons": [], "x": NaN}'] * _items(q)) + b"]}"
    ),
    "restricted as a string": lambda q: (
        b'{"result": [' + b",".join([b'{"restricted": "false", "reasons": []}'] * _items(q)) + b"]}"
    ),
    "result an object": lambda q: b'{"result": {"restricted": false, "reasons": []}}',
    "not JSON": lambda q: b'{"result": [',
    "well-formed lie": lambda q: (
        b'{"result": [' + b",".join([b'{"restricted": false, "reasons": []}'] * _items(q)) + b"]}"
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_or_lying_answer_is_an_engine_failure(
    case: str, crafted: Callable[..., CraftedServer], rules: RuleSet, tmp_path: Path
) -> None:
    server = crafted(MALFORMED[case])
    engine = OpaEngine(rules, server.url, timeout=5.0)
    try:
        with pytest.raises(EngineError) as caught:
            evaluate(facts_from_document(_facts(rules)), rules, engine, as_of=AS_OF)
    finally:
        engine.close()
    assert server.url in str(caught.value) and "\n" not in str(caught.value)
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps(_facts(rules)), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["evaluate", str(facts), "--as-of", AS_OF.isoformat(), "--engine", "opa", "--opa-url", server.url]
    )
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stdout == ""


def test_redirects_are_refused_unless_asked(
    crafted: Callable[..., CraftedServer], opa_server: OpaServer, rules: RuleSet
) -> None:
    server = crafted(redirect_to=opa_server.url)
    with pytest.raises(EngineError, match="redirects"):
        OpaEngine(rules, server.url, timeout=5.0)
    engine = OpaEngine(rules, server.url, timeout=5.0, follow_redirects=True)  # asked: decided by the real server
    try:
        report = evaluate(facts_from_document(_facts(rules)), rules, engine, as_of=AS_OF)
    finally:
        engine.close()
    assert {item.entity.id: item.decision for item in report.decisions}["own-country"] == "deny"


def test_environment_proxies_are_ignored_unless_asked(
    crafted: Callable[..., CraftedServer], opa_server: OpaServer, rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = crafted(redirect_to="http://127.0.0.1:9/nowhere")
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("http_proxy", proxy.url)
    OpaEngine(rules, opa_server.url, timeout=5.0).close()
    assert proxy.seen == []
    with pytest.raises(EngineError):
        OpaEngine(rules, opa_server.url, timeout=5.0, proxies_from_env=True)
    assert proxy.seen, "asked to, the engine goes through the environment's proxy"


# --- --opa-no-load: the server's policy set must be the local one ---------------------------------------------


def _put(server: OpaServer, path: str, value: Any) -> None:
    response = requests.put(f"{server.url}/v1/data/{path}", json=value, timeout=5)
    assert response.status_code in (200, 204), response.text


def _restricted_path(rules: RuleSet) -> str:
    assert "restricted" in rules.data["regions"]
    return "regions/restricted"


def test_a_server_whose_data_was_changed_is_refused(
    start_opa: Callable[[], OpaServer], rules: RuleSet, tmp_path: Path
) -> None:
    server = start_opa()
    OpaEngine(rules, server.url, timeout=5.0).close()  # the rules loaded as a bundle would have them
    OpaEngine(rules, server.url, timeout=5.0, load_rules=False).close()  # the same rules: accepted
    _put(server, _restricted_path(rules), [])
    with pytest.raises(EngineError, match=r"data\.regions\.restricted differs") as caught:
        OpaEngine(rules, server.url, timeout=5.0, load_rules=False)
    assert server.url in str(caught.value)
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps(_facts(rules)), encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["evaluate", str(facts), "--as-of", "2025-10-01", "--engine", "opa", "--opa-url", server.url, "--opa-no-load"],
    )
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stdout == "" and "data.regions" in result.stderr


def test_a_server_with_another_module_is_refused(start_opa: Callable[[], OpaServer], rules: RuleSet) -> None:
    server = start_opa()
    OpaEngine(rules, server.url, timeout=5.0).close()
    response = requests.put(f"{server.url}/v1/policies/extra", data="package ownership\n\nextra := 1\n", timeout=5)
    assert response.status_code == 200, response.text
    with pytest.raises(EngineError, match="modules these rules do not have: extra"):
        OpaEngine(rules, server.url, timeout=5.0, load_rules=False)


def test_a_change_during_the_run_fails_the_run(start_opa: Callable[[], OpaServer], rules: RuleSet) -> None:
    server = start_opa()
    OpaEngine(rules, server.url, timeout=5.0).close()
    engine = OpaEngine(rules, server.url, timeout=5.0, load_rules=False)
    clean = {"entities": [{"id": "clean", "type": "company", "headquarters": "SG", "jurisdiction": "SG"}]}
    evaluate(facts_from_document(clean), rules, engine, as_of=AS_OF)
    _put(server, _restricted_path(rules), [])
    with pytest.raises(EngineError, match="differs"):
        engine.close()  # checked again before anything is reported


def test_the_cross_check_catches_a_changed_server(start_opa: Callable[[], OpaServer], rules: RuleSet) -> None:
    """Changed after loading (no verification in load mode): the entity restricted on its own
    facts comes back unrestricted from the server, and the cross-check refuses the answer."""
    server = start_opa()
    engine = OpaEngine(rules, server.url, timeout=5.0)
    try:
        _put(server, _restricted_path(rules), [])
        with pytest.raises(EngineError, match="restrict it on its own facts"):
            evaluate(facts_from_document(_facts(rules)), rules, engine, as_of=AS_OF)
    finally:
        engine.close()


# --- access answers: cross-checked against the local rules ----------------------------------------------------


def _access_policy(rules: RuleSet) -> dict[str, Any]:
    return dict(rules.data["access"]["policies"][DEFAULT_ACCESS_POLICY])


def _denying_signal(rules: RuleSet) -> tuple[str, str]:
    """(signal, country): a signal the shipped access policy denies on, with a country the regions list restricts."""
    policy = _access_policy(rules)
    signal = sorted(name for name, effect in policy["signal_effects"].items() if effect == "deny")[0]
    return signal, _restricted_country(rules)


def _lenient_access_module(rules: RuleSet) -> str:
    """The shipped access rules with every reason dropped: consistent answers (allow, no reasons) for everything."""
    source = rules.modules[ACCESS_MODULE]
    tampered, count = re.subn(
        r"(?m)^reasons := (.*)$", r'_true_reasons := \1\n\nreasons := {r | some r in _true_reasons; r.effect == "never"}', source
    )
    assert count == 1
    return tampered


def _tamper_access(server: OpaServer, rules: RuleSet) -> None:
    """Replace the access module on the running server (the engine loaded the true one)."""
    rest(server, "PUT", f"policies/{POLICY_ID_PREFIX}{ACCESS_MODULE}", data=_lenient_access_module(rules).encode())


def test_a_tampered_access_policy_never_answers_allow(start_opa: Callable[[], OpaServer], rules: RuleSet) -> None:
    """A real OPA server whose access rules were swapped after loading answers allow with no
    reasons, a well-formed, self-consistent answer: the cross-check refuses it for a request the
    evaluator can decide itself (a restricted-country signal, an organisation denied by ownership,
    an organisation given by id alone with a restricted signal)."""
    server = start_opa()
    signal, country = _denying_signal(rules)
    engine = OpaEngine(rules, server.url, timeout=5.0)
    try:
        individual = request_from_document({"organisation": None, "signals": {signal: country}})
        org_request = request_from_document({"organisation": "own-country", "signals": {}})
        facts = facts_from_document(_facts(rules))
        listed = {*rules.data["regions"]["restricted"], *rules.data["regions"]["review"]}
        unrestricted = next(code for code in ("SG", "DE", "GB", "FR") if code not in listed)
        clean = request_from_document({"organisation": None, "signals": dict.fromkeys(COUNTRY_SIGNALS, unrestricted)})
        assert decide_access(clean, None, rules, engine, as_of=AS_OF).decision == "allow"  # untampered: agrees
        assert decide_access(individual, None, rules, engine, as_of=AS_OF).decision == "deny"
        _tamper_access(server, rules)
        for request in (individual, org_request):
            with pytest.raises(EngineError, match="does not decide with these rules") as caught:
                decide_access(request, facts, rules, engine, as_of=AS_OF)
            assert server.url in str(caught.value) and "\n" not in str(caught.value)
        by_id = {"policy": DEFAULT_ACCESS_POLICY, "organisation": {"id": "anyone"}, "signals": individual.signals}
        with pytest.raises(EngineError, match="on its signals alone"):
            engine.query(ACCESS_RESULT, by_id)
        # Allow for a request the local rules allow too is what the rules decide: accepted.
        assert decide_access(clean, None, rules, engine, as_of=AS_OF).decision == "allow"
    finally:
        engine.close()


def test_a_lying_access_answer_exits_3(crafted: Callable[..., CraftedServer], rules: RuleSet, tmp_path: Path) -> None:
    """`decide --engine opa` against a server that answers every access query allow, no reasons."""
    signal, country = _denying_signal(rules)
    lie = json.dumps({"result": {"policy": DEFAULT_ACCESS_POLICY, "decision": "allow", "reasons": []}}).encode()
    server = crafted(lambda query: lie)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"organisation": None, "signals": {signal: country}}), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["decide", str(request), "--as-of", AS_OF.isoformat(), "--engine", "opa", "--opa-url", server.url]
    )
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stdout == "" and "does not decide with these rules" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- the server helper ----------------------------------------------------------------------------------------


def test_the_server_helper_needs_no_opa_client_and_no_proxy(
    opa_bin: Path, crafted: Callable[..., CraftedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """start_server's health probe uses the engine's own strict session: no opa-python-client
    (it cannot be imported here), and an environment proxy is not followed."""
    monkeypatch.setitem(sys.modules, "opa_client", None)
    monkeypatch.setitem(sys.modules, "opa_client.opa", None)
    proxy = crafted(redirect_to="http://127.0.0.1:9/nowhere")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("http_proxy", proxy.url)
    server = start_server(opa_bin, ready_timeout=30.0)
    try:
        assert server.running()
        assert rest(server, "GET", "policies") == {"result": []}
    finally:
        server.stop()
    assert proxy.seen == []
