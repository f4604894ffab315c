"""Output files that are either complete or untouched."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_atomically(output: Path) -> Iterator[Path]:
    """A temporary path beside `output` to write to. Leaving the block normally renames
    it over `output` (os.replace, atomic on one file system); leaving it by an error
    removes it, so `output` is the complete new file or stays as it was."""
    fd, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
