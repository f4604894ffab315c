"""`tos-policy alerts --store DB --since LOAD`: decisions that changed, and why."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from tos_policy.cli.support import fail_cleanly


@click.command("alerts")
@click.option(
    "--store", "db", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The registry store."
)
@click.option(
    "--since", type=click.IntRange(min=0), required=True, help="List the changes of the loads after this one."
)
@click.option("--until", type=click.IntRange(min=1), default=None, help="Up to this load (default: the latest).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "markdown"]), default="jsonl", show_default=True)
@fail_cleanly
def alerts_command(db: Path, since: int, until: int | None, fmt: str) -> None:
    """Every decision that changed after load SINCE: old and new decision and reasons, and the loaded facts that
    caused it. Exit 0 whatever changed (read the output)."""
    from tos_policy.operations.alerts import alerts, markdown
    from tos_policy.operations.store import Store

    with Store.open(db) as store:
        items = alerts(store, since, until)
    if fmt == "markdown":
        click.echo(markdown(items, since), nl=False)
        return
    click.echo(b"".join(orjson.dumps(item, option=orjson.OPT_SORT_KEYS) + b"\n" for item in items).decode(), nl=False)


def register(main: click.Group) -> None:
    main.add_command(alerts_command)
