"""Fixture rules: the shipped Rego with frozen test data (tests/fixtures/policy-data).

Tests of the machinery decide with these, so a lawyer's change of the shipped policy
data (a threshold, a restricted list, a link effect) never breaks them; what the
shipped policy decides is pinned only in case data (tests/corpus), which
`tos-policy corpus --update` rewrites. tests/conftest.py points $TOS_POLICY_RULES at
a fixture copy, so every command a test runs without --rules reads it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_RULES = ROOT / "rules"
FIXTURE_DATA = Path(__file__).resolve().parent / "fixtures" / "policy-data"

# The versions the fixture copy carries, whatever the shipped rules' versions are.
FIXTURE_POLICY_VERSION = ("2.2.0", "2026-11-25")
FIXTURE_PACKAGE_VERSIONS = {
    "ownership/ownership.rego": ("2.0.0", "2025-09-05"),
    "access/access.rego": ("1.0.0", "2026-11-25"),
}


def fixture_rules_dir() -> Path:
    """The session's fixture rules (tests/conftest.py sets $TOS_POLICY_RULES before any test runs)."""
    from tos_policy.resources import RULES_ENV

    return Path(os.environ[RULES_ENV])


def fixture_data_files() -> dict[str, Path]:
    """{path under rules/: fixture file} of every data file the fixture replaces."""
    return {path.relative_to(FIXTURE_DATA).as_posix(): path for path in sorted(FIXTURE_DATA.rglob("*.json"))}


def set_package_version(rego: Path, version: str, effective: str) -> None:
    """Rewrite custom.version and custom.effective_date in the package METADATA of `rego`."""
    source = rego.read_text()
    package = source.index("\npackage ")
    head, rest = source[:package], source[package:]
    lines = []
    for line in head.splitlines():
        if line.startswith("#   version:"):
            lines.append(f"#   version: {version}")
        elif line.startswith("#   effective_date:"):
            lines.append(f'#   effective_date: "{effective}"')
        else:
            lines.append(line)
    rego.write_text("\n".join(lines) + rest)


def write_fixture_rules(dest: Path, *, pin_versions: bool = True) -> Path:
    """A copy of the shipped rules in `dest` with the fixture data (and versions) in place; returns `dest`."""
    shutil.copytree(SHIPPED_RULES, dest)
    for relative, source in fixture_data_files().items():
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    if pin_versions:
        manifest_path = dest / "manifest.json"
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        manifest["policy_set"]["version"], manifest["policy_set"]["effective_date"] = FIXTURE_POLICY_VERSION
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        for relative, (version, effective) in FIXTURE_PACKAGE_VERSIONS.items():
            before = (dest / relative).read_bytes()
            set_package_version(dest / relative, version, effective)
            restamp_index(dest, relative, before, version, effective)
    return dest


def restamp_index(dest: Path, relative: str, before: bytes, version: str, effective: str) -> None:
    """Keep the rules index of `dest` in step with a module whose package METADATA now carries
    another version and date (it was `before`): OPA's reading of it differs in those two values
    and the module's sha256 alone, so the copy needs no OPA to load (tests/opa/test_rules_index.py
    checks this against `tos-policy index` on a fixture copy). An index already out of step with
    the module is left so: OPA reads it."""
    from tos_policy.policy.index import INDEX_FILE, index_text

    path = dest / INDEX_FILE
    index: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if index["modules"][relative]["sha256"] != hashlib.sha256(before).hexdigest():
        return
    index["modules"][relative]["sha256"] = hashlib.sha256((dest / relative).read_bytes()).hexdigest()
    for entry in index["rules"].values():
        if entry["file"] == relative and "version" in entry["custom"]:
            entry["custom"].update(version=version, effective_date=effective)
    path.write_text(index_text(index), encoding="utf-8")
