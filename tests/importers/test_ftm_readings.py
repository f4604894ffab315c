"""FollowTheMoney Ownership roles and statuses, and jurisdiction-only countries, read as what
they say: consolidation and branch roles as those links, a relationship whose status says it is
over as ended (never dropped), a company's only country, its jurisdiction, as its jurisdiction."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tos_policy.importers import ftm

from ..conftest import AS_OF
from .helpers import DATA, imported, links_between

ROLES = DATA / "ftm" / "roles-and-status.ftm.json"


def _one(document: dict[str, Any], owner: str, asset: str) -> dict[str, Any]:
    links = links_between(document, owner, asset)
    assert len(links) == 1, links
    return links[0]


def test_roles_are_read_as_consolidation_and_branch() -> None:
    document = imported("ftm", ROLES)
    consolidated = _one(document, "ru-bank", "gb-sub")
    assert consolidated["kind"] == "consolidation"
    assert "percentage" not in consolidated and "percentage_min" not in consolidated  # control, not a share count
    assert _one(document, "ru-bank", "fr-branch")["kind"] == "branch"
    # "subsidiary of" names no other relationship: a stake, as reported.
    subsidiary = _one(document, "ru-bank", "de-only-jurisdiction")
    assert (subsidiary["kind"], subsidiary["percentage"]) == ("shareholding", "30")


def test_an_inactive_relationship_ends_by_its_latest_date_and_is_never_dropped() -> None:
    document = imported("ftm", ROLES)
    inactive = _one(document, "ru-bank", "ee-former")
    assert (inactive["start_date"], inactive["end_date"]) == ("2010-05-01", "2022-04-01")
    assert any("inactive" in note for note in inactive["source"]["notes"])
    # "ended" with no date at all: kept as holding, with a note (a guess would be a wrong allow).
    undated = _one(document, "ru-bank", "lv-undated")
    assert "end_date" not in undated and any("kept as holding" in n for n in undated["source"]["notes"])


def test_jurisdiction_only_countries_are_the_jurisdiction() -> None:
    entities = {e["id"]: e for e in imported("ftm", ROLES)["entities"]}
    for entity_id, country in (("ru-only-jurisdiction", "RU"), ("de-only-jurisdiction", "DE")):
        entity = entities[entity_id]
        # The country of incorporation is not a head office: that stays unknown, with a note.
        assert (entity["jurisdiction"], entity["headquarters"]) == (country, None)
        assert any("no mainCountry or country" in note for note in entity["source"]["notes"])


def test_decisions(decide: Any) -> None:
    document = imported("ftm", ROLES)
    now = decide(document, as_of=AS_OF)
    # A Russian bank's consolidated subsidiary and its branch: controlled by / the same person as it.
    assert now["gb-sub"] == "deny" and now["fr-branch"] == "deny"
    # Incorporated in Russia: restricted, whatever the unknown head office.
    assert now["ru-only-jurisdiction"] == "deny"
    # Incorporated in Germany, head office unknown, 30% Russian and 70% undisclosed: review.
    assert now["de-only-jurisdiction"] == "review"
    # Wholly Russian-owned until the relationship ended; after, nothing says who owns it: review.
    assert decide(document, as_of=date(2021, 1, 1))["ee-former"] == "deny"
    assert now["ee-former"] == "review"
    # "ended" without a date is kept: the 60% Russian stake still counts.
    assert now["lv-undated"] == "deny"


@pytest.mark.parametrize("status", ["inactive", "Ended", "former shareholder", "terminated"])
def test_every_ended_status_keeps_the_link_until_a_date(tmp_path: Path, status: str) -> None:
    records = [
        {"id": "a", "schema": "Company", "properties": {"jurisdiction": ["ru"]}},
        {"id": "b", "schema": "Company", "properties": {"jurisdiction": ["gb"]}},
        {"id": "o", "schema": "Ownership", "properties": {"owner": ["a"], "asset": ["b"], "status": [status]}},
    ]
    path = tmp_path / "in.ftm.json"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    link = _one(imported("ftm", path), "a", "b")
    assert link["kind"] == "shareholding" and "end_date" not in link  # no date: kept as holding


def test_readings_are_data() -> None:
    tables = ftm.readings()
    kinds = {kind for table in ("ownership_roles", "control_kinds") for _, kind, _ in tables[table]}
    # Every reading names a link kind the facts format knows.
    schema = json.loads((Path(ftm.__file__).parents[3] / "schemas" / "facts.schema.json").read_text())
    known = set(json.dumps(schema).split('"')) & kinds
    assert known == kinds
