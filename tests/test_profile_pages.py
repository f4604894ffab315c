"""Each ownership profile's README page states worked examples and their decisions;
every decision a page states is the one the decision corpus pins for that case, decided
with that page's profile (tests/change/test_corpus.py checks the rules give the corpus's
decisions). So a page cannot say one thing while the rules do another."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tos_policy.release.profile_pages import stated_rows

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "rules" / "ownership" / "profiles"
EXPECTED = json.loads((ROOT / "tests" / "corpus" / "expected.json").read_text())
DEFAULT_PROFILE = json.loads((ROOT / "rules" / "manifest.json").read_text())["policy_set"]["default_profile"]
NAMES = sorted(path.name for path in PROFILES.iterdir() if (path / "data.json").is_file())


@pytest.mark.parametrize("name", NAMES)
def test_every_decision_a_profile_page_states_is_the_corpus_decision(name: str) -> None:
    page = PROFILES / name / "README.md"
    assert page.is_file(), f"profile {name} has no README.md page"
    rows = [(row.file, row.case, row.decision) for row in stated_rows(page)]
    assert len(rows) >= 5, f"{page}: its worked examples, each naming its corpus case"
    for file, case, decision in rows:
        assert EXPECTED.get("profiles", {}).get(file, DEFAULT_PROFILE) == name, f"{file} is not decided with {name}"
        now = EXPECTED["files"].get(file, {}).get(case)
        assert now == decision, (
            f"{page}: the page says {file}#{case} is {decision}, the corpus now says {now}: "
            "after a deliberate policy change `tos-policy corpus --update` moves the page's decision; check the row's words"
        )
    assert {decision for _, _, decision in rows} == {"allow", "deny", "review"}


def test_every_profile_has_a_page_and_its_case_file() -> None:
    assert DEFAULT_PROFILE in NAMES and len(NAMES) >= 4
    mapped = set(EXPECTED.get("profiles", {}).values())
    assert mapped == set(NAMES) - {DEFAULT_PROFILE}  # each reference profile's examples are corpus cases
