"""Reports of decisions: JSON (the machine contract), a table, plain English, Mermaid."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any, cast

from tos_policy.facts.load import Entity, Link
from tos_policy.facts.provenance import citation, citation_text
from tos_policy.ownership.decisions import Decision
from tos_policy.ownership.pipeline import Report
from tos_policy.policy.effective import not_yet_in_force
from tos_policy.policy.legal_exceptions import ExceptionBook, summary_lines
from tos_policy.policy.profiles import stake_kinds, unknown_types
from tos_policy.policy.ruleset import RuleSet
from tos_policy.policy.wording import reason_message
from tos_policy.reports.display import printable
from tos_policy.shapes import DecisionRecord


def decision_record(report: Report, item: Decision, *, sources: bool = True) -> DecisionRecord:
    """The machine record of one decision (reports, the decision log, the Python API). With
    `sources` (all but screening's compact records) its reasons and paths cite their facts."""
    record: dict[str, Any] = {"entity": item.entity.id}
    if item.entity.name:
        record["name"] = item.entity.name
    if item.entity.subject != "organisation":  # a person or placeholder: not a screened organisation
        record["subject"] = item.entity.subject
    merged = report.merged.get(item.entity.id)
    if merged:  # one legal person recorded several times: which records, and what joined them
        record["merged"] = {
            "records": [{"id": id_, "at": at} for id_, at in merged],
            "identifiers": list(item.entity.identifiers),
        }
    record.update(
        {
            "decision": item.decision,
            "reasons": cited_reasons(item) if sources else item.reasons,
            "paths": item.paths,
            "exceptions": item.exceptions,
            "policy_version": report.policy["version"],
            "rules_digest": report.policy["rules_digest"],
            "profile": report.policy["profile"],
            "as_of": report.as_of.isoformat(),
            "evaluator_version": report.policy.get("evaluator_version"),
            "code_digest": report.policy.get("code_digest"),
        }
    )
    if report.determinations is not None and report.determinations.all:  # only where findings are recorded
        record["determinations"] = report.determinations.cited_by(item.entity.id)
    if item.entity.history:  # only entities whose facts carry dated values
        record["dated_facts"] = item.entity.dated_facts()
    if sources and item.paths:
        record["path_sources"] = path_sources(report, item)
    if sources and item.considered:  # an allow: what the rules found short of restricting it
        record["considered"] = cited_considered(item)
    return cast(DecisionRecord, record)


def link_sources(link: Link) -> list[dict[str, Any]]:
    """Every report a stake or link rests on: its own, and those reconciliation read as one with it."""
    return [citation(report.path, report.sources) for report in (link, *link.reports)]


def entity_sources(entity: Entity, fields: tuple[str, ...] = ("headquarters", "jurisdiction")) -> list[dict[str, Any]]:
    """Where an entity's facts were read: its record and, for `fields` given by dated values,
    the values in force on the day it was decided for."""
    found = [citation(path, sources) for path, sources in entity.records or ((entity.path, entity.sources),)]
    if entity.history and entity.dated_on is not None:
        for field_name in fields:
            found += [citation(item.path) for item in entity.in_force(entity.dated_on, field_name)]
    return found


def cited_reasons(item: Decision) -> list[dict[str, Any]]:
    """Its reasons, each citing its facts: every owner the sources of its link, and a reason about
    one of the entity's own fields (its country) the record it was read from."""
    return _cited(item.entity, item.reasons, item.reason_links)


def cited_considered(item: Decision) -> list[dict[str, Any]]:
    """What the rules considered for an allow, each note citing its facts as reasons do."""
    return _cited(item.entity, item.considered, item.considered_links)


def _cited(
    entity: Entity, reasons: list[dict[str, Any]], reason_links: tuple[tuple[Link, ...], ...]
) -> list[dict[str, Any]]:
    out = []
    for position, reason in enumerate(reasons):
        cited = dict(reason)
        links = reason_links[position] if position < len(reason_links) else ()
        if "owners" in reason and len(links) == len(reason["owners"]):
            cited["owners"] = [
                {**owner, "sources": link_sources(link)} for owner, link in zip(reason["owners"], links, strict=True)
            ]
        if isinstance(reason.get("field"), str):
            cited["sources"] = entity_sources(entity, (reason["field"],))
        elif not links:  # about the entity's own facts (its disclosure, its stakes adding up)
            cited["sources"] = entity_sources(entity, ())
        out.append(cited)
    return out


def path_sources(report: Report, item: Decision) -> list[dict[str, Any]]:
    """For each of its paths: where the root's facts and each hop's links were read."""
    entities = report.graph.entities if report.graph else {}
    out = []
    for position, path in enumerate(item.paths):
        root = entities.get(path[0], item.entity if path[0] == item.entity.id else None)
        hops = item.path_links[position] if position < len(item.path_links) else ()
        out.append(
            {
                "root": {"entity": path[0], "sources": entity_sources(root) if root is not None else []},
                "links": [
                    {"owner": owner, "asset": asset, "sources": [cite for link in links for cite in link_sources(link)]}
                    for (owner, asset), links in zip(itertools.pairwise(path), hops, strict=False)
                ],
            }
        )
    return out


class _Records(list):  # type: ignore[type-arg]
    """The decisions' records, made one at a time as the encoder reaches them (never all at once)."""

    def __init__(self, report: Report) -> None:
        super().__init__()
        self._report = report

    def __iter__(self) -> Iterator[Any]:
        return (decision_record(self._report, item) for item in self._report.decisions)

    def __len__(self) -> int:
        return len(self._report.decisions)

    def __bool__(self) -> bool:
        return bool(self._report.decisions)


def json_chunks(report: Report, size: int = 1 << 20) -> Iterator[str]:
    """The JSON report in pieces of about `size` characters, for writing as it is made: a report of
    many decisions (each with every path) is far larger than the facts, and was a list of millions of
    fragments and then one string. The pieces join to exactly `to_json(report)`."""
    document = {
        "policy": report.policy,
        "as_of": report.as_of.isoformat(),
        "engine": report.engine,
        "facts_digest": report.facts_digest,
        "summary": {
            **report.counts(),
            "excepted": sum(1 for item in report.decisions if item.exceptions),
            "undisclosed": sum(
                1 for item in report.decisions if item.undisclosed and item.entity.subject == "organisation"
            ),
            "not_screened": report.set_aside(),
        },
        "exceptions": exceptions_summary(report),
        "decisions": _Records(report),
    }
    warnings = not_yet_in_force(report.policy, report.as_of)
    if warnings:  # only where there is one: reports of rules in force keep their bytes
        document["warnings"] = warnings
    if report.determinations is not None and report.determinations.all:
        summary = report.determinations.summary()
        document["determinations"] = summary
        touched = set(summary["touched"])
        document["summary"] = {
            **document["summary"],  # type: ignore[dict-item]
            "determined": sum(1 for item in report.decisions if item.entity.id in touched),
        }
    # With an indent the standard encoder is the pure-Python one, which takes list subclasses
    # as lists (so _Records is encoded lazily) and gives the bytes json.dumps gives.
    encoder = json.JSONEncoder(indent=2, sort_keys=True, ensure_ascii=False)
    pending: list[str] = []
    length = 0
    for fragment in encoder.iterencode(document):
        pending.append(fragment)
        length += len(fragment)
        if length >= size:
            yield "".join(pending)
            pending, length = [], 0
    pending.append("\n")
    yield "".join(pending)


def to_json(report: Report) -> str:
    return "".join(json_chunks(report))


def exceptions_summary(report: Report) -> dict[str, Any]:
    """Every exception of the rules with its status on the report's as-of date, counted."""
    book = report.exceptions or ExceptionBook(report.as_of)
    return book.summary(report.decisions)


def determinations_text(report: Report) -> list[str]:
    """The determinations line of a plain-text report, where the rules record any."""
    if report.determinations is None or not report.determinations.all:
        return []
    summary = report.determinations.summary()
    touched = set(summary["touched"])
    determined = sum(1 for item in report.decisions if item.entity.id in touched)
    return [
        f"Determinations: {summary['in_force']} in force, {summary['expired']} expired, "
        f"{summary['not_yet_in_force']} not yet in force; {determined} decision(s) rest on one."
    ]


def warnings_text(report: Report) -> list[str]:
    """The warnings of a plain-text report, one line each."""
    return [f"WARNING: {warning}" for warning in not_yet_in_force(report.policy, report.as_of)]


def exceptions_text(report: Report) -> list[str]:
    """The exceptions section of a plain-text report (counts, then one line each)."""
    return summary_lines(exceptions_summary(report))


def _label(entity: Entity) -> str:
    return printable(f"{entity.name} ({entity.id})" if entity.name else entity.id)


def reason_sentence(entity: Entity, reason: dict[str, Any], rules: RuleSet | None = None) -> str:
    """One reason in plain English, worded by its rule's METADATA (policy/wording.py)."""
    return printable(reason_message(reason, rules, entity.id, entity.name))


def _hop_text(report: Report, owner: str, asset: str) -> str:
    graph = report.graph
    links = [link for link in (graph.outgoing.get(owner, []) if graph else []) if link.asset == asset]
    if not links:
        return "->"
    stakes = stake_kinds(report.profile_data)
    parts = []
    for link in links:
        parts.append(link.share.text() if link.kind in stakes else link.kind.replace("_", " "))
    return f"--{', '.join(parts)}-->"


def path_text(report: Report, path: list[str], entities: dict[str, Entity]) -> str:
    pieces = [_label(entities[path[0]])]
    for owner, asset in itertools.pairwise(path):
        pieces.append(_hop_text(report, owner, asset))
        pieces.append(_label(entities[asset]))
    return " ".join(pieces)


def explain_text(report: Report, item: Decision) -> str:
    entities = report.graph.entities if report.graph else {item.entity.id: item.entity}
    policy = report.policy
    lines = [
        f"{_label(item.entity)}: {item.decision.upper()}",
        f"Policy {policy['name']} {policy['version']} (profile {policy['profile']}), as of {report.as_of.isoformat()}.",
        *warnings_text(report),
    ]
    lines.extend(_identity_lines(report, item))
    if report.determinations is not None:
        for cited in report.determinations.cited_by(item.entity.id):
            lines.append(
                f"DETERMINED: {cited['id']} ({cited['finding']}; by {cited['determined_by']} on "
                f"{cited['determined_on']}, evidence: {cited['evidence']}; expires {cited['expires']})"
            )
    lines.extend(dated_lines(item.entity, report.as_of))
    if item.decision == "allow" and not item.exceptions:
        lines.append("No rule restricts it, even reading every unknown fact in the most restrictive way.")
        lines.extend(_considered_lines(item, entities))
        return printable("\n".join(lines), keep_newlines=True) + "\n"
    lines.extend(_exception_lines(item))
    if item.decision == "allow":
        lines.append("No other rule restricts it, even reading every unknown fact in the most restrictive way.")
        return printable("\n".join(lines), keep_newlines=True) + "\n"
    if item.decision == "review":
        lines.append("The facts cannot decide: it is restricted only if unknown facts are read against it.")
        if item.entity.type in unknown_types(report.profile_data):
            lines.append("Its type is unknown: it is restricted if it is an organisation, not if it is a person.")
    lines.append("Reasons:")
    for reason in cited_reasons(item):
        where = f"Rule {reason.get('rule_id')}"
        if reason.get("rule_title"):
            where += f" ({reason['rule_title']})"
        if reason.get("clause"):
            where += f", {reason['clause']}"
        lines.append(f"  - {where}: {reason_sentence(item.entity, reason, item.rules)}")
        lines.extend(reason_source_lines(reason, item.entity, entities))
    if item.paths:
        lines.append("Ownership paths from the restricted root(s):")
        for path, cited in zip(item.paths, path_sources(report, item), strict=True):
            lines.append(f"  {path_text(report, path, entities)}")
            lines.extend(path_source_lines(cited, entities))
    lines.extend(_inherited_exception_lines(report, item, entities))
    return printable("\n".join(lines), keep_newlines=True) + "\n"


def _considered_lines(item: Decision, entities: dict[str, Entity]) -> list[str]:
    """What the rules considered for an allow, worded by their METADATA, each citing its facts."""
    notes = cited_considered(item)
    if not notes:
        return []
    lines = ["Considered:"]
    for note in notes:
        lines.append(f"  - Rule {note.get('rule_id')}: {reason_sentence(item.entity, note, item.rules)}")
        lines.extend(reason_source_lines(note, item.entity, entities))
    return lines


def _source_lines(subject: str, sources: list[dict[str, Any]]) -> list[str]:
    return [f"      {subject}: {citation_text(cited)}" for cited in sources]


def _name(entity_id: str, entities: dict[str, Entity]) -> str:
    entity = entities.get(entity_id)
    return _label(entity) if entity is not None else printable(entity_id)


def reason_source_lines(reason: dict[str, Any], entity: Entity, entities: dict[str, Entity]) -> list[str]:
    """Where the facts of one reason were read: each owner's link, or the entity's own record."""
    lines = []
    if "sources" in reason:
        lines += _source_lines(f"{_label(entity)} read from", reason["sources"])
    for owner in reason.get("owners", ()):
        subject = f"{_name(str(owner['id']), entities)} -> {_label(entity)} read from"
        lines += _source_lines(subject, owner.get("sources", []))
    return lines


def path_source_lines(cited: dict[str, Any], entities: dict[str, Entity]) -> list[str]:
    root = cited["root"]
    lines = _source_lines(f"{_name(root['entity'], entities)} read from", root["sources"])
    for hop in cited["links"]:
        subject = f"{_name(hop['owner'], entities)} -> {_name(hop['asset'], entities)} read from"
        lines += _source_lines(subject, hop["sources"])
    return lines


def dated_lines(entity: Entity, as_of: Any) -> list[str]:
    """The dated facts it was decided on: each field's value in force on the as-of date, citing
    the fact, or why the field is unknown (no value in force, or values in force that differ)."""
    facts = entity.dated_facts()
    if not facts:
        return []
    lines = [f"Dated facts in force on {as_of.isoformat()}:"]
    for item in facts:
        values = item["in_force"]
        if not values:
            lines.append(f"  - {item['field']}: no value in force, so unknown")
            continue
        if not item["known"]:
            shown = ", ".join(str(value["value"]) for value in values)
            lines.append(f"  - {item['field']}: values in force disagree ({shown}), so unknown")
        for value in values:
            shown = value.get("subdivision") or value["value"]
            start = f"from {value['start_date']}" if value["start_date"] else "since before any date"
            end = f" until {value['end_date']} (exclusive)" if value["end_date"] else ""
            lines.append(f"  - {item['field']}: {shown} ({start}{end}; {value['fact']})")
    return lines


def _identity_lines(report: Report, item: Decision) -> list[str]:
    """What the entity is: the records of one legal person merged into it, a person or a placeholder."""
    lines = []
    merged = report.merged.get(item.entity.id)
    if merged:
        lines.append(
            f"One legal person recorded {len(merged)} times ({', '.join(f'{id_} at {at}' for id_, at in merged)}), "
            f"read as one because they share an identifier ({', '.join(item.entity.identifiers)})."
        )
    if item.entity.subject != "organisation":
        lines.append(
            f"It is a {item.entity.subject}, not a screened organisation: it is decided because what it holds "
            "depends on it, and it is counted apart."
        )
    return lines


def _exception_lines(item: Decision) -> list[str]:
    lines = []
    for record in item.exceptions:
        lines.append(printable(record["note"]))
        for reason in record.get("waived", []):
            lines.append(f"  waived: Rule {reason.get('rule_id')}: {reason_sentence(item.entity, reason, item.rules)}")
    return lines


def _inherited_exception_lines(report: Report, item: Decision, entities: dict[str, Entity]) -> list[str]:
    """A note for each owner on the paths that holds an exception: exceptions are not inherited."""
    if report.exceptions is None:
        return []
    owners = {entity_id for path in item.paths for entity_id in path if entity_id != item.entity.id}
    lines = []
    for owner in sorted(owners):
        for exception in report.exceptions.for_entity(owner):
            lines.append(
                f"Note: {_label(entities[owner])} holds exception {exception.id} ({exception.rule_id}); an exception "
                f"covers only the entity it names, not the entities it owns."
            )
    return lines


def table_rows(report: Report) -> list[tuple[str, str, str, str]]:
    rows = []
    for item in report.decisions:
        codes = ", ".join(sorted({f"{r.get('rule_id')} {r.get('code')}" for r in item.reasons}))
        excepted = ", ".join(f"EXCEPTED {record['id']} ({record['rule_id']})" for record in item.exceptions)
        codes = ", ".join(part for part in (codes, excepted) if part)
        name = item.entity.name or ""
        if item.entity.subject != "organisation":  # decided, but not a screened organisation
            name = f"{name} ({item.entity.subject})".lstrip()
        rows.append((printable(item.entity.id), printable(name), item.decision, printable(codes)))
    return rows


def _mermaid_text(text: str) -> str:
    """A label Mermaid shows as text: one line, quotes and markup characters as entities."""
    flat = " ".join(text.split())
    for char, entity in (('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("[", "#91;"), ("]", "#93;")):
        flat = flat.replace(char, entity)
    return flat


def mermaid(report: Report, item: Decision) -> str:
    """The ownership paths behind one decision as a Mermaid flowchart."""
    entities = report.graph.entities if report.graph else {item.entity.id: item.entity}
    node_ids: dict[str, str] = {}

    def node(entity_id: str) -> str:
        if entity_id not in node_ids:
            node_ids[entity_id] = f"n{len(node_ids)}"
        return node_ids[entity_id]

    lines = ["flowchart LR", *(f"  %% {_mermaid_text(line)}" for line in warnings_text(report))]
    edges: list[str] = []
    for path in item.paths:
        for owner, asset in itertools.pairwise(path):
            label = _mermaid_text(_hop_text(report, owner, asset).strip("->"))
            edge = f'  {node(owner)} -- "{label}" --> {node(asset)}'
            if edge not in edges:
                edges.append(edge)
    node(item.entity.id)
    for entity_id, name in node_ids.items():
        lines.append(f'  {name}["{_mermaid_text(_label(entities[entity_id]))}"]')
    lines.extend(edges)
    lines.append(f"  class {node_ids[item.entity.id]} {item.decision}")
    lines.append("  classDef deny fill:#f8d7da,stroke:#842029")
    lines.append("  classDef review fill:#fff3cd,stroke:#997404")
    lines.append("  classDef allow fill:#d1e7dd,stroke:#0f5132")
    return "\n".join(lines) + "\n"
