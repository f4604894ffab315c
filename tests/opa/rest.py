"""Calls a test makes to a real OPA server's REST API itself (to look at or tamper with it)."""

from __future__ import annotations

from typing import Any

import requests  # type: ignore[import-untyped, unused-ignore]

from tos_policy.engines.opa_server import OpaServer


def rest(server: OpaServer, method: str, path: str, **kwargs: Any) -> Any:
    """One call (GET /v1/policies, DELETE /v1/policies/ID, PUT ...): its JSON answer ({} when empty)."""
    with requests.Session() as session:
        session.trust_env = False  # straight to the server, whatever proxy a test sets
        response = session.request(method, f"{server.url}/v1/{path}", timeout=5.0, allow_redirects=False, **kwargs)
    assert response.status_code in (200, 204), response.text
    return response.json() if response.content.strip() else {}


def policy_ids(server: OpaServer) -> list[str]:
    return [str(policy["id"]) for policy in rest(server, "GET", "policies")["result"]]
