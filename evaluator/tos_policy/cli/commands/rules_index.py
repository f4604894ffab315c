"""`tos-policy index`: regenerate (or check) the rules index, rules/rules.index, with OPA
(policy/index.py does the work)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tos_policy.cli.support import fail_cleanly, rules_option
from tos_policy.engines.opa_server import opa_binary
from tos_policy.policy.index import INDEX_FILE, build_index, index_text, write_index
from tos_policy.resources import default_rules_dir


@click.command("index")
@rules_option
@click.option(
    "--opa",
    "opa_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="OPA binary (default: $OPA_BINARY or .tools/bin/opa).",
)
@click.option("--check", is_flag=True, default=False, help="Write nothing; exit 1 if the index is not in step.")
@fail_cleanly
def index_command(rules_dir: Path | None, opa_path: Path | None, check: bool) -> None:
    """Regenerate the rules index (METADATA from `opa inspect -a`, built-ins from `opa parse`)."""
    root = rules_dir or default_rules_dir()
    index = build_index(root, opa_path or opa_binary())
    text = index_text(index)
    target = root / INDEX_FILE
    current = target.read_text(encoding="utf-8") if target.is_file() else None
    if check:
        if current != text:
            click.echo(f"{target}: not in step with the rules; run `tos-policy index`", err=True)
            sys.exit(1)
        click.echo(f"{target}: in step")
        return
    write_index(root, index)
    click.echo(f"wrote {target}")


def register(main: click.Group) -> None:
    main.add_command(index_command)
