"""Dated entity facts: headquarters, jurisdiction, type and name may be lists of dated values
{value, start_date, end_date}; the value in force on the as-of date is the fact. No value in
force (or values in force that differ) is an unknown fact, which the rules read as review.
Every plan decides on the same resolved facts, and explain cites the dated fact used."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tos_policy import facts_from_document
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.errors import InputError
from tos_policy.facts.load import Entity
from tos_policy.ownership.columnar import ColumnarFixpoint
from tos_policy.ownership.pipeline import DEFAULT_DRIVER, FixpointDriver, evaluate, facts_digest
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.records import decision_record, explain_text

from .strategies import COUNTRIES, REGIONAL, TYPES, ownership_graphs

MOVED = "2025-03-01"


def shenzhen(later: str = "SG") -> dict[str, Any]:
    """A company headquartered in Shenzhen until March 2025, in `later` afterwards, with a subsidiary."""
    return {
        "entities": [
            {
                "id": "moved",
                "type": "company",
                "name": [
                    {"value": "Shenzhen Lamp Co", "end_date": MOVED},
                    {"value": "Lamp Holdings Pte", "start_date": MOVED},
                ],
                "headquarters": [{"value": "CN", "end_date": MOVED}, {"value": later, "start_date": MOVED}],
                "jurisdiction": "SG",
                "disclosure": "full",
            },
            {"id": "sub", "type": "company", "headquarters": "DE", "jurisdiction": "DE", "disclosure": "full"},
        ],
        "ownership": [{"owner": "moved", "asset": "sub", "percentage": 60}],
    }


def decisions(
    document: dict[str, Any], rules: RuleSet, engine: EmbeddedEngine, day: date, **kwargs: Any
) -> dict[str, str]:
    report = evaluate(facts_from_document(document), rules, engine, as_of=day, **kwargs)
    return {item.entity.id: item.decision for item in report.decisions}


def test_a_company_headquartered_in_shenzhen_until_march_2025_is_decided_on_the_headquarters_of_the_day(
    rules: RuleSet, engine: EmbeddedEngine
) -> None:
    document = shenzhen()
    assert decisions(document, rules, engine, date(2024, 6, 1)) == {"moved": "deny", "sub": "deny"}
    assert decisions(document, rules, engine, date(2025, 2, 28)) == {"moved": "deny", "sub": "deny"}
    # end_date is exclusive: on the day it moved, its headquarters is Singapore.
    assert decisions(document, rules, engine, date(2025, 3, 1)) == {"moved": "allow", "sub": "allow"}
    # Moving from Shenzhen to Moscow keeps it restricted throughout.
    assert set(decisions(shenzhen("RU"), rules, engine, date(2026, 1, 1)).values()) == {"deny"}


def test_no_value_in_force_is_unknown_and_never_allowed(rules: RuleSet, engine: EmbeddedEngine) -> None:
    gap = shenzhen()
    gap["entities"][0]["headquarters"] = [
        {"value": "CN", "end_date": "2024-01-01"},
        {"value": "SG", "start_date": "2025-01-01"},
    ]
    assert decisions(gap, rules, engine, date(2024, 6, 1))["moved"] == "review"
    assert decisions(gap, rules, engine, date(2025, 6, 1))["moved"] == "allow"
    # Two values in force that differ: the facts do not say which, so unknown too.
    clash = shenzhen()
    clash["entities"][0]["headquarters"] = [{"value": "SG"}, {"value": "CN", "start_date": "2024-01-01"}]
    assert decisions(clash, rules, engine, date(2023, 6, 1))["moved"] == "allow"
    assert decisions(clash, rules, engine, date(2024, 6, 1))["moved"] == "review"
    # A type with no value in force is "unknown": an organisation or a person, so review.
    typed = shenzhen()
    typed["entities"][0]["headquarters"] = "CN"
    typed["entities"][0]["type"] = [{"value": "company", "start_date": "2020-01-01"}]
    assert decisions(typed, rules, engine, date(2019, 6, 1))["moved"] == "review"
    assert decisions(typed, rules, engine, date(2020, 1, 1))["moved"] == "deny"
    typed["entities"][0]["type"] = [
        {"value": "person", "end_date": "2020-01-01"},
        {"value": "company", "start_date": "2020-01-01"},
    ]
    assert decisions(typed, rules, engine, date(2019, 6, 1))["moved"] == "allow"


def test_dated_places_carry_subdivisions(rules: RuleSet, engine: EmbeddedEngine) -> None:
    document = shenzhen()
    document["entities"][0]["headquarters"] = [
        {"value": "UA", "subdivision": "UA-43", "end_date": "2014-03-18"},
        {"value": "UA-30", "start_date": "2014-03-18"},
    ]
    entity = facts_from_document(document).entities["moved"].on(date(2010, 1, 1))
    assert (entity.headquarters, entity.headquarters_subdivision) == ("UA", "UA-43")
    later = facts_from_document(document).entities["moved"].on(date(2020, 1, 1))
    assert (later.headquarters, later.headquarters_subdivision) == ("UA", "UA-30")


def test_bad_dated_values_name_their_json_path() -> None:
    cases = [
        ({"value": "Atlantis"}, "$.entities[0].headquarters[1].value"),
        ({"value": "CN", "start_date": "2025-02-30"}, "$.entities[0].headquarters[1].start_date"),
        (
            {"value": "CN", "start_date": "2025-05-01", "end_date": "2025-04-01"},
            "$.entities[0].headquarters[1].end_date",
        ),
        ({"value": "UA", "subdivision": "RU-MOW"}, "$.entities[0].headquarters[1].subdivision"),
        ({"value": "CN", "until": "2025-01-01"}, "$.entities[0].headquarters[1]"),
    ]
    for bad, path in cases:
        document = shenzhen()
        document["entities"][0]["headquarters"][1] = bad
        with pytest.raises(InputError) as caught:
            facts_from_document(document, "f.json")
        assert caught.value.path == path, (bad, str(caught.value))
    both = shenzhen()
    both["entities"][0]["headquarters_subdivision"] = "UA-43"
    with pytest.raises(InputError, match="give the subdivision in each"):
        facts_from_document(both, "f.json")


def test_plain_values_stay_valid_and_the_digest_sees_dated_values() -> None:
    plain = facts_from_document(shenzhen())
    assert plain.entities["sub"].history == ()
    moved = copy.deepcopy(shenzhen())
    moved["entities"][0]["headquarters"][0]["end_date"] = "2025-03-02"
    moved["entities"][0]["headquarters"][1]["start_date"] = "2025-03-02"
    assert facts_digest(plain) != facts_digest(facts_from_document(moved))


def test_explain_and_the_decision_record_cite_the_dated_fact(rules: RuleSet, engine: EmbeddedEngine) -> None:
    report = evaluate(facts_from_document(shenzhen(), "hq.json"), rules, engine, as_of=date(2024, 6, 1))
    item = next(decision for decision in report.decisions if decision.entity.id == "moved")
    text = explain_text(report, item)
    assert "Shenzhen Lamp Co (moved): DENY" in text
    assert (
        "headquarters: CN (since before any date until 2025-03-01 (exclusive); hq.json:$.entities[0].headquarters[0])"
        in text
    )
    record = decision_record(report, item)
    assert record["name"] == "Shenzhen Lamp Co"
    headquarters = next(fact for fact in record["dated_facts"] if fact["field"] == "headquarters")
    assert headquarters["in_force"] == [
        {"value": "CN", "start_date": None, "end_date": MOVED, "fact": "hq.json:$.entities[0].headquarters[0]"}
    ]
    gap = shenzhen()
    gap["entities"][0]["headquarters"] = [{"value": "SG", "start_date": "2030-01-01"}]
    report = evaluate(facts_from_document(gap), rules, engine, as_of=date(2024, 6, 1))
    item = next(decision for decision in report.decisions if decision.entity.id == "moved")
    assert "headquarters: no value in force, so unknown" in explain_text(report, item)


PLANS: list[FixpointDriver] = [DEFAULT_DRIVER, ColumnarFixpoint()]


@pytest.mark.parametrize("day", ["2024-06-01", MOVED])
def test_every_plan_decides_on_the_facts_of_the_day(rules: RuleSet, engine: EmbeddedEngine, day: str) -> None:
    document = shenzhen()
    document["entities"].append(
        {
            "id": "late",
            "type": [{"value": "person", "end_date": MOVED}, {"value": "company", "start_date": MOVED}],
            "headquarters": "RU",
            "jurisdiction": "RU",
            "disclosure": "full",
        }
    )
    document["ownership"].append({"owner": "late", "asset": "sub", "percentage": 30})
    found = [decisions(document, rules, engine, date.fromisoformat(day), driver=driver) for driver in PLANS]
    assert found[0] == found[1]
    assert found[0]["late"] == ("allow" if day < MOVED else "deny")


def test_the_spark_plan_decides_on_the_facts_of_the_day(rules: RuleSet, engine: EmbeddedEngine) -> None:
    pytest.importorskip("pyspark", reason="the spark extra (pyspark) is not installed")
    from tos_policy.ownership.spark import SparkFixpoint

    for day in (date(2024, 6, 1), date(2025, 3, 1)):
        assert decisions(shenzhen(), rules, engine, day, driver=SparkFixpoint()) == decisions(
            shenzhen(), rules, engine, day
        )


# --- property: deciding dated facts as of D = deciding the plain facts in force on D ------------------

DAYS = [date(2020, 1, 1) + timedelta(days=offset) for offset in (0, 400, 800, 1200, 1600)]
FIELD_VALUES: dict[str, list[Any]] = {
    "headquarters": COUNTRIES + REGIONAL + [None],
    "jurisdiction": COUNTRIES + REGIONAL + [None],
    "type": TYPES,
    "name": ["Alpha", "Beta"],
}
UNKNOWN = {"headquarters": None, "jurisdiction": None, "type": "unknown", "name": None}


@st.composite
def histories(draw: st.DrawFn, field: str) -> list[dict[str, Any]]:
    """Dated values of one field: periods that may leave gaps and may overlap."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        item: dict[str, Any] = {"value": draw(st.sampled_from(FIELD_VALUES[field]))}
        start, end = draw(st.sampled_from([None, *DAYS])), draw(st.sampled_from([None, *DAYS]))
        if start is not None and end is not None and end < start:
            start, end = end, start
        if start is not None:
            item["start_date"] = start.isoformat()
        if end is not None:
            item["end_date"] = end.isoformat()
        items.append(item)
    return items


def in_force(items: list[dict[str, Any]], field: str, day: date) -> Any:
    """The plain fact on `day`, computed here independently of the loader."""
    values = {
        item["value"]
        for item in items
        if date.fromisoformat(item.get("start_date", "0001-01-01")) <= day
        and ("end_date" not in item or day < date.fromisoformat(item["end_date"]))
    }
    return values.pop() if len(values) == 1 else UNKNOWN[field]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=ownership_graphs(max_entities=6), data=st.data())
def test_deciding_dated_facts_as_of_a_day_equals_deciding_the_facts_in_force_that_day(
    rules: RuleSet, engine: EmbeddedEngine, graph: dict[str, Any], data: st.DataObject
) -> None:
    dated = copy.deepcopy(graph)
    for entity in dated["entities"]:
        for field in FIELD_VALUES:
            if data.draw(st.booleans()):
                entity[field] = data.draw(histories(field))
                if field == "name" and entity[field] is None:
                    del entity[field]
    day = data.draw(st.sampled_from(DAYS) | st.dates(date(2019, 1, 1), date(2026, 1, 1)))
    plain = copy.deepcopy(dated)
    for entity in plain["entities"]:
        for field in FIELD_VALUES:
            if isinstance(entity.get(field), list):
                value = in_force(entity[field], field, day)
                if value is None and field == "name":
                    del entity[field]
                else:
                    entity[field] = value
    for profile in rules.data["ownership"]["profiles"]:
        assert decisions(dated, rules, engine, day, profile=profile) == decisions(
            plain, rules, engine, day, profile=profile
        )


def test_the_resolved_entity_keeps_its_history_for_reports() -> None:
    entity: Entity = facts_from_document(shenzhen()).entities["moved"]
    assert entity.type == "company" and entity.headquarters is None  # as loaded: unknown until read on a day
    on = entity.on(date(2024, 6, 1))
    assert (on.headquarters, on.name, on.dated_on) == ("CN", "Shenzhen Lamp Co", date(2024, 6, 1))
    assert json.dumps(on.dated_facts())  # plain JSON for the decision record


def test_the_store_keeps_dated_values(tmp_path: Any) -> None:
    """A registry store keeps each record as loaded, dated values included: deciding from it on
    any date gives the decisions deciding the file gives."""
    from click.testing import CliRunner

    from tos_policy.cli.main import main

    facts = tmp_path / "hq.json"
    facts.write_text(json.dumps(shenzhen()))
    db = tmp_path / "registry.duckdb"
    runner = CliRunner()
    assert runner.invoke(main, ["store", "init", str(db)]).exit_code == 0
    loaded = runner.invoke(main, ["store", "load", str(db), str(facts), "--known-on", "2024-01-01"])
    assert loaded.exit_code == 0, loaded.output
    for day in ("2024-06-01", MOVED):
        found = [
            json.loads(runner.invoke(main, ["evaluate", *source, "--as-of", day]).stdout)["decisions"]
            for source in ([str(facts)], ["--store", str(db)])
        ]
        assert [(item["entity"], item["decision"]) for item in found[0]] == [
            (item["entity"], item["decision"]) for item in found[1]
        ]
        assert found[0][0]["decision"] == ("deny" if day < MOVED else "allow")
