"""Reasons are worded by the rules' METADATA (policy/wording.py): templates per reason code,
words per module, the first usable template of a list, and a generic line otherwise.
Machinery checked with fixture METADATA; the shipped wording is the rules'."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tos_policy.policy.ruleset import RuleInfo, RuleSet
from tos_policy.policy.wording import reason_message


@pytest.fixture(scope="module")
def fixture_rules(rules: RuleSet) -> RuleSet:
    def info(rule_id: str, **custom: Any) -> RuleInfo:
        return RuleInfo(rule_id, f"title {rule_id}", "", None, "fixture.rego", {"rule_id": rule_id, **custom})

    return dataclasses.replace(
        rules,
        rules={
            "FX": info("FX", words={"headquarters": "based in"}),
            "FX-1": info(
                "FX-1",
                messages={
                    "PLACE": ["{entity} is {field_words} {subdivision}.", "{entity} is {field_words} {country}."],
                    "TOTAL": "Owners hold {total} of {entity}: {owners}.",
                    "LIST": "Rules: {rule_ids_list}.",
                    "BROKEN": "{entity} {nowhere}",
                },
            ),
        },
    )


def test_a_template_is_filled_from_the_reason_and_the_modules_words(fixture_rules: RuleSet) -> None:
    reason = {"rule_id": "FX-1", "code": "PLACE", "field": "headquarters", "country": "CN", "subdivision": None}
    assert reason_message(reason, fixture_rules, "e1", "Acme") == "Acme (e1) is based in CN."
    reason["subdivision"] = "UA-43"
    assert reason_message(reason, fixture_rules, "e1") == "e1 is based in UA-43."


def test_totals_owners_and_lists_are_spelled_out(fixture_rules: RuleSet) -> None:
    owners = [{"id": "o1", "name": "Owner", "kind": "shareholding", "percentage_min": "25", "percentage_max": "50",
               "min_exclusive": True, "max_exclusive": False}]
    reason = {"rule_id": "FX-1", "code": "TOTAL", "share_min": "25", "share_max": "50", "owners": owners}
    assert reason_message(reason, fixture_rules, "e1") == (
        "Owners hold more than 25% and at most 50% of e1: Owner (o1) holds more than 25% to at most 50%."
    )
    assert reason_message({"rule_id": "FX-1", "code": "LIST", "rule_ids": ["A", "B"]}, fixture_rules) == "Rules: A, B."


def test_without_a_usable_template_the_reason_is_worded_generically(fixture_rules: RuleSet) -> None:
    assert reason_message({"rule_id": "FX-1", "code": "BROKEN"}, fixture_rules, "e1") == "BROKEN"
    assert reason_message({"rule_id": "FX-9", "code": "OTHER"}, fixture_rules) == "OTHER"
    owners = [{"id": "o1", "kind": "branch"}]
    assert reason_message({"rule_id": "FX-1", "code": "NEW", "owners": owners}, None) == "NEW: o1 (branch)"
