"""`tos-policy evaluate --rules-ref REF`: the rules as they were at a tag or commit, read
from git without a checkout, validated against that revision's schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tos_policy.release.history import WORKTREE, changed_files, load_rules_at, materialise, merge_base, read_text

from .conftest import (
    LIVE,
    MAJOR,
    PACKAGE_MAJOR,
    PROFILE,
    add_changelog,
    commit,
    edit_json,
    git,
    run,
    set_package_version,
    set_policy_version,
    set_threshold,
)

EDGES = "tests/corpus/threshold-edges.json"


def decisions(out: str) -> dict[str, str]:
    return {item["entity"]: item["decision"] for item in json.loads(out)["decisions"]}


@pytest.fixture
def tagged(repo: Path) -> Path:
    """policy-v2.2.0 on the first commit; threshold 40% released as policy-v3.0.0; 30% not committed."""
    git(repo, "tag", "-a", "policy-v2.2.0", "-m", "Policy 2.2.0")
    set_threshold(repo, 40)
    set_policy_version(repo, MAJOR, "2027-01-01")
    set_package_version(repo, PACKAGE_MAJOR, "2027-01-01")
    add_changelog(repo, MAJOR, "2027-01-01", "Major", "Threshold lowered to 40%.")
    commit(repo, "Policy 3.0.0: threshold 40%")
    git(repo, "tag", "-a", "policy-v3.0.0", "-m", "Policy 3.0.0")
    set_threshold(repo, 30)
    return repo


def test_a_tag_gives_the_decisions_of_its_rules(tagged: Path) -> None:
    facts = str(tagged / EDGES)
    rules = str(tagged / "rules")
    code, old, err = run("evaluate", facts, "--as-of", "2026-11-25", "--rules", rules, "--rules-ref", "policy-v2.2.0")
    assert code == 0, err
    code, new, err = run("evaluate", facts, "--as-of", "2027-01-05", "--rules", rules, "--rules-ref", "policy-v3.0.0")
    assert code == 0, err
    code, now, err = run("evaluate", facts, "--as-of", "2027-01-05", "--rules", rules)
    assert code == 0, err
    assert decisions(old)["sg-just-under"] == "allow" and decisions(old)["fr-forty"] == "allow"
    assert decisions(new)["sg-just-under"] == "deny" and decisions(new)["fr-forty"] == "deny"
    assert decisions(new)["nl-thirty"] == "allow" and decisions(now)["nl-thirty"] == "deny"  # 30%: the working tree
    assert json.loads(old)["policy"]["version"] == LIVE
    assert json.loads(new)["policy"]["version"] == MAJOR
    assert json.loads(new)["policy"]["effective_date"] == "2027-01-01"
    assert json.loads((tagged / PROFILE).read_text())["threshold_percent"] == 30  # the working tree is untouched


def test_the_repository_is_found_from_the_current_directory(tagged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tagged / "tests")
    code, out, err = run("evaluate", str(tagged / EDGES), "--as-of", "2026-11-25", "--rules-ref", "HEAD~1")
    assert code == 0, err
    assert json.loads(out)["policy"]["version"] == LIVE
    code, out, err = run(
        "explain", str(tagged / EDGES), "--entity", "fr-forty", "--as-of", "2027-01-05", "--rules-ref", "policy-v3.0.0"
    )
    assert code == 0, err
    assert out.startswith(f"Lyon Biotech SAS (fr-forty): DENY\nPolicy tos-policy {MAJOR}")


def test_unknown_refs_and_no_repository_are_bad_input(
    tagged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run("evaluate", str(tagged / EDGES), "--rules", str(tagged / "rules"), "--rules-ref", "policy-v9")
    assert code == 2 and "no such git revision" in err and "policy-v9" in err
    monkeypatch.chdir(tmp_path)
    code, _, err = run("evaluate", str(tagged / EDGES), "--rules-ref", "policy-v3.0.0")
    assert code == 2 and "not inside a git repository" in err


def test_a_revision_is_validated_against_its_own_schemas(repo: Path) -> None:
    git(repo, "tag", "old")
    # Later, the profile schema requires a new field and the data gains it.
    edit_json(repo / "schemas" / "profile.schema.json", lambda schema: schema["required"].append("review_note"))
    edit_json(
        repo / "schemas" / "profile.schema.json",
        lambda schema: schema["properties"].__setitem__("review_note", {"type": "string"}),
    )
    for path in sorted((repo / "rules/ownership/profiles").glob("*/data.json")):
        edit_json(path, lambda data: data.__setitem__("review_note", "x"))
    commit(repo, "A required profile field")
    assert load_rules_at(repo, "old").version == LIVE  # old data, old schema: valid
    assert load_rules_at(repo, WORKTREE).profile("terms_of_service")["review_note"] == "x"


def test_history_helpers(repo: Path, tmp_path: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    assert merge_base(repo) == (first, "merge base of HEAD with main")
    set_threshold(repo, 45)
    new_file = repo / "rules" / "ownership" / "profiles" / "new" / "data.json"
    new_file.parent.mkdir()
    new_file.write_text("{}")
    assert changed_files(repo, "HEAD") == {str(PROFILE): "M", "rules/ownership/profiles/new/data.json": "A"}
    assert changed_files(repo, "HEAD", "HEAD") == {}
    assert "threshold_percent" in (read_text(repo, "HEAD", str(PROFILE)) or "")
    assert read_text(repo, "HEAD", "no/such/file") is None
    assert sorted(materialise(repo, "HEAD", tmp_path / "out")) == ["rules", "schemas"]
    assert json.loads((tmp_path / "out" / PROFILE).read_text())["threshold_percent"] == 50
    assert not (tmp_path / "out" / "tests").exists()
