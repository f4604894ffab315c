"""`tos-policy review-queue`: the review decisions, what would settle each, most consequential first."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import click

from tos_policy.atomic import replaced_atomically
from tos_policy.cli.support import (
    EngineChoice,
    as_of_option,
    decision_log_option,
    fail_cleanly,
    make_engine,
    parse_as_of,
    profile_option,
    rules_option,
    with_engine_options,
)
from tos_policy.facts.load import Facts, Link
from tos_policy.limits import Limits, watchdog, with_limit_options
from tos_policy.operations.source import StoreSource, one_source, with_store_options
from tos_policy.policy.effective import not_yet_in_force


def _from_store(source: StoreSource) -> tuple[Facts, dict[str, dict[str, Any]], date, str]:
    from tos_policy.operations.store import Store, StoreError

    with Store.open(source.path) as store:
        info = store.resolve(source.load_id, source.known_on)
        run = store.run(info.load_id)
        if run is None:
            raise StoreError("this load has no decisions", file=str(source.path), path="--load", value=info.load_id)
        return store.facts(info.load_id), store.decisions(info.load_id), run[0], f"{source.path}#load-{info.load_id}"


def _from_files(
    files: tuple[Path, ...],
    as_of: date,
    rules_dir: Path | None,
    profile: str | None,
    engine: EngineChoice,
    limits: Limits,
    decision_log: Path | None,
) -> tuple[Facts, dict[str, dict[str, Any]], list[str]]:
    """The facts, their decisions and the warnings about the rules that made them."""
    from tos_policy.facts.load import load_facts
    from tos_policy.operations.incremental import decide_all
    from tos_policy.ownership.pipeline import facts_digest
    from tos_policy.policy.ruleset import load_rules
    from tos_policy.reports.decision_log import append_lines, encode_lines

    rules = load_rules(rules_dir)
    deadline = limits.deadline()  # reading (a pipe or FIFO too) stops at --max-seconds from here
    facts = load_facts(list(files), limits=limits, deadline=deadline)
    runner = make_engine(engine, rules)
    try:
        with watchdog(limits.max_seconds):
            profile_name = profile or str(rules.policy_set["default_profile"])
            records = decide_all(facts, rules, runner, as_of=as_of, profile=profile_name, limits=limits)
    finally:
        runner.close()
    if decision_log is not None:  # logged before anything is printed
        digest = facts_digest(facts)
        lines = [
            {**record, "as_of": as_of.isoformat(), "facts_digest": digest, "engine": runner.name}
            for record in records.values()
        ]
        append_lines(decision_log, encode_lines(lines))
    return facts, records, not_yet_in_force(rules.policy_set, as_of)


@click.command("review-queue")
@click.argument("facts_files", nargs=-1, type=click.Path(path_type=Path))
@as_of_option("With FACTS: the date decided at (default: today, UTC).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "html"]), default="json", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here (atomically)."
)
@profile_option
@decision_log_option("With FACTS: append one JSON line per decision made.")
@rules_option
@with_engine_options
@with_limit_options
@with_store_options
@fail_cleanly
def review_queue_command(
    facts_files: tuple[Path, ...],
    as_of: str | None,
    fmt: str,
    output: Path | None,
    profile: str | None,
    decision_log: Path | None,
    rules_dir: Path | None,
    engine: EngineChoice,
    limits: Limits,
    store: StoreSource | None,
) -> None:
    """List the review decisions of FACTS (decided now) or of the --store (as decided at the load), each with
    the missing or uncertain facts that would settle it and the restricted ownership at stake, most
    consequential first; the HTML page draws each entity's owners."""
    from tos_policy.operations.review_page import page
    from tos_policy.operations.review_queue import CSV_FIELDS, csv_rows, review_queue

    one_source(facts_files, store)
    warnings: list[str] = []  # a load in the store was decided by the rules of its day
    if store is not None:
        facts, decisions, day, source = _from_store(store)
    else:
        day = parse_as_of(as_of)
        facts, decisions, warnings = _from_files(facts_files, day, rules_dir, profile, engine, limits, decision_log)
        source = ", ".join(str(path) for path in facts_files)
    links: list[Link] = facts.active_links(day)
    items = review_queue(facts, decisions, links)
    if fmt == "json":
        document = {
            "source": source,
            "as_of": day.isoformat(),
            "summary": {"review": len(items), "decisions": len(decisions)},
            "queue": [item.as_json() for item in items],
            **({"warnings": warnings} if warnings else {}),
        }
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(csv_rows(items))
        text = buffer.getvalue()
    else:
        text = page(items, f"Review queue: {source}, as of {day.isoformat()}")
    if fmt != "json":  # CSV and the page have no place for it: said beside them
        for warning in warnings:
            click.echo(f"WARNING: {warning}", err=True)
    if output is None:
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(output) as temporary:
        temporary.write_text(text, encoding="utf-8")
    click.echo(f"review queue: {output} ({len(items)} to review)", err=True)


def register(main: click.Group) -> None:
    main.add_command(review_queue_command)
