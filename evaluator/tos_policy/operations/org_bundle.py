"""Screened organisation decisions packed into an OPA bundle (data.access.organisations),
so that `access/result` decides a sign-up in one query from the request's signals and
the organisation's decision, found by its id or any identifier alias.

Only what the access rules read goes in: each decision with the rule ids and codes of
its reasons, the policy version and facts digest it was made under. An alias that two
organisations share names neither (left out, so the request is review): a sign-up is
never matched to the wrong organisation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tos_policy.errors import InputError
from tos_policy.facts.load import parse_json_bytes
from tos_policy.policy.ruleset import RuleSet

DECISIONS = ("allow", "deny", "review")
MAX_DECISIONS_BYTES = 4 << 30


@dataclass
class ScreenedDecisions:
    records: list[dict[str, Any]]
    facts_digest: str | None
    as_of: str | None
    source: str


def _check_record(record: Any, file: str, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise InputError("a decision record must be an object", file=file, path=where, value=record)
    for key, kind in (("entity", str), ("decision", str), ("reasons", list), ("policy_version", str)):
        if not isinstance(record.get(key), kind):
            raise InputError(
                f"a decision record needs {key!r}", file=file, path=f"{where}.{key}", value=record.get(key)
            )
    if record["decision"] not in DECISIONS:
        raise InputError(
            "not a decision (allow, deny, review)", file=file, path=f"{where}.decision", value=record["decision"]
        )
    return record


def read_decisions(path: Path) -> ScreenedDecisions:
    """Decisions as `evaluate` (one JSON document) or `screen` (JSON Lines) wrote them, checked strictly."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=file, value=file) from None
    if (raw.lstrip().startswith(b"{") and b'"decisions"' in raw[:4096]) or path.suffix == ".json":
        document = parse_json_bytes(raw, file)
        if not isinstance(document, dict) or not isinstance(document.get("decisions"), list):
            raise InputError(
                "expected `evaluate` output with a 'decisions' list", file=file, value=type(document).__name__
            )
        records = [_check_record(r, file, f"$.decisions[{i}]") for i, r in enumerate(document["decisions"])]
        return ScreenedDecisions(records, document.get("facts_digest"), document.get("as_of"), file)
    records = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if line.strip():
            records.append(_check_record(parse_json_bytes(line, f"{file}: line {number}"), file, f"line {number} $"))
    return ScreenedDecisions(records, None, records[0].get("as_of") if records else None, file)


def aliases_of(records: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """For each entity record of the facts, the aliases it may be asked by: its identifiers as SCHEME:ID and ID."""
    out: dict[str, list[str]] = {}
    for record in records:
        names = []
        for identifier in record.get("identifiers") or []:
            if isinstance(identifier, dict) and isinstance(identifier.get("id"), str):
                scheme = identifier.get("scheme")
                if isinstance(scheme, str) and scheme:
                    names.append(f"{scheme}:{identifier['id']}")
                names.append(identifier["id"])
        out[str(record["id"])] = names
    return out


def organisations_data(
    screened: ScreenedDecisions, aliases: dict[str, list[str]], rules: RuleSet, facts_digest: str
) -> dict[str, Any]:
    """data.access.organisations: decisions by id, aliases to ids, and what they were decided under."""
    decisions: dict[str, dict[str, Any]] = {}
    for record in screened.records:
        if record["policy_version"] != rules.version:
            raise InputError(
                f"decided under policy {record['policy_version']}, but the bundle holds policy {rules.version}: "
                "screen again with these rules",
                file=screened.source,
                path="policy_version",
                value=record["policy_version"],
            )
        decisions[record["entity"]] = {
            "decision": record["decision"],
            "reasons": [{"rule_id": r.get("rule_id"), "code": r.get("code")} for r in record["reasons"]],
            "policy_version": record["policy_version"],
            "facts_digest": facts_digest,
        }
    owners: dict[str, set[str]] = {}
    for entity, names in aliases.items():
        if entity in decisions:
            for name in names:
                if name not in decisions:  # an entity's own id always names it
                    owners.setdefault(name, set()).add(entity)
    table = {entity: entity for entity in decisions}
    table.update({name: next(iter(ids)) for name, ids in owners.items() if len(ids) == 1})
    table = dict(sorted(table.items()))
    ambiguous = sorted(name for name, ids in owners.items() if len(ids) > 1)
    return {
        "policy_version": rules.version,
        "rules_digest": rules.digest,
        "facts_digest": facts_digest,
        "as_of": screened.as_of,
        "decisions": decisions,
        "aliases": table,
        "ambiguous_aliases": ambiguous,
    }
