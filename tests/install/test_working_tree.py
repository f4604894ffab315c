"""The working tree's rules are the rules: a tool installed without -e (its own
packaged copy of the rules) still reads the repository it is run in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tos_policy.resources import RULES_ENV, default_rules_dir, schemas_dir, working_repository

ROOT = Path(__file__).resolve().parent.parent.parent


def _policy_copy(root: Path) -> Path:
    for name in ("rules", "schemas"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copytree(ROOT / "tests" / "corpus", root / "tests" / "corpus")
    return root


def test_a_repository_above_the_current_directory_is_the_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RULES_ENV)  # the test session's fixture rules
    repo = _policy_copy(tmp_path / "policy")
    (repo / "tests" / "deeper").mkdir()
    monkeypatch.chdir(repo / "tests" / "deeper")
    assert working_repository() == repo.resolve()
    assert default_rules_dir() == repo.resolve() / "rules"
    assert schemas_dir() == repo.resolve() / "schemas"


def test_outside_a_repository_the_tool_reads_its_own_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RULES_ENV)
    monkeypatch.chdir(tmp_path)
    assert working_repository() is None
    assert default_rules_dir() == ROOT / "rules"


@pytest.mark.slow
def test_a_non_editable_install_reads_the_working_tree_not_its_packaged_copy(tmp_path: Path) -> None:
    """`pip install .` (no -e) packages rules/; a contributor's edit must still be what corpus reads."""
    target = tmp_path / "site"
    build = tmp_path / "build"
    shutil.copytree(
        ROOT, build, ignore=shutil.ignore_patterns(".git", ".tools", "*.egg-info", "__pycache__", ".*cache", "build")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(build),
        ],
        check=True,
        capture_output=True,
    )
    assert (target / "tos_policy" / "bundled_rules" / "manifest.json").is_file()
    # the rules index travels with the rules, so an installed tool reads METADATA as OPA read it
    packaged = (target / "tos_policy" / "bundled_rules" / "rules.index").read_bytes()
    assert packaged == (ROOT / "rules" / "rules.index").read_bytes()
    repo = _policy_copy(tmp_path / "policy")
    profile = repo / "rules" / "ownership" / "profiles" / "terms_of_service" / "data.json"
    data = json.loads(profile.read_text())
    data["threshold_percent"] = data["threshold_percent"] // 2  # any move of the value will do: the count must not be 0
    profile.write_text(json.dumps(data))
    env = {**{key: value for key, value in os.environ.items() if key != RULES_ENV}, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-m", "tos_policy", "corpus", "--update"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert str(repo / "tests" / "corpus" / "expected.json") in done.stdout
    assert " (0 change(s))" not in done.stdout
    again = subprocess.run(
        [sys.executable, "-m", "tos_policy", "corpus"], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    assert again.returncode == 0, again.stdout + again.stderr
