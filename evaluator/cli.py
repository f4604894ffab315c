"""The `tos-policy` command line. It only wires the modules together."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from .engines import Engine
from .errors import InputError, TosPolicyError
from .evaluation import Report, evaluate
from .facts import load_facts
from .reports import explain_text, mermaid, table_rows, to_json
from .rules import RuleSet, load_rules

F = TypeVar("F", bound=Callable[..., Any])


def fail_cleanly(command: F) -> F:
    """Turn every error into one line on stderr and an exit code; never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TosPolicyError as exc:
            click.echo(f"tos-policy: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except RecursionError:
            click.echo("tos-policy: error: input nested too deeply", err=True)
            sys.exit(2)
        except MemoryError:
            click.echo("tos-policy: error: out of memory", err=True)
            sys.exit(1)
        except Exception as exc:  # fail closed: report, decide nothing
            click.echo(f"tos-policy: internal error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def parse_as_of(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError("not a date (YYYY-MM-DD)", file="--as-of", path="$", value=value) from None


def make_engine(name: str, rules: RuleSet, opa_url: str | None, timeout: float) -> Engine:
    if name == "embedded":
        from .engines.embedded import EmbeddedEngine

        return EmbeddedEngine(rules)
    from .engines.opa import OpaEngine

    if not opa_url:
        raise InputError("--engine opa needs --opa-url", file="--opa-url", path="$", value=opa_url)
    return OpaEngine(rules, opa_url, timeout=timeout)


rules_option = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Rules directory (default: the rules shipped with tos-policy).",
)
engine_options = [
    click.option("--engine", type=click.Choice(["embedded", "opa"]), default="embedded", show_default=True),
    click.option("--opa-url", default=None, help="URL of a running OPA server, for --engine opa."),
    click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per engine call."),
]


def with_engine_options(command: F) -> F:
    for option in reversed(engine_options):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tos-policy")
def main() -> None:
    """Decide whether organisations may use the service under the terms of service."""


def _run(
    facts_file: Path,
    rules_dir: Path | None,
    entity: tuple[str, ...],
    as_of: str | None,
    profile: str | None,
    engine_name: str,
    opa_url: str | None,
    timeout: float,
) -> Report:
    rules = load_rules(rules_dir)
    facts = load_facts([facts_file])
    engine = make_engine(engine_name, rules, opa_url, timeout)
    try:
        return evaluate(facts, rules, engine, as_of=parse_as_of(as_of), profile=profile, entity_ids=list(entity))
    finally:
        engine.close()


@main.command("evaluate")
@click.argument("facts_file", type=click.Path(path_type=Path))
@click.option("--entity", multiple=True, help="Decide only this entity (repeatable). Default: every entity.")
@click.option("--as-of", default=None, help="Date the facts are read at (YYYY-MM-DD). Default: today (UTC).")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True)
@click.option("--profile", default=None, help="Policy profile (default: the policy set's default).")
@click.option(
    "--fail-on",
    type=click.Choice(["deny", "review"]),
    default=None,
    help="Exit 1 if any decision is this (review also fails on deny).",
)
@rules_option
@with_engine_options
@fail_cleanly
def evaluate_command(
    facts_file: Path,
    entity: tuple[str, ...],
    as_of: str | None,
    fmt: str,
    profile: str | None,
    fail_on: str | None,
    rules_dir: Path | None,
    engine: str,
    opa_url: str | None,
    timeout: float,
) -> None:
    """Decide every entity in FACTS_FILE (or those named by --entity)."""
    report = _run(facts_file, rules_dir, entity, as_of, profile, engine, opa_url, timeout)
    if fmt == "json":
        click.echo(to_json(report), nl=False)
    else:
        _print_table(report)
    failing = {"deny": {"deny"}, "review": {"deny", "review"}}.get(fail_on or "", set())
    if any(item.decision in failing for item in report.decisions):
        sys.exit(1)


def _print_table(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.policy['name']} {report.policy['version']} as of {report.as_of.isoformat()}")
    for column in ("entity", "name", "decision", "reasons"):
        table.add_column(column)
    styles = {"deny": "red", "review": "yellow", "allow": "green"}
    for entity_id, name, decision, reasons in table_rows(report):
        table.add_row(entity_id, name, f"[{styles[decision]}]{decision}[/]", reasons)
    Console(width=120).print(table)


@main.command("explain")
@click.argument("facts_file", type=click.Path(path_type=Path))
@click.option("--entity", required=True, help="The entity to explain.")
@click.option("--as-of", default=None, help="Date the facts are read at (YYYY-MM-DD). Default: today (UTC).")
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid"]), default="text", show_default=True)
@click.option("--profile", default=None)
@rules_option
@with_engine_options
@fail_cleanly
def explain_command(
    facts_file: Path,
    entity: str,
    as_of: str | None,
    fmt: str,
    profile: str | None,
    rules_dir: Path | None,
    engine: str,
    opa_url: str | None,
    timeout: float,
) -> None:
    """Explain one entity's decision in plain English, with its ownership paths."""
    report = _run(facts_file, rules_dir, (entity,), as_of, profile, engine, opa_url, timeout)
    item = report.decisions[0]
    click.echo(explain_text(report, item) if fmt == "text" else mermaid(report, item), nl=False)


@main.command("validate")
@click.argument("facts_files", nargs=-1, type=click.Path(path_type=Path))
@rules_option
@fail_cleanly
def validate_command(facts_files: tuple[Path, ...], rules_dir: Path | None) -> None:
    """Check the rules' data and the given facts files against the schemas."""
    rules = load_rules(rules_dir)
    click.echo(f"rules: {rules.root} (policy {rules.version}, {len(rules.modules)} modules) OK")
    for path in facts_files:
        facts = load_facts([path])
        click.echo(f"facts: {path} ({len(facts.entities)} entities, {len(facts.links)} links) OK")


if __name__ == "__main__":
    main()
