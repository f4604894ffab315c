"""The OPA engine: a running OPA server, driven over its REST API with requests.

On start the engine loads the rules into the server: every module through the
policy API (PUT /v1/policies/<id>, ids under ``tos-policy/`` so loading again
replaces the previous version) and the data tree through the data API
(PUT /v1/data/<key>, one top-level key at a time). Each batch is then decided by
evaluating data.ownership.batch with the batch ({"profile", "reading", "items"})
as input; other rules (the access rules' data.access.result) through
query(entrypoint, input), with the same error handling.

With load_rules=False the engine loads nothing: the server already has the rules,
typically from a bundle (`tos-policy bundle`, `opa run --server --bundle` or a bundle
service). The engine then only checks, once, that the server decides with these
rules: data.policy_set must equal the local policy_set (name, version, dates), and
if the server has a bundle whose revision names this policy, one such revision must
be exactly bundle_revision(rules) (version and rules digest). Reports name the local
rules' version and digest, so a server holding other rules is refused, not used.

Before deciding with load_rules=False, and again when the engine is closed (so a
change made to the server during the run is caught before anything is reported), the
engine verifies that the server's policy set is the local one: the same data.policy_set,
a bundle revision naming these rules if the server has a bundle, exactly the local
modules (GET /v1/policies, compared by SHA-256 of their text) and exactly the local data
documents (GET /v1/data/<path> for each, compared as JSON). A `PUT` of
`restricted_countries: []` to a running server is therefore refused, naming the path.

Every answer is read by the strict reader (tos_policy.jsonio): a duplicate key (two
`result` keys, `restricted` twice), NaN, a number too large for a double, or a wrong type
is an engine failure. Each step result is also cross-checked against a fact the
evaluator can establish itself without the server: the same item decided by the local
rules in the embedded engine with its links left out (its own facts only, e.g. its own
country). Rules are monotone (a link can only add reasons), so an item restricted on its
own facts but unrestricted with its links is a server that lies: EngineError. No policy
meaning is written in Python for this: the local rules decide the root step. Access
answers (data.access.result) are cross-checked the same way: the local rules decide the
same request (its signals alone when the organisation is given by id only), and a server
answer that differs (or, by id only, is more lenient) is an EngineError, so a request whose
organisation is denied or whose signal names a restricted country never comes back allow.

Redirects are not followed and proxy settings from the environment (HTTP_PROXY,
HTTPS_PROXY, NO_PROXY, .netrc) are ignored unless asked (follow_redirects,
proxies_from_env; --opa-follow-redirects, --opa-proxy-from-env). One engine may be shared by
many threads: its HTTP calls are serialised by a lock.

Every failure (server unreachable, time-out, HTTP error, redirect, undefined or malformed
result, a policy set other than the local one) raises EngineError naming the server's
URL: nothing here can fail open.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests  # type: ignore[import-untyped, unused-ignore]
import urllib3

from tos_policy import jsonio
from tos_policy.engines import ACCESS_RESULT, OWNERSHIP_BATCH, check_results, data_ref
from tos_policy.errors import EngineError, InputError
from tos_policy.limits import MAX_SECONDS
from tos_policy.policy.ruleset import RuleSet
from tos_policy.release.bundle import bundle_revision

if TYPE_CHECKING:
    from tos_policy.engines.embedded import EmbeddedEngine

POLICY_ID_PREFIX = "tos-policy/"
BATCH_PACKAGE, _, BATCH_RULE = OWNERSHIP_BATCH.rpartition("/")
BATCH_REF = data_ref(OWNERSHIP_BATCH)
# Built-in errors (a bad sprintf, a type error) fail the query instead of
# silently making a rule undefined.
QUERY_PARAMS = {"strict-builtin-errors": "true"}
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_opa_url(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) from an OPA server URL such as http://127.0.0.1:8181."""

    def bad(message: str) -> InputError:
        return InputError(message, file="--opa-url", path="$", value=url)

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise bad(f"not a valid URL: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise bad("the OPA server URL must look like http://HOST:PORT or https://HOST:PORT")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise bad("the OPA server URL must be scheme://host:port only (no path, query or credentials)")
    host = parts.hostname
    if ":" in host:  # IPv6 literal: the client builds scheme://host:port itself
        host = f"[{host}]"
    return host, port if port is not None else DEFAULT_PORTS[parts.scheme], parts.scheme == "https"


def _body_message(content: bytes) -> str:
    """OPA's error message from an HTTP error response, or the start of its body."""
    try:
        body = jsonio.engine_answer(content, engine="opa")
    except EngineError:
        return content[:200].decode("utf-8", "replace").strip()
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("code") or body)
        details = [str(item.get("message")) for item in body.get("errors") or [] if isinstance(item, dict)]
        return "; ".join([message, *details])[:500]
    return repr(body)[:200]


def _is_timeout(exc: BaseException) -> bool:
    """True when a time-out is the cause, however deeply requests and urllib3 have wrapped it."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        # urllib3's NewConnectionError (connection refused, unknown host) subclasses its TimeoutError.
        if isinstance(current, urllib3.exceptions.TimeoutError | TimeoutError) and not isinstance(
            current, urllib3.exceptions.NewConnectionError
        ):
            return True
        if isinstance(current, BaseException):
            pending += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return False


def _connection_reason(exc: Exception) -> str:
    """The OS-level reason inside requests' nested connection errors, e.g. "[Errno 111] Connection refused"."""
    found = re.search(r"\[Errno [^\]]+\][^'\")]*", str(exc))
    return found.group(0).strip() if found else type(exc).__name__


_PACKAGE = re.compile(r"^package\s+([A-Za-z_][\w.]*)", re.MULTILINE)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def strict_session(*, proxies_from_env: bool = False, retries: int = 0) -> requests.Session:
    """The HTTP session every call to an OPA server goes through (the engine's and the server
    helper's health probe): environment proxies, .netrc credentials and REQUESTS_CA_BUNDLE only
    when asked, since the server decides every entity and where requests go is chosen by the
    command line. Redirects are refused per request (allow_redirects)."""
    session = requests.Session()
    session.trust_env = proxies_from_env
    if retries:
        adapter = requests.adapters.HTTPAdapter(max_retries=retries)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


def data_documents(rules: RuleSet) -> list[tuple[list[str], Any]]:
    """The rules' data documents as (path under data, value): the data tree, cut where it leaves
    the modules' packages (data.ownership holds rules, data.ownership.profiles only data)."""
    packages = {tuple(found.split(".")) for source in rules.modules.values() for found in _PACKAGE.findall(source)}
    documents: list[tuple[list[str], Any]] = []
    pending: list[tuple[list[str], Any]] = [([key], value) for key, value in sorted(rules.data.items())]
    while pending:
        path, value = pending.pop(0)
        inside = any(package[: len(path)] == tuple(path) for package in packages)
        if inside and isinstance(value, dict):
            pending[:0] = [([*path, key], item) for key, item in sorted(value.items())]
        else:
            documents.append((path, value))
    return documents


class OpaEngine:
    """Decides step inputs with a remote OPA server: one this engine loads the rules into,
    or (load_rules=False) one that has them already, from a bundle, verified to be these rules.

    Safe to share between threads: HTTP calls are serialised by a lock, and the local
    cross-check engine is itself thread-safe."""

    name = "opa"

    def __init__(
        self,
        rules: RuleSet,
        url: str,
        timeout: float = 10.0,
        *,
        retries: int = 0,
        load_rules: bool = True,
        follow_redirects: bool = False,
        proxies_from_env: bool = False,
    ) -> None:
        if not 0 < timeout <= MAX_SECONDS:  # also refuses nan and inf
            raise InputError(
                f"the engine timeout must be a number of seconds above 0 and at most {MAX_SECONDS:,.0f}",
                file="--timeout",
                value=timeout,
            )
        host, port, tls = parse_opa_url(url)
        self.url = url.strip().rstrip("/")
        self._base = f"{'https' if tls else 'http'}://{host}:{port}/v1"
        self.timeout = timeout
        self.load_rules = load_rules
        self.follow_redirects = follow_redirects
        self._rules = rules
        self._lock = threading.Lock()
        self._local: EmbeddedEngine | None = None  # the embedded engine of the cross-check, made on first use
        self._ready = False
        self._session = strict_session(proxies_from_env=proxies_from_env, retries=retries)
        try:
            if load_rules:
                self._load(rules)
            else:
                self.verify_served(rules)
        except BaseException:
            self._session.close()
            raise
        self._ready = True

    def _fail(self, message: str) -> EngineError:
        one_line = " ".join(message.split())  # OPA's messages span lines; an error report is one line
        return EngineError(f"opa: {one_line} (OPA server {self.url})")

    def _request(
        self,
        action: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        text: str | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """One HTTP call; its answer read by the strict reader (None for an empty body).
        Every failure becomes an EngineError naming the action and the URL."""
        headers = {}
        data: bytes | None = None
        if text is not None:
            data, headers["Content-Type"] = text.encode("utf-8"), "text/plain"
        elif body is not None:
            try:  # never NaN or Infinity on the wire either
                data = json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise self._fail(f"{action}: the request cannot be written as JSON: {exc}") from None
            headers["Content-Type"] = "application/json"
        try:
            with self._lock:
                response = self._session.request(
                    method,
                    self._base + path,
                    data=data,
                    headers=headers,
                    params=params,
                    timeout=self.timeout,
                    allow_redirects=self.follow_redirects,
                )
                content = response.content
        except requests.exceptions.Timeout:
            raise self._fail(f"{action} timed out after {self.timeout:g}s") from None
        except requests.exceptions.ConnectionError as exc:
            if _is_timeout(exc):  # requests reports a read time-out after retries as a connection error
                raise self._fail(f"{action} timed out after {self.timeout:g}s") from None
            raise self._fail(f"cannot reach the server to {action}: {_connection_reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise self._fail(f"{action} failed: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if 300 <= status < 400:
            target = response.headers.get("Location", "?")
            raise self._fail(
                f"{action}: the server redirects (HTTP {status} to {target!r:.100}); redirects are not followed "
                "unless asked (--opa-follow-redirects)"
            )
        if status >= 400:
            raise self._fail(f"{action} failed with HTTP {status}: {_body_message(content)}")
        if not content.strip():
            return None
        try:
            return jsonio.engine_answer(content, engine="opa")
        except EngineError as exc:
            raise self._fail(f"{action}: {exc}") from None

    def _answer(self, action: str, answer: Any, ref: str, hint: str) -> Any:
        """The `result` of a data API answer; an answer that is not an object, or has no result, fails."""
        if not isinstance(answer, dict):
            raise self._fail(f"{action} gave a malformed answer: {answer!r:.200}")
        if "result" not in answer:
            raise self._fail(f"{ref} is undefined on the server ({hint})")
        return answer["result"]

    def _load(self, rules: RuleSet) -> None:
        wanted = {POLICY_ID_PREFIX + path: source for path, source in rules.modules.items()}
        for policy_id in sorted(self._served_modules()):
            # Modules an earlier version of the rules had and this one has not.
            if policy_id.startswith(POLICY_ID_PREFIX) and policy_id not in wanted:
                self._request(f"remove the stale policy {policy_id!r}", "DELETE", f"/policies/{quote(policy_id)}")
        for key, value in sorted(rules.data.items()):
            self._request(f"load the data at data.{key}", "PUT", f"/data/{quote(key, safe='')}", body=value)
        for policy_id, source in sorted(wanted.items(), key=_imported_first):
            self._request(f"load the policy {policy_id!r}", "PUT", f"/policies/{quote(policy_id)}", text=source)

    def _served_modules(self) -> dict[str, str]:
        """{policy id: module text} of every module on the server."""
        action = "list the loaded policies"
        answer = self._request(action, "GET", "/policies")
        listed = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(listed, list):
            raise self._fail(f"{action} gave a malformed answer: {answer!r:.200}")
        modules: dict[str, str] = {}
        for item in listed:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("id"), str)
                or not isinstance(item.get("raw"), str)
            ):
                raise self._fail(f"{action} gave a malformed policy entry: {item!r:.200}")
            modules[item["id"]] = item["raw"]
        return modules

    def _read(self, path: list[str]) -> tuple[bool, Any]:
        """(defined, value) of a data document on the server, e.g. ["policy_set"] or ["system", "bundles"]."""
        ref = "data." + ".".join(path)
        answer = self._request(
            f"read {ref}", "GET", "/data/" + "/".join(quote(part, safe="") for part in path), params=QUERY_PARAMS
        )
        if not isinstance(answer, dict):
            raise self._fail(f"reading {ref} gave a malformed answer: {answer!r:.200}")
        return "result" in answer, answer.get("result")

    def verify_served(self, rules: RuleSet) -> None:
        """Fail unless the server's policy set is exactly `rules` (load_rules=False): the same
        data.policy_set, a bundle revision naming these rules if it has our bundle, the same
        modules (by SHA-256 of their text) and the same data documents (as JSON values)."""
        local = rules.policy_set
        defined, served = self._read(["policy_set"])
        if not defined:
            raise self._fail(
                f"the server has no data.policy_set: the rules are not loaded (is the bundle activated?); "
                f"expected {local.get('name')} {local.get('version')}"
            )
        if served != local:
            shown = f"{served.get('name')} {served.get('version')}" if isinstance(served, dict) else f"{served!r:.100}"
            raise self._fail(
                f"the server decides with {shown} (data.policy_set {served!r:.200}), "
                f"not with these rules, {local.get('name')} {local.get('version')}"
            )
        expected = bundle_revision(rules)
        _, bundles = self._read(["system", "bundles"])
        ours = sorted(
            str(entry["manifest"]["revision"])
            for entry in (bundles.values() if isinstance(bundles, dict) else [])
            if isinstance(entry, dict)
            and isinstance(entry.get("manifest"), dict)
            and str(entry["manifest"].get("revision", "")).startswith(f"{local.get('name')}@")
        )
        if ours and expected not in ours:
            raise self._fail(
                f"the server's bundle revision is {', '.join(ours)}, these rules are {expected} "
                f"(same version, other rules: rebuild the bundle or use the rules it was built from)"
            )
        self._verify_modules(rules)
        for path, value in data_documents(rules):
            ref = "data." + ".".join(path)
            defined, served = self._read(path)
            if not defined or served != value:
                shown = f"{served!r:.120}" if defined else "undefined"
                raise self._fail(
                    f"the server's {ref} differs from these rules' (server: {shown}; local digest "
                    f"{_digest(json.dumps(value, sort_keys=True))[:12]}): the server's data was changed or is "
                    f"of other rules; nothing was decided"
                )

    def _verify_modules(self, rules: RuleSet) -> None:
        served = {_digest(text): policy_id for policy_id, text in self._served_modules().items()}
        local = {_digest(source): path for path, source in rules.modules.items()}
        missing = sorted(path for digest, path in local.items() if digest not in served)
        extra = sorted(policy_id for digest, policy_id in served.items() if digest not in local)
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"these rules' {', '.join(missing)} not on it (or changed)")
            if extra:
                parts.append(f"modules these rules do not have: {', '.join(extra)}")
            raise self._fail(f"the server's modules differ from these rules: {'; '.join(parts)}")

    def _query(self, ref: str, input: Any, hint: str) -> Any:
        path = "/data/" + ref.removeprefix("data.").replace(".", "/")
        answer = self._request(f"evaluate {ref}", "POST", path, body={"input": input}, params=QUERY_PARAMS)
        return self._answer(f"evaluating {ref}", answer, ref, hint)

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """Step results for batch["items"], in order; the batch ({profile, reading, items}) is the query's input.
        Each result is cross-checked against the local rules deciding the item on its own facts."""
        items = batch.get("items") if isinstance(batch, dict) else None
        if not isinstance(items, list):
            raise self._fail("a batch must be an object with a list of items")
        if not items:
            return []
        result = self._query(BATCH_REF, batch, "are these rules loaded?")
        try:
            results = check_results(items, result, self.name)
        except EngineError as exc:
            raise EngineError(f"{exc} (OPA server {self.url})") from None
        self._cross_check(batch, items, results)
        return results

    def _local_engine(self) -> EmbeddedEngine:
        """The embedded engine with the local rules, for the cross-checks (made on first use)."""
        with self._lock:
            if self._local is None:
                from tos_policy.engines.embedded import EmbeddedEngine

                self._local = EmbeddedEngine(self._rules)
            return self._local

    def _cross_check(self, batch: dict[str, Any], items: list[Any], results: list[dict[str, Any]]) -> None:
        """An item the local rules restrict on its own facts (links left out) must come back restricted:
        a link can only add reasons. Otherwise the server is not deciding with these rules."""
        local = self._local_engine()
        own_facts = [{**item, "links": []} if isinstance(item, dict) else item for item in items]
        alone = local.decide({**batch, "items": own_facts})
        for index, (root, served) in enumerate(zip(alone, results, strict=True)):
            if root["restricted"] and not served["restricted"]:
                entity = items[index].get("entity") if isinstance(items[index], dict) else None
                raise self._fail(
                    f"the server decided item {index} ({entity!r:.120}) unrestricted, but these rules restrict it "
                    f"on its own facts ({root['reasons']!r:.200}): the server does not decide with these rules"
                )

    def query(self, entrypoint: str, input: dict[str, Any]) -> Any:
        """The value of one rule ("package/rule", e.g. "access/result") with `input` as the query's input.
        Every failure, and an undefined value, raises EngineError: nothing here can fail open."""
        package, _, rule = entrypoint.rpartition("/")
        if not package or not rule:
            raise self._fail(f"{entrypoint!r} is not an entrypoint (package/rule)")
        ref = f"data.{package.replace('/', '.')}.{rule}"
        result = self._query(ref, input, "are these rules loaded, and is the input complete?")
        if entrypoint == ACCESS_RESULT:
            self._cross_check_access(input, result)
        return result

    def _cross_check_access(self, input: dict[str, Any], result: Any) -> None:
        """The server's access decision against the local rules deciding what the evaluator can
        check itself: the whole input when it carries the organisation's decision (or is an
        individual's), where the two must agree; else (an organisation given by id alone, to be
        looked up in data the server may hold) the request's signals alone, where the server may
        only be stricter: a signal can only add reasons. A request the local rules deny or
        review never comes back allow."""
        organisation = input.get("organisation") if isinstance(input, dict) else None
        checkable = organisation is None or (isinstance(organisation, dict) and "decision" in organisation)
        own_facts = input if checkable else {**input, "organisation": None}
        try:
            local = self._local_engine().query(ACCESS_RESULT, own_facts)
        except EngineError as exc:
            raise self._fail(f"the local rules cannot decide this request to check the answer: {exc}") from None
        expected = local.get("decision") if isinstance(local, dict) else None
        served = result.get("decision") if isinstance(result, dict) else None
        order = {"allow": 0, "review": 1, "deny": 2}
        if expected not in order:
            raise self._fail(f"the local rules gave no access decision to check the server's answer: {local!r:.200}")
        if served not in order or (served != expected if checkable else order[served] < order[expected]):
            raise self._fail(
                f"the server decided the access request {served!r:.20}, but these rules decide it {expected!r} "
                f"({'the same request' if checkable else 'on its signals alone'}; reasons "
                f"{local.get('reasons')!r:.200}): the server does not decide with these rules"
            )

    def close(self) -> None:
        """Verify once more that a server fed by a bundle still holds these rules (a change made to it
        during the run fails the run: closing comes before anything is reported), then let go."""
        try:
            if self._ready and not self.load_rules:
                self._ready = False
                self.verify_served(self._rules)
        finally:
            with contextlib.suppress(Exception):  # closing a session cannot change a decision already made
                self._session.close()
            if self._local is not None:
                self._local.close()


_IMPORT = re.compile(r"^import\s+data\.([\w.]+)", re.MULTILINE)


def _imported_first(item: tuple[str, str]) -> tuple[int, str]:
    """Modules that other modules import (rules/regions) before the rest: OPA compiles each
    module as it is loaded, so a function another package calls must already be there."""
    policy_id, source = item
    return (1 if _IMPORT.search(source) else 0), policy_id
