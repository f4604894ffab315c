"""`tos-policy bump`: one command that versions a change of the rules.

It asks the change gate what the change is (the level each changed file needs and
whether corpus decisions move), then sets the policy version and effective date
(rules/manifest.json), each changed package's custom.version and
custom.effective_date (its package METADATA), writes a CHANGELOG.md section naming
the changed rules and data with their old -> new values, and rewrites the corpus's
expected decisions. The version is counted from the base the change started from,
or from the main branch's tip when that already carries a later version (another
change landed first), so running it again gives the same result."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from tos_policy import jsonio
from tos_policy.atomic import replaced_atomically
from tos_policy.errors import InputError
from tos_policy.policy.ruleset import load_rules
from tos_policy.release.change import (
    GateResult,
    changelog_section,
    highest,
    level_at_least,
    next_version,
    packages,
    parse_version,
)
from tos_policy.release.history import checkout_free

_VERSION_LINE = re.compile(r"^(#\s+version:\s*).*$", re.MULTILINE)
_DATE_LINE = re.compile(r"^(#\s+effective_date:\s*).*$", re.MULTILINE)


@dataclass
class Bump:
    level: str
    old_version: str
    version: str
    effective_date: str
    packages: dict[str, tuple[str, str]] = field(default_factory=dict)  # file -> (old, new)
    changelog_written: bool = False
    lines: list[str] = field(default_factory=list)  # the CHANGELOG lines about the change


def plan(result: GateResult, level: str | None, tip_version: str | None, effective: date) -> Bump:
    """What to set, from the gate's reading of the change (`level` None: the level it needs)."""
    if result.base_version is None or not result.files:
        raise InputError("nothing under rules/ or schemas/ changed: there is nothing to version", value="bump")
    needed = result.required if result.required != "none" else "patch"
    chosen = level or needed
    if not level_at_least(chosen, needed):
        raise InputError(
            f"this is a {needed} change ({'; '.join(result.causes)}), so a {chosen} version is too small: "
            f"run `tos-policy bump {needed}` (or leave the level out)",
            value=chosen,
        )
    start = result.base_version
    if tip_version is not None and parse_version(tip_version) > parse_version(start):
        start = tip_version  # another change took the next version first: count from it
    bump = Bump(chosen, result.base_version, next_version(start, chosen), effective.isoformat())
    bump.lines = _changelog_lines(result)
    return bump


def _changelog_lines(result: GateResult) -> list[str]:
    lines = []
    for item in result.files:
        if item.path == "rules/manifest.json" and item.level == "patch":
            continue  # the version itself
        lines.append(f"{_label(item.path)}: {item.why}")
    if result.impact is not None and result.impact.changes:
        counts = ", ".join(f"{count} {kind}" for kind, count in result.impact.counts().items())
        lines.append(f"{len(result.impact.changes)} corpus decision(s) change ({counts}); the impact report lists them")
    return lines


def _label(path: str) -> str:
    """A changed file as the CHANGELOG names it: "ownership profile terms_of_service", "ownership rules"."""
    parts = path.removesuffix("/data.json").split("/")
    if parts[0] == "rules":
        parts = parts[1:]
    if len(parts) == 3 and parts[1] in ("profiles", "policies"):
        return f"{parts[0]} {parts[1][:-1]} {parts[2]}"
    if parts and parts[-1].endswith("_test.rego"):
        return f"{parts[0]} rule tests"
    if parts and parts[-1].endswith(".rego"):
        return f"{parts[0]} rules"
    return " ".join(parts)


def apply(repo: Path, base_rev: str, result: GateResult, bump: Bump) -> Bump:
    """Write the versions, dates and CHANGELOG section into the working tree of `repo`."""
    manifest_path = repo / "rules" / "manifest.json"
    manifest = jsonio.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["policy_set"]["version"] = bump.version
    manifest["policy_set"]["effective_date"] = bump.effective_date
    _write(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    _bump_packages(repo, base_rev, result, bump)
    changelog = repo / "CHANGELOG.md"
    text = changelog.read_text(encoding="utf-8") if changelog.is_file() else "# Changelog\n"
    if changelog_section(text, bump.version) is None:
        _write(changelog, _with_section(text, bump))
        bump.changelog_written = True
    return bump


def _bump_packages(repo: Path, base_rev: str, result: GateResult, bump: Bump) -> None:
    with checkout_free(repo, base_rev) as base_tree:
        old_packages = packages(base_tree.load())
    new_packages = packages(load_rules(repo / "rules"))
    changed_rules = {
        str(reason.get("rule_id"))
        for change in (result.impact.changes if result.impact else [])
        for item in (change.old, change.new)
        for reason in item.reasons
    }
    for folder, package in sorted(new_packages.items()):
        mine = [item.level for item in result.files if item.path.startswith(folder + "/")]
        old = old_packages.get(folder)
        if not mine or old is None or old.version is None:
            continue
        if any(rule.startswith(package.rule_id + "-") for rule in changed_rules):
            mine.append("major")
        version = next_version(old.version, highest(mine))
        path = repo / package.file
        source = path.read_text(encoding="utf-8")
        head, separator, rest = source.partition("\npackage ")
        head = _VERSION_LINE.sub(rf"\g<1>{version}", head, count=1)
        head = _DATE_LINE.sub(rf'\g<1>"{bump.effective_date}"', head, count=1)
        _write(path, head + separator + rest)
        bump.packages[package.file] = (old.version, version)


def _with_section(text: str, bump: Bump) -> str:
    lines = [
        f"## {bump.version} — effective {bump.effective_date}",
        "",
        f"- **{bump.level.capitalize()}.** TODO: say in one sentence what changes for whom, and why.",
    ]
    lines.extend(f"- {line}" for line in bump.lines)
    section = "\n".join(lines) + "\n\n"
    headings = list(re.finditer(r"^## ", text, re.MULTILINE))
    after_unreleased = [match for match in headings if not text[match.start() :].startswith("## Unreleased")]
    if after_unreleased:
        at = after_unreleased[0].start()
        return text[:at] + section + text[at:]
    return text.rstrip("\n") + "\n\n" + section


def _write(path: Path, text: str) -> None:
    with replaced_atomically(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
