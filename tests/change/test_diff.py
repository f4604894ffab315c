"""`tos-policy diff`: the entities whose decision changes, from two revisions read from
git without a checkout, as text, JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import (
    ALLOW_DENY_FLIPS,
    CORPUS_DECISIONS,
    FLIPS_AT_40,
    PROFILE,
    ROOT,
    commit,
    edit_json,
    flip_counts,
    git,
    run,
    set_threshold,
)


def diff(repo: Path, *extra: str) -> str:
    code, out, err = run("diff", "--repo", str(repo), *extra)
    assert code == 0, err
    return out


def test_json_lists_exactly_the_entities_that_flip(repo: Path) -> None:
    set_threshold(repo, 40)
    report = json.loads(diff(repo, "--format", "json"))
    changed = {
        (item["file"], item["entity"]): (item["old"]["decision"], item["new"]["decision"]) for item in report["changes"]
    }
    assert changed == FLIPS_AT_40
    assert report["summary"]["decisions_changed"] == len(FLIPS_AT_40)
    assert report["summary"]["allow_deny_flips"] == ALLOW_DENY_FLIPS
    by_change: dict[str, int] = {}
    for old, new in FLIPS_AT_40.values():
        by_change[f"{old} -> {new}"] = by_change.get(f"{old} -> {new}", 0) + 1
    assert report["summary"]["by_change"] == by_change
    assert report["summary"]["entities"] == CORPUS_DECISIONS
    assert report["head"]["rev"] == "WORKTREE" and report["base"]["version"] == "2.2.0"
    flip = next(item for item in report["changes"] if item["entity"] == "sg-just-under")
    assert flip["old"]["reasons"] == []
    [reason] = flip["new"]["reasons"]
    assert reason["rule_id"] == "TOS-OWN-2" and reason["threshold_percent"] == 40 and reason["share_min"] == "49.99"
    assert report["exceptions"]["head"]["in_force"] == 0


def test_text_names_each_flip_with_old_and_new_reasons(repo: Path) -> None:
    set_threshold(repo, 40)
    out = diff(repo)
    assert f"{len(FLIPS_AT_40)} decision(s) change: {flip_counts()}." in out
    assert "tests/corpus/threshold-edges.json: Merlion Analytics Pte Ltd (sg-just-under): ALLOW -> DENY" in out
    assert "  before: no reason: not restricted" in out
    assert "Restricted owners hold 49.99% of Merlion Analytics Pte Ltd (sg-just-under) together (threshold 40%)" in out
    assert "tests/corpus/psc-bands.json: Oxford Imaging Ltd (gb-below-half): ALLOW -> REVIEW" in out
    assert "Exceptions, head: 0 in force (none)" in out
    for (_, entity), (old, _) in FLIPS_AT_40.items():
        assert f"({entity}): {old.upper()} -> " in out
    assert "sg-exactly-half" not in out.split("keep their decision")[0]  # denied before and after


def test_markdown_is_a_pull_request_comment(repo: Path) -> None:
    set_threshold(repo, 40)
    out = diff(repo, "--format", "markdown")
    assert out.startswith("## Policy impact: 2.2.0 → 2.2.0")
    assert f"**{len(FLIPS_AT_40)} decision(s) change** ({ALLOW_DENY_FLIPS} between allow and deny)" in out
    assert (
        "| threshold-edges | Merlion Analytics Pte Ltd (`sg-just-under`) | allow | **deny** |"
        in out
    )
    assert "- ownership/profiles/terms_of_service (major): threshold_percent: 50 -> 40" in out
    assert "tests/corpus" not in out  # cases are named, not paths
    assert "<details><summary>Reasons before the change</summary>" in out
    assert "### Exceptions" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "| **" in line]
    assert len(rows) == len(FLIPS_AT_40)


def test_no_change_says_so(repo: Path) -> None:
    assert "No decision changes." in diff(repo, "--base", "HEAD")
    assert "**No decision changes.**" in diff(repo, "--base", "HEAD", "--format", "markdown")


def test_two_commits_with_explicit_facts_and_no_checkout(repo: Path) -> None:
    before = git(repo, "rev-parse", "HEAD").strip()
    set_threshold(repo, 51)
    after = commit(repo, "Threshold 51%")
    git(repo, "checkout", "-q", before)  # the working tree is at the old rules ...
    facts = ROOT / "examples" / "chain.json"
    report = json.loads(
        diff(repo, "--base", before, "--head", after, "--as-of", "2025-10-01", "--format", "json", str(facts))
    )
    changed = {item["entity"]: (item["old"]["decision"], item["new"]["decision"]) for item in report["changes"]}
    # ... and the head's rules are still read from git: 50% no longer restricts at 51%
    assert changed == {"ae-holding": ("deny", "allow"), "vg-spv": ("deny", "allow"), "nl-opco": ("deny", "allow")}
    assert [Path(label).name for label in report["facts"]] == ["chain.json"]
    assert json.loads((repo / PROFILE).read_text())["threshold_percent"] == 50
    assert git(repo, "status", "--porcelain") == ""


def test_an_excepted_entity_shows_its_exception(repo: Path) -> None:
    exceptions = repo / "rules" / "exceptions" / "data.json"
    exceptions.write_text(
        json.dumps(
            {
                "granted": [
                    {
                        "id": "EXC-2026-007",
                        "entity": "sg-exactly-half",
                        "rule_id": "TOS-OWN-2",
                        "reason": "Divestment to 49% signed, completion pending regulatory approval",
                        "approver": "A. Counsel, Legal",
                        "granted": "2026-11-01",
                        "expires": "2027-02-01",
                    }
                ]
            }
        )
    )
    report = json.loads(diff(repo, "--format", "json"))
    [change] = report["changes"]
    assert change["entity"] == "sg-exactly-half" and change["change"] == "deny -> allow"
    [record] = change["new"]["exceptions"]
    assert record["id"] == "EXC-2026-007" and record["note"].startswith("EXCEPTED: exception EXC-2026-007")
    assert report["exceptions"]["head"]["in_force"] == 1
    assert report["exceptions"]["head"]["exceptions"][0]["applied_to"] == ["sg-exactly-half"]
    out = diff(repo, "--format", "markdown")
    assert "| EXC-2026-007 | `sg-exactly-half` | TOS-OWN-2 | in_force | 2027-02-01 | A. Counsel, Legal |" in out


ACCESS_POLICY = Path("rules/access/policies/terms_of_service/data.json")


def _requests_decided(repo: Path) -> dict[str, str]:
    from tos_policy.policy.ruleset import load_rules
    from tos_policy.release.corpus import decide_corpus, decided_requests, load_corpus

    corpus = load_corpus(repo / "tests" / "corpus", repo)
    decided = decided_requests(decide_corpus(corpus, load_rules(repo / "rules")))
    return {f"{label}:{request}": decision for label, items in decided.items() for request, decision in items.items()}


def test_an_access_rule_change_lists_the_requests_that_move(repo: Path) -> None:
    before = _requests_decided(repo)
    edit_json(repo / ACCESS_POLICY, lambda policy: policy["signal_effects"].__setitem__("ip_country", "deny"))
    after = _requests_decided(repo)
    moved = {case: (before[case], after[case]) for case in after if before[case] != after[case]}
    assert moved, "the access cases hold no request decided by its IP address"
    report = json.loads(diff(repo, "--format", "json"))
    listed = {
        f"{item['file']}:{item['request']}": (item["old"]["decision"], item["new"]["decision"])
        for item in report["access_changes"]
    }
    assert listed == moved
    assert report["changes"] == []  # no organisation's ownership decision moves
    assert report["summary"]["access_decisions_changed"] == len(moved)
    markdown = diff(repo, "--format", "markdown")
    assert "### Access requests (sign-ups)" in markdown
    assert f"**{len(moved)} of {report['summary']['access_requests']} request decision(s) change**" in markdown
    code, out, _ = run("check-change", "--repo", str(repo))
    assert code == 1 and f"{len(moved)} access request decision(s) change" in out
