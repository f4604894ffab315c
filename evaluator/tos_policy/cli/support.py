"""What every command shares: clean failure, option sets, engine choice."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from tos_policy import engines
from tos_policy.cli.params import IsoDate, Seconds
from tos_policy.dates import strict_date
from tos_policy.engines import Engine
from tos_policy.errors import InputError, TosPolicyError
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.display import printable

F = TypeVar("F", bound=Callable[..., Any])


def fail_cleanly(command: F) -> F:
    """Turn every error into one line on stderr and an exit code; never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TosPolicyError as exc:
            click.echo(f"tos-policy: error: {printable(exc)}", err=True)
            sys.exit(exc.exit_code)
        except OSError as exc:  # a file the command reads or writes: name it, as for bad input
            where = exc.filename if exc.filename is not None else "<output>"
            click.echo(printable(f"tos-policy: error: {where}: {exc.strerror or exc}"), err=True)
            sys.exit(2)
        except RecursionError:
            click.echo("tos-policy: error: input nested too deeply", err=True)
            sys.exit(2)
        except MemoryError:
            click.echo("tos-policy: error: out of memory", err=True)
            sys.exit(1)
        except Exception as exc:  # fail closed: report, decide nothing
            click.echo(printable(f"tos-policy: internal error: {type(exc).__name__}: {exc}"), err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def parse_as_of(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return strict_date(value)
    except ValueError:
        raise InputError("not a date (YYYY-MM-DD)", file="--as-of", path="$", value=value) from None


@dataclass(frozen=True)
class EngineChoice:
    """What the engine options (--engine, --opa-url, --timeout, --opa-no-load) chose."""

    name: str = "auto"  # auto: the Wasm engine when compiled rules are at hand, else the embedded one
    opa_url: str | None = None
    timeout: float = 10.0
    load_rules: bool = True  # OPA only: False with --opa-no-load (a server fed by a bundle)
    follow_redirects: bool = False  # OPA only: --opa-follow-redirects
    proxies_from_env: bool = False  # OPA only: --opa-proxy-from-env (HTTP_PROXY, HTTPS_PROXY, NO_PROXY)


def make_engine(choice: EngineChoice, rules: RuleSet) -> Engine:
    """The engine the options chose, for these rules."""
    return engines.make_engine(
        rules,
        choice.name,
        opa_url=choice.opa_url,
        timeout=choice.timeout,
        load_rules=choice.load_rules,
        follow_redirects=choice.follow_redirects,
        proxies_from_env=choice.proxies_from_env,
    )


def as_of_option(help: str = "Date the facts are read at (YYYY-MM-DD). Default: today (UTC).") -> Callable[[F], F]:
    return click.option("--as-of", type=IsoDate(), default=None, help=help)


profile_option = click.option("--profile", default=None, help="Policy profile (default: the policy set's default).")


def decision_log_option(
    help: str = "Append one JSON line per decision (with policy, rules and facts digests, as-of date, engine) "
    "to this file.",
) -> Callable[[F], F]:
    return click.option("--decision-log", type=click.Path(dir_okay=False, path_type=Path), default=None, help=help)


def fail_on_option(which: str) -> Callable[[F], F]:
    """--fail-on deny|review: exit 1 when `which` decision ("any decision", "the decision") is that."""
    return click.option(
        "--fail-on",
        type=click.Choice(["deny", "review"]),
        default=None,
        help=f"Exit 1 if {which} is this (review also fails on deny).",
    )


rules_option = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Rules directory (default: the rules shipped with tos-policy).",
)
engine_options = [
    click.option(
        "--engine",
        type=click.Choice(["auto", "wasm", "embedded", "opa"]),
        default="auto",
        show_default=True,
        help="wasm: the rules compiled by OPA to WebAssembly, in process (shipped, or built with OPA when the rules "
        "change); embedded: rego-cpp in process; opa: an OPA server; auto: wasm when available, else embedded.",
    ),
    click.option("--opa-url", default=None, help="URL of a running OPA server, for --engine opa."),
    click.option("--timeout", type=Seconds(), default=10.0, show_default=True, help="Seconds per engine call."),
    click.option(
        "--opa-no-load",
        is_flag=True,
        default=False,
        help="With --engine opa: load no rules into the server, only query it (a server fed by a bundle); "
        "refused unless the server holds exactly these rules (policy_set, bundle revision, modules and data), "
        "checked before deciding and again before reporting.",
    ),
    click.option(
        "--opa-follow-redirects",
        is_flag=True,
        default=False,
        help="With --engine opa: follow HTTP redirects from the server (refused by default).",
    ),
    click.option(
        "--opa-proxy-from-env",
        is_flag=True,
        default=False,
        help="With --engine opa: use proxies from HTTP_PROXY/HTTPS_PROXY/NO_PROXY (ignored by default).",
    ),
]


def with_engine_options(command: F) -> F:
    """Add the engine options; the command receives them together as `engine` (an EngineChoice)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        choice = EngineChoice(
            name=kwargs.pop("engine"),
            opa_url=kwargs.pop("opa_url"),
            timeout=kwargs.pop("timeout"),
            load_rules=not kwargs.pop("opa_no_load"),
            follow_redirects=kwargs.pop("opa_follow_redirects"),
            proxies_from_env=kwargs.pop("opa_proxy_from_env"),
        )
        return command(*args, engine=choice, **kwargs)

    decorated: Any = wrapper
    for option in reversed(engine_options):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


rules_ref_option = click.option(
    "--rules-ref",
    default=None,
    help="Decide with the rules as they were at this git revision (a commit or branch; policy-vX.Y.Z: the policy "
    "version of that number, found from rules/manifest.json in the history, not from tags), read from git "
    "without a checkout, from the repository holding --rules (default: the current directory).",
)
rules_in_force_option = click.option(
    "--rules-in-force",
    is_flag=True,
    default=False,
    help="Decide with the rules that were in force on the --as-of date: the policy version with the latest "
    "effective date on or before it, found from rules/manifest.json in the git history of the repository "
    "holding --rules (default: the current directory).",
)


def in_force_day(rules_in_force: bool, as_of: str | None) -> date | None:
    """The day whose rules --rules-in-force asks for (the as-of date), or None."""
    return parse_as_of(as_of) if rules_in_force else None
