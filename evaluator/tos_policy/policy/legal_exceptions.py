"""Exceptions granted by Legal: named, time-limited, one entity and one rule each.

They live in rules/exceptions/data.json (data.exceptions.granted), validated by
schemas/exceptions.schema.json. An exception is in force from `granted`
(inclusive) to `expires` (exclusive), the same convention as a link's
start_date and end_date: on the as-of date `expires` it no longer applies.

What an exception in force does is decided in evaluator/tos_policy/ownership/decisions.py: the
excepted rule's reasons no longer count for that one entity. The entity keeps
its status in the ownership graph, so the entities it owns are decided as
before (an exception for a parent never clears its subsidiaries; each needs its
own). Reports list and count every exception, in force or not, so none hides."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from jsonschema.exceptions import best_match

from tos_policy.errors import RulesError
from tos_policy.facts.identity import strong_form
from tos_policy.jsonio import json_path
from tos_policy.policy.ruleset import RuleSet
from tos_policy.resources import schema
from tos_policy.schema_check import validator_for

if TYPE_CHECKING:
    from tos_policy.ownership.decisions import Decision

DATA_FILE = "exceptions/data.json"  # under the rules directory
IN_FORCE, EXPIRED, PENDING = "in_force", "expired", "not_yet_in_force"


@dataclass(frozen=True)
class PolicyException:
    id: str
    entity: str
    rule_id: str
    reason: str
    approver: str
    granted: date
    expires: date
    reference: str | None = None

    def status(self, day: date) -> str:
        """in_force when granted <= day < expires; expired from `expires` on; not_yet_in_force before `granted`."""
        if day < self.granted:
            return PENDING
        return IN_FORCE if day < self.expires else EXPIRED

    def note(self) -> str:
        return (
            f"EXCEPTED: exception {self.id} (approved by {self.approver}, in force from {self.granted.isoformat()}, "
            f"expires {self.expires.isoformat()}) waives rule {self.rule_id} for {self.entity}: {self.reason}"
        )

    def as_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "entity": self.entity,
            "rule_id": self.rule_id,
            "reason": self.reason,
            "approver": self.approver,
            "granted": self.granted.isoformat(),
            "expires": self.expires.isoformat(),
        }
        if self.reference:
            record["reference"] = self.reference
        return record


def granted_exceptions(rules: RuleSet) -> tuple[PolicyException, ...]:
    """Every exception in the rules' data, checked: schema, dates, unique ids, known rules.

    Rules without exceptions data (older revisions) have none."""
    file = str(rules.root / DATA_FILE)
    document = rules.data.get("exceptions")
    if document is None:
        return ()
    validator = validator_for(schema("exceptions"))
    error = best_match(validator.iter_errors(document))
    if error is not None:
        raise RulesError(error.message, file=file, path=json_path(error.absolute_path), value=error.instance)
    found: list[PolicyException] = []
    seen: set[str] = set()
    for index, item in enumerate(document["granted"]):
        where = f"$.granted[{index}]"
        granted = _day(item["granted"], file, f"{where}.granted")
        expires = _day(item["expires"], file, f"{where}.expires")
        if expires <= granted:
            raise RulesError(
                "an exception must expire after it is granted", file=file, path=where, value=item["expires"]
            )
        if item["id"] in seen:
            raise RulesError("exception id used twice", file=file, path=f"{where}.id", value=item["id"])
        seen.add(item["id"])
        if item["rule_id"] not in rules.rules:
            known = ", ".join(sorted(rule for rule in rules.rules if re.fullmatch(r"TOS-OWN-\d+", rule)))
            raise RulesError(
                f"no such rule in the rules (known: {known})", file=file, path=f"{where}.rule_id", value=item["rule_id"]
            )
        found.append(
            PolicyException(
                id=item["id"],
                entity=item["entity"],
                rule_id=item["rule_id"],
                reason=item["reason"],
                approver=item["approver"],
                granted=granted,
                expires=expires,
                reference=item.get("reference"),
            )
        )
    return tuple(found)


def _day(value: str, file: str, path: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RulesError("not a date (YYYY-MM-DD)", file=file, path=path, value=value) from None


@dataclass
class ExceptionBook:
    """The rules' exceptions read at one as-of date."""

    as_of: date
    granted: tuple[PolicyException, ...] = ()
    _by_entity: dict[str, tuple[PolicyException, ...]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        by_entity: dict[str, list[PolicyException]] = {}
        for item in self.in_force():
            by_entity.setdefault(item.entity, []).append(item)
            strong = strong_form(item.entity)  # an identifier in any form (GB-COH 1403668): its canonical one
            if strong is not None and strong != item.entity:
                by_entity.setdefault(strong, []).append(item)
        self._by_entity = {entity: tuple(items) for entity, items in by_entity.items()}

    @classmethod
    def of(cls, rules: RuleSet, as_of: date) -> ExceptionBook:
        return cls(as_of, granted_exceptions(rules))

    def in_force(self) -> list[PolicyException]:
        return [item for item in self.granted if item.status(self.as_of) == IN_FORCE]

    def for_entity(self, entity_id: str) -> tuple[PolicyException, ...]:
        """The exceptions in force for this entity (usually none)."""
        return self._by_entity.get(entity_id, ())

    def for_names(self, names: Iterable[str]) -> tuple[PolicyException, ...]:
        """The exceptions in force for an entity known by any of `names` (its id, the ids of the
        records merged into it, its identifiers), in the order they were granted."""
        found = {id(item) for name in names for item in self._by_entity.get(name, ())}
        return tuple(item for item in self.in_force() if id(item) in found)

    def summary(self, decisions: Iterable[Decision] = ()) -> dict[str, Any]:
        """Counts and lists for a report: every exception with its status on the as-of date,
        and, for those in force, the decisions of this report they changed."""
        return self.summary_of(applied_pairs(decisions))

    def summary_of(self, applied_to: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """summary() from (exception id, entity id) pairs of applied exceptions."""
        applied: dict[str, list[str]] = {}
        for exception_id, entity_id in applied_to:
            applied.setdefault(exception_id, []).append(entity_id)
        listed = []
        for exception in self.granted:
            record = {**exception.as_json(), "status": exception.status(self.as_of)}
            if record["status"] == IN_FORCE:
                record["applied_to"] = applied.get(exception.id, [])
            listed.append(record)
        statuses = [record["status"] for record in listed]
        return {
            "as_of": self.as_of.isoformat(),
            "in_force": statuses.count(IN_FORCE),
            "expired": statuses.count(EXPIRED),
            "not_yet_in_force": statuses.count(PENDING),
            "excepted_decisions": sum(len(entities) for entities in applied.values()),
            "exceptions": listed,
        }


def applied_pairs(decisions: Iterable[Decision]) -> list[tuple[str, str]]:
    """(exception id, entity id) for every exception a decision cites."""
    return [(str(record["id"]), item.entity.id) for item in decisions for record in item.exceptions]


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The exceptions section of a plain-text report: one line of counts, one line per exception."""
    lines = [
        f"Exceptions: {summary['in_force']} in force, {summary['expired']} expired, "
        f"{summary['not_yet_in_force']} not yet in force; {summary['excepted_decisions']} decision(s) excepted."
    ]
    for record in summary["exceptions"]:
        status = str(record["status"]).replace("_", " ")
        applied = record.get("applied_to")
        to = ""
        if applied is not None:
            to = f"; applied to {', '.join(applied)}" if applied else "; applied to no decision here"
        lines.append(
            f"  {record['id']} {record['rule_id']} for {record['entity']} ({status}; granted {record['granted']}, "
            f"expires {record['expires']}; approved by {record['approver']}){to}"
        )
    return lines


def exception_records(
    exceptions: Sequence[PolicyException], waived: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """What a decision carries for each exception that waived some of its reasons."""
    return [
        {**item.as_json(), "note": item.note(), "waived": waived[item.rule_id]}
        for item in exceptions
        if waived.get(item.rule_id)
    ]
