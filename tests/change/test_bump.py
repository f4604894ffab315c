"""`tos-policy bump`: one command sets every version and date, writes the CHANGELOG
skeleton with old -> new values and updates the corpus; the gate then asks only for
the sentence a person must write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import FLIPS_AT_40, commit, git, run, set_threshold

DAY = "2027-01-01"


@pytest.mark.opa  # bump edits the package METADATA: the edited rules are read by OPA
def test_bump_versions_a_threshold_change_and_the_gate_then_asks_only_for_words(repo: Path) -> None:
    set_threshold(repo, 40)
    code, out, err = run("bump", "--repo", str(repo), "--effective", DAY)
    assert code == 0, err
    assert "policy version 2.2.0 -> 3.0.0 (major), effective 2027-01-01" in out
    assert "package rules/ownership/ownership.rego: 2.0.0 -> 3.0.0" in out
    assert f"tests/corpus/expected.json: {len(FLIPS_AT_40)} decision(s) changed" in out
    manifest = json.loads((repo / "rules" / "manifest.json").read_text())["policy_set"]
    assert (manifest["version"], manifest["effective_date"]) == ("3.0.0", DAY)
    rego = (repo / "rules" / "ownership" / "ownership.rego").read_text()
    assert "#   version: 3.0.0\n" in rego and f'#   effective_date: "{DAY}"' in rego
    assert "rules/rules.index: regenerated" in out  # as `tos-policy index` writes it
    assert run("index", "--check", "--rules", str(repo / "rules"))[0] == 0
    changelog = (repo / "CHANGELOG.md").read_text()
    section = changelog[changelog.index("## 3.0.0") : changelog.index("## 2.2.0")]
    assert section.startswith(f"## 3.0.0 — effective {DAY}\n\n- **Major.** TODO")
    assert "- ownership profile terms_of_service: threshold_percent: 50 -> 40" in section
    assert f"- {len(FLIPS_AT_40)} corpus decision(s) change (" in section
    expected = json.loads((repo / "tests" / "corpus" / "expected.json").read_text())
    for (file, entity), (_, new) in FLIPS_AT_40.items():
        assert expected["files"][Path(file).name][entity] == new

    code, out, _ = run("check-change", "--repo", str(repo))
    assert code == 1 and "still says TODO" in out, out
    (repo / "CHANGELOG.md").write_text(changelog.replace("TODO: say in one sentence what changes for whom, and why.", "Threshold 40%."))
    code, out, _ = run("check-change", "--repo", str(repo))
    assert code == 0, out

    again = run("bump", "--repo", str(repo), "--effective", DAY)  # converges: same versions, section kept
    assert again[0] == 0 and "policy version 2.2.0 -> 3.0.0" in again[1] and "already there" in again[1]


def test_a_level_below_the_change_is_refused(repo: Path) -> None:
    set_threshold(repo, 40)
    code, _, err = run("bump", "patch", "--repo", str(repo))
    assert code == 2
    assert "this is a major change" in err and "run `tos-policy bump major`" in err


@pytest.mark.opa  # bump edits the package METADATA: the edited rules are read by OPA
def test_bump_counts_from_a_version_main_already_took(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "mine")
    set_threshold(repo, 40)
    commit(repo, "Lower the threshold")
    git(repo, "checkout", "-q", "main")
    set_threshold(repo, 45)
    code, out, err = run("bump", "--repo", str(repo), "--effective", DAY)
    assert code == 0 and "2.2.0 -> 3.0.0 (major)" in out, out + err
    commit(repo, "Threshold 45%, landed first")
    git(repo, "checkout", "-q", "mine")
    code, out, err = run("bump", "--repo", str(repo), "--effective", DAY)
    assert code == 0, err
    assert "policy version 2.2.0 -> 4.0.0 (major)" in out  # 3.0.0 is taken on main
