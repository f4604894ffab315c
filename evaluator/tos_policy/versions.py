"""What decided: the evaluator's version and a digest of the code that can change a decision.

The version has one source, the `version` in pyproject.toml (read from the file in a source
checkout, from the installed distribution's metadata otherwise). The code digest covers the
modules that turn facts and rules into decisions (DECISION_CODE); reports, importers, release
tooling and the command line cannot change a decision and are left out, so editing them does
not change the digest."""

from __future__ import annotations

import hashlib
import tomllib
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DISTRIBUTION = "tos-policy"
PACKAGE_DIR = Path(__file__).resolve().parent
# Paths under evaluator/tos_policy/ whose code or data can change a decision: a folder means
# every .py and .json file below it (e.g. facts/country_aliases.json).
DECISION_CODE = (
    "facts",
    "ownership",
    "engines",
    "policy",
    "access.py",
    "limits.py",
    "errors.py",
    "jsonio.py",
    "unionfind.py",
)


@cache
def evaluator_version() -> str:
    """The tos-policy version: pyproject.toml's `version`, read from the file in a source
    checkout (installed metadata can lag behind a bump until the next install), else from
    the installed distribution's metadata."""
    pyproject = PACKAGE_DIR.parents[1] / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") == DISTRIBUTION and isinstance(project.get("version"), str):
            return str(project["version"])
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # neither a checkout nor installed
        return "0+unknown"


def decision_code_files(root: Path = PACKAGE_DIR) -> list[Path]:
    """The files the code digest covers, in a stable order."""
    files: list[Path] = []
    for name in DECISION_CODE:
        path = root / name
        if path.is_dir():
            files.extend(sorted(item for item in path.rglob("*") if item.suffix in (".py", ".json")))
        elif path.is_file():
            files.append(path)
    return sorted(files, key=lambda item: item.relative_to(root).as_posix())


@cache
def code_digest(root: Path = PACKAGE_DIR) -> str:
    """sha256 over the decision code's paths and bytes."""
    hasher = hashlib.sha256()
    for path in decision_code_files(root):
        hasher.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + hasher.hexdigest()


def decision_versions() -> dict[str, str]:
    """The fields every report and decision record carries about the code that decided."""
    return {"evaluator_version": evaluator_version(), "code_digest": code_digest()}
