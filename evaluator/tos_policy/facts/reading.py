"""Read facts inputs within the limits: size, time and memory, whatever the file is.

A regular file larger than --max-input-bytes is refused from its size, before reading.
A pipe, FIFO or device shows no size: it is read in chunks of at most 1 MiB, never more
than one byte past the limit in all, with the deadline checked between chunks. A text
whose first non-blank byte cannot start a JSON value (`/dev/zero`, a binary file) is
refused at its first chunk, with the error the strict reader gives for the whole text
(the same line: that byte is where parsing fails). Memory is the input's bytes and one
line (JSON Lines) or the document, never an unbounded line.

A pipe, FIFO or device is opened without blocking and read only when poll(2) says it has
data (or has ended), waiting at most until the deadline: a FIFO no one opens, or a writer
that never sends, ends the read at the time limit exactly, with EvaluationTimeout (exit 3,
one line). Regular files are read as usual (they never block).
"""

from __future__ import annotations

import math
import os
import select
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from tos_policy import jsonio
from tos_policy.errors import EvaluationTimeout, InputError
from tos_policy.limits import check_deadline, exceeded

CHUNK = 1 << 20
_BLANK = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
_JSON_START = frozenset(b'{["-0123456789tfn')


class _Stream:
    """A pipe, FIFO or device, read through poll(2) so that no read waits past the deadline."""

    def __init__(self, fd: int, file: str, deadline: float | None, max_seconds: float | None) -> None:
        self._fd = fd
        self._file = file
        self._deadline = deadline
        self._max_seconds = max_seconds
        self._buffer = bytearray()
        self._ended = False
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def fileno(self) -> int:
        return self._fd

    def __enter__(self) -> _Stream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        os.close(self._fd)

    def _wait(self) -> None:
        """Until the input has data or has ended; EvaluationTimeout at the deadline."""
        while True:
            timeout = None
            if self._deadline is not None:
                left = self._deadline - time.monotonic()
                if left <= 0:
                    allowed = f" of {self._max_seconds:g}s" if self._max_seconds is not None else ""
                    raise EvaluationTimeout(
                        f"the evaluation ran past its time limit{allowed} (raise it with --max-seconds) while "
                        f"waiting for {self._file} to send its facts; nothing was decided"
                    )
                timeout = math.ceil(left * 1000)
            if self._poll.poll(timeout):
                return

    def _fill(self, size: int) -> None:
        while not self._ended:
            self._wait()
            try:
                data = os.read(self._fd, size)
            except BlockingIOError:  # woken without data (another reader took it): wait again
                continue
            if data:
                self._buffer += data
            else:
                self._ended = True
            return

    def read(self, size: int, /) -> bytes:
        if not self._buffer:
            self._fill(size)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self, size: int, /) -> bytes:
        while True:
            end = self._buffer.find(b"\n", 0, size)
            if end >= 0 or len(self._buffer) >= size or self._ended:
                cut = end + 1 if end >= 0 else min(size, len(self._buffer))
                data = bytes(self._buffer[:cut])
                del self._buffer[:cut]
                return data
            self._fill(CHUNK)


def _open(path: Path, file: str, deadline: float | None = None, max_seconds: float | None = None) -> BinaryIO | _Stream:
    """A regular file as a buffered file; anything else (pipe, FIFO, device) as a _Stream. Opened
    without blocking, so a FIFO that no writer opens does not stop the command before its deadline."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", file=file, value=file) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"cannot read file: {os.strerror(21)}", file=file, value=file)  # EISDIR
        if not stat.S_ISREG(mode):
            return _Stream(fd, file, deadline, max_seconds)
        os.set_blocking(fd, True)
        handle: BinaryIO = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return handle


def _check_size(handle: BinaryIO | _Stream, file: str, max_bytes: int) -> None:
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
    with _open(path, file, deadline, max_seconds) as handle:
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
    with _open(path, file, deadline, max_seconds) as handle:
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
