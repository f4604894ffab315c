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
    as_of_option,
    fail_cleanly,
    fail_on_option,
    make_engine,
    parse_as_of,
    rules_option,
    with_engine_options,
)
from tos_policy.facts.load import load_facts
from tos_policy.policy.ruleset import RuleSet, load_rules
from tos_policy.policy.wording import reason_message
from tos_policy.reports.display import printable
from tos_policy.reports.records import cited_reasons, path_source_lines, path_sources, path_text, reason_source_lines
from tos_policy.reports.records import reason_sentence as ownership_sentence


@click.command("decide")
@click.argument("request_file", type=click.Path(path_type=Path))
@click.option(
    "--facts",
    "facts_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Facts about the request's organisation (needed unless the request is from an individual).",
)
@as_of_option()
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
@click.option(
    "--policy",
    "policy_name",
    default=None,
    help="Access policy under rules/access/policies (default: terms_of_service).",
)
@fail_on_option("the decision")
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
    click.echo(outcome.to_json() if fmt == "json" else printable(access_text(outcome), keep_newlines=True), nl=False)
    failing = {"deny": {"deny"}, "review": {"deny", "review"}}.get(fail_on or "", set())
    if outcome.decision in failing:
        sys.exit(1)


def reason_text(reason: dict[str, Any], rules: RuleSet | None = None) -> str:
    """One reason in plain English, worded by its rule's METADATA (policy/wording.py)."""
    return reason_message(reason, rules)


def access_text(outcome: AccessDecision) -> str:
    policy = outcome.policy
    title = f"Request {outcome.request_id}" if outcome.request_id else "Request"
    lines = [
        f"{title}: {outcome.decision.upper()}",
        f"Policy {policy['name']} {policy['version']} (access policy {policy['access_policy']}, access rules "
        f"{policy['access_rules_version']}, ownership profile {policy['ownership_profile']}), "
        f"as of {outcome.as_of.isoformat()}.",
        *(f"WARNING: {warning}" for warning in outcome.warnings),
    ]
    if outcome.organisation is None:
        lines.append("Organisation: none (an individual), decided from the request's signals only.")
    else:
        org = outcome.organisation
        label = printable(f"{org['name']} ({org['id']})" if org.get("name") else org["id"])
        lines.append(f"Organisation: {label}, ownership decision {org['decision']}.")
    if not outcome.reasons:
        lines.append("No rule gives a reason: allowed.")
        return "\n".join(lines) + "\n"
    lines.append("Reasons:")
    for reason in outcome.reasons:
        where = f"Rule {reason.get('rule_id')}"
        if reason.get("rule_title"):
            where += f" ({reason['rule_title']})"
        text = reason_text(reason, outcome.rules)
        lines.append(f"  - [{reason.get('effect')}] {where}, signal {reason.get('signal')}: {text}")
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
    for ownership_reason in cited_reasons(item):
        sentence = ownership_sentence(item.entity, ownership_reason, item.rules)
        lines.append(f"      {ownership_reason.get('rule_id')}: {sentence}")
        lines.extend(reason_source_lines(ownership_reason, item.entity, entities))
    for path, cited in zip(item.paths, path_sources(report, item), strict=True):
        lines.append(f"      path: {path_text(report, path, entities)}")
        lines.extend(path_source_lines(cited, entities))
    return lines


def register(main: click.Group) -> None:
    main.add_command(decide_command)
