"""The legal path, played as CONTRIBUTING.md tells a lawyer, in a scratch git repository:
branch, edit the data, `tos-policy bump`, write the CHANGELOG sentence, then the one
command `tos-policy check-change --report --docs`, and the (reduced) test command.

The reduced test command is what a change of policy data can move: the OPA gates and
the Rego tests (`opa fmt`, `opa check --strict`, `opa test`), `tos-policy validate`,
the corpus check (`tos-policy corpus`) and the gate. The Python tests are left out
because they cannot see the change by construction: they decide with the frozen
fixture data of tests/fixtures/policy-data (tests/README.md), never the shipped data,
and the whole suite on every variant would take far longer than the point it makes.

Also the property behind it: for the threshold, the restricted lists and every
`link_effects` value, a change the gate accepts passes the reduced test command."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tos_policy.engines.opa_server import opa_binary

from .conftest import edit_json, git, run

pytestmark = [pytest.mark.opa, pytest.mark.slow]

PROFILE = "rules/ownership/profiles/terms_of_service/data.json"
ACCESS_POLICY = "rules/access/policies/terms_of_service/data.json"
DAY = "2027-01-01"


def _reduced_test_command(repo: Path) -> None:
    opa = str(opa_binary())
    for args in (["fmt", "--fail", "-l", "rules"], ["check", "--strict", "rules"], ["test", "rules"]):
        done = subprocess.run([opa, *args], cwd=repo, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"opa {' '.join(args)}: {done.stdout}{done.stderr}"
    code, out, err = run("validate", "--rules", str(repo / "rules"))
    assert code == 0, out + err
    code, out, err = run("corpus", "--dir", str(repo / "tests" / "corpus"), "--rules", str(repo / "rules"))
    assert code == 0, out + err


def play(repo: Path, tmp_path: Path, branch: str, edit: Callable[[Path], None], sentence: str) -> tuple[str, str]:
    """The whole path for one change; (impact report, rendered ownership docs)."""
    git(repo, "switch", "-q", "-c", branch)
    edit(repo)
    code, out, err = run("bump", "--repo", str(repo), "--effective", DAY)
    assert code == 0, out + err
    changelog = repo / "CHANGELOG.md"
    text = changelog.read_text()
    changelog.write_text(text.replace("TODO: say in one sentence what changes for whom, and why.", sentence))
    report, site = tmp_path / f"{branch}.md", tmp_path / f"{branch}-site"
    code, out, err = run("check-change", "--repo", str(repo), "--report", str(report), "--docs", str(site))
    assert code == 0, out + err
    _reduced_test_command(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", sentence)
    return report.read_text(), (site / "ownership" / "index.md").read_text()


def _set(path: str, key: str, value: Any) -> Callable[[Path], None]:
    return lambda repo: edit_json(repo / path, lambda document: document.__setitem__(key, value))


REGIONS = "rules/regions/data.json"


def _add_region(region: str) -> Callable[[Path], None]:
    """A region becomes restricted in the one shared list (and leaves the review list)."""

    def edit(document: dict[str, Any]) -> None:
        document["restricted"].append(region)
        if region in document["review"]:
            document["review"].remove(region)

    return lambda repo: edit_json(repo / REGIONS, edit)


def _remove_region(region: str) -> Callable[[Path], None]:
    return lambda repo: edit_json(repo / REGIONS, lambda document: document["restricted"].remove(region))


def _link_effect(kind: str, effect: str) -> Callable[[Path], None]:
    return lambda repo: edit_json(repo / PROFILE, lambda document: document["link_effects"].__setitem__(kind, effect))


def test_three_legal_changes_each_end_green_with_a_report_naming_the_change_and_its_flips(
    repo: Path, tmp_path: Path
) -> None:
    report, docs = play(repo, tmp_path, "threshold-25", _set(PROFILE, "threshold_percent", 25), "Threshold 25%.")
    assert "threshold_percent: 50 -> 25" in report and "**Change gate:** passed" in report
    assert "allow → deny" in report and "tests/corpus" not in report
    assert "FAILS" not in docs and "| passes |" in docs

    git(repo, "switch", "-q", "main")
    report, docs = play(repo, tmp_path, "restrict-hk", _add_region("HK"), "Hong Kong is a restricted region.")
    assert 'restricted: ["CN", "IR", "KP", "RU"] -> ["CN", "IR", "KP", "RU", "HK"]' in report  # the one regions list
    assert "Harbour Loop A Ltd (`hk-loop-a`) | allow | **deny**" in report
    assert "| `person-hong-kong` | allow | **deny** |" in report  # the sign-up moves with the same edit
    assert "FAILS" not in docs

    git(repo, "switch", "-q", "main")
    change = _link_effect("board_appointment", "restricts")
    report, docs = play(repo, tmp_path, "board-restricts", change, "Board appointment rights restrict.")
    assert 'link_effects.board_appointment: "review" -> "restricts"' in report
    assert "(`dk-board-seats`) | review | **deny**" in report
    assert "FAILS" not in docs


VARIANTS: dict[str, Callable[[Path], None]] = {
    "threshold-75": _set(PROFILE, "threshold_percent", 75),
    "remove-ru": _remove_region("RU"),
    **{
        f"{kind}-{effect}": _link_effect(kind, effect)
        for kind, effect in (
            ("shareholding", "review"),
            ("branch", "restricts"),
            ("consolidation", "review"),
            ("voting_majority", "ignore"),
            ("board_appointment", "ignore"),
            ("significant_influence", "restricts"),
        )
    },
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_change_the_gate_accepts_passes_the_test_command(repo: Path, tmp_path: Path, name: str) -> None:
    before = [json.loads((repo / path).read_text()) for path in (PROFILE, REGIONS)]
    play(repo, tmp_path, name, VARIANTS[name], f"Policy data change {name}.")
    assert [json.loads((repo / path).read_text()) for path in (PROFILE, REGIONS)] != before
