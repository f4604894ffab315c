"""The impact report: what a change of the rules does to decisions.

compare() decides the same facts and access requests under two revisions of the
rules (embedded engine) and lists every entity and request whose decision changed,
with the old and new decision, reasons and exceptions, and the entities whose
reasons alone changed.
Allow, deny and review are three decisions: a move to or from review is a
decision change as much as allow <-> deny, which is counted apart as a flip.
Rendered as text, JSON and Markdown (a pull-request comment)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath
from typing import Any

from tos_policy.access import AccessDecision
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.ownership.decisions import Decision
from tos_policy.ownership.pipeline import Report
from tos_policy.policy.legal_exceptions import ExceptionBook, applied_pairs
from tos_policy.policy.ruleset import RuleSet
from tos_policy.policy.wording import reason_message
from tos_policy.release.corpus import AccessSet, FactSet, decide_access_sets, evaluate_sets
from tos_policy.reports.display import printable
from tos_policy.reports.records import reason_sentence


class _Change:
    """A case whose decision changed: the kind of move, and whether it is the strongest one."""

    old: Decision | AccessDecision
    new: Decision | AccessDecision

    @property
    def kind(self) -> str:
        return f"{self.old.decision} -> {self.new.decision}"

    @property
    def flips(self) -> bool:
        """allow <-> deny (the strongest change); to or from review is a decision change too."""
        return {self.old.decision, self.new.decision} == {"allow", "deny"}


@dataclass
class EntityChange(_Change):
    file: str
    entity: str
    name: str | None
    old: Decision
    new: Decision

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "entity": self.entity,
            "name": self.name,
            "change": self.kind,
            "old": _side_json(self.old),
            "new": _side_json(self.new),
        }


@dataclass
class AccessChange(_Change):
    """A sign-up or API-key request whose decision changed."""

    file: str
    request: str
    old: AccessDecision
    new: AccessDecision

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "request": self.request,
            "change": self.kind,
            "old": {"decision": self.old.decision, "reasons": self.old.reasons},
            "new": {"decision": self.new.decision, "reasons": self.new.reasons},
        }


def _side_json(item: Decision) -> dict[str, Any]:
    return {"decision": item.decision, "reasons": item.reasons, "exceptions": item.exceptions, "paths": item.paths}


@dataclass
class Side:
    """One revision of the rules as the reports name it."""

    label: str  # "base f5b4701 (merge base of HEAD with main)" or "working tree"
    rev: str
    commit: str
    rules: RuleSet

    def as_json(self) -> dict[str, Any]:
        return {
            "rev": self.rev,
            "commit": self.commit,
            "label": self.label,
            "policy": self.rules.policy_set["name"],
            "version": self.rules.version,
            "effective_date": self.rules.policy_set["effective_date"],
            "rules_digest": self.rules.digest,
        }


@dataclass
class Impact:
    base: Side
    head: Side
    as_of: date
    profile: str | None
    files: list[str]
    entities: int
    changes: list[EntityChange]  # the decision changed
    reason_changes: list[EntityChange]  # same decision, other reasons or exceptions
    exceptions: dict[str, dict[str, Any]]  # "base" / "head" -> ExceptionBook.summary over every fact set
    rule_changes: list[str] = field(default_factory=list)  # "FILE: what changed (old -> new)", from the gate
    verdict: str | None = None  # the change gate's verdict line, when the gate ran
    findings: list[str] = field(default_factory=list)  # the gate's refusals and warnings
    requests: int = 0  # access requests decided
    access_changes: list[AccessChange] = field(default_factory=list)  # requests whose decision changed

    def counts(self) -> dict[str, int]:
        return _counts(self.changes)

    def access_counts(self) -> dict[str, int]:
        return _counts(self.access_changes)

    @property
    def flips(self) -> int:
        return sum(1 for change in self.changes if change.flips) + sum(
            1 for change in self.access_changes if change.flips
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "base": self.base.as_json(),
            "head": self.head.as_json(),
            "as_of": self.as_of.isoformat(),
            "profile": self.profile,
            "facts": self.files,
            "summary": {
                "entities": self.entities,
                "decisions_changed": len(self.changes),
                "allow_deny_flips": sum(1 for change in self.changes if change.flips),
                "reasons_changed": len(self.reason_changes),
                "by_change": self.counts(),
                "access_requests": self.requests,
                "access_decisions_changed": len(self.access_changes),
                "access_by_change": self.access_counts(),
                "exceptions_in_force": {side: summary["in_force"] for side, summary in self.exceptions.items()},
            },
            "changes": [change.as_json() for change in self.changes],
            "access_changes": [change.as_json() for change in self.access_changes],
            "reasons_changed": [change.as_json() for change in self.reason_changes],
            "exceptions": self.exceptions,
        }


def _counts(changes: list[EntityChange] | list[AccessChange]) -> dict[str, int]:  # each kind of move, counted
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.kind] = counts.get(change.kind, 0) + 1
    return dict(sorted(counts.items()))


def compare(
    base: Side,
    head: Side,
    fact_sets: list[FactSet],
    *,
    as_of: date,
    profile: str | None = None,
    access_sets: list[AccessSet] | None = None,
) -> Impact:
    """Decide every fact set and access case under both revisions; what changed. A fact set decided
    with a profile one side does not have (a profile the change adds or removes) has no decisions
    to compare and is left out."""
    fact_sets = [item for item in fact_sets if _has_profile(base.rules, item) and _has_profile(head.rules, item)]
    old_reports = evaluate_sets(fact_sets, base.rules, as_of=as_of, profile=profile)
    new_reports = evaluate_sets(fact_sets, head.rules, as_of=as_of, profile=profile)
    access_sets = access_sets or []
    old_access = _decide_access(access_sets, base.rules, as_of)
    new_access = _decide_access(access_sets, head.rules, as_of)
    access_changes = [
        AccessChange(label, str(new.request_id), old, new)
        for label, decided in new_access.items()
        for old, new in zip(old_access[label], decided, strict=True)
        if old.decision != new.decision
    ]
    changes: list[EntityChange] = []
    reason_changes: list[EntityChange] = []
    entities = 0
    for item in fact_sets:
        old_by_id = {decision.entity.id: decision for decision in old_reports[item.label].decisions}
        for new in new_reports[item.label].decisions:
            entities += 1
            old = old_by_id[new.entity.id]
            change = EntityChange(item.label, new.entity.id, new.entity.name, old, new)
            if old.decision != new.decision:
                changes.append(change)
            elif old.reasons != new.reasons or _cited(old) != _cited(new):
                reason_changes.append(change)
    return Impact(
        base=base,
        head=head,
        as_of=as_of,
        profile=profile,
        files=[item.label for item in fact_sets],
        entities=entities,
        changes=changes,
        reason_changes=reason_changes,
        exceptions={"base": _exceptions(old_reports, as_of), "head": _exceptions(new_reports, as_of)},
        requests=sum(len(item.requests) for item in access_sets),
        access_changes=access_changes,
    )


def _has_profile(rules: RuleSet, item: FactSet) -> bool:
    return item.profile is None or item.profile in rules.data.get("ownership", {}).get("profiles", {})


def _decide_access(access_sets: list[AccessSet], rules: RuleSet, as_of: date) -> dict[str, list[AccessDecision]]:
    if not access_sets:
        return {}
    engine = EmbeddedEngine(rules)
    try:
        return decide_access_sets(access_sets, rules, engine, as_of=as_of)
    finally:
        engine.close()


def _cited(item: Decision) -> list[str]:
    return [str(record["id"]) for record in item.exceptions]


def _exceptions(reports: dict[str, Report], as_of: date) -> dict[str, Any]:
    books = [report.exceptions for report in reports.values() if report.exceptions is not None]
    book = books[0] if books else ExceptionBook(as_of)
    return book.summary_of(pair for report in reports.values() for pair in applied_pairs(report.decisions))


def _reason_texts(item: Decision) -> list[str]:
    texts = [
        f"{reason.get('rule_id')} {reason.get('code')}: {reason_sentence(item.entity, reason, item.rules)}"
        for reason in item.reasons
    ]
    texts.extend(f"{record['note']}" for record in item.exceptions)
    return texts or ["no reason: not restricted"]


def _exception_counts(summary: dict[str, Any]) -> str:
    in_force = [str(record["id"]) for record in summary["exceptions"] if record["status"] == "in_force"]
    return (
        f"{summary['in_force']} in force ({', '.join(in_force) or 'none'}), {summary['expired']} expired, "
        f"{summary['excepted_decisions']} decision(s) excepted"
    )


def impact_text(impact: Impact) -> str:
    base, head = impact.base, impact.head
    lines = [
        f"Impact of the rules change: {base.rules.policy_set['name']} {base.rules.version} [{base.label}] -> "
        f"{head.rules.version} [{head.label}]",
        f"Facts: {len(impact.files)} file(s), {impact.entities} entities, as of {impact.as_of.isoformat()}"
        + (f", profile {impact.profile}" if impact.profile else ""),
    ]
    if not impact.changes:
        lines.append("No decision changes.")
    else:
        counts = ", ".join(f"{count} {kind}" for kind, count in impact.counts().items())
        lines.append(f"{len(impact.changes)} decision(s) change: {counts}.")
    for change in impact.changes:
        label = f"{change.name} ({change.entity})" if change.name else change.entity
        lines.append("")
        lines.append(f"{change.file}: {label}: {change.old.decision.upper()} -> {change.new.decision.upper()}")
        lines.extend(f"  before: {text}" for text in _reason_texts(change.old))
        lines.extend(f"  after:  {text}" for text in _reason_texts(change.new))
    lines.extend(_access_text(impact))
    if impact.reason_changes:
        lines.append("")
        lines.append(f"{len(impact.reason_changes)} entities keep their decision with other reasons:")
        lines.extend(f"  {change.file}: {change.entity} ({change.new.decision})" for change in impact.reason_changes)
    lines.append("")
    lines.append(f"Exceptions, base: {_exception_counts(impact.exceptions['base'])}.")
    lines.append(f"Exceptions, head: {_exception_counts(impact.exceptions['head'])}.")
    return "\n".join(lines) + "\n"


def _access_reasons(item: AccessDecision) -> list[str]:
    texts = [
        f"{reason.get('rule_id')} {reason.get('code')}: {printable(reason_message(reason, item.rules))}"
        for reason in item.reasons
    ]
    return texts or ["no reason: not restricted"]


def _access_text(impact: Impact) -> list[str]:
    if not impact.requests:
        return []
    lines = [""]
    if not impact.access_changes:
        lines.append(f"Access requests: {impact.requests}, no decision changes.")
        return lines
    counts = ", ".join(f"{count} {kind}" for kind, count in impact.access_counts().items())
    lines.append(f"Access requests: {impact.requests}, {len(impact.access_changes)} decision(s) change: {counts}.")
    for change in impact.access_changes:
        lines.append(
            f"{change.file}: request {change.request}: {change.old.decision.upper()} -> {change.new.decision.upper()}"
        )
        lines.extend(f"  before: {text}" for text in _access_reasons(change.old))
        lines.extend(f"  after:  {text}" for text in _access_reasons(change.new))
    return lines


def _access_markdown(impact: Impact) -> list[str]:
    if not impact.requests:
        return []
    lines = ["", "### Access requests (sign-ups)", ""]
    if not impact.access_changes:
        lines.append(f"**No decision changes** among {impact.requests} access requests.")
        return lines
    counts = ", ".join(f"{count} {kind.replace('->', '→')}" for kind, count in impact.access_counts().items())
    flips = sum(1 for change in impact.access_changes if change.flips)
    lines.append(
        f"**{len(impact.access_changes)} of {impact.requests} request decision(s) change** "
        f"({flips} between allow and deny): {counts}."
    )
    lines.extend(["", "| cases | request | before | after | reasons after |", "|---|---|---|---|---|"])
    for change in impact.access_changes:
        after = "<br>".join(_cell(text) for text in _access_reasons(change.new))
        lines.append(
            f"| {_case_set(change.file)} | `{_cell(change.request)}` | {change.old.decision} | "
            f"**{change.new.decision}** | {after} |"
        )
    return lines


def impact_json(impact: Impact) -> str:
    return json.dumps(impact.as_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _case_set(label: str) -> str:
    """A facts file as a reviewer reads it: its name without folder or extension ("chains")."""
    return PurePosixPath(label).stem


def describe_files(files: list[tuple[str, str, str]]) -> list[str]:
    """(path, level, why) of the gate's changed files, as report lines: data changes with old -> new values."""
    lines = []
    for path, level, why in files:
        if path == "rules/manifest.json" and level == "patch":
            continue
        name = path.removeprefix("rules/").removesuffix("/data.json")
        lines.append(f"{name} ({level}): {why}")
    return lines


def impact_markdown(impact: Impact) -> str:
    base, head = impact.base, impact.head
    flips = sum(1 for change in impact.changes if change.flips)
    lines = [
        f"## Policy impact: {base.rules.version} → {head.rules.version}",
        "",
        f"Rules `{base.label}` → `{head.label}`; {len(impact.files)} case file(s), {impact.entities} entities, "
        + (f"{impact.requests} access requests, " if impact.requests else "")
        + f"as of {impact.as_of.isoformat()}.",
        "",
    ]
    if impact.verdict is not None:
        lines.extend([f"**Change gate:** {impact.verdict}", ""])
        lines.extend(f"- {_cell(finding)}" for finding in impact.findings)
        if impact.findings:
            lines.append("")
    if impact.rule_changes:
        lines.extend(["### What changed in the rules and data", ""])
        lines.extend(f"- {_cell(change)}" for change in impact.rule_changes)
        lines.extend(["", "### Decisions", ""])
    if not impact.changes:
        lines.append("**No decision changes.**")
    else:
        counts = ", ".join(f"{count} {kind.replace('->', '→')}" for kind, count in impact.counts().items())
        lines.append(f"**{len(impact.changes)} decision(s) change** ({flips} between allow and deny): {counts}.")
        lines.extend(["", "| cases | entity | before | after | reasons after |", "|---|---|---|---|---|"])
        for change in impact.changes:
            label = f"{change.name} (`{change.entity}`)" if change.name else f"`{change.entity}`"
            after = "<br>".join(_cell(text) for text in _reason_texts(change.new))
            before, now = change.old.decision, change.new.decision
            lines.append(f"| {_case_set(change.file)} | {_cell(label)} | {before} | **{now}** | {after} |")
        lines.extend(["", "<details><summary>Reasons before the change</summary>", ""])
        for change in impact.changes:
            lines.append(f"- `{change.entity}` ({change.old.decision}): " + "; ".join(_reason_texts(change.old)))
        lines.extend(["", "</details>"])
    lines.extend(_access_markdown(impact))
    if impact.reason_changes:
        lines.extend(["", f"{len(impact.reason_changes)} entities keep their decision with other reasons: "])
        lines.append(", ".join(f"`{change.entity}`" for change in impact.reason_changes) + ".")
    lines.extend(["", "### Exceptions", "", "| | in force | expired | decisions excepted |", "|---|---|---|---|"])
    for side in ("base", "head"):
        summary = impact.exceptions[side]
        lines.append(f"| {side} | {summary['in_force']} | {summary['expired']} | {summary['excepted_decisions']} |")
    listed = impact.exceptions["head"]["exceptions"]
    if listed:
        lines.extend(["", "| id | entity | rule | status | expires | approver |", "|---|---|---|---|---|---|"])
        for record in listed:
            lines.append(
                f"| {record['id']} | `{record['entity']}` | {record['rule_id']} | {record['status']} | "
                f"{record['expires']} | {_cell(str(record['approver']))} |"
            )
    return "\n".join(lines) + "\n"
