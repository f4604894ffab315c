"""Read facts inputs within the limits: size, time and memory, whatever the file is.

A regular file larger than --max-input-bytes is refused from its size, before reading.
A pipe, FIFO or device shows no size: it is read in chunks of at most 1 MiB, never more
than one byte past the limit in all, with the deadline checked between chunks. A text
whose first non-blank byte cannot start a JSON value (`/dev/zero`, a binary file) is
refused at its first chunk, with the error the strict reader gives for the whole text
(the same line: that byte is where parsing fails). Memory is the input's bytes and one
line (JSON Lines) or the document, never an unbounded line.

A read that blocks (a FIFO no one writes to) cannot be interrupted from Python: the
command line's watchdog (limits.watchdog) ends such a run at the time limit plus its grace.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tos_policy import jsonio
from tos_policy.errors import InputError
from tos_policy.limits import check_deadline, exceeded

CHUNK = 1 << 20
_BLANK = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
_JSON_START = frozenset(b'{["-0123456789tfn')


def _open(path: Path, file: str) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=file, value=file) from None


def _check_size(handle: BinaryIO, file: str, max_bytes: int) -> None:
    size = os.fstat(handle.fileno()).st_size
    if size > max_bytes:
        what = f"the file is too large: {size:,} bytes"
        raise exceeded(what, "max_input_bytes", max_bytes, "bytes", file=file, path="$", value=size)


def _too_large(file: str, max_bytes: int, read: int) -> InputError:
    what = f"the file is too large: more than {max_bytes:,} bytes"
    return exceeded(what, "max_input_bytes", max_bytes, "bytes", file=file, path="$", value=read)


def _refuse_early(head: bytes, file: str, line: int | None, at_file_start: bool) -> None:
    """Raise now, with the strict reader's own error, if `head` cannot start a JSON text."""
    if at_file_start and head.startswith(_BOM):
        head = head[len(_BOM) :]
    stripped = head.lstrip(_BLANK)
    if not stripped:
        return
    first = stripped[0]
    if first in _JSON_START or first >= 0x80:  # a UTF-8 sequence: let the whole text decide
        return
    jsonio.loads(head[: len(head) - len(stripped) + 1], file=file, line=line)  # fails where the whole text fails
    raise InputError("not valid JSON", file=file, path=jsonio.location("$", line), value=stripped[:20])


def read_limited(
    path: Path, file: str, max_bytes: int, *, deadline: float | None = None, max_seconds: float | None = None
) -> bytes:
    """The file's bytes, refusing one larger than max_bytes before reading it all (or at all, when its size shows)."""
    with _open(path, file) as handle:
        _check_size(handle, file, max_bytes)
        chunks: list[bytes] = []
        read = 0
        while True:
            try:
                chunk = handle.read(min(CHUNK, max_bytes + 1 - read))
            except OSError as exc:
                raise InputError(f"cannot read file: {exc.strerror}", file=file, value=file) from None
            if not chunk:
                break
            if not chunks:
                _refuse_early(chunk, file, None, at_file_start=True)
            chunks.append(chunk)
            read += len(chunk)
            if read > max_bytes:
                raise _too_large(file, max_bytes, read)
            check_deadline(deadline, max_seconds)
    return b"".join(chunks)


def lines_limited(
    path: Path, file: str, max_bytes: int, *, deadline: float | None = None, max_seconds: float | None = None
) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of every line, the whole file within max_bytes; a line is read in
    pieces of at most 1 MiB, and one that cannot start a JSON value is refused at its first piece."""
    with _open(path, file) as handle:
        _check_size(handle, file, max_bytes)
        read = 0
        number = 0
        while True:
            pieces: list[bytes] = []
            while True:
                try:
                    piece = handle.readline(min(CHUNK, max_bytes + 1 - read))
                except OSError as exc:
                    raise InputError(f"cannot read file: {exc.strerror}", file=file, value=file) from None
                read += len(piece)
                if read > max_bytes:
                    raise _too_large(file, max_bytes, read)
                if not piece:
                    break
                pieces.append(piece)
                if piece.endswith(b"\n"):
                    break
                if len(pieces) == 1:  # a long line: make sure it can be JSON before reading on
                    _refuse_early(piece, file, number + 1, at_file_start=number == 0)
                check_deadline(deadline, max_seconds)
            if not pieces:
                return
            number += 1
            yield number, b"".join(pieces)
            if number % 4096 == 0:
                check_deadline(deadline, max_seconds)
