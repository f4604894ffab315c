"""Where the shipped rules and schemas are: the repository's folders in a source
checkout, or the copies packaged into the wheel by `pip install .`."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parent.parent


def _packaged(name: str) -> Path | None:
    """The copy `pip install .` puts beside this module (see pyproject.toml package-dir)."""
    path = Path(__file__).resolve().parent / name
    return path if path.is_dir() else None


def default_rules_dir() -> Path:
    repo = _REPO / "rules"
    if (repo / "manifest.json").is_file():
        return repo
    packaged = _packaged("bundled_rules")
    if packaged is not None and (packaged / "manifest.json").is_file():
        return packaged
    raise FileNotFoundError("the shipped rules are missing: reinstall tos-policy")


def schemas_dir() -> Path:
    repo = _REPO / "schemas"
    if (repo / "facts.schema.json").is_file():
        return repo
    packaged = _packaged("bundled_schemas")
    if packaged is not None:
        return packaged
    raise FileNotFoundError("the shipped schemas are missing: reinstall tos-policy")


@cache
def schema(name: str) -> dict[str, Any]:
    with open(schemas_dir() / f"{name}.schema.json", encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded
