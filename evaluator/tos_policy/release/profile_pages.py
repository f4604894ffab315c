"""The worked examples each ownership profile's README page states.

A page row names one corpus case (`` `file.json#case` ``) and the decision the page
says it gets (``**allow**``, ``**deny**`` or ``**review**``). The decision corpus pins
what the rules decide; this module reads the rows and, after a deliberate rule change,
moves a row's decision to the corpus's, so a lawyer's change needs no hand edit of a
page's decision cells (the row's own words are theirs to check: the tool lists them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tos_policy.atomic import replaced_atomically

CASE = re.compile(r"`([\w.-]+\.json)#([\w.-]+)`")
DECISION = re.compile(r"\*\*(allow|deny|review)\*\*")


@dataclass(frozen=True)
class PageRow:
    """One worked-example row of a profile page."""

    page: Path
    line: int  # 1-based
    file: str
    case: str
    decision: str


class PageError(ValueError):
    """A page row that names more or fewer than one case and one decision."""


def profile_pages(rules_root: Path) -> dict[str, Path]:
    """Profile name -> its README page, for every profile directory of the rules."""
    directory = rules_root / "ownership" / "profiles"
    if not directory.is_dir():
        return {}
    return {
        path.name: path / "README.md"
        for path in sorted(directory.iterdir())
        if (path / "data.json").is_file() and (path / "README.md").is_file()
    }


def stated_rows(page: Path) -> list[PageRow]:
    """Every row of `page` that names a corpus case, with the decision it states."""
    return _rows(page, page.read_text(encoding="utf-8").split("\n"))


def _rows(page: Path, lines: list[str]) -> list[PageRow]:
    rows = []
    for number, text in enumerate(lines, start=1):
        cases = CASE.findall(text)
        if not cases:
            continue
        decisions = DECISION.findall(text)
        if len(cases) != 1 or len(decisions) != 1:
            raise PageError(f"{page}:{number}: a row names one corpus case and one decision: {text}")
        rows.append(PageRow(page, number, cases[0][0], cases[0][1], decisions[0]))
    return rows


def update_pages(
    rules_root: Path, decided: Mapping[str, Mapping[str, str]], profile_of: Mapping[str, str], default_profile: str
) -> list[str]:
    """Move each page row's decision to the corpus's (`decided`: file -> case -> decision).

    Only rows whose file the corpus decides with that page's profile are touched.
    Returns one line per row moved, naming the page and line so its words can be checked.
    """
    moved: list[str] = []
    for name, page in profile_pages(rules_root).items():
        lines = page.read_text(encoding="utf-8").split("\n")
        changed = False
        for row in _rows(page, lines):
            if profile_of.get(row.file, default_profile) != name:
                continue
            now = decided.get(row.file, {}).get(row.case)
            if now is None or now == row.decision:
                continue
            lines[row.line - 1] = DECISION.sub(f"**{now}**", lines[row.line - 1])
            moved.append(f"{page}:{row.line}: {row.file}#{row.case} {row.decision} -> {now} (check the row's words)")
            changed = True
        if changed:
            with replaced_atomically(page) as temporary:
                temporary.write_text("\n".join(lines), encoding="utf-8")
    return moved
