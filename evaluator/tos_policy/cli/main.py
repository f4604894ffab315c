"""The `tos-policy` command line. It only wires the modules together.

Core commands (evaluate, explain, validate) are here; other command groups live
in evaluator/tos_policy/cli/commands/, one module each, and register themselves through a
`register(main)` function."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import click

from tos_policy.cli import commands
from tos_policy.cli.params import OneLineErrors
from tos_policy.cli.support import (
    EngineChoice,
    as_of_option,
    decision_log_option,
    fail_cleanly,
    fail_on_option,
    in_force_day,
    make_engine,
    parse_as_of,
    profile_option,
    rules_in_force_option,
    rules_option,
    rules_ref_option,
    with_engine_options,
)
from tos_policy.errors import InputError
from tos_policy.facts.load import load_facts
from tos_policy.limits import Limits, watchdog, with_limit_options
from tos_policy.operations.determinations import overlay
from tos_policy.operations.source import StoreSource, one_source, with_store_options
from tos_policy.ownership.pipeline import Report, evaluate
from tos_policy.policy.integrity import check_rules
from tos_policy.policy.legal_exceptions import ExceptionBook
from tos_policy.policy.ruleset import load_rules
from tos_policy.release.history import rules_dir_at
from tos_policy.reports.decision_log import append_report
from tos_policy.reports.display import printable
from tos_policy.reports.records import (
    determinations_text,
    exceptions_text,
    explain_text,
    json_chunks,
    mermaid,
    table_rows,
    warnings_text,
)
from tos_policy.versions import code_digest, evaluator_version


def _show_version(context: click.Context, _param: click.Parameter, value: bool) -> None:
    """The evaluator's version and the shipped policy's, and the digests that identify them."""
    if not value or context.resilient_parsing:
        return
    rules = load_rules()
    click.echo(f"tos-policy {evaluator_version()} (decision code {code_digest()})")
    click.echo(
        f"policy {rules.policy_set['name']} {rules.version}, effective {rules.policy_set['effective_date']} "
        f"(rules {rules.digest})"
    )
    context.exit()


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the evaluator's and the shipped policy's versions and exit.",
)
def main() -> None:
    """Decide whether organisations may use the service under the terms of service."""


def _run(
    facts_file: Path | None,
    store: StoreSource | None,
    rules_dir: Path | None,
    entity: tuple[str, ...],
    as_of: str | None,
    profile: str | None,
    engine_choice: EngineChoice,
    limits: Limits,
    decision_log: Path | None,
) -> Report:
    rules = load_rules(rules_dir)
    one_source((facts_file,) if facts_file else (), store)
    deadline = limits.deadline()  # reading (a pipe or FIFO too) stops at --max-seconds from here
    facts = (
        store.load(limits) if store is not None else load_facts([facts_file or ""], limits=limits, deadline=deadline)
    )
    engine = make_engine(engine_choice, rules)
    day = parse_as_of(as_of)
    findings = overlay(facts, rules, day)  # reviewers' determinations in force, applied before deciding
    try:
        with watchdog(limits.max_seconds):  # a backstop for one engine call that never returns
            report = evaluate(
                findings.facts, rules, engine, as_of=day, profile=profile, entity_ids=list(entity), limits=limits
            )
    finally:
        engine.close()
    report.determinations = findings
    if decision_log is not None:  # logged before anything is printed: no decision goes out unlogged
        append_report(decision_log, report)
    return report


@main.command("evaluate")
@click.argument("facts_file", required=False, type=click.Path(path_type=Path))
@click.option("--entity", multiple=True, help="Decide only this entity (repeatable). Default: every entity.")
@as_of_option()
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True)
@profile_option
@fail_on_option("any decision")
@decision_log_option()
@rules_option
@rules_ref_option
@rules_in_force_option
@with_engine_options
@with_limit_options
@with_store_options
@fail_cleanly
def evaluate_command(
    facts_file: Path | None,
    entity: tuple[str, ...],
    as_of: str | None,
    fmt: str,
    profile: str | None,
    fail_on: str | None,
    decision_log: Path | None,
    rules_dir: Path | None,
    rules_ref: str | None,
    rules_in_force: bool,
    engine: EngineChoice,
    limits: Limits,
    store: StoreSource | None,
) -> None:
    """Decide every entity in FACTS_FILE or the --store (or those named by --entity)."""
    with rules_dir_at(rules_ref, rules_dir, in_force_day(rules_in_force, as_of)) as rules_at:
        report = _run(facts_file, store, rules_at, entity, as_of, profile, engine, limits, decision_log)
    if fmt == "json":
        for piece in json_chunks(report):  # written as made: the report can be far larger than the facts
            click.echo(piece, nl=False)
    else:
        _print_table(report)
    failing = {"deny": {"deny"}, "review": {"deny", "review"}}.get(fail_on or "", set())
    if any(item.decision in failing for item in report.decisions):
        sys.exit(1)


def _print_table(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Every cell is a Text: ids and names print as written, never read as Rich markup.
    title = printable(f"{report.policy['name']} {report.policy['version']} as of {report.as_of.isoformat()}")
    table = Table(title=Text(title))
    for column in ("entity", "name", "decision", "reasons"):
        table.add_column(column)
    styles = {"deny": "red", "review": "yellow", "allow": "green"}
    for entity_id, name, decision, reasons in table_rows(report):
        table.add_row(Text(entity_id), Text(name), Text(decision, style=styles[decision]), Text(reasons))
    console = Console(width=120)
    console.print(table)
    undisclosed = sum(1 for item in report.decisions if item.undisclosed and item.entity.subject == "organisation")
    if undisclosed:
        console.print(f"Reviews for undisclosed ownership: {undisclosed}.", markup=False, highlight=False)
    aside = report.set_aside()
    if any(aside.values()):
        line = (
            f"Not screened organisations, decided apart: {aside['persons']} person(s), "
            f"{aside['placeholders']} placeholder(s), marked as such beside their names."
        )
        console.print(line, markup=False, highlight=False)
    for line in [*warnings_text(report), *exceptions_text(report), *determinations_text(report)]:
        console.print(Text(printable(line)), markup=False, highlight=False)


@main.command("explain")
@click.argument("facts_file", required=False, type=click.Path(path_type=Path))
@click.option("--entity", required=True, help="The entity to explain.")
@as_of_option()
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid"]), default="text", show_default=True)
@profile_option
@decision_log_option()
@rules_option
@rules_ref_option
@rules_in_force_option
@with_engine_options
@with_limit_options
@with_store_options
@fail_cleanly
def explain_command(
    facts_file: Path | None,
    entity: str,
    as_of: str | None,
    fmt: str,
    profile: str | None,
    decision_log: Path | None,
    rules_dir: Path | None,
    rules_ref: str | None,
    rules_in_force: bool,
    engine: EngineChoice,
    limits: Limits,
    store: StoreSource | None,
) -> None:
    """Explain one entity's decision in plain English, with its ownership paths."""
    with rules_dir_at(rules_ref, rules_dir, in_force_day(rules_in_force, as_of)) as rules_at:
        report = _run(facts_file, store, rules_at, (entity,), as_of, profile, engine, limits, decision_log)
    item = report.decisions[0]
    click.echo(
        explain_text(report, item) if fmt == "text" else printable(mermaid(report, item), keep_newlines=True), nl=False
    )


@main.command("validate")
@click.argument("facts_files", nargs=-1, type=click.Path(path_type=Path))
@rules_option
@click.option(
    "--opa",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="OPA binary whose parse of the rules the sandbox check reads (default: $OPA_BINARY, .tools/bin/opa, PATH).",
)
@fail_cleanly
def validate_command(facts_files: tuple[Path, ...], rules_dir: Path | None, opa: Path | None) -> None:
    """Check the rules (data against the schemas, sandbox, embedded compile) and the given facts files."""
    from tos_policy.release.history import repo_root
    from tos_policy.release.policy_docs import find_opa

    rules = load_rules(rules_dir)
    ExceptionBook.of(rules, parse_as_of(None))  # rules/exceptions/data.json against its schema and the rules
    try:
        repo: Path | None = repo_root(rules.root)
    except InputError:
        repo = None
    sandbox = check_rules(rules, find_opa(opa, repo))
    click.echo(f"rules: {rules.root} (policy {rules.version}, {len(rules.modules)} modules; sandbox: {sandbox}) OK")
    for path in facts_files:
        facts = load_facts([path])
        click.echo(f"facts: {path} ({len(facts.entities)} entities, {len(facts.links)} links) OK")


def _register_commands() -> None:
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda found: found.name):
        importlib.import_module(f"{commands.__name__}.{module.name}").register(main)


_register_commands()

if __name__ == "__main__":
    main()
