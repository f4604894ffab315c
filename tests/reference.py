"""An independent reference of the terms-of-service ownership rule, written plainly.

It shares no code with the evaluator: it reads the facts document itself, uses
Fractions, and iterates the whole graph until nothing changes. Tests compare the
evaluator's decisions with it."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Any

RESTRICTED = {"CN", "RU", "KP", "IR"}
THRESHOLD = Fraction(50)
COMPLETE = {"full"}  # disclosure that counts as complete; a branch's owners are its head office's
RESTRICTING_CONTROL = {"consolidation", "voting_majority"}
REVIEW_CONTROL = {"board_appointment", "significant_influence", "other_control"}


def _active(link: dict[str, Any], as_of: date) -> bool:
    start, end = link.get("start_date"), link.get("end_date")
    if start and date.fromisoformat(start) > as_of:
        return False
    return not (end and date.fromisoformat(end) <= as_of)


def _bounds(link: dict[str, Any]) -> tuple[Fraction, bool, Fraction, bool]:
    if "percentage" in link:
        value = Fraction(str(link["percentage"]))
        return value, False, value, False
    return (
        Fraction(str(link.get("percentage_min", 0))),
        bool(link.get("min_exclusive", False)),
        Fraction(str(link.get("percentage_max", 100))),
        bool(link.get("max_exclusive", False)),
    )


def _restricted_once(
    entity: dict[str, Any], owners: list[tuple[dict[str, Any], dict[str, Any]]], status: dict[str, bool], upper: bool
) -> bool:
    if entity["type"] == "person" or (entity["type"] == "unknown" and not upper):
        return False
    for field in ("headquarters", "jurisdiction"):
        country = entity.get(field)
        if country in RESTRICTED or (upper and country is None):
            return True
    total_min, total_max = Fraction(0), Fraction(0)
    any_min_exclusive, any_max_exclusive, stakes = False, False, False
    for owner, link in owners:
        if not status[owner["id"]] or owner["type"] == "person" or (owner["type"] == "unknown" and not upper):
            continue
        kind = link.get("kind", "shareholding")
        if kind == "branch" or kind in RESTRICTING_CONTROL:
            return True
        if kind in REVIEW_CONTROL:
            if upper:
                return True
            continue
        low, low_x, high, high_x = _bounds(link)
        total_min += low
        total_max += high
        any_min_exclusive |= low_x
        any_max_exclusive |= high_x
        stakes = True
    if stakes and upper and (total_max > THRESHOLD or (total_max == THRESHOLD and not any_max_exclusive)):
        return True
    if stakes and not upper and total_min >= THRESHOLD:
        return True
    return upper and not _disclosed(entity, owners) and _undisclosed_may_restrict(owners, status)


def _disclosed(entity: dict[str, Any], owners: list[tuple[dict[str, Any], dict[str, Any]]]) -> bool:
    value = entity.get("disclosure")
    statuses = {value} if isinstance(value, str) else {item["status"] for item in value or []}
    is_branch = any(link.get("kind") == "branch" for _, link in owners)
    return bool(statuses & COMPLETE) or is_branch


def _undisclosed_may_restrict(owners: list[tuple[dict[str, Any], dict[str, Any]]], status: dict[str, bool]) -> bool:
    """Everything no unrestricted holder is known to hold may be restricted (strict reading only).
    Read as reachable, as the rule does, when a restricted owner's own lower bound is exclusive."""
    others_min, others_exclusive, own_exclusive = Fraction(0), False, False
    for owner, link in owners:
        if link.get("kind", "shareholding") != "shareholding":
            continue
        low, low_x, _, _ = _bounds(link)
        if status[owner["id"]] and owner["type"] != "person":
            own_exclusive |= low_x
        else:
            others_min += low
            others_exclusive |= low_x
    possible = Fraction(100) - others_min
    return possible > THRESHOLD or (possible == THRESHOLD and not (others_exclusive and not own_exclusive))


def _reading(document: dict[str, Any], as_of: date, upper: bool) -> dict[str, bool]:
    entities = {entity["id"]: entity for entity in document["entities"]}
    owners: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {key: [] for key in entities}
    for link in document.get("ownership", []):
        if _active(link, as_of):
            owners[link["asset"]].append((entities[link["owner"]], link))
    status = dict.fromkeys(entities, False)
    changed = True
    while changed:
        changed = False
        for key, entity in entities.items():
            if not status[key] and _restricted_once(entity, owners[key], status, upper):
                status[key] = True
                changed = True
    return status


def reference_decisions(document: dict[str, Any], as_of: date) -> dict[str, str]:
    lower = _reading(document, as_of, upper=False)
    upper = _reading(document, as_of, upper=True)
    return {key: "deny" if lower[key] else ("review" if upper[key] else "allow") for key in lower}
