"""The change gate: does a change of the rules carry the version it needs?

gate() compares two revisions of the rules (evaluator/tos_policy/release/history.py reads them).
Every change under rules/ or schemas/ needs a new policy version
(rules/manifest.json) with a CHANGELOG.md section, and every changed rule package
a new package version (custom.version in its METADATA), at least at the level the
change needs:

  major  a decision of the corpus changes (allow, deny and review are three
         decisions: a move to or from review changes a decision as much as
         allow <-> deny does); a value of policy data changes or disappears
         (threshold, restricted list...); a module, data file or schema is removed
  minor  Rego code changes without changing a corpus decision; new modules,
         new data files or new fields; schema structure changes
  patch  wording and metadata: documentation, comments and METADATA, titles,
         tests, schema descriptions; exceptions granted by Legal (each is
         named in every decision it changes and listed in every report)

The corpus shows what a change does to the decisions it holds, not to every
possible one; the data-level rules above catch a changed threshold even when no
corpus entity sits between the old and new values."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tos_policy import jsonio
from tos_policy.engines.compiled import find_opa
from tos_policy.errors import EngineError, InputError
from tos_policy.policy.index import INDEX_FILE
from tos_policy.policy.opa_read import parse_module, walk
from tos_policy.policy.ruleset import RuleSet
from tos_policy.release.corpus import AccessSet, FactSet
from tos_policy.release.history import changed_files, checkout_free, is_ancestor, read_text, short
from tos_policy.release.impact import Impact, Side, compare
from tos_policy.release.policy_docs import stale_wordings

LEVELS = ("none", "patch", "minor", "major")
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_ANNOTATIONS = frozenset({"title", "description", "$comment", "examples"})
_DECLARED = re.compile(r"\*\*(major|minor|patch)\.?\*\*", re.IGNORECASE)


def level_at_least(level: str, required: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index(required)


def highest(levels: list[str]) -> str:
    return max(levels, key=LEVELS.index, default="none")


def parse_version(version: str) -> tuple[int, int, int]:
    match = _VERSION.match(version)
    if not match:
        raise ValueError(f"not a semantic version: {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def bump_level(old: str, new: str) -> str:
    """none when new == old; "down" when new < old; else the highest part that moved."""
    before, after = parse_version(old), parse_version(new)
    if after == before:
        return "none"
    if after < before:
        return "down"
    if after[0] != before[0]:
        return "major"
    return "minor" if after[1] != before[1] else "patch"


def next_version(version: str, level: str) -> str:
    major, minor, patch = parse_version(version)
    if level == "major":
        return f"{major + 1}.0.0"
    if level == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


@dataclass
class FileChange:
    path: str
    status: str  # A, M or D
    level: str
    why: str


@dataclass
class Finding:
    severity: str  # error | warning
    message: str


@dataclass
class GateResult:
    base: str
    head: str
    files: list[FileChange]
    base_version: str | None = None
    head_version: str | None = None
    required: str = "none"
    causes: list[str] = field(default_factory=list)
    impact: Impact | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(finding.severity == "error" for finding in self.findings)

    def error(self, message: str) -> None:
        self.findings.append(Finding("error", message))

    def warn(self, message: str) -> None:
        self.findings.append(Finding("warning", message))

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "base": self.base,
            "head": self.head,
            "base_version": self.base_version,
            "head_version": self.head_version,
            "required": self.required,
            "causes": self.causes,
            "files": [vars(item) for item in self.files],
            "findings": [vars(item) for item in self.findings],
            "impact": self.impact.as_json()["summary"] if self.impact else None,
        }


RULES_INDEX = f"rules/{INDEX_FILE}"


def _rego_code(root: Path, path: str) -> Any:
    """OPA's AST of a module without locations, comments or METADATA: what the module does,
    to tell a change of code from a change of wording."""
    opa = find_opa()
    if opa is None:
        raise EngineError(
            f"{root / path}: telling a Rego code change from a wording change needs OPA to read the module; "
            "run scripts/build-opa, or set OPA_BINARY"
        )
    ast = parse_module(opa, root / path)
    for node in walk(ast):
        node.pop("location", None)
        node.pop("annotations", None)
    return ast


def _strip_annotations(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _strip_annotations(value) for key, value in node.items() if key not in _ANNOTATIONS}
    if isinstance(node, list):
        return [_strip_annotations(item) for item in node]
    return node


def _data_changes(old: Any, new: Any, where: str = "") -> tuple[list[str], list[str], list[str]]:
    """(changed or removed, added, wording) paths between two data documents; lists compare whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        changed: list[str] = []
        added: list[str] = []
        wording: list[str] = []
        for key in sorted(set(old) | set(new)):
            path = f"{where}.{key}" if where else key
            if key not in new:
                changed.append(f"{path} removed (was {json.dumps(old[key])})")
            elif key not in old:
                added.append(f"{path} added ({json.dumps(new[key])})")
            elif old[key] != new[key]:
                if key in {"title", "description"}:
                    wording.append(f"{path} reworded")
                else:
                    more = _data_changes(old[key], new[key], path)
                    changed.extend(more[0])
                    added.extend(more[1])
                    wording.extend(more[2])
        return changed, added, wording
    if old != new:
        return [f"{where}: {json.dumps(old)} -> {json.dumps(new)}"], [], []
    return [], [], []


def _read(root: Path, path: str) -> str | None:
    file = root / path
    return file.read_text(encoding="utf-8") if file.is_file() else None


def classify(path: str, status: str, base_root: Path, head_root: Path) -> tuple[str, str]:
    """(level, why) for one changed file under rules/ or schemas/, from the file alone."""
    name = Path(path).name
    if name.endswith(".md"):
        return "patch", "documentation"
    if name.endswith("_test.rego"):
        return "patch", "Rego tests"
    if path.startswith("rules/exceptions/") and status == "M":
        return "patch", "exceptions granted by Legal (each cited by the decisions it changes)"
    if status == "D":
        return "major", "removed: decisions that used it can change"
    if name.endswith(".rego"):
        return _classify_rego(path, status, base_root, head_root)
    if not name.endswith(".json"):
        return "patch", "other file"
    if status == "A":
        return "minor", "new schema" if path.startswith("schemas/") else "new data file"
    return _classify_json(path, base_root, head_root)


def _classify_rego(path: str, status: str, base_root: Path, head_root: Path) -> tuple[str, str]:
    if status == "A":
        return "minor", "new Rego module"
    if _rego_code(base_root, path) == _rego_code(head_root, path):
        return "patch", "comments and METADATA only"
    return "minor", "Rego code changed (the corpus shows whether decisions change)"


def _classify_json(path: str, base_root: Path, head_root: Path) -> tuple[str, str]:
    try:
        old_doc = jsonio.loads(_read(base_root, path) or "null", file=f"{base_root}/{path}", exact=False)
        new_doc = jsonio.loads(_read(head_root, path) or "null", file=f"{head_root}/{path}", exact=False)
    except InputError:
        return "major", "not valid JSON"
    if path.startswith("schemas/"):
        if _strip_annotations(old_doc) == _strip_annotations(new_doc):
            return "patch", "schema wording only"
        return "minor", "schema structure changed (major if it now rejects input that was valid)"
    if path == "rules/manifest.json":  # the version and date move with every change; the name is wording
        ignored = {"version": None, "effective_date": None, "name": None}
        old_doc = {**old_doc.get("policy_set", {}), **ignored}
        new_doc = {**new_doc.get("policy_set", {}), **ignored}
    changed, added, wording = _data_changes(old_doc, new_doc)
    if changed:
        return "major", "; ".join(changed)
    if added:
        return "minor", "; ".join(added)
    if path == "rules/manifest.json":
        return "patch", "version and effective date"
    return "patch", "; ".join(wording) or "formatting only"


@dataclass
class Package:
    """A rule package: a folder under rules/ whose Rego has a package METADATA block with custom.version."""

    folder: str  # e.g. "rules/ownership"
    rule_id: str  # e.g. "TOS-OWN"
    file: str  # e.g. "rules/ownership/ownership.rego"
    version: str | None
    effective_date: str | None


def packages(rules: RuleSet, prefix: str = "rules") -> dict[str, Package]:
    """The rules' packages by folder: the rule whose METADATA carries custom.version."""
    found: dict[str, Package] = {}
    for info in rules.rules.values():
        if "version" not in info.custom:
            continue
        folder = f"{prefix}/{Path(info.file).parts[0]}" if len(Path(info.file).parts) > 1 else prefix
        found[folder] = Package(
            folder=folder,
            rule_id=info.rule_id,
            file=f"{prefix}/{info.file}",
            version=str(info.custom.get("version")),
            effective_date=str(info.custom.get("effective_date")) if info.custom.get("effective_date") else None,
        )
    return found


def changelog_section(text: str, version: str) -> tuple[str, str] | None:
    """(heading, body) of the CHANGELOG.md section whose heading names `version`, or None."""
    pattern = re.compile(rf"^(#+)[ \t]+(.*(?<![\d.]){re.escape(version)}(?![\d.]).*)$", re.MULTILINE)
    match = pattern.search(text)
    if not match:
        return None
    depth = len(match.group(1))
    rest = text[match.end() :]
    following = re.search(rf"^#{{1,{depth}}}[ \t]", rest, re.MULTILINE)
    return match.group(2).strip(), rest[: following.start()] if following else rest


def gate(
    repo: Path,
    base_rev: str,
    head_rev: str,
    *,
    base_label: str,
    fact_sets: list[FactSet] | None,
    as_of: date,
    profile: str | None = None,
    tip_rev: str | None = None,
    access_sets: list[AccessSet] | None = None,
) -> GateResult:
    """Check one change of the rules (base -> head) against the versioning policy.

    `tip_rev`, the current tip of the branch the change lands on: a version that
    branch already carries (another change landed first) is refused."""
    # The rules index is derived from the modules by OPA and decides nothing they do not say
    # (`tos-policy index --check` keeps it in step): regenerating it is no policy change.
    files = {path: status for path, status in changed_files(repo, base_rev, head_rev).items() if path != RULES_INDEX}
    result = GateResult(base=base_label, head=short(repo, head_rev), files=[])
    with checkout_free(repo, base_rev) as base_tree, checkout_free(repo, head_rev) as head_tree:
        base_rules, head_rules = base_tree.load(), head_tree.load()
        result.base_version, result.head_version = base_rules.version, head_rules.version
        if not files:
            return result
        for path, status in files.items():
            level, why = classify(path, status, base_tree.root, head_tree.root)
            result.files.append(FileChange(path, status, level, why))
        levels = [item.level for item in result.files]
        result.causes = [f"{item.path}: {item.why}" for item in result.files if item.level == highest(levels)]
        result.required = highest(levels)
        if fact_sets is None:
            result.warn("no decision corpus (tests/corpus): decisions were not compared")
        else:
            base = Side(base_label, base_rev, base_tree.commit, base_rules)
            head = Side(result.head, head_rev, head_tree.commit, head_rules)
            result.impact = compare(base, head, fact_sets, as_of=as_of, profile=profile, access_sets=access_sets)
            moved = []
            if result.impact.changes:
                counts = ", ".join(f"{count} {kind}" for kind, count in result.impact.counts().items())
                moved.append(f"{len(result.impact.changes)} corpus decision(s) change ({counts})")
            if result.impact.access_changes:
                counts = ", ".join(f"{count} {kind}" for kind, count in result.impact.access_counts().items())
                moved.append(f"{len(result.impact.access_changes)} access request decision(s) change ({counts})")
            if moved:
                result.causes = moved + (result.causes if result.required == "major" else [])
                result.required = "major"
        _check_policy_version(result, repo, head_rev, base_rules, head_rules)
        _check_packages(result, base_rules, head_rules)
        if tip_rev is not None:
            _check_not_claimed(result, repo, tip_rev)
        for note in stale_wordings(head_rules):
            result.warn(note)
        for note in stale_prose(head_tree.root, result.files):
            result.warn(note)
    return result


def _check_not_claimed(result: GateResult, repo: Path, tip_rev: str) -> None:
    """Two changes made at once both claim the next version; the second to land must move on."""
    new = result.head_version
    if new is None or is_ancestor(repo, tip_rev, "HEAD"):
        return  # the branch already holds everything on the tip: the base comparison decides
    with checkout_free(repo, tip_rev, ("rules",)) as tip_tree:
        tip_version = tip_tree.load().version
    claimed = changelog_section(read_text(repo, tip_rev, "CHANGELOG.md") or "", new) is not None
    if parse_version(new) <= parse_version(tip_version) or claimed:
        result.error(
            f"version {new} is already taken on {short(repo, tip_rev)} (it is at {tip_version}): another change "
            f"landed first. Bring your branch up to date (`git pull --rebase origin main`), then run "
            f"`tos-policy bump` to take the next version, and commit."
        )


def _check_policy_version(
    result: GateResult, repo: Path, head_rev: str, base_rules: RuleSet, head_rules: RuleSet
) -> None:
    old, new = base_rules.version, head_rules.version
    suggested = next_version(old, result.required)
    why = "; ".join(result.causes)
    bump = bump_level(old, new)
    todo = (
        f'set "version" in rules/manifest.json to {suggested} and "effective_date" to the day it takes effect, '
        f'add a section "## {suggested} — effective YYYY-MM-DD" to CHANGELOG.md starting with '
        f'"**{result.required.capitalize()}.**" and saying what changes, then run `tos-policy check-change` again'
    )
    if bump == "none":
        result.error(
            f"rules/ or schemas/ changed ({len(result.files)} file(s)) but the policy version did not move "
            f"(still {old}). This is a {result.required} change ({why}): {todo}."
        )
        return
    if bump == "down":
        result.error(f"the policy version went down from {old} to {new}: {todo}.")
        return
    if not level_at_least(bump, result.required):
        result.error(
            f"the policy version went from {old} to {new}, a {bump} change, but this is a {result.required} "
            f"change ({why}): set the version to {suggested} instead (CONTRIBUTING.md, versioning policy), "
            f"and move its CHANGELOG.md section."
        )
    elif new != next_version(old, bump):
        result.warn(f"{new} is not the next {bump} version after {old} ({next_version(old, bump)})")
    if base_rules.policy_set["effective_date"] > head_rules.policy_set["effective_date"]:
        result.error(
            f"the effective date went back from {base_rules.policy_set['effective_date']} to "
            f"{head_rules.policy_set['effective_date']}: set effective_date in rules/manifest.json to the day "
            f"{new} takes effect."
        )
    changelog = read_text(repo, head_rev, "CHANGELOG.md") or ""
    section = changelog_section(changelog, new)
    if section is None:
        result.error(
            f'CHANGELOG.md has no entry for {new}: add a section "## {new} — effective '
            f'{head_rules.policy_set["effective_date"]}" starting with "**{bump.capitalize()}.**" that says '
            f"what changes and which decisions it affects."
        )
        return
    heading, body = section
    if "TODO" in body:
        result.error(
            f"the CHANGELOG.md section for {new} still says TODO: replace it with a sentence saying what "
            f"changes, for whom, and why (the lines `tos-policy bump` wrote below it can stay)."
        )
    declared = _DECLARED.search(body)
    if declared is None:
        result.warn(f'the CHANGELOG.md section for {new} does not say "**{bump.capitalize()}.**" first')
    elif declared.group(1).lower() != bump:
        result.error(
            f"the CHANGELOG.md section for {new} calls the change {declared.group(1).lower()}, but the version "
            f"moved by a {bump} step: make them agree."
        )
    dated = re.search(r"\d{4}-\d{2}-\d{2}", heading)
    if dated and dated.group(0) != head_rules.policy_set["effective_date"]:
        result.error(
            f"the CHANGELOG.md heading for {new} says {dated.group(0)} but rules/manifest.json says effective "
            f"{head_rules.policy_set['effective_date']}: make them agree."
        )


def _check_packages(result: GateResult, base_rules: RuleSet, head_rules: RuleSet) -> None:
    """Each changed rule package needs its own version (custom.version) moved, at its own level."""
    old_packages, new_packages = packages(base_rules), packages(head_rules)
    changed_rules = {
        str(reason.get("rule_id"))
        for change in (result.impact.changes if result.impact else [])
        for item in (change.old, change.new)
        for reason in item.reasons
    }
    for folder, package in sorted(new_packages.items()):
        mine = [item for item in result.files if item.path.startswith(folder + "/")]
        if not mine:
            continue
        old = old_packages.get(folder)
        if old is None or old.version is None or package.version is None:
            continue  # a new package: its first version is whatever it says
        levels = [item.level for item in mine]
        if any(rule.startswith(package.rule_id + "-") for rule in changed_rules):
            levels.append("major")
        required = highest(levels)
        bump = bump_level(old.version, package.version)
        suggested = next_version(old.version, required)
        where = f"custom.version in the METADATA of {package.file}"
        if bump in ("none", "down"):
            result.error(
                f"{folder}/ changed but its package version did not move (still {old.version}): set {where} to "
                f"{suggested} ({required}) and custom.effective_date to the day it takes effect."
            )
        elif not level_at_least(bump, required):
            result.error(
                f"{folder}/ package version went from {old.version} to {package.version}, a {bump} change, but "
                f"its change is {required}: set {where} to {suggested}."
            )
        elif package.effective_date == old.effective_date:
            result.warn(f"{folder}/ has a new version but the same effective_date ({old.effective_date}) in {where}")
    for folder in sorted(set(old_packages) - set(new_packages)):
        if any(item.path.startswith(folder + "/") and item.status != "D" for item in result.files):
            result.warn(f"{folder}/ no longer has a package version (custom.version in its package METADATA)")


_VALUE_PATH = re.compile(r"^(?P<path>[\w.]+): (?P<old>.+) -> (?P<new>.+)$")


def _prose_forms(value: Any) -> list[str]:
    """How a README may state a data value: 50 as "50%" or "50 percent"; a list as "CN, IR, KP, RU"."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        number = f"{value:g}"
        return [f"{number}%", f"{number} %", f"{number} percent"]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return [", ".join(value)]
    return []


def stale_prose(head_root: Path, files: list[FileChange]) -> list[str]:
    """README sentences of a rule package that still state a value its data no longer has."""
    notes = []
    for item in files:
        if item.level != "major" or not item.path.endswith(".json") or not item.path.startswith("rules/"):
            continue
        folder = item.path.split("/")[1]
        readmes = sorted((head_root / "rules" / folder).rglob("README.md"))
        for change in item.why.split("; "):
            match = _VALUE_PATH.match(change)
            if match is None:
                continue
            try:
                old, new = jsonio.loads(match.group("old"), exact=False), jsonio.loads(match.group("new"), exact=False)
            except ValueError:
                continue
            stale = [form for form in _prose_forms(old) if form not in _prose_forms(new)]
            for readme in readmes:
                text = readme.read_text(encoding="utf-8")
                for form in stale:
                    count = len(re.findall(rf"(?<![\w.]){re.escape(form)}(?![\w])", text))
                    if count:
                        where = readme.relative_to(head_root).as_posix()
                        notes.append(
                            f'{where} still says "{form}" {count} time(s), but {match.group("path")} is now '
                            f"{match.group('new')}: update the wording (or say why the old value is meant)."
                        )
    return notes


def gate_text(result: GateResult) -> str:
    lines = [f"check-change: {result.base} -> {result.head}"]
    if not result.files:
        lines.append("No file under rules/ or schemas/ changed: nothing to check.")
        return "\n".join(lines) + "\n"
    lines.append(f"Changed under rules/ and schemas/ ({len(result.files)} file(s)):")
    for item in result.files:
        lines.append(f"  {item.status} {item.path}  [{item.level}] {item.why}")
    lines.append(
        f"Policy version: {result.base_version} -> {result.head_version}; this change needs: {result.required}."
    )
    if result.impact is not None:
        if result.impact.changes:
            counts = ", ".join(f"{count} {kind}" for kind, count in result.impact.counts().items())
            lines.append(
                f"Decision corpus: {len(result.impact.changes)} of {result.impact.entities} decisions change "
                f"({counts}); `tos-policy diff` lists them."
            )
        else:
            lines.append(f"Decision corpus: no decision changes ({result.impact.entities} entities).")
    for finding in result.findings:
        lines.append(f"{'FAIL' if finding.severity == 'error' else 'warning'}: {finding.message}")
    lines.append(
        "OK: the version and changelog match the change." if result.ok else "The change gate refuses this change."
    )
    return "\n".join(lines) + "\n"
