"""Where a command's facts come from: files, or the registry store as known after a
load or on a date (`--store DB [--known-on DATE | --load ID]`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click

from tos_policy.dates import strict_date
from tos_policy.errors import InputError
from tos_policy.facts.load import Facts
from tos_policy.limits import Limits, exceeded

F = TypeVar("F", bound=Callable[..., Any])


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return strict_date(value)
    except ValueError:
        raise InputError("not a date (YYYY-MM-DD)", file=option, path="$", value=value) from None


@dataclass(frozen=True)
class StoreSource:
    """The facts of a store after a load: the one named, the last known on a date, or the latest."""

    path: Path
    known_on: date | None = None
    load_id: int | None = None

    def load(self, limits: Limits | None = None) -> Facts:
        from tos_policy.operations.store import Store

        with Store.open(self.path) as store:
            info = store.resolve(self.load_id, self.known_on)
            facts = store.facts(info.load_id)
        limits = limits or Limits()
        for noun, count, field_name in (
            ("entities", len(facts.entities), "max_entities"),
            ("links", len(facts.links), "max_links"),
        ):
            if count > getattr(limits, field_name):
                what = f"too many {noun}: {count:,}"
                raise exceeded(
                    what, field_name, getattr(limits, field_name), noun, file=str(self.path), path="$", value=count
                )
        return facts


store_options = [
    click.option(
        "--store",
        "store_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Read the facts from this registry store (tos-policy store) instead of files.",
    ),
    click.option(
        "--known-on",
        default=None,
        help="With --store: the facts as known on this date (the last load dated on or before it). "
        "Default: the latest.",
    ),
    click.option(
        "--load", "load_id", type=click.IntRange(min=1), default=None, help="With --store: the facts as of this load."
    ),
]


def with_store_options(command: F) -> F:
    """Add --store/--known-on/--load; the command receives `store` (a StoreSource or None)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        path, known_on, load_id = kwargs.pop("store_path"), kwargs.pop("known_on"), kwargs.pop("load_id")
        source = None
        if path is not None:
            source = StoreSource(path, parse_day(known_on, "--known-on"), load_id)
        elif known_on is not None or load_id is not None:
            raise click.UsageError("--known-on and --load need --store")
        return command(*args, store=source, **kwargs)

    decorated: Any = wrapper
    for option in reversed(store_options):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def one_source(files: tuple[Path, ...], store: StoreSource | None) -> None:
    """Facts come from files or from a store: exactly one of them."""
    if store is None and not files:
        raise InputError("give FACTS files or --store DB", file="FACTS", value=None)
    if store is not None and files:
        raise InputError("give FACTS files or --store DB, not both", file="--store", value=str(store.path))
