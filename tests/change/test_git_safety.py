"""Reading a repository under review runs nothing its configuration names: a hostile
.git/config (core.fsmonitor, clean/smudge filters, textconv, external diff, pager)
and the caller's GIT_* environment are neutralised on every git call."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tos_policy.release.history import changed_files, load_rules_at, read_text

from .conftest import PROFILE, commit, git, run, set_threshold


@pytest.fixture
def hostile(repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The policy repository with every configured command writing a marker file; a rules change in the working tree."""
    marker = tmp_path / "markers"
    marker.mkdir()

    def command(name: str) -> str:
        return f"sh -c 'touch {shlex.quote(str(marker / name))}; cat \"$@\"' --"

    (repo / ".gitattributes").write_text("* filter=evil diff=evil\n")
    commit(repo, "attributes")
    settings = {
        "core.fsmonitor": f"touch {shlex.quote(str(marker / 'fsmonitor'))}; echo",
        "filter.evil.clean": command("clean"),
        "filter.evil.smudge": command("smudge"),
        "filter.evil.required": "true",
        "diff.evil.textconv": command("textconv"),
        "diff.evil.command": command("diffcommand"),
        "diff.external": command("external"),
        "core.pager": command("pager"),
        "log.showSignature": "true",
        "gpg.program": command("gpg"),
    }
    for key, value in settings.items():
        git(repo, "config", key, value)
    set_threshold(repo, 40)  # a working-tree change: diff must compare file contents
    (repo / PROFILE).touch()
    return repo, marker


def test_check_change_runs_no_configured_command(hostile: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    repo, marker = hostile
    monkeypatch.setenv("GIT_EXTERNAL_DIFF", f"touch {marker / 'env-external'}")
    monkeypatch.setenv("GIT_PAGER", f"touch {marker / 'env-pager'}")
    code, out, err = run("check-change", "--repo", str(repo), "--base", "main~1")
    assert code == 1, out + err  # the gate ran and refused the unversioned change
    assert "threshold_percent: 50 -> 40" in out
    assert sorted(path.name for path in marker.iterdir()) == []


def test_history_readers_run_no_configured_command(hostile: tuple[Path, Path]) -> None:
    repo, marker = hostile
    assert "rules/ownership/profiles/terms_of_service/data.json" in changed_files(repo, "main~1")
    text = read_text(repo, "HEAD", PROFILE.as_posix())
    assert text is not None and json.loads(text)["threshold_percent"] == 50
    assert load_rules_at(repo, "HEAD").profile("terms_of_service")["threshold_percent"] == 50
    assert sorted(path.name for path in marker.iterdir()) == []
