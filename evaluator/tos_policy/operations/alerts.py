"""Alerts: every decision a load changed, with the old and new decision and reasons,
and the facts of that load that caused it (the changed records at or above the
entity in the ownership graph)."""

from __future__ import annotations

import json
from typing import Any

from tos_policy.operations.store import Change, Store, StoreError
from tos_policy.reports.display import markdown_cell


def _seed_of(change: Change) -> str:
    """The entity a changed record bears on first: the entity itself, or the asset of a link."""
    return change.key if change.section == "entities" else str(change.record["asset"])


def alerts(store: Store, since: int, until: int | None = None) -> list[dict[str, Any]]:
    """The decision changes of the loads after `since` up to `until` (default: the latest), in load and entity order."""
    loads = store.loads()
    last = loads[-1].load_id if loads else 0
    until = last if until is None else until
    if since < 0 or since > last:
        raise StoreError(
            f"no such load (the store has loads 1 to {last})", file=str(store.path), path="--since", value=since
        )
    out = []
    for info in loads:
        if not since < info.load_id <= until:
            continue
        decided = store.decided_in(info.load_id)
        if not decided:
            continue
        before = store.decisions(info.load_id - 1) if info.load_id > 1 else {}
        changes = store.changes(info.load_id)
        by_seed: dict[str, list[Change]] = {}
        for change in changes:
            by_seed.setdefault(_seed_of(change), []).append(change)
        run = store.run(info.load_id)
        for entity, new in sorted(decided.items()):
            old = before.get(entity)
            old_decision, new_decision = (old or {}).get("decision"), (new or {}).get("decision")
            if old_decision == new_decision:
                continue
            out.append(_alert(info.load_id, info.known_on.isoformat(), run, entity, old, new, by_seed))
    return out


def _alert(
    load_id: int,
    known_on: str,
    run: Any,
    entity: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    by_seed: dict[str, list[Change]],
) -> dict[str, Any]:
    causes = []
    if new is None:  # the entity left the registry
        causes = [
            {"seed": entity, "why": [{"entity": entity}], "facts": [c.as_json() for c in by_seed.get(entity, [])]}
        ]
    for cause in (new or {}).get("causes", []):
        if "seed" in cause:
            facts = [change.as_json() for change in by_seed.get(cause["seed"], [])]
            causes.append({**cause, "facts": facts})
        else:
            causes.append(cause)
    return {
        "load": load_id,
        "known_on": known_on,
        "as_of": run[0].isoformat() if run else None,
        "entity": entity,
        "name": (new or old or {}).get("name"),
        "old_decision": (old or {}).get("decision"),
        "new_decision": (new or {}).get("decision"),
        "old_reasons": (old or {}).get("reasons", []),
        "new_reasons": (new or {}).get("reasons", []),
        "determinations": (new or {}).get("determinations", []),
        "causes": causes,
    }


def _reasons_text(reasons: list[dict[str, Any]]) -> str:
    return "; ".join(f"{r.get('rule_id')} {r.get('code')}" for r in reasons) or "-"


def _fact_text(fact: dict[str, Any]) -> str:
    record = fact["record"]
    what = record.get("id") or f"{record.get('owner')} -> {record.get('asset')}"
    share = record.get("percentage")
    if share is None and "percentage_min" in record:
        share = f"{record.get('percentage_min')}-{record.get('percentage_max')}"
    detail = f" {share}%" if share is not None else ""
    if record.get("end_date"):
        detail += f" ended {record['end_date']}"
    previous = fact.get("previous")
    if previous is not None:  # a changed entity: the fields that moved
        moved = sorted(key for key in set(record) | set(previous) if record.get(key) != previous.get(key))
        detail += ": " + ", ".join(f"{key} {_shown(previous.get(key))} -> {_shown(record.get(key))}" for key in moved)
    return f"{fact['change']} {what}{detail} ({fact['source']})"


def _shown(value: Any) -> str:
    return "unknown" if value is None else str(value)


def _cause_text(cause: dict[str, Any]) -> str:
    if "rules" in cause:
        rules = cause["rules"]
        return f"rules {rules.get('policy_version')} ({str(rules.get('rules_digest'))[:19]}), every entity re-decided"
    facts = [_fact_text(fact) for fact in cause.get("facts", [])]
    if not facts:  # no record changed: a link started or ended, a determination or exception came or went
        facts = [json.dumps(why, sort_keys=True) for why in cause.get("why", [])]
    return f"at {cause['seed']}: " + ", ".join(facts)


def _cell(text: str) -> str:
    """Ids, names and facts are data: no HTML, no control characters, no way out of the cell."""
    return markdown_cell(text)


def markdown(items: list[dict[str, Any]], since: int) -> str:
    lines = [f"# Alerts since load {since}", "", f"{len(items)} decision(s) changed.", ""]
    if items:
        lines += ["| load | known on | entity | old | new | new reasons | caused by |", "|---|---|---|---|---|---|---|"]
    for item in items:
        label = f"{item['name']} ({item['entity']})" if item.get("name") else item["entity"]
        cells = [
            str(item["load"]),
            item["known_on"],
            label,
            item["old_decision"] or "(new)",
            item["new_decision"] or "(left the registry)",
            _reasons_text(item["new_reasons"]),
        ]
        causes = "<br>".join(_cell(_cause_text(cause)) for cause in item["causes"])  # each cause escaped alone
        lines.append("| " + " | ".join([*(_cell(cell) for cell in cells), causes]) + " |")
    return "\n".join(lines) + "\n"
