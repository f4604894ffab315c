"""Case files decided with a profile of their own: expected.json's `profiles` maps a
file to the profile its cases are decided with (the others use the default profile).
`corpus --update` keeps the map, a map naming a file the corpus lacks is refused, and
the impact report leaves out a file whose profile one side of the change lacks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tos_policy.errors import InputError
from tos_policy.policy.ruleset import load_rules
from tos_policy.release.corpus import decide_corpus, load_corpus

from ..fixture_rules import fixture_rules_dir
from .conftest import commit, edit_json, run

FACTS = {
    "entities": [
        {"id": "cn", "type": "company", "headquarters": "CN", "jurisdiction": "CN", "disclosure": "full"},
        {"id": "target", "type": "company", "headquarters": "GB", "jurisdiction": "GB", "disclosure": "full"},
    ],
    "ownership": [{"owner": "cn", "asset": "target", "percentage": "50"}],
}


def _corpus(directory: Path, profiles: dict[str, str]) -> Path:
    directory.mkdir(parents=True)
    for name in ("a.json", "b.json"):
        (directory / name).write_text(json.dumps(FACTS))
    expected = {"as_of": "2026-11-25", "profiles": profiles, "files": {}}
    (directory / "expected.json").write_text(json.dumps(expected))
    return directory


def _with_profile(rules: Path, name: str, threshold_inclusive: bool) -> Path:
    """A copy of `rules` with profile `name`: the default profile with threshold_inclusive changed."""
    profile = json.loads((rules / "ownership" / "profiles" / "terms_of_service" / "data.json").read_text())
    profile["threshold_inclusive"] = threshold_inclusive
    folder = rules / "ownership" / "profiles" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.json").write_text(json.dumps(profile, indent=2) + "\n")
    return rules


def test_a_mapped_file_is_decided_with_its_profile_and_update_keeps_the_map(tmp_path: Path) -> None:
    rules = shutil.copytree(fixture_rules_dir(), tmp_path / "rules")
    profile = json.loads((rules / "ownership" / "profiles" / "terms_of_service" / "data.json").read_text())
    _with_profile(rules, "strict_majority", threshold_inclusive=not profile["threshold_inclusive"])
    directory = _corpus(tmp_path / "corpus", {"b.json": "strict_majority"})
    code, out, err = run("corpus", "--update", "--dir", str(directory), "--rules", str(rules))
    assert code == 0, out + err
    written = json.loads((directory / "expected.json").read_text())
    assert written["profiles"] == {"b.json": "strict_majority"}
    # 50% is the threshold: one profile counts it, the other does not
    assert {written["files"]["a.json"]["target"], written["files"]["b.json"]["target"]} == {"allow", "deny"}
    corpus = load_corpus(directory, tmp_path)
    assert [item.profile for item in corpus.fact_sets] == [None, "strict_majority"]
    reports = decide_corpus(corpus, load_rules(rules)).reports
    assert [report.policy["profile"] for report in reports.values()] == ["terms_of_service", "strict_majority"]
    code, out, err = run("corpus", "--dir", str(directory), "--rules", str(rules))
    assert code == 0, out + err


def test_a_profile_for_a_file_the_corpus_lacks_is_refused(tmp_path: Path) -> None:
    directory = _corpus(tmp_path / "corpus", {"missing.json": "ofsi"})
    with pytest.raises(InputError) as caught:
        load_corpus(directory, tmp_path)
    assert caught.value.path == "$.profiles.missing.json"


def test_the_impact_report_leaves_out_a_file_whose_profile_the_base_lacks(repo: Path) -> None:
    _with_profile(repo / "rules", "strict_majority", threshold_inclusive=False)
    (repo / "tests" / "corpus" / "strict-cases.json").write_text(json.dumps(FACTS))
    edit_json(
        repo / "tests" / "corpus" / "expected.json",
        lambda doc: doc.setdefault("profiles", {}).update({"strict-cases.json": "strict_majority"}),
    )
    commit(repo, "A profile and its cases")
    code, out, err = run("diff", "--repo", str(repo), "--base", "HEAD~1", "--head", "HEAD", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert not any(label.endswith("strict-cases.json") for label in report["facts"])
    assert report["changes"] == []
