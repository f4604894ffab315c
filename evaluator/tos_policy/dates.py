"""Dates as the evaluator takes them: exactly YYYY-MM-DD.

Python's date.fromisoformat also reads week dates (`2025-W40-3`), the basic format
(`20251001`) and, since 3.11, more; a date option or field that silently accepts
those reads a different day than the person meant, or one a schema would refuse."""

from __future__ import annotations

import re
from datetime import date

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def strict_date(value: object) -> date:
    """A calendar date written exactly YYYY-MM-DD; ValueError for anything else."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("not a date (YYYY-MM-DD)")
    return date.fromisoformat(value)  # ValueError for an impossible day such as 2025-02-30
