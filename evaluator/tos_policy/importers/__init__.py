"""Importers: ownership data in published formats (BODS 0.1-0.4, FollowTheMoney, GLEIF)
converted to the facts format, with source identifiers and provenance on every
entity and link. One module per format; common.py holds what they share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tos_policy.importers import bods, ftm, gleif
from tos_policy.importers.common import Builder, InvalidRecords, Progress, write_atomically


class Importer(Protocol):
    def __call__(self, paths: list[Path], progress: Progress, *, skip_invalid: bool = False) -> Builder: ...


FORMATS: dict[str, Importer] = {
    "bods": bods.import_files,
    "ftm": ftm.import_files,
    "gleif": gleif.import_files,
}


@dataclass(frozen=True)
class Summary:
    records: int
    entities: int
    placeholders: int
    merged: int
    links: int
    skipped: dict[str, int]
    notes: tuple[str, ...] = ()

    def line(self) -> str:
        skipped = sum(self.skipped.values())
        reasons = "; ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
        text = (
            f"imported {self.records} records: {self.entities} entities"
            f" ({self.placeholders} placeholders, {self.merged} merged records), {self.links} links"
            f", skipped {skipped}"
        )
        text += f" ({reasons})" if reasons else ""
        return text + "".join(f"\n  note: {note}" for note in self.notes)


def convert(
    fmt: str, files: list[Path], progress: Progress | None = None, *, skip_invalid: bool = False
) -> tuple[dict[str, object], Summary]:
    """The facts document for FILES in format FMT, and a summary of what was kept and skipped.
    Records that do not meet the format's schema raise InvalidRecords listing every error; with
    skip_invalid they are skipped and counted, and what they are about is reviewed."""
    progress = progress or Progress(enabled=False)
    builder = FORMATS[fmt](files, progress, skip_invalid=skip_invalid)
    document = builder.document([str(path) for path in files])
    summary = Summary(
        records=builder.records,
        entities=len(document["entities"]),
        placeholders=builder.placeholders,
        merged=builder.merged,
        links=len(document["ownership"]),
        skipped=dict(builder.skipped),
        notes=tuple(builder.notes),
    )
    return document, summary


def import_to_file(
    fmt: str, files: list[Path], output: Path, progress: Progress | None = None, *, skip_invalid: bool = False
) -> Summary:
    """Convert FILES and write the facts to OUTPUT atomically (all or nothing)."""
    document, summary = convert(fmt, files, progress, skip_invalid=skip_invalid)
    write_atomically(document, output)
    return summary


__all__ = ["FORMATS", "InvalidRecords", "Summary", "convert", "import_to_file"]
