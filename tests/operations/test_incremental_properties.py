"""Incremental re-screening decides exactly what a full re-screen decides, after any
sequence of random changes to the registry (entity facts, new, changed, ended and
removed links, new and removed entities, links that start or end between loads)."""

from __future__ import annotations

import copy
import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tos_policy.limits import Limits
from tos_policy.operations.incremental import decide_all, decide_load
from tos_policy.operations.records import read_records
from tos_policy.operations.store import Store

from ..strategies import COUNTRIES, TYPES, ownership_graphs

START = date(2025, 10, 1)
DAYS = [START + timedelta(days=offset) for offset in range(6)]


def _headroom(document: dict[str, Any], asset: str) -> Decimal:
    held = Decimal(0)
    for link in document["ownership"]:
        if link["asset"] == asset and link.get("kind", "shareholding") == "shareholding":
            held += Decimal(str(link.get("percentage", link.get("percentage_min", 0))))
    return Decimal(100) - held


@st.composite
def mutated(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0912 - one branch per change
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        ids = [entity["id"] for entity in doc["entities"]]
        action = draw(
            st.sampled_from(
                ["country", "type", "add_link", "drop_link", "end_link", "share", "add_entity", "drop_entity"]
            )
        )
        if action == "country":
            entity = draw(st.sampled_from(doc["entities"]))
            entity[draw(st.sampled_from(["headquarters", "jurisdiction"]))] = draw(st.sampled_from([*COUNTRIES, None]))
        elif action == "type":
            draw(st.sampled_from(doc["entities"]))["type"] = draw(st.sampled_from(TYPES))
        elif action == "add_link":
            owner, asset = draw(st.sampled_from(ids)), draw(st.sampled_from(ids))
            room = _headroom(doc, asset)
            link: dict[str, Any] = {
                "owner": owner,
                "asset": asset,
                "percentage": str(min(room, Decimal(draw(st.integers(0, 100))))),
            }
            if room < 0:
                continue
            if draw(st.booleans()):
                link["start_date"] = draw(st.sampled_from(DAYS)).isoformat()
            doc["ownership"].append(link)
        elif doc["ownership"] and action == "drop_link":
            doc["ownership"].pop(draw(st.integers(0, len(doc["ownership"]) - 1)))
        elif doc["ownership"] and action == "end_link":
            link = draw(st.sampled_from(doc["ownership"]))
            if "start_date" not in link:
                link["end_date"] = draw(st.sampled_from(DAYS)).isoformat()
        elif doc["ownership"] and action == "share":
            link = draw(st.sampled_from(doc["ownership"]))
            if link.get("kind", "shareholding") == "shareholding" and "percentage" in link:
                current = Decimal(str(link["percentage"]))
                room = _headroom(doc, link["asset"]) + current
                link["percentage"] = str(min(room, Decimal(draw(st.integers(0, 100)))))
        elif action == "add_entity":
            new_id = f"n{len(ids)}-{draw(st.integers(0, 99))}"
            if new_id not in ids:
                doc["entities"].append(
                    {"id": new_id, "type": "company", "headquarters": draw(st.sampled_from(COUNTRIES))}
                )
                doc["ownership"].append({"owner": draw(st.sampled_from(ids)), "asset": new_id, "percentage": "60"})
        elif action == "drop_entity" and len(ids) > 1:
            gone = draw(st.sampled_from(ids))
            doc["entities"] = [entity for entity in doc["entities"] if entity["id"] != gone]
            doc["ownership"] = [
                link for link in doc["ownership"] if gone not in (link["owner"], link["asset"], link.get("principal"))
            ]
    return doc


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    documents = [draw(ownership_graphs(max_entities=8))]
    for _ in range(draw(st.integers(1, 4))):
        documents.append(draw(mutated(documents[-1])))
    return documents


def _without_causes(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entity: {k: v for k, v in record.items() if k != "causes"} for entity, record in records.items()}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(histories())
def test_incremental_equals_full_rescreen(rules: Any, engine: Any, history: list[dict[str, Any]]) -> None:
    import json

    limits = Limits()
    with tempfile.TemporaryDirectory() as directory:
        store = Store.create(Path(directory) / "registry.duckdb")
        for day, document in zip(DAYS, history, strict=False):
            facts_file = Path(directory) / f"{day}.json"
            facts_file.write_text(json.dumps(document))
            with store.transaction():
                info = store.append_load(read_records([facts_file], limits), mode="snapshot", known_on=day, sources=[])
                decide_load(store, info.load_id, rules, engine, as_of=day, profile=None, limits=limits)
            full = decide_all(
                store.facts(info.load_id), rules, engine, as_of=day, profile="terms_of_service", limits=limits
            )
            assert _without_causes(store.decisions(info.load_id)) == full
        store.close()
