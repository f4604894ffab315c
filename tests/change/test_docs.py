"""`tos-policy docs`: every rule rendered from its METADATA and data, in Markdown and one
static HTML page, with worked examples from its own tests and from the corpus."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tos_policy.engines.opa_server import opa_binary
from tos_policy.policy.ruleset import load_rules
from tos_policy.release.policy_docs import sentence_of_test

from .conftest import PACKAGE, PACKAGE_DATE, ROOT, commit, run, set_policy_version, set_threshold

RULE_TITLES = (
    "Rule 1 - restricted root",
    "Rule 2 - ownership by restricted owners reaching the threshold",
    "Rule 3 - control without shares",
    "Rule 4 - branches",
)


def docs(repo: Path, out: Path, *extra: str) -> str:
    code, stdout, err = run("docs", "-o", str(out), "--rules", str(repo / "rules"), *extra)
    assert code == 0, err
    return stdout


@pytest.mark.opa
def test_markdown_and_html_hold_every_rule_the_threshold_and_the_list(repo: Path, tmp_path: Path) -> None:
    set_threshold(repo, 40)  # a newcomer's change reads in plain English before it is committed
    site = tmp_path / "site"
    stdout = docs(repo, site, "--opa", str(opa_binary()))
    assert stdout.splitlines() == [
        f"wrote {site / 'index.md'}",
        f"wrote {site / 'access' / 'index.md'}",
        f"wrote {site / 'ownership' / 'index.md'}",
        f"wrote {site / 'regions' / 'index.md'}",
        f"wrote {site / 'index.html'}",
    ]
    index = (site / "index.md").read_text()
    ownership = (site / "ownership" / "index.md").read_text()
    access = (site / "access" / "index.md").read_text()
    page = (site / "index.html").read_text()
    assert "**Ownership threshold:** 40% or more, summed over all restricted owners." in index
    # the fixture rules' regions list, and no review line: their profile has review_regions off
    assert "**Restricted regions:** China (CN), Iran (IR), North Korea (KP), Russian Federation (RU)." in index
    assert "**Review regions:**" not in index
    numbered = sorted(rule_id for rule_id in load_rules(repo / "rules").rules if re.fullmatch(r"TOS-OWN-[0-9]+", rule_id))
    assert f"| [Ownership restriction](ownership/index.md) | {', '.join(numbered)} | 2.0.0 | 2025-09-05 |" in index
    for number, title in enumerate(RULE_TITLES, start=1):
        assert f"### TOS-OWN-{number}: {title}" in ownership
        assert title in page
    assert "- In force (terms_of_service): aggregate_owners = true; " in ownership
    assert "> **Note:** the wording of TOS-OWN-2 quotes" not in ownership  # rule titles state no number
    assert "threshold_percent = 40%" in ownership
    assert (
        "| `threshold_percent` | Whole percentage at which restricted owners' summed stakes restrict. | 40% |"
        in ownership
    )
    assert (
        "[Terms of Service, section 3.2 (restricted regions and ownership)](https://example.com/terms-of-service#section-3-2)"
        in ownership
    )
    assert f"- Version {PACKAGE} (the package's), effective {PACKAGE_DATE}." in ownership
    # worked examples: the rule's own tests, run by OPA, and corpus decisions under these rules
    assert "| Stake of 49.99 does not restrict | passes |" in ownership  # the Rego tests use their own profile
    assert "FAILS" not in ownership
    assert "| Branch of a restricted head office is restricted | passes |" in ownership
    assert "From the decision corpus (decided with these rules):" in ownership
    assert "(threshold 40%)" in ownership
    assert "### TOS-ACC-1: Rule 1 - organisation restricted by ownership" in access
    assert "| Billing country in restricted region denies | passes |" in access
    # one static page: no scripts, headings with ids, tables rendered
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert '<h3 id="ownership-tos-own-2">' in page and "<table>" in page
    assert 'href="#ownership"' in page
    assert "40%" in page


def test_without_opa_the_outcomes_say_not_run(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tos_policy.cli.commands.change.find_opa", lambda explicit, repo: None)
    docs(repo, tmp_path / "site")
    ownership = (tmp_path / "site" / "ownership" / "index.md").read_text()
    assert "| Headquarters in CN restricts | not run |" in ownership
    assert "(Outcomes not run: OPA was not found; pass `--opa PATH`.)" in ownership


def test_docs_of_a_policy_version(repo: Path, tmp_path: Path) -> None:
    # policy-v2.2.0 is the last commit whose manifest says 2.2.0 (the 40% change is 3.0.0)
    set_threshold(repo, 40)
    set_policy_version(repo, "3.0.0", "2027-01-01")
    commit(repo, "40%")
    docs(repo, tmp_path / "old", "--rules-ref", "policy-v2.2.0")
    assert "50% or more" in (tmp_path / "old" / "index.md").read_text()
    docs(repo, tmp_path / "new")
    assert "40% or more" in (tmp_path / "new" / "index.md").read_text()


def test_exceptions_are_listed(repo: Path, tmp_path: Path) -> None:
    (repo / "rules" / "exceptions" / "data.json").write_text(
        json.dumps(
            {
                "granted": [
                    {
                        "id": "EXC-2026-001",
                        "entity": "sg-exactly-half",
                        "rule_id": "TOS-OWN-2",
                        "reason": "Licence granted pending divestment",
                        "approver": "A. Counsel, Legal",
                        "granted": "2026-01-01",
                        "expires": "2026-06-01",
                    }
                ]
            }
        )
    )
    docs(repo, tmp_path / "site", "--as-of", "2026-11-25")
    index = (tmp_path / "site" / "index.md").read_text()
    assert "As of 2026-11-25: 0 in force, 1 expired, 0 not yet in force" in index
    assert (
        "| EXC-2026-001 | `sg-exactly-half` | TOS-OWN-2 | expired | 2026-01-01 | 2026-06-01 | A. Counsel, Legal |"
        in index
    )


def test_test_names_read_as_sentences() -> None:
    assert sentence_of_test("test_stakes_of_16_67_16_67_16_66_sum_to_exactly_50_and_restrict") == (
        "Stakes of 16.67, 16.67, 16.66 sum to exactly 50 and restrict"
    )
    assert sentence_of_test("test_vpn_with_restricted_ip_location") == "VPN with restricted IP location"


@pytest.mark.opa
def test_the_shipped_docs_build(tmp_path: Path) -> None:
    code, _, err = run("docs", "-o", str(tmp_path / "site"), "--rules", str(ROOT / "rules"), "--opa", str(opa_binary()))
    assert code == 0, err
    ownership = (tmp_path / "site" / "ownership" / "index.md").read_text()
    assert "FAILS" not in ownership and "**Note:**" not in ownership
