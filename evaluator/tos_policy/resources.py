"""Where the rules and schemas are.

Inside a tos-policy repository (the current directory or one above it holds
rules/manifest.json and schemas/), its working tree's rules/ and schemas/ are the
rules, however the tool was installed: a contributor's edit is what `corpus`,
`docs`, `evaluate` and the gate read, never the copy `pip install .` packaged.
Outside one, the source checkout the tool runs from, else the packaged copies.
$TOS_POLICY_RULES, when set, names the rules directory to read instead (as --rules does)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

# evaluator/tos_policy/resources.py -> the repository root in a source checkout
REPO_ROOT = Path(__file__).resolve().parents[2]


def _packaged(name: str) -> Path | None:
    """The copy `pip install .` puts beside this module (see pyproject.toml package-dir)."""
    path = Path(__file__).resolve().parent / name
    return path if path.is_dir() else None


def working_repository(start: Path | None = None) -> Path | None:
    """The tos-policy repository containing `start` (default: the current directory), or None."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "rules" / "manifest.json").is_file() and (directory / "schemas").is_dir():
            return directory
    return None


def _source_roots() -> list[Path]:
    """The repositories to read, in order: the working one, then the source checkout of this module."""
    roots = [REPO_ROOT]
    working = working_repository()
    if working is not None and working != REPO_ROOT:
        roots.insert(0, working)
    return roots


RULES_ENV = "TOS_POLICY_RULES"  # a rules directory to read when a command is given no --rules


def default_rules_dir() -> Path:
    override = os.environ.get(RULES_ENV)
    if override:
        return Path(override)
    for root in _source_roots():
        if (root / "rules" / "manifest.json").is_file():
            return root / "rules"
    packaged = _packaged("bundled_rules")
    if packaged is not None and (packaged / "manifest.json").is_file():
        return packaged
    raise FileNotFoundError("the shipped rules are missing: reinstall tos-policy")


def schemas_dir() -> Path:
    for root in _source_roots():
        if (root / "schemas" / "facts.schema.json").is_file():
            return root / "schemas"
    packaged = _packaged("bundled_schemas")
    if packaged is not None:
        return packaged
    raise FileNotFoundError("the shipped schemas are missing: reinstall tos-policy")


# Schemas of another revision of the repository (evaluator/tos_policy/release/history.py): the rules
# of a git revision are validated against that revision's schemas of rule data.
# Input formats (facts, access requests) are always the shipped ones: they describe
# what this evaluator reads today.
RULE_DATA_SCHEMAS = frozenset({"manifest", "profile", "access-policy", "exceptions"})
_SCHEMAS_OVERRIDE: ContextVar[Path | None] = ContextVar("tos_policy_schemas_override", default=None)


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema `name` (schemas/NAME.schema.json): the shipped one, or inside
    `schemas_from(DIR)`, for a schema of rule data, the one in DIR when DIR has it."""
    override = _SCHEMAS_OVERRIDE.get()
    if override is not None and name in RULE_DATA_SCHEMAS and (override / f"{name}.schema.json").is_file():
        return _read_schema(override / f"{name}.schema.json")  # not cached: a temporary directory
    return _shipped_schema(schemas_dir() / f"{name}.schema.json")


@cache
def _shipped_schema(path: Path) -> dict[str, Any]:
    return _read_schema(path)


def _read_schema(path: Path) -> dict[str, Any]:
    from tos_policy import jsonio  # imported late: jsonio imports errors, which imports nothing of ours

    loaded: dict[str, Any] = jsonio.loads(path.read_bytes(), file=str(path), exact=False)
    return loaded


@contextmanager
def schemas_from(directory: Path) -> Iterator[None]:
    """Within this block, schema(NAME) for rule data (RULE_DATA_SCHEMAS) reads
    DIRECTORY/NAME.schema.json where it exists."""
    token = _SCHEMAS_OVERRIDE.set(directory.resolve())
    try:
        yield
    finally:
        _SCHEMAS_OVERRIDE.reset(token)
