"""`tos-policy store init|load|log`: the registry store (evaluator/tos_policy/operations/store.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tos_policy.cli.params import IsoDate
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
from tos_policy.limits import Limits, watchdog, with_limit_options
from tos_policy.operations.source import parse_day


@click.group("store")
def store_group() -> None:
    """The registry store: an embedded DuckDB file of every facts batch loaded, and its decisions."""


@store_group.command("init")
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@fail_cleanly
def init_command(db: Path) -> None:
    """Create an empty store at DB (refused if DB exists)."""
    from tos_policy.operations.store import Store

    Store.create(db).close()
    click.echo(json.dumps({"store": str(db), "loads": 0}))


@store_group.command("load")
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("facts_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--delta",
    is_flag=True,
    default=False,
    help="The files hold changes only (an entity replaces the one with its id, a link the links with the same owner, "
    "asset, kind and start date). Default: they are the whole registry, and what they do not hold is removed.",
)
@click.option(
    "--known-on", type=IsoDate(), default=None, help="Date of the extract (YYYY-MM-DD). Default: today (UTC)."
)
@as_of_option("Date the decisions are made at. Default: --known-on.")
@click.option("--full", is_flag=True, default=False, help="Re-decide every entity, not only those the load can reach.")
@profile_option
@decision_log_option("Append one JSON line per decision made by this load.")
@rules_option
@with_engine_options
@with_limit_options
@fail_cleanly
def load_command(
    db: Path,
    facts_files: tuple[Path, ...],
    delta: bool,
    known_on: str | None,
    as_of: str | None,
    full: bool,
    profile: str | None,
    decision_log: Path | None,
    rules_dir: Path | None,
    engine: EngineChoice,
    limits: Limits,
) -> None:
    """Append FACTS_FILES (facts JSON or JSON Lines, e.g. from `tos-policy import`) to the store at DB as one
    load, and decide the entities it can reach. The whole load, with its decisions, lands or nothing does."""
    from tos_policy.operations.incremental import decide_load
    from tos_policy.operations.records import read_records
    from tos_policy.operations.store import Store
    from tos_policy.policy.ruleset import load_rules
    from tos_policy.reports.decision_log import append_lines, encode_lines

    deadline = limits.deadline()  # reading a pipe or FIFO stops at --max-seconds from here
    day = parse_as_of(known_on) if known_on else parse_as_of(None)
    decide_on = parse_day(as_of, "--as-of") or day
    rules = load_rules(rules_dir)
    runner = make_engine(engine, rules)
    try:
        with Store.open(db, read_only=False) as store, store.transaction(), watchdog(limits.max_seconds):
            info = store.append_load(
                read_records(facts_files, limits, deadline),
                mode="delta" if delta else "snapshot",
                known_on=day,
                sources=[str(path) for path in facts_files],
            )
            result = decide_load(
                store, info.load_id, rules, runner, as_of=decide_on, profile=profile, limits=limits, full=full
            )
            if decision_log is not None:  # logged before the load commits: no decision is stored unlogged
                lines = [
                    {
                        **record,
                        "as_of": decide_on.isoformat(),
                        "facts_digest": result.facts_digest,
                        "engine": runner.name,
                        "load": info.load_id,
                    }
                    for record in result.records.values()
                ]
                append_lines(decision_log, encode_lines(lines))
    finally:
        runner.close()
    click.echo(json.dumps({**info.as_json(), **result.as_json()}, sort_keys=True))


@store_group.command("log")
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@fail_cleanly
def log_command(db: Path) -> None:
    """List the loads of the store at DB, one JSON line each."""
    from tos_policy.operations.store import Store

    with Store.open(db) as store:
        for info in store.loads():
            run = store.run(info.load_id)
            record = info.as_json()
            if run is not None:
                record.update({"as_of": run[0].isoformat(), "decided": run[2], "full_screen": run[3]})
            click.echo(json.dumps(record, sort_keys=True))


def register(main: click.Group) -> None:
    main.add_command(store_group)
