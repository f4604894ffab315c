"""Whether the rules that decided were in force on the as-of date.

Rules decide as they are; a date before their effective date means the decisions apply
rules that did not yet bind anyone then. Every report says so (JSON `warnings`, a line
in text), and `--rules-in-force` decides with the version that was in force instead."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any


def not_yet_in_force(policy: Mapping[str, Any], as_of: date) -> list[str]:
    """The warnings for a report of `policy` (a report's policy block: version, effective_date) on `as_of`."""
    effective = str(policy.get("effective_date") or "")
    if not effective or as_of.isoformat() >= effective:
        return []
    return [
        f"as of {as_of.isoformat()} is before policy {policy.get('version')} took effect ({effective}): "
        "these decisions apply rules that were not in force on that date; --rules-in-force decides with "
        "the rules that were"
    ]
