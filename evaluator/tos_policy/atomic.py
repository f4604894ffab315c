"""Output files (and directories) that are either complete or untouched.

Every output is written under a temporary name beside its final one, then renamed
into place (os.replace: atomic on one file system), so a full disk or a crash never
leaves a cut file under the final name. Temporary names are
`.<output name>.<pid>.<random>[.tag].partial`: a run removes its own on failure, and
the next run that writes the same output removes those left by a process that no
longer exists (killed: nothing could remove them). Files are created with mode 0666
and directories 0777, less the umask, as any other program's outputs."""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tos_policy.errors import OutputError

SUFFIX = ".partial"


def _temporary_name(output: Path, tag: str = "", owner: int | None = None) -> Path:
    pid = os.getpid() if owner is None else owner
    return output.parent / f".{output.name}.{pid}.{secrets.token_hex(4)}{'.' + tag if tag else ''}{SUFFIX}"


def create_beside(output: Path, tag: str = "", owner: int | None = None) -> Path:
    """A new empty file beside `output` under a temporary name, mode 0666 less the umask.
    `owner`: the process whose run it belongs to (a worker's part belongs to its parent),
    by default this one; it is removed as stale once that process has ended."""
    while True:
        temporary = _temporary_name(output, tag, owner)
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:  # pragma: no cover - 32 random bits taken already
            continue
        os.close(fd)
        return temporary


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_stale(output: Path, *, mine: bool = False) -> list[Path]:
    """Remove the temporary files and directories beside `output` left by processes that
    have ended (with `mine`, this process's own too: after its write failed)."""
    pattern = re.compile(re.escape(f".{output.name}.") + r"(\d+)\.[0-9a-f]{8}(\.[\w.-]+)?" + re.escape(SUFFIX))
    removed: list[Path] = []
    try:
        entries = list(output.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or (_alive(int(match.group(1))) and not (mine and int(match.group(1)) == os.getpid())):
            continue
        with suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


@contextmanager
def naming_failures(output: Path) -> Iterator[None]:
    """A failure to write (disk full, no permission) as an OutputError naming `output`, not
    the temporary file or no file at all (os.write errors carry no name)."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", file=str(output), value=str(output)) from None


@contextmanager
def replaced_atomically(output: Path) -> Iterator[Path]:
    """A temporary path beside `output` to write to. Leaving the block normally renames
    it over `output`; leaving it by an error removes it, so `output` is the complete
    new file or stays as it was."""
    with naming_failures(output):
        sweep_stale(output)
        temporary = create_beside(output)
        try:
            yield temporary
            os.replace(temporary, output)
        finally:
            temporary.unlink(missing_ok=True)


@contextmanager
def directory_replaced_atomically(output: Path) -> Iterator[Path]:
    """A temporary directory beside `output` to write a whole tree into. Leaving the block
    normally puts the tree in place: renamed to `output` when there is none yet; else
    each file renamed over its counterpart in `output` (files `output` holds that the
    tree does not are kept), so no file is ever cut under its final name. Leaving it by
    an error removes the temporary tree and leaves `output` as it was."""
    with naming_failures(output):
        output.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(output)
        temporary = _temporary_name(output)
        temporary.mkdir(mode=0o777)
        try:
            yield temporary
            if not output.exists():
                os.rename(temporary, output)
                return
            if not output.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(output))
            _move_into(temporary, output)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)


def _move_into(source: Path, target: Path) -> None:
    """Rename every file under `source` to the same place under `target` (one file system)."""
    for directory, _subdirs, files in os.walk(source):
        relative = Path(directory).relative_to(source)
        destination = target / relative
        destination.mkdir(mode=0o777, exist_ok=True)
        for name in sorted(files):
            os.replace(Path(directory) / name, destination / name)
