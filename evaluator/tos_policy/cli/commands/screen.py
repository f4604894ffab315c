"""`tos-policy screen` (decide a whole registry) and `tos-policy synth` (make one)."""

from __future__ import annotations

import gc
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
import orjson

from tos_policy.atomic import replaced_atomically
from tos_policy.cli.support import (
    EngineChoice,
    as_of_option,
    fail_cleanly,
    in_force_day,
    make_engine,
    parse_as_of,
    profile_option,
    rules_in_force_option,
    rules_option,
    rules_ref_option,
    with_engine_options,
)
from tos_policy.engines import Engine
from tos_policy.facts.streaming import load_streaming
from tos_policy.facts.synth import SynthOptions, generate
from tos_policy.limits import Limits, watchdog, with_limit_options
from tos_policy.operations.determinations import overlay
from tos_policy.operations.source import StoreSource, one_source, with_store_options
from tos_policy.ownership.pipeline import DEFAULT_DRIVER, FixpointDriver
from tos_policy.ownership.screening import screen
from tos_policy.policy.effective import not_yet_in_force
from tos_policy.policy.ruleset import RuleSet, load_rules
from tos_policy.release.history import rules_dir_at


@click.command("screen")
@click.argument("facts_files", nargs=-1, required=False, type=click.Path(path_type=Path))
@as_of_option()
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write decisions here as JSON Lines (atomically). Default: standard output.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes; the graph's components are split between them.",
)
@profile_option
@click.option(
    "--plan",
    type=click.Choice(["rows", "columnar", "spark"]),
    default="rows",
    show_default=True,
    help="How the fixpoint runs: rows (Python objects), columnar (SQL rounds in DuckDB) or spark (the same "
    "rounds in Spark SQL; needs the spark extra, $TOS_POLICY_SPARK_MASTER or local[2]); same decisions.",
)
@rules_option
@rules_ref_option
@rules_in_force_option
@with_engine_options
@with_store_options
@with_limit_options
@fail_cleanly
def screen_command(
    facts_files: tuple[Path, ...],
    as_of: str | None,
    out: Path | None,
    workers: int,
    profile: str | None,
    plan: str,
    rules_dir: Path | None,
    rules_ref: str | None,
    rules_in_force: bool,
    engine: EngineChoice,
    store: StoreSource | None,
    limits: Limits,
) -> None:
    """Decide every entity in FACTS_FILES (JSON or JSON Lines) or the --store; one decision per line.

    The limits are those of `evaluate`; --max-seconds counts from the start, reading included."""
    deadline = limits.deadline()  # reading, rounds and decisions all count
    one_source(facts_files, store)
    # Millions of long-lived objects and no reference cycles worth collecting:
    # the cyclic collector would only rescan them over and over. Restored after:
    # a program that runs the command in process keeps its collector.
    collecting = gc.isenabled()
    gc.disable()
    try:
        # The backstop for what cannot be interrupted: a read that blocks (a FIFO no one
        # writes to) and one engine call; everything else checks the deadline as it goes.
        with (
            rules_dir_at(rules_ref, rules_dir, in_force_day(rules_in_force, as_of)) as rules_at,
            watchdog(limits.max_seconds, during="while reading the input or inside one engine call"),
        ):
            _screen_facts(
                facts_files,
                as_of,
                out,
                workers,
                profile,
                rules_at,
                engine,
                store,
                limits,
                deadline,
                fixpoint_driver(plan),
                setwise=plan == "columnar",
            )
    finally:
        if collecting:
            gc.enable()


def _screen_facts(
    facts_files: tuple[Path, ...],
    as_of: str | None,
    out: Path | None,
    workers: int,
    profile: str | None,
    rules_dir: Path | None,
    engine: EngineChoice,
    store: StoreSource | None,
    limits: Limits,
    deadline: float,
    driver: FixpointDriver,
    *,
    setwise: bool = False,
) -> None:
    day = parse_as_of(as_of)
    rules = load_rules(rules_dir)

    def factory(loaded: RuleSet) -> Engine:
        return make_engine(engine, loaded)

    factory(rules).close()  # fail on a bad engine before reading a large input
    if store is not None:
        # screen takes registries of any size, as it does from files
        facts = store.load(Limits(max_entities=50_000_000, max_links=100_000_000))
    else:
        # The columnar plan reads JSON Lines set-wise (DuckDB), with the row loader's answers.
        with _progress("reading facts") as report:
            if setwise:
                from tos_policy.facts.setwise import load_setwise  # DuckDB: imported only when asked for

                facts = load_setwise(list(facts_files), progress=report, limits=limits, deadline=deadline)
            else:
                facts = load_streaming(list(facts_files), progress=report, limits=limits, deadline=deadline)
    findings = overlay(facts, rules, day)  # reviewers' determinations in force, applied before deciding
    facts = findings.facts
    target = out or Path(tempfile.mkdtemp(prefix="tos-policy-screen-")) / "decisions.jsonl"
    summary = screen(
        facts,
        rules,
        factory,
        as_of=day,
        out=target,
        profile=profile,
        workers=workers,
        determinations=findings,
        limits=limits,
        deadline=deadline,
        driver=driver,
    )
    if out is None:
        with target.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
        target.unlink()
        target.parent.rmdir()
    counts = summary.counts
    warnings = not_yet_in_force(rules.policy_set, day)
    for warning in warnings:
        click.echo(f"WARNING: {warning}", err=True)
    click.echo(
        f"screened {summary.entities} entities, {summary.links} links in {summary.seconds:.1f}s "
        f"(peak {summary.peak_rss_mib:.0f} MiB): {counts['deny']} deny, {counts['review']} review, "
        f"{counts['allow']} allow ({summary.undisclosed} of the reviews for undisclosed ownership); "
        f"not screened organisations, decided apart: {summary.not_screened['persons']} person(s), "
        f"{summary.not_screened['placeholders']} placeholder(s); "
        f"exceptions: {summary.exceptions['in_force']} in force, "
        f"{summary.exceptions['excepted_decisions']} decision(s) excepted",
        err=True,
    )
    document = summary.as_json()
    if warnings:
        document["warnings"] = warnings
    click.echo(orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode(), err=True)


def fixpoint_driver(plan: str) -> FixpointDriver:
    """The fixpoint driver `--plan` names; the relational ones are imported only when asked for."""
    if plan == "columnar":
        from tos_policy.ownership.columnar import ColumnarFixpoint

        return ColumnarFixpoint()
    if plan == "spark":
        from tos_policy.ownership.spark import SparkFixpoint

        return SparkFixpoint()
    return DEFAULT_DRIVER


class _progress:
    """A rich progress line on a terminal; silent otherwise (CI, pipes)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        if sys.stderr.isatty():
            from rich.progress import Progress, SpinnerColumn, TextColumn

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.label)
        return self.update

    def update(self, count: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=f"{self.label}: {count:,} records")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


@click.command("synth")
@click.option("--entities", type=click.IntRange(1, 50_000_000), required=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="JSON Lines file to write (atomically).",
)
@click.option(
    "--varied",
    is_flag=True,
    default=False,
    help="Draw countries, percentages, ranges and control links from wide distributions, "
    "so that most step inputs are distinct (defeats the cache of identical situations).",
)
@click.option(
    "--disclosure/--no-disclosure",
    default=True,
    show_default=True,
    help="Companies state how complete their ownership facts are, as in a register (most fully, some "
    "partially, a few not at all); --no-disclosure: none does, so every one may have an undisclosed remainder.",
)
@fail_cleanly
def synth_command(entities: int, seed: int, output: Path, varied: bool, disclosure: bool) -> None:
    """Generate a synthetic ownership registry for benchmarks and scale tests."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(output) as temporary, temporary.open("wb") as target:
        for record in generate(SynthOptions(entities=entities, seed=seed, varied=varied, disclosure=disclosure)):
            target.write(orjson.dumps(record))
            target.write(b"\n")
    click.echo(f"wrote {output}", err=True)


def register(main: click.Group) -> None:
    main.add_command(screen_command)
    main.add_command(synth_command)
