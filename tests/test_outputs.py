"""Outputs are complete or untouched, honour the umask, and leave no temporary file:
not on failure, and not after a killed run (the next run removes what it left)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tos_policy.atomic import SUFFIX, directory_replaced_atomically, replaced_atomically
from tos_policy.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
CHAIN = str(ROOT / "examples" / "chain.json")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.rglob("*") if path.name.endswith(SUFFIX) or ".part" in path.name)


def dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_atomic_outputs_honour_the_umask(tmp_path: Path, umask: int) -> None:
    file_mode, dir_mode = 0o666 & ~umask, 0o777 & ~umask
    synth = tmp_path / "registry.jsonl"
    code, _, err = run("synth", "--entities", "50", "-o", str(synth))
    assert code == 0, err
    screened = tmp_path / "decisions.jsonl"
    code, _, err = run("screen", str(synth), "--as-of", "2025-10-01", "--out", str(screened))
    assert code == 0, err
    merged = tmp_path / "merged.jsonl"
    code, _, err = run("screen", str(synth), "--as-of", "2025-10-01", "--out", str(merged), "--workers", "2")
    assert code == 0, err
    for path in (synth, screened, merged):
        assert path.stat().st_mode & 0o777 == file_mode, path
    site = tmp_path / "site"
    code, _, err = run("docs", "-o", str(site), "--rules", str(ROOT / "rules"), "--opa", "/bin/false")
    assert code == 0, err
    assert site.stat().st_mode & 0o777 == dir_mode
    for path in site.rglob("*"):
        assert path.stat().st_mode & 0o777 == (dir_mode if path.is_dir() else file_mode), path
    assert leftovers(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    output = tmp_path / "out.json"
    output.write_text("old")
    with pytest.raises(RuntimeError), replaced_atomically(output) as temporary:
        temporary.write_text("half")
        raise RuntimeError("disk full")
    assert output.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_the_next_run_removes_what_a_killed_run_left(tmp_path: Path) -> None:
    output = tmp_path / "decisions.jsonl"
    pid = dead_pid()
    stale = [
        tmp_path / f".{output.name}.{pid}.0123abcd{SUFFIX}",
        tmp_path / f".{output.name}.{pid}.89abcdef.part0{SUFFIX}",
    ]
    for path in stale:
        path.write_text("cut")
    live = tmp_path / f".{output.name}.{os.getppid()}.0123abcd{SUFFIX}"  # a running process's: kept
    live.write_text("in progress")
    other = tmp_path / f".other.{pid}.0123abcd{SUFFIX}"  # another output's: not this run's business
    other.write_text("x")
    facts = tmp_path / "registry.jsonl"
    assert run("synth", "--entities", "20", "-o", str(facts))[0] == 0
    code, _, err = run("screen", str(facts), "--as-of", "2025-10-01", "--out", str(output))
    assert code == 0, err
    assert not any(path.exists() for path in stale)
    assert live.exists() and other.exists()


def test_a_failing_screen_leaves_no_part_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tos_policy.ownership import screening

    def broken(*args: object, **kwargs: object) -> object:
        raise OSError(errno.ENOSPC, "No space left on device")

    facts = tmp_path / "registry.jsonl"
    assert run("synth", "--entities", "20", "-o", str(facts))[0] == 0
    out = tmp_path / "out" / "decisions.jsonl"
    monkeypatch.setattr(screening, "decision_record", broken)
    code, stdout, err = run("screen", str(facts), "--as-of", "2025-10-01", "--out", str(out))
    assert code == 2, err
    assert stdout == "" and len(err.strip().splitlines()) == 1
    assert str(out) in err and "No space left on device" in err
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_docs_site_is_never_cut_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    assert run("docs", "-o", str(site), "--rules", str(ROOT / "rules"), "--opa", "/bin/false")[0] == 0
    keep = site / "notes.txt"  # a file of the reader's own in the site directory
    keep.write_text("mine")
    before = {path: path.read_bytes() for path in site.rglob("*") if path.is_file()}
    real_write = Path.write_text

    def full_disk(self: Path, data: str, *args: object, **kwargs: object) -> int:
        if self.name == "index.html":
            real_write(self, data[: len(data) // 2], encoding="utf-8")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data, encoding="utf-8")

    monkeypatch.setattr(Path, "write_text", full_disk)
    code, _, err = run("docs", "-o", str(site), "--rules", str(ROOT / "rules"), "--opa", "/bin/false")
    monkeypatch.undo()
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and str(site) in err and "No space left on device" in err
    assert {path: path.read_bytes() for path in site.rglob("*") if path.is_file()} == before
    assert leftovers(tmp_path) == []


def test_a_new_site_directory_appears_whole(tmp_path: Path) -> None:
    site = tmp_path / "new" / "site"
    with directory_replaced_atomically(site) as building:
        (building / "a").mkdir()
        (building / "a" / "index.md").write_text("page")
        assert not site.exists()
    assert (site / "a" / "index.md").read_text() == "page"
    assert leftovers(tmp_path) == []
