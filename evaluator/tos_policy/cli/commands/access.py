"""`tos-policy decide REQUEST.json --facts FACTS.json`: the whole terms-of-service
decision for one sign-up or API-key request (rules/access, evaluator/tos_policy/access.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tos_policy.access import (
    DEFAULT_ACCESS_POLICY,
    AccessDecision,
    access_policy,
    check_organisation,
    decide_access,
    load_request,
)
from tos_policy.cli.support import (
    EngineChoice,
    fail_cleanly,
    make_engine,
    parse_as_of,
    rules_option,
    with_engine_options,
)
from tos_policy.facts.load import load_facts
from tos_policy.policy.ruleset import load_rules
from tos_policy.reports.records import path_text
from tos_policy.reports.records import reason_sentence as ownership_sentence

SIGNAL_WORDS = {
    "billing_country": "The billing country",
    "phone_country": "The phone number's country",
    "id_document_country": "The identity document's issuing country",
    "ip_country": "The IP address's country",
    "reseller_country": "The reseller's country",
    "reseller_end_customer_country": "The reseller's end customer's country",
}
FLAG_WORDS = {"ip_is_vpn": "a known VPN exit", "ip_is_proxy": "a known proxy", "ip_is_hosting": "a hosting address"}


@click.command("decide")
@click.argument("request_file", type=click.Path(path_type=Path))
@click.option(
    "--facts",
    "facts_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Facts about the request's organisation (needed unless the request is from an individual).",
)
@click.option("--as-of", default=None, help="Date the facts are read at (YYYY-MM-DD). Default: today (UTC).")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
@click.option(
    "--policy",
    "policy_name",
    default=None,
    help="Access policy under rules/access/policies (default: terms_of_service).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["deny", "review"]),
    default=None,
    help="Exit 1 if the decision is this (review also fails on deny).",
)
@rules_option
@with_engine_options
@fail_cleanly
def decide_command(
    request_file: Path,
    facts_file: Path | None,
    as_of: str | None,
    fmt: str,
    policy_name: str | None,
    fail_on: str | None,
    rules_dir: Path | None,
    engine: EngineChoice,
) -> None:
    """Decide one access request (sign-up or API key): its organisation's ownership and its signals."""
    day = parse_as_of(as_of)
    rules = load_rules(rules_dir)
    request = load_request(request_file)
    facts = load_facts([facts_file]) if facts_file is not None else None
    # Bad input is reported (exit 2) before an engine is started.
    access_policy(rules, policy_name or DEFAULT_ACCESS_POLICY)
    check_organisation(request, facts)
    runner = make_engine(engine, rules)
    try:
        outcome = decide_access(request, facts, rules, runner, as_of=day, policy=policy_name)
    finally:
        runner.close()
    click.echo(outcome.to_json() if fmt == "json" else access_text(outcome), nl=False)
    failing = {"deny": {"deny"}, "review": {"deny", "review"}}.get(fail_on or "", set())
    if outcome.decision in failing:
        sys.exit(1)


def reason_text(reason: dict[str, Any]) -> str:
    """One reason in plain English, naming the signal that gave it."""
    code = reason.get("code")
    signal = str(reason.get("signal"))
    country = reason.get("country")
    words = SIGNAL_WORDS.get(signal, signal)
    if code == "OWNERSHIP_DECISION":
        rules = ", ".join(reason.get("ownership_rule_ids") or []) or "no rule named"
        verdict = {"deny": "denied", "review": "left for review"}.get(str(reason.get("ownership_decision")), "decided")
        return f"The organisation {reason.get('organisation')} is {verdict} by the ownership rules ({rules})."
    if code == "RESTRICTED_DECLARED_COUNTRY":
        return f"{words} is {country}, a restricted region."
    if code == "RESTRICTED_IP_LOCATION":
        return f"The IP address geolocates to {country}, a restricted region."
    if code == "RESTRICTED_END_CUSTOMER":
        return f"The end customer of {reason.get('reseller')} is in {country}, a restricted region."
    if code == "RESTRICTED_RESELLER":
        return f"The request came through {reason.get('reseller')}, in {country}, a restricted region."
    if code == "ANONYMISED_IP_WITH_RESTRICTED_SIGNAL":
        flagged = FLAG_WORDS.get(signal, signal)
        others = ", ".join(str(name) for name in reason.get("restricted_signals") or [])
        return f"The IP address is {flagged}, and a country signal is in a restricted region ({others})."
    if code == "COUNTRY_UNKNOWN":
        return f"{words} is unknown."
    return f"{code}: {signal}"


def access_text(outcome: AccessDecision) -> str:
    policy = outcome.policy
    title = f"Request {outcome.request_id}" if outcome.request_id else "Request"
    lines = [
        f"{title}: {outcome.decision.upper()}",
        f"Policy {policy['name']} {policy['version']} (access policy {policy['access_policy']}, access rules "
        f"{policy['access_rules_version']}, ownership profile {policy['ownership_profile']}), "
        f"as of {outcome.as_of.isoformat()}.",
    ]
    if outcome.organisation is None:
        lines.append("Organisation: none (an individual), decided from the request's signals only.")
    else:
        org = outcome.organisation
        label = f"{org['name']} ({org['id']})" if org.get("name") else org["id"]
        lines.append(f"Organisation: {label}, ownership decision {org['decision']}.")
    if not outcome.reasons:
        lines.append("No rule gives a reason: allowed.")
        return "\n".join(lines) + "\n"
    lines.append("Reasons:")
    for reason in outcome.reasons:
        where = f"Rule {reason.get('rule_id')}"
        if reason.get("rule_title"):
            where += f" ({reason['rule_title']})"
        lines.append(f"  - [{reason.get('effect')}] {where}, signal {reason.get('signal')}: {reason_text(reason)}")
        if reason.get("code") == "OWNERSHIP_DECISION":
            lines.extend(_ownership_lines(outcome))
    return "\n".join(lines) + "\n"


def _ownership_lines(outcome: AccessDecision) -> list[str]:
    """The organisation's ownership reasons and paths, as `tos-policy explain` words them."""
    if outcome.ownership is None:
        return []
    report, item = outcome.ownership
    entities = report.graph.entities if report.graph else {item.entity.id: item.entity}
    lines = []
    for ownership_reason in item.reasons:
        lines.append(f"      {ownership_reason.get('rule_id')}: {ownership_sentence(item.entity, ownership_reason)}")
    for path in item.paths:
        lines.append(f"      path: {path_text(report, path, entities)}")
    return lines


def register(main: click.Group) -> None:
    main.add_command(decide_command)
