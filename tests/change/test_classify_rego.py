"""A Rego module's change is told apart as wording (comments, METADATA, layout: patch) or
code (minor) from OPA's own reading of both sides, never from a hand-written lexer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tos_policy.release.change import classify

pytestmark = pytest.mark.opa

BASE = '''package fixture.change

# METADATA
# title: A rule
# custom:
#   id: FIX-1
flagged if input.note == "a # is not a comment here"
'''


def _classify(tmp_path: Path, head: str) -> tuple[str, str]:
    for side, text in (("base", BASE), ("head", head)):
        (tmp_path / side / "rules").mkdir(parents=True)
        (tmp_path / side / "rules" / "m.rego").write_text(text)
    return classify("rules/m.rego", "M", tmp_path / "base", tmp_path / "head")


@pytest.mark.parametrize(
    "head",
    [
        BASE.replace("title: A rule", "title: A rule, worded better"),
        BASE.replace("package fixture.change\n", "package fixture.change\n\n# A comment.\n"),
        BASE.replace('flagged if input.note == "a', 'flagged if {\n\tinput.note == "a').replace(
            'here"\n', 'here"\n}\n'
        ),
    ],
    ids=["metadata", "comment", "layout"],
)
def test_wording_and_layout_are_a_patch(tmp_path: Path, head: str) -> None:
    assert _classify(tmp_path, head)[0] == "patch"


@pytest.mark.parametrize(
    "head",
    [
        BASE.replace("a # is not a comment here", "a # is not a comment there"),
        BASE.replace("input.note ==", "input.other =="),
    ],
    ids=["hash-in-string", "reference"],
)
def test_code_is_a_minor_change(tmp_path: Path, head: str) -> None:
    assert _classify(tmp_path, head) == ("minor", "Rego code changed (the corpus shows whether decisions change)")
