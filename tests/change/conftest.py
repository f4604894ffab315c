"""A real temporary git repository holding a copy of the policy: the fixture rules
(shipped Rego, frozen test data and versions), schemas/, a CHANGELOG.md and the
decision corpus's facts with the decisions of the fixture rules, committed on `main`.

Built from the fixture, not the shipped data, so a change of the shipped policy
(threshold, lists, link effects, versions) does not move what these tests expect."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tos_policy.cli.main import main
from tos_policy.release.change import next_version

from ..fixture_rules import restamp_index, write_fixture_rules

ROOT = Path(__file__).resolve().parent.parent.parent
# The version the repository under test carries, whatever the live one: the gate's
# arithmetic (what the next major, minor or patch is) is pinned here, not by the
# live policy, which moves with every release.
RELEASED, RELEASED_ON = "2.2.0", "2026-11-25"
OWNERSHIP_RELEASED, OWNERSHIP_RELEASED_ON = "2.0.0", "2025-09-05"  # the ownership package in that release
# The same as the names the tests use, and the versions that follow them.
LIVE, LIVE_DATE = RELEASED, RELEASED_ON
MAJOR, MINOR, PATCH = (next_version(LIVE, level) for level in ("major", "minor", "patch"))
PACKAGE, PACKAGE_DATE = OWNERSHIP_RELEASED, OWNERSHIP_RELEASED_ON
PACKAGE_MAJOR, PACKAGE_MINOR, PACKAGE_PATCH = (next_version(PACKAGE, level) for level in ("major", "minor", "patch"))
PROFILE = Path("rules/ownership/profiles/terms_of_service/data.json")
OWNERSHIP_REGO = Path("rules/ownership/ownership.rego")
REGIONS = Path("rules/regions/data.json")

# The corpus entities whose decision changes when the threshold goes from 50% to 40%.
FLIPS_AT_40 = {
    ("tests/corpus/threshold-edges.json", "sg-just-under"): ("allow", "deny"),  # 49.99%
    ("tests/corpus/threshold-edges.json", "de-forty-five"): ("allow", "deny"),  # 45%
    ("tests/corpus/threshold-edges.json", "fr-forty"): ("allow", "deny"),  # exactly 40%
    ("tests/corpus/chains.json", "us-minority"): ("allow", "deny"),  # 40% held by the Iranian parent
    ("tests/corpus/chains.json", "sg-clean-sub"): ("allow", "deny"),  # 100% held by us-minority, now restricted
    ("tests/corpus/chains.json", "in-diluted"): ("allow", "deny"),  # 35% + 10% through restricted intermediaries
    ("tests/corpus/cross-country.json", "pt-four-way-short"): ("allow", "deny"),  # 20 + 15 + 10 + 4.99
    ("tests/corpus/cross-country.json", "at-partnership"): ("allow", "deny"),  # 24% RU + 24% IR
    ("tests/corpus/psc-bands.json", "gb-below-half"): ("allow", "review"),  # more than 25%, less than 50%
    ("tests/corpus/disclosure.json", "de-cn-45-declared"): ("allow", "deny"),  # 45% Chinese, rest declared
    ("tests/corpus/disclosure.json", "de-cn-45-undisclosed"): ("review", "deny"),  # 45% Chinese, rest undisclosed
    ("tests/corpus/disclosure.json", "es-band-above-50"): ("allow", "review"),  # less than 50% undisclosed
    ("tests/corpus/disclosure.json", "nl-partial-60-known"): ("allow", "review"),  # 40% undisclosed
    ("tests/corpus/reconciliation.json", "gb-restated"): ("allow", "review"),  # 30% or 40%
    ("tests/corpus/reconciliation.json", "gb-band-beside-majority"): ("allow", "review"),  # 25% to less than 50%
    ("tests/corpus/share-classes.json", "de-treasury-minority"): ("allow", "deny"),  # 44% of issued, 10% treasury
    ("tests/corpus/share-classes.json", "us-dual-class"): ("allow", "deny"),  # 40% of class A + 40% of class B
}


def flip_counts() -> str:
    """The flips of FLIPS_AT_40 as reports count them: "9 allow -> deny, 3 allow -> review, ..."."""
    counts: dict[str, int] = {}
    for old, new in FLIPS_AT_40.values():
        counts[f"{old} -> {new}"] = counts.get(f"{old} -> {new}", 0) + 1
    return ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))


ALLOW_DENY_FLIPS = sum(1 for flip in FLIPS_AT_40.values() if set(flip) == {"allow", "deny"})


# How many files and decisions the decision corpus holds (its expected.json).
_EXPECTED = json.loads((ROOT / "tests" / "corpus" / "expected.json").read_text())
CORPUS_FILES = len(_EXPECTED["files"]) + len(_EXPECTED.get("access", {}))
CORPUS_DECISIONS = sum(len(decisions) for decisions in _EXPECTED["files"].values())  # organisations
CORPUS_REQUESTS = sum(len(decisions) for decisions in _EXPECTED.get("access", {}).values())  # access requests


FIXTURE_CHANGELOG = """# Changelog

## Unreleased (evaluator)

- Evaluator changes.

## 2.2.0 — effective 2026-11-25

- **Minor.** Exceptions granted by Legal.

## 2.0.0 — effective 2025-09-05

- **Major.** The ownership rule.
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2) + "\n")


def set_threshold(repo: Path, percent: int) -> None:
    edit_json(repo / PROFILE, lambda profile: profile.__setitem__("threshold_percent", percent))


def quote_in_rule_title(repo: Path, title: str, rule_id: str = "TOS-OWN-2") -> None:
    """Give a rule of the scratch repository a title quoting a value, committed: shipped
    titles state no number, so a stale wording has to be made to be seen."""
    path = repo / OWNERSHIP_REGO
    lines = path.read_text().splitlines()
    marker = lines.index(f"#   rule_id: {rule_id}")
    start = max(index for index in range(marker) if lines[index] == "# METADATA")
    lines[start + 1] = f"# title: {title}"
    path.write_text("\n".join(lines) + "\n")
    commit(repo, f"{rule_id} quotes a value in its title")


def set_policy_version(repo: Path, version: str, effective: str | None = None) -> None:
    def change(manifest: dict[str, Any]) -> None:
        manifest["policy_set"]["version"] = version
        if effective:
            manifest["policy_set"]["effective_date"] = effective

    edit_json(repo / "rules" / "manifest.json", change)


def set_package_version(repo: Path, version: str, effective: str, rego: Path = OWNERSHIP_REGO) -> None:
    """Set the version and effective date in the package METADATA of `rego` (default: ownership),
    and in the rules index, which says what OPA reads there (fixture_rules.restamp_index)."""
    path = repo / rego
    before = path.read_bytes()
    source = path.read_text()
    package = f"package {rego.parent.name}"
    head, _, rest = source.partition(package)
    lines = [f"#   version: {version}" if line.startswith("#   version:") else line for line in head.splitlines()]
    lines = [f'#   effective_date: "{effective}"' if line.startswith("#   effective_date:") else line for line in lines]
    path.write_text("\n".join(lines) + "\n" + package + rest)
    restamp_index(repo / "rules", rego.relative_to("rules").as_posix(), before, version, effective)


def add_changelog(repo: Path, version: str, effective: str, level: str, text: str) -> None:
    path = repo / "CHANGELOG.md"
    source = path.read_text()
    marker = source.index("\n## ", source.index("## Unreleased")) + 1
    entry = f"## {version} — effective {effective}\n\n- **{level}.** {text}\n\n"
    path.write_text(source[:marker] + entry + source[marker:])


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits work on CI, whatever the machine's git configuration."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Policy Tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "policy-tests@example.com")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def repo(tmp_path: Path, git_identity: None) -> Path:
    """The policy in a fresh repository, one commit on main."""
    root = tmp_path / "policy"
    root.mkdir()
    write_fixture_rules(root / "rules")
    shutil.copytree(ROOT / "schemas", root / "schemas")
    shutil.copytree(ROOT / "tests" / "corpus", root / "tests" / "corpus")
    (root / "CHANGELOG.md").write_text(FIXTURE_CHANGELOG)
    code, out, err = run("corpus", "--update", "--dir", str(root / "tests" / "corpus"), "--rules", str(root / "rules"))
    assert code == 0, out + err
    git(root, "init", "-q", "-b", "main")
    commit(root, "The policy as shipped")
    return root
