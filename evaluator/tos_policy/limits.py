"""Limits on what one run may take: input size, JSON nesting, graph size, chain depth, time.

Every limit has a documented default (below, and in SECURITY.md), a command-line
option of `evaluate`, `explain` and `screen` to change it, and a clear error when input goes
past it. Going past an input limit raises LimitExceeded, an InputError (exit 2)
naming the file, the JSON path and the value; running out of time raises
EvaluationTimeout, an EngineError (exit 3). Neither ever yields a decision.

| limit             | default      | option              | what it bounds                                  |
|-------------------|--------------|---------------------|-------------------------------------------------|
| max_input_bytes   | 256 MiB      | --max-input-bytes   | size of one facts file, checked before parsing  |
| max_json_depth    | 64           | --max-json-depth    | nesting of arrays and objects in a facts file   |
| max_entities      | 1,000,000    | --max-entities      | entities in all facts files together            |
| max_links         | 2,000,000    | --max-links         | ownership links in all facts files together     |
| max_chain_depth   | 100,000      | --max-chain-depth   | links a restriction may travel through          |
| max_seconds       | 600          | --max-seconds       | wall-clock time of the evaluation, and of waiting |
|                   |              |                     | for a pipe or FIFO to send the facts            |

The chain depth is measured in fixpoint rounds: the first round decides every
entity on its own facts, and each further round carries restrictions one link
further, so a chain of N links needs N + 1 rounds. A limit of N allows N + 1.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import click

from tos_policy.errors import EvaluationTimeout, InputError, LimitExceeded

F = TypeVar("F", bound=Callable[..., Any])

MIB = 1024 * 1024


# The longest time limit any option takes: a year. Longer ones overflow the platform's
# timers (threading.TIMEOUT_MAX, time_t) and mean "never" anyway.
MAX_SECONDS = 365 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Limits:
    """What one run may take. The defaults admit one file of a million entities and their links."""

    max_input_bytes: int = 256 * MIB
    max_json_depth: int = 64
    max_entities: int = 1_000_000
    max_links: int = 2_000_000
    max_chain_depth: int = 100_000
    max_seconds: float = 600.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InputError("a limit must be a positive number", file=option_name(item.name), value=value)
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError("a limit must be a finite number", file=option_name(item.name), value=value)
        if self.max_seconds > MAX_SECONDS:
            raise InputError(
                f"a time limit must be at most {MAX_SECONDS:,.0f} seconds (a year)",
                file=option_name("max_seconds"),
                value=self.max_seconds,
            )

    @property
    def max_rounds(self) -> int:
        """Fixpoint rounds allowed in one reading: the first, and one per link of the longest chain."""
        return self.max_chain_depth + 1

    def deadline(self, start: float | None = None) -> float:
        """The time.monotonic() value past which evaluation stops."""
        return (time.monotonic() if start is None else start) + self.max_seconds


def option_name(field_name: str) -> str:
    """The command-line option that sets a limit: max_seconds -> --max-seconds."""
    return "--" + field_name.replace("_", "-")


def exceeded(what: str, field_name: str, limit: float, unit: str, *, file: str, path: str, value: Any) -> LimitExceeded:
    """The error for input that goes past a limit; it names the limit and the option that raises it."""
    return LimitExceeded(
        f"{what} (limit {limit:,} {unit}; raise it with {option_name(field_name)})",
        file=file,
        path=path,
        value=value,
    )


def check_deadline(deadline: float | None, max_seconds: float | None = None) -> None:
    """Raise EvaluationTimeout when the deadline has passed."""
    if deadline is not None and time.monotonic() > deadline:
        allowed = f" of {max_seconds:g}s" if max_seconds is not None else ""
        raise EvaluationTimeout(
            f"the evaluation ran past its time limit{allowed} (raise it with --max-seconds); nothing was decided"
        )


@contextlib.contextmanager
def watchdog(
    max_seconds: float, grace: float | None = None, *, during: str = "inside one engine call"
) -> Iterator[None]:
    """Stop the whole process (exit 3, one line on stderr) if the block outlives
    max_seconds by `grace` (default: 10% of it, at least 1 s and at most 60 s).

    The evaluation checks its deadline between engine calls; this is the backstop
    for a single call that never returns (an embedded rego-cpp query on a huge step
    input cannot be interrupted). Only for a command-line process: it ends the process."""
    allowed = max_seconds + (min(max(max_seconds * 0.1, 1.0), 60.0) if grace is None else grace)

    def stop() -> None:
        message = (
            f"tos-policy: error: the evaluation ran past its time limit of {max_seconds:g}s "
            f"(raise it with --max-seconds) {during}; nothing was decided\n"
        )
        with contextlib.suppress(OSError):
            os.write(2, message.encode())
        os._exit(EvaluationTimeout.exit_code)

    timer = threading.Timer(allowed, stop)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


_HELP = {
    "max_input_bytes": "Largest facts file, in bytes.",
    "max_json_depth": "Deepest nesting of JSON arrays and objects in a facts file.",
    "max_entities": "Most entities, all facts files together.",
    "max_links": "Most ownership links, all facts files together.",
    "max_chain_depth": "Longest chain of links a restriction may travel through (fixpoint rounds less one).",
    "max_seconds": "Longest evaluation, in seconds (also the longest wait for a pipe or FIFO to send the facts).",
}


def _option(field_name: str, default: Any) -> Callable[[F], F]:
    from tos_policy.cli.params import Seconds  # the command line's option types (imports this module)

    kind: Any = Seconds() if isinstance(default, float) else click.IntRange(min=1)
    return click.option(
        option_name(field_name), field_name, type=kind, default=default, show_default=True, help=_HELP[field_name]
    )


def with_limit_options(command: F) -> F:
    """Add one option per limit; the command receives them together as `limits`."""
    defaults = Limits()
    names = [item.name for item in fields(Limits)]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in names if name in kwargs}
        try:
            limits = Limits(**values)
        except InputError as exc:  # e.g. --max-seconds nan: a usage error, like any bad option value
            raise click.BadParameter(f"{exc.message} (value: {exc.value!r})", param_hint=exc.file) from None
        return command(*args, limits=limits, **kwargs)

    decorated: Any = wrapper
    for name in reversed(names):
        decorated = _option(name, getattr(defaults, name))(decorated)
    return decorated  # type: ignore[no-any-return]
