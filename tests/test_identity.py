"""One legal person, one entity: identifiers normalised (LEI check digits, register codes,
numbers without spaces or punctuation, registers told by GLEIF registration authority ids),
records sharing a strong identifier merged within and across files and formats, the id
chosen from content alone, and every identifier an alias wherever an entity is named.

Real records: Dentsu International Limited and Swedeit Italian Aktiebolag from the GLEIF
golden copy excerpt (tests/data/external/gleif-golden-copy, see its PROVENANCE.txt), with
their Companies House and Bolagsverket numbers as GLEIF gives them (RA000585, RA000544)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import string
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tos_policy import evaluate, facts_from_document, load_facts
from tos_policy.cli.main import main
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.errors import InputError
from tos_policy.facts.identity import lei_is_valid, strong_identifiers
from tos_policy.facts.merge import resolve
from tos_policy.policy.ruleset import RuleSet

from .conftest import AS_OF

EXTERNAL = Path(__file__).parent / "data" / "external"
GOLDEN = EXTERNAL / "gleif-golden-copy"
DENTSU_LEI = "213800FERQ5LE3H7WJ58"
DENTSU_COH = "GB-COH:01403668"


def _golden_leis() -> list[str]:
    return [record["LEI"] for record in json.loads((GOLDEN / "lei-data.json").read_text())]


def test_every_real_lei_has_right_check_digits_and_any_one_changed_character_is_caught() -> None:
    """MOD 97-10 catches any one digit changed to another digit, or letter to another letter."""
    leis = _golden_leis()
    assert len(leis) == 13
    for lei in leis:
        assert lei_is_valid(lei)
        for position, char in enumerate(lei):
            same_kind = string.digits if char.isdigit() else string.ascii_uppercase
            for other in same_kind.replace(char, ""):
                changed = lei[:position] + other + lei[position + 1 :]
                assert not lei_is_valid(changed), changed
    assert not lei_is_valid(leis[0].lower())  # the form is checked too (the loader compacts to capitals)


@pytest.mark.parametrize(
    ("identifiers", "country", "expected"),
    [
        ([{"scheme": "", "id": "985 198 292"}], "NO", ("NO-BRREG:985198292",)),
        ([{"scheme": "NO-BRREG", "id": "985198292"}], None, ("NO-BRREG:985198292",)),
        ([{"schemeName": "Brønnøysundregistrene", "id": "985.198.292"}], None, ("NO-BRREG:985198292",)),
        ([{"scheme": "lv-ur", "id": "4000-300-5121"}], "LV", ("LV-UR:40003005121",)),
        ([{"scheme": "GLEIF-RA:RA000585", "id": "1403668"}], "GB", (DENTSU_COH,)),
        (
            [{"scheme": "GB-COH", "id": "01403668"}, {"scheme": "XI-LEI", "id": "213800ferq5le3h7wj58"}],
            "GB",
            (DENTSU_COH, f"XI-LEI:{DENTSU_LEI}"),
        ),
        ([{"scheme": "ftm:registrationNumber", "id": "SC 057974"}], "GB", ("GB-COH:SC057974",)),
        ([{"scheme": "RU-INN", "id": " 1027700043502 "}], "RU", ("RU-INN:1027700043502",)),
        # weak: a wrong check digit, an RA code of another country's register, a source's own ids,
        # a bare number without a register for the country, a number not of the register's form
        ([{"scheme": "XI-LEI", "id": "213800FERQ5LE3H7WJ59"}], "GB", ()),
        ([{"scheme": "GLEIF-RA:RA000585", "id": "1403668"}], "US", ()),
        ([{"scheme": "bods-recordId", "id": "GB-COH-01403668"}, {"scheme": "ftm-id", "id": "x"}], "GB", ()),
        ([{"scheme": "", "id": "985198292"}], "US", ()),
        ([{"scheme": "NO-BRREG", "id": "98519829"}], "NO", ()),
    ],
)
def test_identifiers_are_read_in_one_form(
    identifiers: list[dict[str, str]], country: str | None, expected: tuple[str, ...]
) -> None:
    assert strong_identifiers(identifiers, country) == tuple(sorted(expected))


def _import_gleif(tmp_path: Path) -> Path:
    out = tmp_path / "gleif-facts.json"
    done = CliRunner().invoke(main, ["import", "gleif", str(GOLDEN / "lei-data.json"), "-o", str(out)])
    assert done.exit_code == 0, done.output
    return out


def _company_house_record(tmp_path: Path) -> Path:
    """Dentsu International as a register extract gives it: its number with a space and
    without the leading zero, no LEI, and a 60% shareholder headquartered in China."""
    path = tmp_path / "register.json"
    document = {
        "entities": [
            {
                "id": "register-dentsu",
                "type": "company",
                "name": "DENTSU INTERNATIONAL LIMITED",
                "headquarters": "GB",
                "jurisdiction": "GB",
                "disclosure": "full",
                "identifiers": [{"scheme": "Companies House", "id": "140 3668"}],
            },
            {"id": "register-holder", "type": "company", "name": "Holder", "headquarters": "CN", "jurisdiction": "CN"},
        ],
        "ownership": [{"owner": "register-holder", "asset": "register-dentsu", "percentage": "60"}],
    }
    path.write_text(json.dumps(document))
    return path


def _ftm_record(tmp_path: Path) -> Path:
    """The same company as a FollowTheMoney entity, by its number in another form."""
    source = tmp_path / "dentsu.ftm.json"
    source.write_text(
        json.dumps(
            {
                "id": "ftm-dentsu",
                "schema": "Company",
                "properties": {
                    "name": ["Dentsu International Limited"],
                    "jurisdiction": ["gb"],
                    "registrationNumber": ["01403668"],
                },
            }
        )
        + "\n"
    )
    out = tmp_path / "ftm-facts.json"
    done = CliRunner().invoke(main, ["import", "ftm", str(source), "-o", str(out)])
    assert done.exit_code == 0, done.output
    return out


def test_one_company_in_three_formats_is_one_entity_whatever_the_file_order(
    tmp_path: Path, rules: RuleSet, engine: EmbeddedEngine
) -> None:
    files = [_import_gleif(tmp_path), _company_house_record(tmp_path), _ftm_record(tmp_path)]
    outcomes = set()
    for order in itertools.permutations(files):
        facts = load_facts(order)
        merged = [entity for entity in facts.entities.values() if DENTSU_COH in entity.identifiers]
        assert [entity.id for entity in merged] == [DENTSU_LEI]  # the record holding the LEI names it
        assert {member for member, _ in facts.merged[DENTSU_LEI]} == {DENTSU_LEI, "register-dentsu", "ftm-dentsu"}
        report = evaluate(facts, rules, engine, as_of=AS_OF)
        outcomes.add(tuple(sorted((item.entity.id, item.decision) for item in report.decisions)))
    assert len(outcomes) == 1
    decisions = dict(outcomes.pop())
    # the Chinese holder the register names holds the company GLEIF describes: one legal person
    assert decisions[DENTSU_LEI] == "deny"
    assert "register-dentsu" not in decisions and "ftm-dentsu" not in decisions


@pytest.mark.parametrize(
    "name", [DENTSU_LEI, DENTSU_COH, "GB-COH 1403668", "gb-coh:01403668", "register-dentsu", "ftm-dentsu"]
)
def test_every_identifier_names_the_entity(tmp_path: Path, name: str) -> None:
    facts = load_facts([_import_gleif(tmp_path), _company_house_record(tmp_path), _ftm_record(tmp_path)])
    assert resolve(facts, name, file="--entity") == DENTSU_LEI


def test_an_identifier_of_no_entity_is_refused(tmp_path: Path) -> None:
    facts = load_facts([_company_house_record(tmp_path)])
    with pytest.raises(InputError, match="no entity with this id or identifier"):
        resolve(facts, "GB-COH:01403669", file="--entity")


def _one_file(tmp_path: Path) -> Path:
    """The register extract and GLEIF's record of Dentsu in one facts file."""
    gleif = json.loads(_import_gleif(tmp_path).read_text())
    register = json.loads(_company_house_record(tmp_path).read_text())
    path = tmp_path / "both.json"
    path.write_text(
        json.dumps(
            {
                "entities": gleif["entities"] + register["entities"],
                "ownership": gleif["ownership"] + register["ownership"],
            }
        )
    )
    return path


@pytest.mark.parametrize("command", ["evaluate", "explain"])
def test_entity_option_takes_any_identifier(tmp_path: Path, command: str) -> None:
    path = _one_file(tmp_path)
    done = CliRunner().invoke(main, [command, str(path), "--entity", "GB-COH 1403668", "--as-of", str(AS_OF)])
    assert done.exit_code == 0, done.output
    if command == "evaluate":
        document = json.loads(done.stdout)
        [record] = document["decisions"]
        assert (record["entity"], record["decision"]) == (DENTSU_LEI, "deny")
        assert [item["id"] for item in record["merged"]["records"]] == [DENTSU_LEI, "register-dentsu"]
        assert record["merged"]["identifiers"] == [DENTSU_COH, f"XI-LEI:{DENTSU_LEI}"]
    else:
        assert DENTSU_LEI in done.stdout and "DENTSU INTERNATIONAL LIMITED" in done.stdout
        assert f"One legal person recorded 2 times ({DENTSU_LEI} at {path}:" in done.stdout


def test_an_exception_granted_under_any_identifier_applies(tmp_path: Path, rules: RuleSet) -> None:
    facts = load_facts([_one_file(tmp_path)])
    granted = {
        "id": "EXC-2026-001",
        "entity": "GB-COH 1403668",
        "rule_id": "TOS-OWN-2",
        "reason": "Licence GL-12",
        "approver": "Dana Counsel, General Counsel",
        "granted": "2025-01-01",
        "expires": "2027-01-01",
    }
    excepted = dataclasses.replace(rules, data={**rules.data, "exceptions": {"granted": [granted]}})
    engine = EmbeddedEngine(excepted)
    try:
        report = evaluate(facts, excepted, engine, as_of=AS_OF, entity_ids=["register-dentsu"])
    finally:
        engine.close()
    [item] = report.decisions
    assert item.entity.id == DENTSU_LEI
    assert [record["id"] for record in item.exceptions] == ["EXC-2026-001"]


def test_records_that_disagree_are_read_cautiously() -> None:
    document = {
        "entities": [
            {
                "id": "a",
                "type": "company",
                "headquarters": "GB",
                "jurisdiction": "GB",
                "disclosure": "full",
                "identifiers": [{"scheme": "GB-COH", "id": "01403668"}],
            },
            {
                "id": "b",
                "type": "person",
                "headquarters": "CN",
                "jurisdiction": "GB",
                "identifiers": [{"scheme": "GB-COH", "id": "1403668"}],
            },
        ],
        "ownership": [{"owner": "a", "asset": "b", "kind": "branch"}],
    }
    facts = facts_from_document(document)
    [entity] = facts.entities.values()
    assert (entity.id, entity.type, entity.headquarters, entity.jurisdiction) == ("a", "unknown", None, "GB")
    assert facts.links == []  # a record linked to another record of itself says nothing of its owners


# File order: records sharing identifiers drawn from a small pool, split over files.
POOL = [
    ("GB-COH", "01403668"),
    ("Companies House", "1403668"),
    ("XI-LEI", DENTSU_LEI),
    ("NO-BRREG", "985 198 292"),
    ("", "985198292"),
    ("XI-LEI", "5493001KJTIIGC8Y1R12"),
    ("SE-BLV", "556543-1193"),
]


@st.composite
def identified_graphs(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(2, 7))
    entities = []
    for index in range(count):
        country = draw(st.sampled_from(["GB", "NO", "CN", "SE", None]))
        chosen = draw(st.lists(st.sampled_from(POOL), max_size=2, unique=True))
        entities.append(
            {
                "id": f"r{index}",
                "type": draw(st.sampled_from(["company", "company", "person", "unknown"])),
                "headquarters": draw(st.sampled_from(["GB", "CN", "NO", None])),
                "jurisdiction": country,
                **({"disclosure": "full"} if draw(st.booleans()) else {}),
                "identifiers": [{"scheme": scheme, "id": value} for scheme, value in chosen],
            }
        )
    links = []
    for _ in range(draw(st.integers(0, count * 2))):
        owner, asset = draw(st.integers(0, count - 1)), draw(st.integers(0, count - 1))
        links.append({"owner": f"r{owner}", "asset": f"r{asset}", "percentage": str(draw(st.integers(1, 40)))})
    return {"entities": entities, "ownership": links}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=identified_graphs(), data=st.data())
def test_file_order_never_changes_any_decision_or_id(
    tmp_path_factory: pytest.TempPathFactory,
    rules: RuleSet,
    engine: EmbeddedEngine,
    graph: dict[str, Any],
    data: st.DataObject,
) -> None:
    directory = tmp_path_factory.mktemp("order")
    entities = data.draw(st.permutations(graph["entities"]))
    links = data.draw(st.permutations(graph["ownership"]))
    cut = data.draw(st.integers(0, len(entities)))
    paths = []
    for index, part in enumerate([{"entities": entities[:cut], "ownership": links}, {"entities": entities[cut:]}]):
        path = directory / f"part{index}.json"
        path.write_text(json.dumps(part))
        paths.append(path)
    original = directory / "original.json"
    original.write_text(json.dumps(graph))
    outcomes = set()
    for files in ([original], paths, paths[::-1]):
        report = evaluate(load_facts(files), rules, engine, as_of=AS_OF)
        outcomes.add(tuple(sorted((item.entity.id, item.decision) for item in report.decisions)))
    assert len(outcomes) == 1


def test_a_subdivision_is_kept_only_within_the_country_the_records_agree_on() -> None:
    def merged(first: str, second: str) -> tuple[str | None, str | None]:
        document = {
            "entities": [
                {"id": "a", "type": "company", "headquarters": first, "identifiers": [{"scheme": "UA-EDR", "id": "1"}]},
                {
                    "id": "b",
                    "type": "company",
                    "headquarters": second,
                    "identifiers": [{"scheme": "UA-EDR", "id": "1"}],
                },
            ]
        }
        [entity] = facts_from_document(document).entities.values()
        return entity.headquarters, entity.headquarters_subdivision

    assert merged("UA-43", "UA") == ("UA", "UA-43")  # Crimea, as one record says, within Ukraine
    assert merged("UA-43", "UA-14") == ("UA", None)  # two subdivisions: which one is unknown
    assert merged("UA-43", "GB") == (None, None)  # two countries: the place is unknown


def test_a_dated_fact_of_one_record_and_an_undated_one_of_another_are_both_in_force() -> None:
    from datetime import date

    document = {
        "entities": [
            {
                "id": "a",
                "type": "company",
                "headquarters": [
                    {"value": "CN", "end_date": "2025-03-01"},
                    {"value": "GB", "start_date": "2025-03-01"},
                ],
                "identifiers": [{"scheme": "GB-COH", "id": "01403668"}],
            },
            {
                "id": "b",
                "type": "company",
                "headquarters": "GB",
                "identifiers": [{"scheme": "GB-COH", "id": "1403668"}],
            },
        ]
    }
    [entity] = facts_from_document(document).entities.values()
    assert entity.on(date(2024, 6, 1)).headquarters is None  # CN and GB in force: the records disagree
    assert entity.on(date(2025, 6, 1)).headquarters == "GB"
