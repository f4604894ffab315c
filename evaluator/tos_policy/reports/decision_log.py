"""The decision log: one JSON object a line (JSON Lines), appended whole or not at all.

Each record is one decision with what is needed to audit and reproduce it: the
entity, decision, reasons and ownership paths, the policy version and profile,
the digest of the rules and data, the digest of the input facts, the as-of date,
the engine, and the evaluator's version and the digest of its decision code.
Keys are sorted and the text is ASCII (every other character
escaped), so the same run gives the same bytes, and no line holds a character
that some readers take for a line break (U+2028, U+2029).

Appending: every line of a run is built in memory first, then written with one
os.write on a file descriptor opened with O_APPEND, then fsync'd. A run that
fails before that point writes nothing. The file is locked (flock) while a batch
is appended, so concurrent tos-policy runs never interleave their lines. A short
write (disk full) is rolled back to the size before it. A line without its
newline can only be left by a process killed in the middle of its write (or a
power cut); the next append removes that fragment before writing, so every line
in the log is a whole record.

A path that is not a decision log (the facts file, a notes file, given by mistake)
is never written to or cut: before appending, the first and last complete lines must
be decision records, and before a torn last line is cut, every complete line must
be; a non-empty file with no complete line cannot be told from other text and is
refused too. Refusal is a DecisionLogError (exit 2) naming the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tos_policy import jsonio
from tos_policy.errors import InputError
from tos_policy.ownership.pipeline import Report
from tos_policy.reports.records import decision_record

RECORD_FIELDS = (
    "entity",
    "decision",
    "reasons",
    "paths",
    "policy_version",
    "rules_digest",
    "facts_digest",
    "as_of",
    "engine",
    "profile",
    "evaluator_version",
    "code_digest",
)


class DecisionLogError(InputError):
    """The decision log cannot be appended to (a directory, no permission, disk full). Exit code 2."""


def log_records(report: Report) -> list[dict[str, Any]]:
    """One record per decision of the report: reports.decision_record plus the report-level fields."""
    records = []
    for item in report.decisions:
        record: dict[str, Any] = dict(decision_record(report, item))
        record["facts_digest"] = report.facts_digest
        record["engine"] = report.engine
        records.append(record)
    return records


def encode_lines(records: Iterable[dict[str, Any]]) -> bytes:
    """The records as JSON Lines: sorted keys, compact, ASCII, one "\\n" after each."""
    return b"".join(
        json.dumps(record, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"
        for record in records
    )


def append_report(path: Path, report: Report) -> int:
    """Append the report's decisions to the log at `path`; the number of records written."""
    records = log_records(report)
    append_lines(path, encode_lines(records))
    return len(records)


def is_decision_record(line: bytes) -> bool:
    """True for one line of a decision log: a JSON object with every field of RECORD_FIELDS."""
    try:
        record = jsonio.loads(line, file="<decision log line>", max_depth=1000, exact=False)
    except (InputError, ValueError):
        return False
    return isinstance(record, dict) and all(name in record for name in RECORD_FIELDS)


def append_lines(path: Path, data: bytes) -> None:
    """Append `data` (whole JSON lines) to `path` with one write, or raise DecisionLogError and leave it as it was.

    `path` must be empty, new or a decision log (see the module's docstring)."""
    if data and not data.endswith(b"\n"):
        raise ValueError("append_lines takes whole lines, each ending in a newline")
    file = str(path)
    created = not os.path.lexists(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DecisionLogError(f"cannot open the decision log: {exc.strerror}", file=file, value=file) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DecisionLogError("the decision log must be a regular file", file=file, value=file)
        _check_is_log(fd, file)
        start = _drop_partial_line(fd)
        if data:
            try:
                written = os.write(fd, data)
            except OSError as exc:
                _truncate(fd, start)
                raise DecisionLogError(
                    f"cannot append to the decision log: {exc.strerror}", file=file, value=len(data)
                ) from None
            if written != len(data):
                _truncate(fd, start)
                raise DecisionLogError(
                    f"the decision log took {written} of {len(data)} bytes (disk full?); nothing was appended",
                    file=file,
                    value=len(data),
                )
        os.fsync(fd)
        if created:  # the new file's directory entry must reach the disk too
            _fsync_directory(path.parent)
    except OSError as exc:
        raise DecisionLogError(f"cannot append to the decision log: {exc.strerror}", file=file, value=file) from None
    finally:
        os.close(fd)  # also releases the lock


def _lines(fd: int, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line without its newline) of every complete line between start and end."""
    offset = line_start = start
    pending = b""
    while offset < end:
        chunk = os.pread(fd, min(1 << 20, end - offset), offset)
        if not chunk:
            return
        offset += len(chunk)
        *whole, pending = (pending + chunk).split(b"\n")
        for line in whole:
            yield line_start, line
            line_start += len(line) + 1


def _check_is_log(fd: int, file: str) -> None:
    """Refuse a non-empty file that is not a decision log, before anything is cut or appended."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    torn = os.pread(fd, 1, size - 1) != b"\n"
    first = next(_lines(fd, 0, size), None)
    if first is None:
        raise DecisionLogError(
            "not a decision log (no complete line; if it is the torn first write of a log, remove it)",
            file=file,
            value=os.pread(fd, 60, 0),
        )
    # a torn line is cut only from a file every complete line of which is a record
    suspects = _lines(fd, 0, size) if torn else iter([first, _last_line(fd, size)])
    for offset, line in suspects:
        if not is_decision_record(line):
            number = "line 1" if offset == 0 else f"byte {offset}"
            raise DecisionLogError(
                f"not a decision log ({number} is not a decision record); nothing was written",
                file=file,
                value=line[:60],
            )


def _last_line(fd: int, size: int) -> tuple[int, bytes]:
    """(offset, text) of the last complete line of a file that ends in a newline."""
    end = size - 1
    start = end
    while start > 0:
        begin = max(0, start - 65536)
        newline = os.pread(fd, start - begin, begin).rfind(b"\n")
        if newline >= 0:
            start = begin + newline + 1
            break
        start = begin
    return start, os.pread(fd, end - start, start)


def _drop_partial_line(fd: int) -> int:
    """Cut a trailing fragment (bytes after the last newline) left by a killed writer; the size after."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    end = size
    while end > 0:
        start = max(0, end - 65536)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            os.ftruncate(fd, keep)
            return keep
        end = start
    os.ftruncate(fd, 0)
    return 0


def _truncate(fd: int, size: int) -> None:
    with contextlib.suppress(OSError):  # the write error is the one to report
        os.ftruncate(fd, size)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
