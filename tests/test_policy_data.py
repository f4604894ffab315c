"""Exact arithmetic at the threshold, and policy changes made as data only."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tos_policy import evaluate, facts_from_document, load_rules
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.errors import RulesError

from .conftest import AS_OF
from .fixture_rules import fixture_rules_dir

RULES = fixture_rules_dir()  # the shipped Rego with the frozen test profile


def split_stake(*shares: Any, country: str = "CN") -> dict[str, Any]:
    entities = [{"id": "target", "type": "company", "headquarters": "SG", "jurisdiction": "SG", "disclosure": "full"}]
    links = []
    for index, share in enumerate(shares):
        entities.append({"id": f"o{index}", "type": "company", "headquarters": country, "jurisdiction": country})
        links.append({"owner": f"o{index}", "asset": "target", "percentage": share})
    return {"entities": entities, "ownership": links}


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        (("16.67", "16.67", "16.66"), "deny"),
        ((16.67, 16.67, 16.66), "deny"),  # JSON numbers are read as exact decimals too
        (("33.33", "16.66"), "allow"),
        (("49.999999999999",), "allow"),
        (("50",), "deny"),
        (("0.1", "0.2", "49.7"), "deny"),
        (("10.000000000001", "39.999999999999"), "deny"),
    ],
)
def test_threshold_is_compared_exactly(decide: Any, shares: tuple[Any, ...], expected: str) -> None:
    assert decide(split_stake(*shares))["target"] == expected


def test_natural_persons_do_not_count_as_restricted_owners(decide: Any) -> None:
    document = split_stake("60")
    document["entities"][1]["type"] = "person"
    assert decide(document) == {"target": "allow", "o0": "allow"}


def _rules_copy(tmp_path: Path, change: Any) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target, ignore=shutil.ignore_patterns("*_test.rego"))
    profile_file = target / "ownership" / "profiles" / "terms_of_service" / "data.json"
    profile = json.loads(profile_file.read_text())
    change(profile)
    profile_file.write_text(json.dumps(profile))
    return target


def _decide_with(rules_dir: Path, document: dict[str, Any]) -> dict[str, str]:
    rules = load_rules(rules_dir)
    report = evaluate(facts_from_document(document), rules, EmbeddedEngine(rules), as_of=AS_OF)
    return {item.entity.id: item.decision for item in report.decisions}


def test_counting_persons_is_a_one_line_data_change(tmp_path: Path) -> None:
    document = split_stake("60")
    document["entities"][1]["type"] = "person"
    rules_dir = _rules_copy(tmp_path, lambda p: p.update(non_restricting_types=[]))
    assert _decide_with(rules_dir, document) == {"target": "deny", "o0": "deny"}


def test_threshold_and_inclusiveness_are_data(tmp_path: Path) -> None:
    document = split_stake("25")
    assert (
        _decide_with(_rules_copy(tmp_path / "a", lambda p: p.update(threshold_percent=25)), document)["target"]
        == "deny"
    )
    exclusive = _rules_copy(tmp_path / "b", lambda p: p.update(threshold_inclusive=False))
    assert _decide_with(exclusive, split_stake("50"))["target"] == "allow"
    assert _decide_with(exclusive, split_stake("50.01"))["target"] == "deny"


def _with_regions(rules_dir: Path, restricted: list[str], review: list[str]) -> Path:
    regions_file = rules_dir / "regions" / "data.json"
    regions = json.loads(regions_file.read_text())
    regions.update(restricted=restricted, review=review, notes={})
    regions_file.write_text(json.dumps(regions))
    return rules_dir


def test_restricted_list_is_data_in_one_place_for_ownership_and_access(tmp_path: Path) -> None:
    rules_dir = _with_regions(_rules_copy(tmp_path, lambda p: None), ["BY"], [])
    assert _decide_with(rules_dir, split_stake("60", country="BY"))["target"] == "deny"
    clean = split_stake("60", country="CN")
    clean["entities"][1]["disclosure"] = "full"
    assert _decide_with(rules_dir, clean)["target"] == "allow"


def test_review_regions_and_subdivisions_are_data(tmp_path: Path) -> None:
    rules_dir = _with_regions(_rules_copy(tmp_path, lambda p: p.update(review_regions=True)), ["UA-43"], ["BY"])
    document = {
        "entities": [
            {"id": "crimea", "type": "company", "headquarters": "UA-43", "jurisdiction": "UA-43", "disclosure": "full"},
            {"id": "kyiv", "type": "company", "headquarters": "UA-30", "jurisdiction": "UA-30", "disclosure": "full"},
            {"id": "ukraine", "type": "company", "headquarters": "UA", "jurisdiction": "UA", "disclosure": "full"},
            {"id": "minsk", "type": "company", "headquarters": "BY", "jurisdiction": "BY", "disclosure": "full"},
        ]
    }
    assert _decide_with(rules_dir, document) == {
        "crimea": "deny",
        "kyiv": "allow",
        "ukraine": "review",
        "minsk": "review",
    }
    ignoring = _with_regions(_rules_copy(tmp_path / "b", lambda p: p.update(review_regions=False)), ["UA-43"], ["BY"])
    assert _decide_with(ignoring, document)["minsk"] == "allow"


def test_a_second_restricted_list_that_disagrees_is_refused(tmp_path: Path) -> None:
    rules_dir = _with_regions(_rules_copy(tmp_path, lambda p: None), ["CN"], [])
    (rules_dir / "extra").mkdir()
    (rules_dir / "extra" / "data.json").write_text(json.dumps({"restricted_countries": ["CN", "BY"]}))
    with pytest.raises(RulesError) as caught:
        load_rules(rules_dir)
    assert "two lists of restricted regions disagree" in str(caught.value)
    (rules_dir / "extra" / "data.json").write_text(json.dumps({"restricted_countries": ["CN"]}))
    load_rules(rules_dir)  # a list that agrees is allowed


def test_headquarters_only_roots_are_data(tmp_path: Path) -> None:
    document = {"entities": [{"id": "ky", "type": "company", "headquarters": "SG", "jurisdiction": "CN", "disclosure": "full"}]}
    rules_dir = _rules_copy(tmp_path, lambda p: p.update(root_country_fields=["headquarters"]))
    assert _decide_with(rules_dir, document) == {"ky": "allow"}


def test_look_through_is_a_one_line_data_change(tmp_path: Path) -> None:
    """CN 60% of X, X 60% of Y: whole stake denies Y; look-through gives it 36%, allowed."""
    document = split_stake("60")
    document["entities"][0]["id"] = "x"
    document["ownership"][0]["asset"] = "x"
    document["entities"].append({**document["entities"][0], "id": "y"})
    document["ownership"].append({"owner": "x", "asset": "y", "percentage": "60"})
    assert _decide_with(_rules_copy(tmp_path / "a", lambda p: None), document)["y"] == "deny"
    looked = _rules_copy(tmp_path / "b", lambda p: p.update(method="look_through"))
    assert _decide_with(looked, document) == {"x": "deny", "o0": "deny", "y": "allow"}


def test_look_through_without_adding_up_owners_is_refused(tmp_path: Path) -> None:
    rules_dir = _rules_copy(tmp_path, lambda p: p.update(method="look_through", aggregate_owners=False))
    with pytest.raises(RulesError, match=r"terms_of_service/data.json.*aggregate_owners"):
        load_rules(rules_dir)


def test_bad_profile_data_is_rejected_with_file_path_and_value(tmp_path: Path) -> None:
    rules_dir = _rules_copy(tmp_path, lambda p: p.update(threshold_percent="fifty"))
    with pytest.raises(RulesError) as caught:
        load_rules(rules_dir)
    message = str(caught.value)
    assert "terms_of_service/data.json" in message and "$.threshold_percent" in message and "fifty" in message


@pytest.mark.opa  # a module added to the rules: read by OPA (the rules index is out of step)
def test_rules_using_the_network_are_refused(tmp_path: Path) -> None:
    rules_dir = _rules_copy(tmp_path, lambda p: None)
    (rules_dir / "ownership" / "phone_home.rego").write_text(
        'package ownership\n\nleak := http.send({"method": "GET", "url": "http://example.com"})\n'
    )
    with pytest.raises(RulesError) as caught:
        load_rules(rules_dir)
    assert "http.send" in str(caught.value) and "phone_home.rego" in str(caught.value) and "line 3" in str(caught.value)


def test_rule_titles_state_no_value_the_data_holds() -> None:
    """Values in force (a threshold) live in profile data, and the documents put them in: a title
    quoting one would go stale when the data moves."""
    shipped = load_rules(Path(__file__).resolve().parent.parent / "rules")
    titled = {rule_id: info.title for rule_id, info in shipped.rules.items()}
    assert titled and not [title for title in titled.values() if re.search(r"\d\s*%|percent", title, re.IGNORECASE)]
