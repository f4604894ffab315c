"""`tos-policy bundle`: build an OPA bundle of the rules (evaluator/tos_policy/release/bundle.py does the work),
optionally with screened organisation decisions for sign-ups (operations/org_bundle.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tos_policy import jsonio
from tos_policy.cli.support import fail_cleanly, rules_option
from tos_policy.errors import InputError
from tos_policy.limits import Limits, with_limit_options
from tos_policy.operations.source import StoreSource, with_store_options
from tos_policy.policy.ruleset import RuleSet, load_rules
from tos_policy.release.bundle import build_bundle


def _organisations(
    rules: RuleSet, decisions: Path | None, facts_files: tuple[Path, ...], store: StoreSource | None, limits: Limits
) -> dict[str, Any] | None:
    from tos_policy.operations.org_bundle import aliases_of, organisations_data, read_decisions

    if store is not None:
        if decisions is not None or facts_files:
            raise InputError("give --store or --decisions, not both", file="--store", value=str(store.path))
        return _from_store(rules, store)
    if decisions is None:
        if facts_files:
            raise InputError("--facts needs --decisions", file="--facts", value=str(facts_files[0]))
        return None
    from tos_policy.facts.identity import AMBIGUOUS
    from tos_policy.facts.load import load_facts
    from tos_policy.facts.streaming import iter_records, load_streaming
    from tos_policy.ownership.pipeline import facts_digest

    screened = read_decisions(decisions)
    aliases: dict[str, list[str]] = {}
    digest = screened.facts_digest
    if facts_files:
        # checked as `evaluate` (JSON) or `screen` (JSON Lines) checks them
        deadline = limits.deadline()  # reading a pipe or FIFO stops at --max-seconds from here
        if any(path.suffix in (".jsonl", ".ndjson") for path in facts_files):
            facts = load_streaming(list(facts_files), limits=limits, deadline=deadline)
        else:
            facts = load_facts(list(facts_files), limits=limits, deadline=deadline)
        digest = facts_digest(facts)
        if screened.facts_digest is not None and screened.facts_digest != digest:
            raise InputError(
                "these decisions were not made from these facts (facts digests differ)",
                file=str(decisions),
                path="$.facts_digest",
                value=screened.facts_digest,
            )
        for path in facts_files:  # the identifiers, which decisions do not carry
            entities = [record for kind, _, record in iter_records(path) if kind == "entity"]
            aliases.update(aliases_of(entities))
        for name, entity_id in facts.aliases.items():  # merged records' ids, identifiers in canonical form
            if entity_id != AMBIGUOUS:
                aliases.setdefault(entity_id, []).append(name)
    if digest is None:
        raise InputError(
            "decisions as JSON Lines carry no facts digest: give the facts they were made from (--facts)",
            file=str(decisions),
            value=None,
        )
    return organisations_data(screened, aliases, rules, digest)


def _from_store(rules: RuleSet, source: StoreSource) -> dict[str, Any]:
    from tos_policy.operations.org_bundle import ScreenedDecisions, aliases_of, organisations_data
    from tos_policy.operations.store import Store, StoreError

    with Store.open(source.path) as store:
        info = store.resolve(source.load_id, source.known_on)
        run = store.run(info.load_id)
        if run is None:
            raise StoreError("this load has no decisions", file=str(source.path), path="--load", value=info.load_id)
        records = list(store.decisions(info.load_id).values())
        stored = str(source.path)
        entities = [
            jsonio.loads(row[2], file=stored, exact=False) for row in store.state(info.load_id) if row[0] == "entities"
        ]
        digest = str(run[1].get("facts_digest"))
    screened = ScreenedDecisions(records, digest, run[0].isoformat(), f"{source.path}#load-{info.load_id}")
    return organisations_data(screened, aliases_of(entities), rules, digest)


@click.command("bundle")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Bundle file to write (.tar.gz); its directory is created, the file is replaced atomically.",
)
@click.option(
    "--decisions",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Pack these screened organisation decisions (`evaluate` JSON or `screen` JSON Lines) into the bundle, "
    "for access/result to decide sign-ups by organisation id or identifier alias.",
)
@click.option(
    "--facts",
    "facts_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --decisions: the facts they were made from (identifier aliases, facts digest). Repeatable.",
)
@rules_option
@with_limit_options
@with_store_options
@fail_cleanly
def bundle_command(
    output: Path,
    decisions: Path | None,
    facts_files: tuple[Path, ...],
    rules_dir: Path | None,
    limits: Limits,
    store: StoreSource | None,
) -> None:
    """Build an OPA bundle of the rules (tests left out) with `opa build`, for OPA servers to load; with
    --decisions or --store, with the screened organisation decisions too."""
    rules = load_rules(rules_dir)
    organisations = _organisations(rules, decisions, facts_files, store, limits)
    built = build_bundle(rules, output, organisations=organisations)
    click.echo(f"bundle: {built.path}")
    click.echo(f"revision: {built.revision}")
    click.echo(f"roots: {', '.join(built.roots)}")
    if organisations is not None:
        click.echo(
            f"organisations: {len(organisations['decisions'])} decisions, {len(organisations['aliases'])} ids and "
            f"aliases ({len(organisations['ambiguous_aliases'])} ambiguous left out), facts "
            f"{organisations['facts_digest']}"
        )


def register(main: click.Group) -> None:
    main.add_command(bundle_command)
