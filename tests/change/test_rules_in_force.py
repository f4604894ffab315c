"""Rules in force on a date: every report warns when --as-of is before its rules took
effect; --rules-in-force decides with the version in force on the as-of date and
--rules-ref policy-vX.Y.Z with that version, both found from rules/manifest.json in each
commit of a real scratch repository, never from tags (a fresh clone has none)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tos_policy.release.history import releases

from .conftest import LIVE, LIVE_DATE, MAJOR, ROOT, commit, git, run, set_policy_version, set_threshold

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
    found = [(release.version, str(release.effective_date), release.commit) for release in releases(repo)]
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


def test_the_ledger_names_the_commit_a_version_was_released_at(
    repo: Path, history: dict[str, str], tmp_path: Path
) -> None:
    # Work for the next version committed under MAJOR's number (threshold 30%) after MAJOR was released.
    set_threshold(repo, 30)
    commit(repo, "Threshold 30%, before the version moved")
    later = _report(repo, tmp_path, "--as-of", "2027-02-01", "--rules-ref", f"policy-v{MAJOR}")
    assert (
        later["policy"]["rules_digest"]
        != _report(repo, tmp_path, "--rules-ref", history["last"])["policy"]["rules_digest"]
    )
    (repo / "policy-releases.json").write_text(json.dumps({"released": {MAJOR: history["last"]}}))
    commit(repo, "The ledger: MAJOR as released")
    released = _report(repo, tmp_path, "--as-of", "2027-02-01", "--rules-ref", f"policy-v{MAJOR}")
    assert (
        released["policy"]["rules_digest"]
        == _report(repo, tmp_path, "--rules-ref", history["last"])["policy"]["rules_digest"]
    )
    in_force = _report(repo, tmp_path, "--as-of", "2027-02-01", "--rules-in-force")
    assert in_force["policy"]["rules_digest"] == released["policy"]["rules_digest"]
    # A ledger line naming a commit that does not carry the version is refused, naming the line.
    (repo / "policy-releases.json").write_text(json.dumps({"released": {MAJOR: history["first"]}}))
    commit(repo, "A wrong ledger line")
    code, out, err = _evaluate(repo, tmp_path, "--rules-ref", f"policy-v{MAJOR}")
    assert code == 2 and out == "" and "policy-releases.json" in err and f"$.released.{MAJOR}" in err


def test_an_archived_version_is_read_from_the_archive(repo: Path, history: dict[str, str], tmp_path: Path) -> None:
    """A version older than the history, reconstructed under policy-archive/<version>/ without an
    effective date: in force before every dated version, evaluated by --rules-ref, never compared."""
    archived = repo / "policy-archive" / "0.9.0"
    shutil.copytree(repo / "rules", archived / "rules")
    shutil.copytree(repo / "schemas", archived / "schemas")
    manifest = json.loads((archived / "rules" / "manifest.json").read_text())
    manifest["policy_set"]["version"] = "0.9.0"
    del manifest["policy_set"]["effective_date"]
    (archived / "rules" / "manifest.json").write_text(json.dumps(manifest))
    schema = json.loads((archived / "schemas" / "manifest.schema.json").read_text())
    schema["required"].remove("effective_date")
    (archived / "schemas" / "manifest.schema.json").write_text(json.dumps(schema))
    profile = archived / "rules" / "ownership" / "profiles" / "terms_of_service" / "data.json"
    data = json.loads(profile.read_text())
    # regions only: every link kind ignored but a nominee's title, which may only restrict or review
    data["link_effects"] = {kind: "ignore" for kind in data["link_effects"] if kind != "held_as_nominee"}
    profile.write_text(json.dumps(data))
    (tmp_path / "facts.json").write_text(
        json.dumps({**FACTS, "ownership": [{"owner": "parent", "asset": "target", "percentage": "90"}]})
    )
    commit(repo, "Archive 0.9.0")
    old = _report(repo, tmp_path, "--as-of", "2020-01-01", "--rules-in-force")
    assert old["policy"]["version"] == "0.9.0" and old["policy"]["effective_date"] is None
    assert _decision(old) == "allow"  # 90% Chinese-owned: the ownership rule did not exist
    assert _decision(_report(repo, tmp_path, "--as-of", "2020-01-01", "--rules-ref", "policy-v0.9.0")) == "allow"
    assert _report(repo, tmp_path, "--as-of", "2026-12-15", "--rules-in-force")["policy"]["version"] == LIVE
    code, out, err = run("check-change", "--repo", str(repo), "--base", "policy-v0.9.0")
    assert code == 2 and out == "" and "reconstruction kept in policy-archive/0.9.0" in err


@pytest.mark.opa  # older revisions, indexed in an older format or not at all, are read by OPA
def test_this_repository_reproduces_its_1_0_0_and_its_released_versions(tmp_path: Path) -> None:
    """The shipped archive and ledger, read from this repository's own history."""
    rules = str(ROOT / "rules")
    (tmp_path / "facts.json").write_text(
        json.dumps({**FACTS, "ownership": [{"owner": "parent", "asset": "target", "percentage": "90"}]})
    )
    facts = str(tmp_path / "facts.json")
    for choice in (["--rules-in-force"], ["--rules-ref", "policy-v1.0.0"]):
        code, out, err = run("evaluate", facts, "--rules", rules, "--as-of", "2024-06-01", *choice)
        assert code == 0, err
        report = json.loads(out)
        assert report["policy"]["version"] == "1.0.0"
        assert _decision(report) == "allow"  # regions only: 90% Chinese-owned was not restricted yet
    released = releases(ROOT)
    ledger = json.loads((ROOT / "policy-releases.json").read_text())["released"]
    for version, commit_id in ledger.items():
        assert {release.version: release.commit for release in released}[version] == commit_id
