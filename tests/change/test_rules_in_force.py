"""Rules in force on a date: every report warns when --as-of is before its rules took
effect; --rules-in-force decides with the version in force on the as-of date and
--rules-ref policy-vX.Y.Z with that version, both found from rules/manifest.json in each
commit of a real scratch repository, never from tags (a fresh clone has none)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tos_policy.release.history import releases

from .conftest import LIVE, LIVE_DATE, MAJOR, commit, git, run, set_policy_version, set_threshold

LATER = "2027-01-01"  # the effective date of the fixture's next major version
FACTS = {
    "entities": [
        {"id": "parent", "type": "company", "headquarters": "CN", "jurisdiction": "CN", "disclosure": "full"},
        {"id": "target", "type": "company", "headquarters": "DE", "jurisdiction": "DE", "disclosure": "full"},
    ],
    "ownership": [{"owner": "parent", "asset": "target", "percentage": "45"}],
}


@pytest.fixture
def history(repo: Path, tmp_path: Path) -> dict[str, str]:
    """The fixture policy (LIVE, threshold 50%), then MAJOR (threshold 40%, effective LATER) and one
    more commit of MAJOR that only edits a README: {name: commit}."""
    first = git(repo, "rev-parse", "HEAD").strip()
    set_threshold(repo, 40)
    set_policy_version(repo, MAJOR, LATER)
    bumped = commit(repo, "Threshold 40%")
    (repo / "rules" / "ownership" / "README.md").write_text("Threshold 40%.\n")
    last = commit(repo, "README")
    (tmp_path / "facts.json").write_text(json.dumps(FACTS))
    return {"first": first, "bumped": bumped, "last": last}


def _evaluate(repo: Path, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return run("evaluate", str(tmp_path / "facts.json"), "--rules", str(repo / "rules"), *args)


def _report(repo: Path, tmp_path: Path, *args: str) -> dict[str, Any]:
    code, out, err = _evaluate(repo, tmp_path, *args)
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    return report


def _decision(report: dict[str, Any]) -> str:
    return str({item["entity"]: item["decision"] for item in report["decisions"]}["target"])


def test_the_history_lists_each_version_with_its_last_commit(repo: Path, history: dict[str, str]) -> None:
    found = [(release.version, release.effective_date.isoformat(), release.commit) for release in releases(repo)]
    assert found == [(MAJOR, LATER, history["last"]), (LIVE, LIVE_DATE, history["first"])]


def test_a_report_before_its_rules_took_effect_warns(repo: Path, history: dict[str, str], tmp_path: Path) -> None:
    report = _report(repo, tmp_path, "--as-of", "2026-12-15")
    warnings = report["warnings"]
    assert isinstance(warnings, list) and len(warnings) == 1
    assert f"before policy {MAJOR} took effect ({LATER})" in warnings[0] and "--rules-in-force" in warnings[0]
    assert "warnings" not in _report(repo, tmp_path, "--as-of", LATER)  # in force that day: nothing to say
    code, out, _ = _evaluate(repo, tmp_path, "--as-of", "2026-12-15", "--format", "table")
    assert code == 0 and f"WARNING: as of 2026-12-15 is before policy {MAJOR}" in " ".join(out.split())
    code, out, _ = run(
        "explain",
        str(tmp_path / "facts.json"),
        "--entity",
        "target",
        "--rules",
        str(repo / "rules"),
        "--as-of",
        "2026-12-15",
    )
    assert code == 0 and "WARNING: as of 2026-12-15" in out.splitlines()[2]


def test_rules_in_force_picks_the_version_of_the_as_of_date(
    repo: Path, history: dict[str, str], tmp_path: Path
) -> None:
    before = _report(repo, tmp_path, "--as-of", "2026-12-15", "--rules-in-force")
    assert before["policy"]["version"] == LIVE
    assert _decision(before) == "allow" and "warnings" not in before  # 45% under the 50% of the day
    after = _report(repo, tmp_path, "--as-of", "2027-02-01", "--rules-in-force")
    assert after["policy"]["version"] == MAJOR
    assert _decision(after) == "deny"  # 45% over the 40% in force by then
    by_commit = _report(repo, tmp_path, "--as-of", "2027-02-01", "--rules-ref", history["last"])
    assert by_commit["policy"]["rules_digest"] == after["policy"]["rules_digest"]


def test_no_version_in_force_is_refused(repo: Path, history: dict[str, str], tmp_path: Path) -> None:
    code, out, err = _evaluate(repo, tmp_path, "--as-of", "2025-01-01", "--rules-in-force")
    assert code == 2 and out == ""
    assert "no policy version" in err and f"the earliest is {LIVE}, effective {LIVE_DATE}" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = _evaluate(repo, tmp_path, "--rules-in-force", "--rules-ref", history["first"])
    assert code == 2 and "not both" in err


def test_a_policy_version_resolves_from_the_manifests_in_a_fresh_clone(
    repo: Path, history: dict[str, str], tmp_path: Path
) -> None:
    # A tag of that name on another commit is not read: the manifests say which commit it is.
    git(repo, "tag", f"policy-v{LIVE}", history["last"])
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--no-tags", str(repo), str(clone))
    assert git(clone, "tag", "--list").strip() == ""
    in_clone = _report(clone, tmp_path, "--as-of", "2026-12-15", "--rules-ref", f"policy-v{LIVE}")
    by_commit = _report(repo, tmp_path, "--as-of", "2026-12-15", "--rules-ref", history["first"])
    assert in_clone["policy"] == by_commit["policy"]
    assert _decision(in_clone) == "allow"
    assert (
        _report(clone, tmp_path, "--as-of", "2027-02-01", "--rules-ref", f"policy-v{MAJOR}")["policy"]["rules_digest"]
        == _report(repo, tmp_path, "--as-of", "2027-02-01", "--rules-ref", history["last"])["policy"]["rules_digest"]
    )
    code, out, err = _evaluate(clone, tmp_path, "--as-of", "2026-12-15", "--rules-ref", "policy-v9.9.9")
    assert code == 2 and out == "" and "carries policy version 9.9.9" in err


def test_screen_warns_and_takes_the_rules_in_force(repo: Path, history: dict[str, str], tmp_path: Path) -> None:
    facts = str(tmp_path / "facts.json")
    code, out, err = run("screen", facts, "--rules", str(repo / "rules"), "--as-of", "2026-12-15")
    assert code == 0, err
    assert f"WARNING: as of 2026-12-15 is before policy {MAJOR} took effect ({LATER})" in err
    assert {json.loads(line)["policy_version"] for line in out.splitlines()} == {MAJOR}
    code, out, err = run("screen", facts, "--rules", str(repo / "rules"), "--as-of", "2026-12-15", "--rules-in-force")
    assert code == 0 and "WARNING" not in err, err
    records = {json.loads(line)["entity"]: json.loads(line) for line in out.splitlines()}
    assert records["target"]["policy_version"] == LIVE and records["target"]["decision"] == "allow"
