"""Where the shipped rules and schemas are: the repository's folders in a source
checkout, or the copies packaged into the wheel by `pip install .`."""

from __future__ import annotations

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


def default_rules_dir() -> Path:
    repo = REPO_ROOT / "rules"
    if (repo / "manifest.json").is_file():
        return repo
    packaged = _packaged("bundled_rules")
    if packaged is not None and (packaged / "manifest.json").is_file():
        return packaged
    raise FileNotFoundError("the shipped rules are missing: reinstall tos-policy")


def schemas_dir() -> Path:
    repo = REPO_ROOT / "schemas"
    if (repo / "facts.schema.json").is_file():
        return repo
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
    return _shipped_schema(name)


@cache
def _shipped_schema(name: str) -> dict[str, Any]:
    return _read_schema(schemas_dir() / f"{name}.schema.json")


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
