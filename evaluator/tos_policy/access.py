"""Access requests (rules/access, TOS-ACC-*): a sign-up or API-key request and the
facts about its organisation in, one combined decision out.

    request = load_request(Path("request.json"))
    outcome = decide_access(request, facts, rules, engine, as_of=date(2025, 10, 1))
    outcome.decision, outcome.reasons

The account's organisation, if the request names one, is decided first by the
ownership rules (`evaluate(..., entity_ids=[id])`, with the ownership profile the
access policy names). Its decision goes into data.access.result with the request's
signals; the access rules decide what an ownership deny or review means for access.
Nothing here reads a country list or decides anything itself: it builds the input,
queries the engine and checks the answer. An engine failure, an undefined result or
a result that does not hold together raises EngineError, never an allow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from jsonschema.exceptions import best_match

from tos_policy.engines import ACCESS_RESULT, Engine
from tos_policy.errors import EngineError, InputError, RulesError
from tos_policy.facts.load import Facts, parse_json_bytes, place_code
from tos_policy.facts.merge import resolve
from tos_policy.jsonio import json_path
from tos_policy.ownership.decisions import Decision
from tos_policy.ownership.pipeline import Report, evaluate
from tos_policy.policy.effective import not_yet_in_force
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.records import cited_considered, cited_reasons, path_sources
from tos_policy.resources import schema
from tos_policy.schema_check import validator_for
from tos_policy.versions import decision_versions

ACCESS_ENTRYPOINT = ACCESS_RESULT
DEFAULT_ACCESS_POLICY = "terms_of_service"
PACKAGE_RULE_ID = "TOS-ACC"
COUNTRY_SIGNALS = ("billing_country", "phone_country", "id_document_country", "ip_country")
FLAG_SIGNALS = ("ip_is_vpn", "ip_is_proxy", "ip_is_hosting")
RESELLER_COUNTRIES = ("country", "end_customer_country")
DECISIONS = ("allow", "deny", "review")
MAX_REQUEST_BYTES = 1 << 20  # one request is a few hundred bytes; refuse anything absurd before parsing it


@runtime_checkable
class QueryEngine(Protocol):
    """An engine that evaluates any entrypoint, not only the ownership batch (both engines do)."""

    name: str

    def query(self, entrypoint: str, input: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class AccessRequest:
    """A request as the rules read it: countries normalised to alpha-2 or None, every signal present."""

    organisation: str | None
    signals: dict[str, Any]
    request_id: str | None = None
    file: str = "<request>"


@dataclass(frozen=True)
class AccessDecision:
    request_id: str | None
    decision: str  # allow | deny | review
    reasons: list[dict[str, Any]]
    organisation: dict[str, Any] | None  # {id, name?, decision, reasons, paths, exceptions?}; None: an individual
    signals: dict[str, Any]
    policy: dict[str, Any]
    as_of: date
    engine: str
    facts_digest: str | None
    # The ownership evaluation behind `organisation`, for explanations; not part of the JSON record.
    ownership: tuple[Report, Decision] | None = field(default=None, compare=False, repr=False)
    # The rules that decided it: their METADATA words its reasons; not part of the JSON record.
    rules: RuleSet | None = field(default=None, compare=False, repr=False)

    def as_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "request": self.request_id,
            "decision": self.decision,
            "reasons": self.reasons,
            "organisation": self.organisation,
            "signals": self.signals,
            "policy": self.policy,
            "as_of": self.as_of.isoformat(),
            "engine": self.engine,
            "facts_digest": self.facts_digest,
        }
        if self.warnings:  # only where there is one: decisions of rules in force keep their bytes
            record["warnings"] = self.warnings
        return record

    @property
    def warnings(self) -> list[str]:
        """Whether the rules were in force on the as-of date (policy/effective.py)."""
        return not_yet_in_force(self.policy, self.as_of)

    def to_json(self) -> str:
        """The machine contract: same request, facts and rules, same bytes."""
        return json.dumps(self.as_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- the request ---------------------------------------------------------------------------------------------


def load_request(path: str | Path) -> AccessRequest:
    """Read, validate and normalise REQUEST.json; every problem is an InputError naming file, JSON path and value."""
    file = str(path)
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_REQUEST_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=file, value=file) from None
    if len(raw) > MAX_REQUEST_BYTES:
        raise InputError(f"a request must be at most {MAX_REQUEST_BYTES:,} bytes", file=file, value=len(raw))
    return request_from_document(parse_json_bytes(raw, file), file)


def request_from_document(document: Any, file: str = "<request>") -> AccessRequest:
    error = best_match(validator_for(schema("access-request")).iter_errors(document))
    if error is not None:
        raise InputError(error.message, file=file, path=json_path(error.absolute_path), value=error.instance)
    given: dict[str, Any] = document["signals"]
    # A country signal may be an ISO 3166-2 subdivision code ("UA-43"): the rules then see
    # its country and, under signals.subdivisions, the subdivision.
    subdivisions: dict[str, str] = {}

    def country(value: str | None, name: str, path: str) -> str | None:
        code, subdivision = place_code(value, file, path)
        if subdivision is not None:
            subdivisions[name] = subdivision
        return code

    signals: dict[str, Any] = {name: country(given.get(name), name, f"$.signals.{name}") for name in COUNTRY_SIGNALS}
    signals.update({name: bool(given.get(name, False)) for name in FLAG_SIGNALS})
    reseller = given.get("reseller")
    if reseller is not None:
        reseller = {
            "name": reseller["name"],
            **{
                key: country(reseller.get(key), f"reseller_{key}", f"$.signals.reseller.{key}")
                for key in RESELLER_COUNTRIES
            },
        }
    signals["reseller"] = reseller
    if subdivisions:
        signals["subdivisions"] = subdivisions
    return AccessRequest(
        organisation=document["organisation"], signals=signals, request_id=document.get("id"), file=file
    )


def check_organisation(request: AccessRequest, facts: Facts | None) -> None:
    """The request's organisation must be an entity of the facts; an individual needs no facts."""
    if request.organisation is None:
        return
    if facts is None:
        raise InputError(
            "the request names an organisation: give the facts about it (--facts FACTS.json)",
            file=request.file,
            path="$.organisation",
            value=request.organisation,
        )
    try:  # by its id, a merged record's id or any of its identifiers (facts/merge.py)
        resolve(facts, request.organisation, file=request.file, path="$.organisation")
    except InputError as exc:
        where = ", ".join(facts.files) or "the facts"
        raise InputError(f"{exc.message} ({where})", file=exc.file, path=exc.path, value=exc.value) from None


# --- the policy ----------------------------------------------------------------------------------------------


def access_policy(rules: RuleSet, name: str) -> dict[str, Any]:
    """The access policy `name` (data.access.policies). load_rules checked every access policy
    against schemas/access-policy.schema.json and that the ownership profile it names exists;
    the first problem of any of them is raised here, when access is decided."""
    for _, error in sorted(rules.access_policy_errors.items()):
        raise error
    policies = rules.data.get("access", {}).get("policies", {})
    if name not in policies:
        known = ", ".join(sorted(policies)) or "none"
        base = rules.root / "access" / "policies"
        raise RulesError(f"unknown access policy (known: {known})", file=str(base), path="--policy", value=name)
    policy: dict[str, Any] = policies[name]
    return policy


# --- deciding ------------------------------------------------------------------------------------------------


def access_input(request: AccessRequest, policy: str, organisation: dict[str, Any] | None) -> dict[str, Any]:
    """The input of data.access.result. Only the rule ids and codes of the ownership reasons go in."""
    org_input = None
    if organisation is not None:
        org_input = {
            "id": organisation["id"],
            "decision": organisation["decision"],
            "reasons": [{"rule_id": r.get("rule_id"), "code": r.get("code")} for r in organisation["reasons"]],
        }
    return {"policy": policy, "organisation": org_input, "signals": request.signals}


def decide_access(
    request: AccessRequest,
    facts: Facts | None,
    rules: RuleSet,
    engine: Engine,
    *,
    as_of: date,
    policy: str | None = None,
) -> AccessDecision:
    """The combined decision for one request: the organisation's ownership decision and the request's signals."""
    policy_name = policy or DEFAULT_ACCESS_POLICY
    policy_data = access_policy(rules, policy_name)
    check_organisation(request, facts)
    querying = _query_engine(engine)
    organisation: dict[str, Any] | None = None
    ownership: tuple[Report, Decision] | None = None
    if request.organisation is not None and facts is not None:
        report = evaluate(
            facts,
            rules,
            engine,
            as_of=as_of,
            profile=policy_data["ownership_profile"],
            entity_ids=[request.organisation],
        )
        item = report.decisions[0]
        ownership = (report, item)
        organisation = {
            "id": item.entity.id,
            "decision": item.decision,
            "reasons": cited_reasons(item),  # each citing its facts, as evaluate's records do
            "paths": item.paths,
        }
        if item.paths:
            organisation["path_sources"] = path_sources(report, item)
        if item.considered:
            organisation["considered"] = cited_considered(item)
        if item.entity.name:
            organisation["name"] = item.entity.name
        if item.exceptions:  # an exception that changed the organisation's decision is cited, never hidden
            organisation["exceptions"] = item.exceptions
    result = querying.query(ACCESS_ENTRYPOINT, access_input(request, policy_name, organisation))
    decision, reasons = check_access_result(result, policy_name, engine.name)
    package = rules.rules.get(PACKAGE_RULE_ID)
    return AccessDecision(
        request_id=request.request_id,
        decision=decision,
        reasons=[_with_metadata(reason, rules) for reason in reasons],
        organisation=organisation,
        signals=request.signals,
        policy={
            "name": rules.policy_set["name"],
            "version": rules.version,
            "effective_date": rules.policy_set["effective_date"],
            "rules_digest": rules.digest,
            "access_policy": policy_name,
            "access_rules_version": package.custom.get("version") if package else None,
            "ownership_profile": policy_data["ownership_profile"],
            **decision_versions(),
        },
        as_of=as_of,
        engine=engine.name,
        facts_digest=ownership[0].facts_digest if ownership else None,
        ownership=ownership,
        rules=rules,
    )


def _query_engine(engine: Engine) -> QueryEngine:
    if not isinstance(engine, QueryEngine):
        raise EngineError(f"{engine.name}: this engine cannot evaluate {ACCESS_ENTRYPOINT} (no query method)")
    return engine


_EFFECT_ORDER = {"deny": 0, "review": 1}


def reason_order(reason: dict[str, Any]) -> tuple[int, str, str, str]:
    """Deny before review, then by rule, then by signal: an order both engines agree on."""
    return (
        _EFFECT_ORDER.get(str(reason.get("effect")), 1),
        str(reason.get("rule_id")),
        str(reason.get("signal")),
        json.dumps(reason, sort_keys=True),
    )


def check_access_result(result: Any, policy: str, engine: str) -> tuple[str, list[dict[str, Any]]]:
    """(decision, reasons sorted) from data.access.result, or EngineError when the answer is not one the
    rules can give: deny exactly when a reason denies, allow exactly when there is no reason."""
    if not isinstance(result, dict) or result.get("policy") != policy:
        raise EngineError(f"{engine}: {ACCESS_ENTRYPOINT} returned a malformed result: {result!r:.200}")
    decision, reasons = result.get("decision"), result.get("reasons")
    if decision not in DECISIONS or not isinstance(reasons, list):
        raise EngineError(f"{engine}: {ACCESS_ENTRYPOINT} returned a malformed result: {result!r:.200}")
    for reason in reasons:
        if not (
            isinstance(reason, dict)
            and isinstance(reason.get("rule_id"), str)
            and isinstance(reason.get("signal"), str)
            and isinstance(reason.get("effect"), str)
        ):
            raise EngineError(
                f"{engine}: {ACCESS_ENTRYPOINT} returned a reason without rule, signal or effect: {reason!r:.200}"
            )
    expected = decision_of(reasons)
    if decision != expected:
        raise EngineError(
            f"{engine}: {ACCESS_ENTRYPOINT} decided {decision!r} but its reasons give {expected!r}: {result!r:.200}"
        )
    return decision, sorted(reasons, key=reason_order)


def decision_of(reasons: list[dict[str, Any]]) -> str:
    """Deny overrides review, review overrides allow: what the access rules' reasons add up to."""
    if any(reason.get("effect") == "deny" for reason in reasons):
        return "deny"
    return "review" if reasons else "allow"


def _with_metadata(reason: dict[str, Any], rules: RuleSet) -> dict[str, Any]:
    rendered = dict(reason)
    info = rules.rules.get(str(reason.get("rule_id")))
    if info is not None:
        rendered["rule_title"] = info.title
        if info.clause:
            rendered["clause"] = info.clause
    return rendered
