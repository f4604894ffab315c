"""The reference profiles (OFAC, OFSI and EU style) are pure rule data that validate
against schemas/profile.schema.json and differ from the terms exactly where they should."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tos_policy.resources import schema

PROFILES = Path(__file__).resolve().parent.parent.parent / "rules" / "ownership" / "profiles"


@pytest.mark.parametrize("name", sorted(path.parent.name for path in PROFILES.glob("*/data.json")))
def test_profile_validates(name: str) -> None:
    Draft202012Validator(schema("profile")).validate(json.loads((PROFILES / name / "data.json").read_text()))


def _split(*owners: tuple[str, str, str | None]) -> dict[str, Any]:
    # "t" declares its owners complete: these cases are about thresholds and aggregation, not disclosure.
    entities = [{"id": "t", "type": "company", "headquarters": "GB", "jurisdiction": "GB", "disclosure": "full"}]
    links = []
    for index, (percentage, country, jointly) in enumerate(owners):
        entities.append({"id": f"o{index}", "type": "company", "headquarters": country, "jurisdiction": country})
        link: dict[str, Any] = {"owner": f"o{index}", "asset": "t", "percentage": percentage}
        if jointly:
            link["acting_jointly"] = jointly
        links.append(link)
    return {"entities": entities, "ownership": links}


@pytest.mark.parametrize(
    ("owners", "expected"),
    [
        # exactly 50% by one restricted owner: OFAC's "50 percent or more" catches it, OFSI's "more than 50%" not
        ((("50", "RU", None),), {"terms_of_service": "deny", "ofac": "deny", "ofsi": "allow", "eu": "deny"}),
        # 30% + 25% by two unconnected restricted owners: aggregated by OFAC and the terms, not by OFSI
        (
            (("30", "CN", None), ("25", "RU", None)),
            {"terms_of_service": "deny", "ofac": "deny", "ofsi": "allow", "eu": "deny"},
        ),
        # ...unless they act jointly
        (
            (("30", "CN", "g"), ("25", "RU", "g")),
            {"terms_of_service": "deny", "ofac": "deny", "ofsi": "deny", "eu": "deny"},
        ),
    ],
)
def test_threshold_and_aggregation_per_profile(decide: Any, owners: Any, expected: dict[str, str]) -> None:
    for profile, decision in expected.items():
        assert decide(_split(*owners), profile=profile)["t"] == decision, profile


def test_control_without_shares_per_profile(decide: Any) -> None:
    document = _split(("10", "CN", None))
    document["ownership"].append({"owner": "o0", "asset": "t", "kind": "voting_majority"})
    assert decide(document, profile="terms_of_service")["t"] == "deny"
    assert decide(document, profile="ofsi")["t"] == "deny"
    assert decide(document, profile="eu")["t"] == "deny"
    assert decide(document, profile="ofac")["t"] == "allow"  # control alone does not restrict under OFAC
