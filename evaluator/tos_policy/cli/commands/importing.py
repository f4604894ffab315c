"""`tos-policy import FORMAT FILE... -o FACTS.json`: published ownership data to facts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tos_policy.cli.support import fail_cleanly


def register(main: click.Group) -> None:
    main.add_command(import_command)


@click.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["bods", "ftm", "gleif"]))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Facts file to write."
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar on stderr (default: only when stderr is a terminal)."
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Skip records that cannot be read (every format): each is counted and noted, "
    "and what it is about is reviewed, never allowed. Without it every such error is listed and nothing is written.",
)
@fail_cleanly
def import_command(fmt: str, files: tuple[Path, ...], output: Path, progress: bool | None, skip_invalid: bool) -> None:
    """Convert BODS, FollowTheMoney or GLEIF files into one facts file.

    FORMAT is bods (BODS 0.1 to 0.4 statements, JSON Lines or a JSON array), ftm
    (FollowTheMoney entities, JSON Lines) or gleif (GLEIF LEI and relationship
    records: golden copy XML or JSON, or API responses). The output is written
    only when the whole import succeeded; a summary goes to stderr."""
    from tos_policy.importers import InvalidRecords, import_to_file
    from tos_policy.importers.common import Progress
    from tos_policy.reports.display import printable

    try:
        summary = import_to_file(fmt, list(files), output, Progress(progress), skip_invalid=skip_invalid)
    except InvalidRecords as exc:  # every error, one line each, then a count: exit 2, nothing written
        for line in exc.lines():
            click.echo(f"tos-policy: error: {printable(line)}", err=True)
        sys.exit(exc.exit_code)
    click.echo(f"tos-policy: {output}: {summary.line()}", err=True)
