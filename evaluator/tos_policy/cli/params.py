"""Option types that refuse a bad value when the command line is parsed, and the
command group that reports any command-line mistake as one line (exit 2).

click's own FloatRange lets `nan` through (every comparison with it is false) and
`inf` past an open bound; Python's date.fromisoformat reads `2025-W40-3` and
`20251001` as dates. These types take only what their help text promises."""

from __future__ import annotations

import errno
import math
import os
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from tos_policy.dates import strict_date
from tos_policy.limits import MAX_SECONDS
from tos_policy.reports.display import printable

if TYPE_CHECKING:  # generic only in recent click; plain at run time so older ones work too
    _TextParam = click.ParamType[str]
    _NumberParam = click.ParamType[float]
else:
    _TextParam = _NumberParam = click.ParamType


class IsoDate(_TextParam):
    """YYYY-MM-DD and nothing else (no week dates, no basic format, no time); the text is passed on."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, date):
            return value.isoformat()
        try:
            strict_date(value)
        except ValueError as exc:
            self.fail(f"{value!r}: {exc}", param, ctx)
        return value


class Seconds(_NumberParam):
    """A finite number of seconds above zero and at most a year."""

    name = "SECONDS"

    def __init__(self, maximum: float = MAX_SECONDS) -> None:
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or not 0 < number <= self.maximum:
            self.fail(f"{value!r}: seconds must be a finite number above 0 and at most {self.maximum:,.0f}", param, ctx)
        return number


_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click 8.2 and later


class OneLineErrors(click.Group):
    """A command group whose command-line errors (unknown option, bad value, missing
    argument, a directory where a file is wanted) are one line on stderr and exit 2,
    like every other bad input, instead of a usage block."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:  # fmt: skip
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            returned = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NO_ARGS_IS_HELP as exc:  # the help a group shows when called bare: as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "tos-policy"
            click.echo(printable(f"tos-policy: error: {exc.format_message()} (see {command} --help)"), err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(printable(f"tos-policy: error: {exc.format_message()}"), err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("tos-policy: aborted", err=True)
            sys.exit(1)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            # the reader went away (e.g. `| head`): stop quietly, as click's standalone mode does
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            sys.exit(1)
        sys.exit(returned if isinstance(returned, int) else 0)
