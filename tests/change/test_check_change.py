"""`tos-policy check-change` on a real git repository: a newcomer changes the threshold
and the gate refuses until the version, the changelog and the corpus move with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tos_policy.release.change import bump_level, changelog_section, classify, next_version

from .conftest import (
    CORPUS_DECISIONS,
    FLIPS_AT_40,
    LIVE,
    LIVE_DATE,
    MAJOR,
    MINOR,
    PACKAGE_MAJOR,
    PACKAGE_MINOR,
    PACKAGE_PATCH,
    PATCH,
    PROFILE,
    add_changelog,
    commit,
    edit_json,
    flip_counts,
    git,
    quote_in_rule_title,
    run,
    set_package_version,
    set_policy_version,
    set_threshold,
)

TODAY = "2026-12-01"


def gate(repo: Path, *extra: str) -> tuple[int, str]:
    code, out, err = run("check-change", "--repo", str(repo), *extra)
    assert not err or code == 2, err
    return code, out + err


def test_nothing_changed_passes(repo: Path) -> None:
    code, out = gate(repo)
    assert code == 0, out
    assert "nothing to check" in out


def test_a_regenerated_rules_index_alone_needs_no_version(repo: Path) -> None:
    """The index is OPA's reading of the modules, not policy: laid out anew, it moves no version."""
    index = repo / "rules" / "rules.index"
    index.write_text(json.dumps(json.loads(index.read_text()), indent=1) + "\n")
    code, out = gate(repo)
    assert code == 0, out
    assert "nothing to check" in out


def test_changed_threshold_is_refused_until_the_version_moves(repo: Path) -> None:
    set_threshold(repo, 40)  # not committed: the gate reads the working tree
    code, out = gate(repo)
    assert code == 1, out
    assert "A" not in out.split("Changed under")[1].split("\n")[1][:3]  # a modified file, listed
    assert "M rules/ownership/profiles/terms_of_service/data.json  [major] threshold_percent: 50 -> 40" in out
    assert "the policy version did not move (still 2.2.0)" in out
    assert 'set "version" in rules/manifest.json to 3.0.0' in out
    assert '"## 3.0.0 — effective YYYY-MM-DD" to CHANGELOG.md' in out
    assert "rules/ownership/ changed but its package version did not move (still 2.0.0)" in out
    assert f"Decision corpus: {len(FLIPS_AT_40)} of {CORPUS_DECISIONS} decisions change" in out
    assert "The change gate refuses this change." in out


@pytest.mark.opa  # an edited title: the edited rules are read by OPA
def test_a_title_quoting_the_old_threshold_is_flagged(repo: Path) -> None:
    quote_in_rule_title(repo, "Rule 2 - owned 50% or more by restricted owners")
    set_threshold(repo, 40)
    _, out = gate(repo)
    assert "warning: the wording of TOS-OWN-2 quotes 50% but threshold_percent in force is 40%" in out


def test_version_without_changelog_is_refused(repo: Path) -> None:
    set_threshold(repo, 40)
    set_policy_version(repo, MAJOR, TODAY)
    set_package_version(repo, PACKAGE_MAJOR, TODAY)
    code, out = gate(repo)
    assert code == 1, out
    assert f"CHANGELOG.md has no entry for {MAJOR}" in out
    assert f'"## {MAJOR} — effective {TODAY}"' in out
    assert "did not move" not in out


def test_minor_version_for_flipping_decisions_is_refused(repo: Path) -> None:
    set_threshold(repo, 40)
    set_policy_version(repo, MINOR, TODAY)
    set_package_version(repo, PACKAGE_MINOR, TODAY)
    add_changelog(repo, MINOR, TODAY, "Minor", "Threshold lowered to 40%.")
    code, out = gate(repo)
    assert code == 1, out
    assert "from 2.2.0 to 2.3.0, a minor change, but this is a major change" in out
    assert f"{len(FLIPS_AT_40)} corpus decision(s) change ({flip_counts()})" in out
    assert "set the version to 3.0.0 instead" in out
    assert "rules/ownership/ package version went from 2.0.0 to 2.1.0, a minor change, but its change is major" in out


def test_major_version_with_changelog_passes_once_the_corpus_is_updated(repo: Path) -> None:
    page = repo / PROFILE.parent / "README.md"
    row = "| 99 | A worked example the change moves. | **allow** | `threshold-edges.json#sg-just-under` |"
    page.write_text(page.read_text(encoding="utf-8") + "\n" + row + "\n", encoding="utf-8")
    commit(repo, "A page row stating a decision the change moves")
    set_threshold(repo, 40)
    set_policy_version(repo, MAJOR, TODAY)
    set_package_version(repo, PACKAGE_MAJOR, TODAY)
    add_changelog(repo, MAJOR, TODAY, "Major", "Threshold lowered from 50% to 40%.")
    code, out = gate(repo)
    assert code == 1, out
    assert "tests/corpus/expected.json does not hold the decisions of the new rules" in out
    assert "tos-policy corpus --update" in out

    code, out, err = run("corpus", "--dir", str(repo / "tests" / "corpus"), "--rules", str(repo / "rules"))
    assert code == 1 and f"{len(FLIPS_AT_40)} decision(s) differ from expected.json" in out, out + err
    code, out, err = run("corpus", "--update", "--dir", str(repo / "tests" / "corpus"), "--rules", str(repo / "rules"))
    assert code == 0, err
    expected = json.loads((repo / "tests" / "corpus" / "expected.json").read_text())
    for (file, entity), (_, new) in FLIPS_AT_40.items():
        assert expected["files"][Path(file).name][entity] == new
    # The profile page's decision cell moved with the corpus, and the tool names the row to re-read.
    assert "threshold-edges.json#sg-just-under allow -> deny" in out, out
    assert row.replace("**allow**", "**deny**") in page.read_text(encoding="utf-8").splitlines()
    assert "threshold-edges.json#sg-just-under allow -> deny (check the row's words)" in out, out

    code, out = gate(repo)
    assert code == 0, out
    assert f"Policy version: {LIVE} -> {MAJOR}; this change needs: major." in out
    assert "OK: the version and changelog match the change." in out


def test_each_revision_is_checked_against_its_own_schemas(repo: Path) -> None:
    """The change makes the access policy schema require a new field and gives it: the base's
    policies, valid under the base's schema, must not be checked against the new one."""
    schema_path = repo / "schemas" / "access-policy.schema.json"

    def require_owner(schema: dict[str, Any]) -> None:
        schema["properties"]["reviewed_by"] = {"type": "string", "minLength": 1}
        schema["required"] = [*schema.get("required", []), "reviewed_by"]

    edit_json(schema_path, require_owner)
    for policy in sorted((repo / "rules" / "access" / "policies").glob("*/data.json")):
        edit_json(policy, lambda document: document.update(reviewed_by="Legal"))
    access_rego = Path("rules/access/access.rego")
    package_version = next(
        line.split(":", 1)[1].strip() for line in (repo / access_rego).read_text().splitlines() if line.startswith("#   version:")
    )
    set_package_version(repo, next_version(package_version, "major"), TODAY, access_rego)
    set_policy_version(repo, MAJOR, TODAY)
    add_changelog(repo, MAJOR, TODAY, "Major", "Access policies name who reviewed them.")
    code, out = gate(repo)
    assert code == 0, out
    assert "OK: the version and changelog match the change." in out


def test_committed_change_on_a_branch_is_checked_against_the_merge_base(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "lower-threshold")
    set_threshold(repo, 40)
    commit(repo, "Lower the threshold")
    git(repo, "checkout", "-q", "main")
    (repo / "rules" / "ownership" / "README.md").write_text("main moved on\n")
    set_policy_version(repo, PATCH)
    set_package_version(repo, PACKAGE_PATCH, TODAY)
    add_changelog(repo, PATCH, LIVE_DATE, "Patch", "README wording.")
    commit(repo, "Wording on main")
    git(repo, "checkout", "-q", "lower-threshold")
    code, out = gate(repo)  # base: merge base of HEAD with main, head: the working tree (= the branch)
    assert code == 1, out
    assert "(merge base of HEAD with main)" in out
    assert "M rules/ownership/README.md" not in out  # main's own change is not this branch's
    assert 'rules/ownership/README.md still says "50%"' in out  # the prose states the old threshold
    assert "still 2.2.0" in out
    code, out = gate(repo, "--base", "main", "--head", "HEAD")
    assert code == 1
    assert "M rules/ownership/README.md  [patch]" in out  # against main's tip, main's own change shows
    assert f"the policy version went down from {PATCH} to {LIVE}" in out


@pytest.mark.opa  # an edited rule: read by OPA, the rules index being out of step
def test_a_rule_edited_in_a_clone_works_without_regenerating_the_index_by_hand(repo: Path, tmp_path: Path) -> None:
    """The lawyer's path on a Rego edit: evaluate, corpus --update, docs and check-change read the
    edited rule with OPA; bump regenerates the index, so CI's `tos-policy index --check` passes."""
    rego = repo / "rules" / "ownership" / "ownership.rego"
    rego.write_text(rego.read_text().replace("title: Ownership restriction\n", "title: Ownership restrictions\n", 1))
    rules = str(repo / "rules")
    assert run("index", "--check", "--rules", rules)[0] == 1  # stale: nobody ran `tos-policy index`
    code, out, err = run("evaluate", str(repo / "tests" / "corpus" / "chains.json"), "--rules", rules)
    assert code == 0, err
    code, _, err = run("corpus", "--update", "--dir", str(repo / "tests" / "corpus"), "--rules", rules)
    assert code == 0, err
    code, _, err = run("docs", "-o", str(tmp_path / "site"), "--rules", rules)
    assert code == 0, err
    assert any("Ownership restrictions" in page.read_text() for page in (tmp_path / "site").rglob("*.md"))
    code, out = gate(repo)
    assert code == 1 and "[patch]" in out, out
    code, out, err = run("bump", "--repo", str(repo))
    assert code == 0, err
    assert "rules/rules.index: regenerated" in out
    assert run("index", "--check", "--rules", rules)[0] == 0


def test_wording_needs_a_patch_version(repo: Path) -> None:
    readme = repo / "rules" / "ownership" / "README.md"
    readme.write_text(readme.read_text() + "\nA clarification.\n")
    code, out = gate(repo)
    assert code == 1
    assert "[patch] documentation" in out
    assert f'set "version" in rules/manifest.json to {PATCH}' in out
    set_policy_version(repo, PATCH)
    set_package_version(repo, PACKAGE_PATCH, TODAY)
    add_changelog(repo, PATCH, LIVE_DATE, "Patch", "Ownership README clarified.")
    code, out = gate(repo)
    assert code == 0, out
    assert "no decision changes" in out


def test_changelog_must_agree_with_the_version_step_and_date(repo: Path) -> None:
    set_threshold(repo, 40)
    set_policy_version(repo, MAJOR, TODAY)
    set_package_version(repo, PACKAGE_MAJOR, TODAY)
    add_changelog(repo, MAJOR, "2027-01-01", "Minor", "Threshold lowered to 40%.")
    code, out = gate(repo, "--format", "json")
    assert code == 1
    report = json.loads(out)
    messages = [finding["message"] for finding in report["findings"] if finding["severity"] == "error"]
    assert any("calls the change minor, but the version moved by a major step" in text for text in messages)
    assert any(f"says 2027-01-01 but rules/manifest.json says effective {TODAY}" in text for text in messages)
    assert report["required"] == "major" and report["base_version"] == LIVE and report["head_version"] == MAJOR


def test_a_new_untracked_rule_file_counts(repo: Path) -> None:
    profile = repo / "rules" / "ownership" / "profiles" / "strict" / "data.json"
    profile.parent.mkdir()
    original = json.loads((repo / "rules/ownership/profiles/terms_of_service/data.json").read_text())
    profile.write_text(json.dumps({**original, "title": "Strict", "threshold_percent": 25}))
    code, out = gate(repo)
    assert code == 1
    assert "A rules/ownership/profiles/strict/data.json  [minor] new data file" in out
    assert f"to {MINOR}" in out  # a new profile cannot change the existing decisions


def test_outside_a_repository_and_unknown_revisions_are_bad_input(tmp_path: Path, repo: Path) -> None:
    code, out = gate(tmp_path / "nowhere")
    assert code == 2 and "not inside a git repository" in out
    code, out = gate(repo, "--base", "no-such-tag")
    assert code == 2 and "no such git revision" in out


def test_without_main_the_base_must_be_given(repo: Path) -> None:
    git(repo, "branch", "-m", "main", "trunk")
    code, out = gate(repo)
    assert code == 2
    assert "pass --base REV" in out


@pytest.mark.parametrize(
    ("path", "before", "after", "level"),
    [
        (
            "rules/ownership/profiles/x/data.json",
            '{"title": "a", "threshold_percent": 50}',
            '{"title": "b", "threshold_percent": 50}',
            "patch",
        ),
        (
            "rules/ownership/profiles/x/data.json",
            '{"restricted_countries": ["CN"]}',
            '{"restricted_countries": ["CN", "BY"]}',
            "major",
        ),
        ("rules/ownership/profiles/x/data.json", '{"a": 1}', '{"a": 1, "b": 2}', "minor"),
        ("rules/ownership/profiles/x/data.json", '{"a": 1, "b": 2}', '{"a": 1}', "major"),
        (
            "rules/manifest.json",
            '{"policy_set": {"version": "1.0.0", "default_profile": "a"}}',
            '{"policy_set": {"version": "1.1.0", "default_profile": "a"}}',
            "patch",
        ),
        (
            "rules/manifest.json",
            '{"policy_set": {"version": "1.0.0", "default_profile": "a"}}',
            '{"policy_set": {"version": "2.0.0", "default_profile": "b"}}',
            "major",
        ),
        (
            "schemas/x.schema.json",
            '{"type": "object", "description": "a"}',
            '{"type": "object", "description": "b"}',
            "patch",
        ),
        ("schemas/x.schema.json", '{"type": "object"}', '{"type": "object", "required": ["a"]}', "minor"),
        (
            "rules/x/x.rego",
            "package x\n\n# one\nallow := true\n",
            "package x\n\n# two, reworded\nallow   :=   true # note\n",
            "patch",
        ),
        ("rules/x/x.rego", "package x\n\nallow := true\n", "package x\n\nallow := false\n", "minor"),
        ("rules/x/x.rego", 'package x\n\nmsg := "a # b"\n', 'package x\n\nmsg := "a # c"\n', "minor"),
        ("rules/x/x_test.rego", "package x_test\n", "package x_test\n\ntest_a if true\n", "patch"),
        ("rules/exceptions/data.json", '{"granted": []}', '{"granted": [{"id": "EXC-1"}]}', "patch"),
    ],
)
def test_file_levels(tmp_path: Path, path: str, before: str, after: str, level: str) -> None:
    for side, text in (("base", before), ("head", after)):
        target = tmp_path / side / path
        target.parent.mkdir(parents=True)
        target.write_text(text)
    assert classify(path, "M", tmp_path / "base", tmp_path / "head")[0] == level


def test_versions_and_changelog_sections() -> None:
    assert bump_level("2.2.0", "3.0.0") == "major"
    assert bump_level("2.2.0", "2.3.0") == "minor"
    assert bump_level("2.2.0", "2.2.1") == "patch"
    assert bump_level("2.2.0", "2.2.0") == "none"
    assert bump_level("2.2.0", "2.1.9") == "down"
    assert next_version("2.2.3", "major") == "3.0.0"
    assert next_version("2.2.3", "minor") == "2.3.0"
    assert next_version("2.2.3", "patch") == "2.2.4"
    text = "# Changelog\n\n## 2.10.0 — effective 2027-01-01\n\n- **Minor.** x\n\n## 2.1.0\n\n- y\n"
    assert changelog_section(text, "2.1.0") == ("2.1.0", "\n\n- y\n")
    assert changelog_section(text, "2.10.0") is not None
    assert changelog_section(text, "2.1") is None
    assert changelog_section(text, "0.0") is None


def test_a_version_another_change_already_landed_with_is_refused(repo: Path) -> None:
    """Two pull requests in flight both take the next version: the second to land must move on."""
    git(repo, "checkout", "-q", "-b", "second")
    (repo / "rules" / "ownership" / "README.md").write_text("second wording\n")
    set_policy_version(repo, "2.2.1")
    set_package_version(repo, "2.0.1", TODAY)
    add_changelog(repo, "2.2.1", "2026-11-25", "Patch", "Second wording.")
    commit(repo, "Second change")
    git(repo, "checkout", "-q", "main")
    (repo / "rules" / "access" / "README.md").write_text("first wording\n")
    set_policy_version(repo, "2.2.1")
    add_changelog(repo, "2.2.1", "2026-11-25", "Patch", "First wording.")
    commit(repo, "First change, landed")
    git(repo, "checkout", "-q", "second")
    code, out = gate(repo)  # against its merge base the change is fine, but main already carries 2.2.1
    assert code == 1, out
    assert "version 2.2.1 is already taken on main (" in out
    assert "tos-policy bump" in out


@pytest.mark.opa
def test_one_command_runs_the_gate_writes_the_report_and_renders_the_docs(repo: Path, tmp_path: Path) -> None:
    set_threshold(repo, 40)
    assert run("bump", "--repo", str(repo), "--effective", TODAY)[0] == 0
    report, site = tmp_path / "impact.md", tmp_path / "site"
    code, out = gate(repo, "--report", str(report), "--docs", str(site))
    assert code == 1, out  # the CHANGELOG still says TODO
    text = report.read_text()
    assert "**Change gate:** **refused**" in text and "still says TODO" in text
    assert "threshold_percent: 50 -> 40" in text
    assert f"**{len(FLIPS_AT_40)} decision(s) change**" in text
    ownership = (site / "ownership" / "index.md").read_text()
    assert "FAILS" not in ownership and "| passes |" in ownership  # every worked example passes


def test_the_report_is_written_when_nothing_changed(repo: Path, tmp_path: Path) -> None:
    code, out = gate(repo, "--report", str(tmp_path / "impact.md"))
    assert code == 0, out
    text = (tmp_path / "impact.md").read_text()
    assert "**Change gate:** passed" in text and "no decision can change" in text
