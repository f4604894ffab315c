"""Numbers are compared as numbers on every in-process engine. rego-cpp 1.5 (the embedded
engine) compares numbers as text in max, min and sort (max([5, 10]) is 5 there): the rules
may not call them (the sandbox refuses it, tests/test_fail_closed.py), and where the rules
take the largest of several values the engines must agree. A fixture profile that does not
add owners up, so rule 5 sets the undisclosed remainder beside the largest group."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from tos_policy.engines import make_engine
from tos_policy.policy.ruleset import RuleSet

from .test_properties import FIXTURE_PROFILE


def _item(first: int, second: int, remainder: int) -> dict[str, Any]:
    """An entity two restricted owners hold apart (groups 0 and 1), the rest of it undisclosed."""

    def stake(index: int, value: int) -> dict[str, Any]:
        return {
            "index": index,
            "kind": "shareholding",
            "owner_type": "company",
            "group": index,
            "min": value,
            "min_exclusive": False,
            "max": value,
            "max_exclusive": False,
        }

    entity = {
        "type": "company",
        "headquarters": "SG",
        "jurisdiction": "SG",
        "disclosure": [],
        "remainder": remainder,
        "remainder_exclusive": False,
        "flags": [],
    }
    return {"scale": 100, "entity": entity, "links": [stake(0, first), stake(1, second)]}


@pytest.mark.parametrize("engine_name", ["embedded", "wasm"])
@pytest.mark.parametrize("first, second", [(56, 4900), (4900, 56), (900, 3000)])
def test_the_largest_group_beside_the_undisclosed_remainder_is_the_largest_number(
    rules: RuleSet, engine_name: str, first: int, second: int
) -> None:
    """The larger group (49% or 30%) with the undisclosed rest reaches 50%: review, never allow.
    As text, "56" > "4900" and "900" > "3000", and the smaller group would have been taken."""
    data = copy.deepcopy(rules.data)
    data["ownership"]["profiles"]["fixture"] = {**FIXTURE_PROFILE, "aggregate_owners": False}
    engine = make_engine(dataclasses.replace(rules, data=data), engine_name)
    remainder = 10_000 - first - second - 3_000  # a person holds 30% more, outside the step
    answer = engine.decide({"profile": "fixture", "reading": "upper", "items": [_item(first, second, remainder)]})
    assert answer[0]["restricted"]
    assert [reason["code"] for reason in answer[0]["reasons"]] == ["OWNERSHIP_UNDISCLOSED"]
    assert answer[0]["reasons"][0]["share_min"] == max(first, second)
