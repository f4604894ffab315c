"""The serialised shapes the evaluator gives out, as TypedDicts: what a decision record,
a reason and an access decision hold. Reports (reports/records.py) and the Python API
return exactly these."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

Verdict = Literal["allow", "deny", "review"]
VERDICTS: tuple[Verdict, ...] = ("allow", "deny", "review")


class OwnerRecord(TypedDict, total=False):
    """An owner a reason cites: its id, the link kind and the stake (exact or a range)."""

    id: str
    name: str
    kind: str
    percentage: str
    percentage_min: str
    percentage_max: str
    min_exclusive: bool
    max_exclusive: bool


class Reason(TypedDict, total=False):
    """One reason of a decision: the rule that gave it (id, title, clause), its code, and the
    facts it rests on (a country field, the owners and their summed share, the threshold)."""

    rule_id: str
    code: str
    rule_title: str
    clause: str
    field: str
    country: str | None
    owners: list[OwnerRecord]
    share_min: str
    share_max: str
    threshold_percent: int | float
    kind: str


class DecisionRecord(TypedDict):
    """One entity's decision as every report, the decision log and the Python API give it."""

    entity: str
    name: NotRequired[str]
    subject: NotRequired[Literal["person", "placeholder"]]  # absent: a screened organisation
    merged: NotRequired[dict[str, Any]]  # the records of one legal person merged into it, and their identifiers
    decision: Verdict
    reasons: list[Reason]
    paths: list[list[str]]
    exceptions: list[dict[str, Any]]
    policy_version: str
    rules_digest: str
    profile: str
    as_of: str
    evaluator_version: str
    code_digest: str
    determinations: NotRequired[list[dict[str, Any]]]  # reviewers' findings it rests on, where any are recorded
    dated_facts: NotRequired[list[dict[str, Any]]]  # its dated facts in force on the as-of date, where it has any


class AccessRecord(TypedDict):
    """The decision for one access request (`tos-policy decide --format json`)."""

    request: str | None
    decision: Verdict
    reasons: list[dict[str, Any]]
    organisation: dict[str, Any] | None
    signals: dict[str, Any]
    policy: dict[str, Any]
    as_of: str
    engine: str
    facts_digest: str | None
