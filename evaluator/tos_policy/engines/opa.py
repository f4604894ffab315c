"""The OPA engine: a running OPA server, driven through opa-python-client.

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

Every failure (server unreachable, time-out, HTTP error, undefined or malformed
result) raises EngineError naming the server's URL: nothing here can fail open.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests  # type: ignore[import-untyped, unused-ignore]  # opa-python-client's transport
import urllib3

from tos_policy.engines import OWNERSHIP_BATCH, check_results, data_ref
from tos_policy.errors import EngineError, InputError
from tos_policy.policy.ruleset import RuleSet
from tos_policy.release.bundle import bundle_revision

POLICY_ID_PREFIX = "tos-policy/"
BATCH_PACKAGE, _, BATCH_RULE = OWNERSHIP_BATCH.rpartition("/")
BATCH_REF = data_ref(OWNERSHIP_BATCH)
# Built-in errors (a bad sprintf, a type error) fail the query instead of
# silently making a rule undefined.
QUERY_PARAMS = {"strict-builtin-errors": "true"}
DEFAULT_PORTS = {"http": 80, "https": 443}

T = TypeVar("T")


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


def _body_message(response: Any) -> str:
    """OPA's error message from an HTTP error response, or the start of its body."""
    try:
        body = response.json()
    except Exception:
        return str(getattr(response, "text", ""))[:200].strip()
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


def _client_error_message(exc: Exception) -> str:
    """A readable message from opa_client's exceptions, which keep theirs in attributes."""
    message = getattr(exc, "message", None)
    code = getattr(exc, "expression", None)
    text = str(message) if message else str(exc)
    if code and str(code) not in text:
        text = f"{code}: {text}"
    errors = getattr(exc, "errors", None) or []
    details = [str(item.get("message")) for item in errors if isinstance(item, dict) and item.get("message")]
    return "; ".join([text, *details])[:500] or type(exc).__name__


class OpaEngine:
    """Decides step inputs with a remote OPA server: one this engine loads the rules into,
    or (load_rules=False) one that has them already, from a bundle."""

    name = "opa"

    def __init__(
        self, rules: RuleSet, url: str, timeout: float = 10.0, *, retries: int = 0, load_rules: bool = True
    ) -> None:
        if not timeout > 0:
            raise InputError("the engine timeout must be a positive number of seconds", file="--timeout", value=timeout)
        host, port, tls = parse_opa_url(url)
        self.url = url.strip().rstrip("/")
        self.timeout = timeout
        # retries=0: a failing call fails now, within one timeout, and is reported.
        # Imported here, not at module level: the opa_client package also imports aiohttp,
        # which in this process roughly doubles the memory rego-cpp's allocations take
        # (measured: 1M-entity screen peak 1.7 GiB without it, 3.4 GiB with it).
        from opa_client.opa import OpaClient

        self._client: Any = OpaClient(host=host, port=port, ssl=tls, timeout=timeout, retries=retries)
        self.load_rules = load_rules
        try:
            if load_rules:
                self._load(rules)
            else:
                self._check_served(rules)
        except BaseException:
            self.close()
            raise

    def _fail(self, message: str) -> EngineError:
        one_line = " ".join(message.split())  # OPA's messages span lines; an error report is one line
        return EngineError(f"opa: {one_line} (OPA server {self.url})")

    def _call(self, action: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one client call; turn every failure into an EngineError naming the action and the URL."""
        try:
            return function(*args, **kwargs)
        except requests.exceptions.Timeout:
            raise self._fail(f"{action} timed out after {self.timeout:g}s") from None
        except requests.exceptions.ConnectionError as exc:
            if _is_timeout(exc):  # requests reports a read time-out after retries as a connection error
                raise self._fail(f"{action} timed out after {self.timeout:g}s") from None
            raise self._fail(f"cannot reach the server to {action}: {_connection_reason(exc)}") from None
        except requests.exceptions.HTTPError as exc:
            response = exc.response
            status = getattr(response, "status_code", "?")
            raise self._fail(f"{action} failed with HTTP {status}: {_body_message(response)}") from None
        except requests.exceptions.RequestException as exc:
            raise self._fail(f"{action} failed: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # opa_client's own errors, and anything unexpected: fail closed
            raise self._fail(f"{action} failed: {type(exc).__name__}: {_client_error_message(exc)}") from None

    def _load(self, rules: RuleSet) -> None:
        wanted = {POLICY_ID_PREFIX + path: source for path, source in rules.modules.items()}
        existing = self._call("list the loaded policies", self._client.get_policies_list)
        if not isinstance(existing, list):
            raise self._fail(f"listing the loaded policies gave a malformed answer: {existing!r:.200}")
        # Modules an earlier version of the rules had and this one has not.
        for policy_id in sorted(str(item) for item in existing):
            if policy_id.startswith(POLICY_ID_PREFIX) and policy_id not in wanted:
                self._call(f"remove the stale policy {policy_id!r}", self._client.delete_policy, quote(policy_id))
        for key, value in sorted(rules.data.items()):
            action = f"load the data at data.{key}"
            if isinstance(value, dict):
                done = self._call(action, self._client.update_or_create_data, value, quote(key, safe=""))
            else:  # the client only PUTs objects; a scalar at the top level goes in as a JSON patch
                patch = [{"op": "add", "path": "/", "value": value}]
                done = self._call(action, self._client.patch_data, quote(key, safe=""), patch)
            if done is not True:
                raise self._fail(f"could not {action}")
        for policy_id, source in sorted(wanted.items()):
            action = f"load the policy {policy_id!r}"
            # rego_compat=False: never let the client rewrite a module it thinks is old syntax.
            done = self._call(
                action, self._client.update_policy_from_string, source, quote(policy_id), rego_compat=False
            )
            if done is not True:
                raise self._fail(f"could not {action}")

    def _read(self, ref: str) -> tuple[bool, Any]:
        """(defined, value) of a data document on the server, e.g. "policy_set" or "system.bundles"."""
        response = self._call(f"read data.{ref}", self._client.query_rule, {}, ref, query_params=QUERY_PARAMS)
        if not isinstance(response, dict):
            raise self._fail(f"reading data.{ref} gave a malformed response: {response!r:.200}")
        return "result" in response, response.get("result")

    def _check_served(self, rules: RuleSet) -> None:
        """Fail unless the server already decides with `rules` (load_rules=False)."""
        local = rules.policy_set
        defined, served = self._read("policy_set")
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
        _, bundles = self._read("system.bundles")
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

    def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """Step results for batch["items"], in order; the batch ({profile, reading, items}) is the query's input."""
        items = batch.get("items") if isinstance(batch, dict) else None
        if not isinstance(items, list):
            raise self._fail("a batch must be an object with a list of items")
        if not items:
            return []
        response = self._call(
            f"evaluate {BATCH_REF}",
            self._client.query_rule,
            batch,
            BATCH_PACKAGE,
            BATCH_RULE,
            query_params=QUERY_PARAMS,
        )
        if not isinstance(response, dict):
            raise self._fail(f"evaluating {BATCH_REF} gave a malformed response: {response!r:.200}")
        if "result" not in response:
            raise self._fail(f"{BATCH_REF} is undefined on the server (are these rules loaded?)")
        try:
            return check_results(items, response["result"], self.name)
        except EngineError as exc:
            raise EngineError(f"{exc} (OPA server {self.url})") from None

    def query(self, entrypoint: str, input: dict[str, Any]) -> Any:
        """The value of one rule ("package/rule", e.g. "access/result") with `input` as the query's input.
        Every failure, and an undefined value, raises EngineError: nothing here can fail open."""
        package, _, rule = entrypoint.rpartition("/")
        if not package or not rule:
            raise self._fail(f"{entrypoint!r} is not an entrypoint (package/rule)")
        ref = f"data.{package.replace('/', '.')}.{rule}"
        response = self._call(
            f"evaluate {ref}", self._client.query_rule, input, package, rule, query_params=QUERY_PARAMS
        )
        if not isinstance(response, dict):
            raise self._fail(f"evaluating {ref} gave a malformed response: {response!r:.200}")
        if "result" not in response:
            raise self._fail(f"{ref} is undefined on the server (are these rules loaded, and is the input complete?)")
        return response["result"]

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a session cannot change a decision already made
            self._client.close_connection()
