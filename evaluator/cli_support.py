"""What every command shares: clean failure, option sets, engine choice."""

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
from .rules import RuleSet

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


# Where --opa-no-load leaves its value: in the command's click context, so the commands
# that take the engine options need no extra parameter (make_engine reads it).
OPA_NO_LOAD_KEY = "tos_policy.opa_no_load"


def _remember_opa_no_load(context: click.Context, _parameter: click.Parameter, value: bool) -> bool:
    context.meta[OPA_NO_LOAD_KEY] = bool(value)
    return bool(value)


def _opa_no_load_given() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context.meta.get(OPA_NO_LOAD_KEY, False)) if context is not None else False


def make_engine(
    name: str, rules: RuleSet, opa_url: str | None, timeout: float, *, load_rules: bool | None = None
) -> Engine:
    """The engine named by --engine. `load_rules` (OPA only) defaults to the negation of
    --opa-no-load on the current command line, and to True outside a command."""
    no_load = (not load_rules) if load_rules is not None else _opa_no_load_given()
    if name == "embedded":
        if no_load:
            raise InputError("--opa-no-load needs --engine opa", file="--opa-no-load", path="$", value=True)
        from .engines.embedded import EmbeddedEngine

        return EmbeddedEngine(rules)
    from .engines.opa import OpaEngine

    if not opa_url:
        raise InputError("--engine opa needs --opa-url", file="--opa-url", path="$", value=opa_url)
    return OpaEngine(rules, opa_url, timeout=timeout, load_rules=not no_load)


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
    click.option(
        "--opa-no-load",
        is_flag=True,
        default=False,
        expose_value=False,
        callback=_remember_opa_no_load,
        help="With --engine opa: load no rules into the server, only query it (a server fed by a bundle); "
        "refused unless the server holds these rules (same policy_set and bundle revision).",
    ),
]


def with_engine_options(command: F) -> F:
    for option in reversed(engine_options):
        command = option(command)
    return command
