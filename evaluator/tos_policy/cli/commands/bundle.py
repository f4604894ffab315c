"""`tos-policy bundle`: build an OPA bundle of the rules (evaluator/tos_policy/release/bundle.py does the work)."""

from __future__ import annotations

from pathlib import Path

import click

from tos_policy.cli.support import fail_cleanly, rules_option
from tos_policy.policy.ruleset import load_rules
from tos_policy.release.bundle import build_bundle


@click.command("bundle")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Bundle file to write (.tar.gz); its directory is created, the file is replaced atomically.",
)
@rules_option
@fail_cleanly
def bundle_command(output: Path, rules_dir: Path | None) -> None:
    """Build an OPA bundle of the rules (tests left out) with `opa build`, for OPA servers to load."""
    built = build_bundle(load_rules(rules_dir), output)
    click.echo(f"bundle: {built.path}")
    click.echo(f"revision: {built.revision}")
    click.echo(f"roots: {', '.join(built.roots)}")


def register(main: click.Group) -> None:
    main.add_command(bundle_command)
