"""Share classes, votes apart from economic rights, and treasury shares.

A link may give its `voting` and `economic` shares apart and a `share_class`; the profile's
`stake_measure` says which counts (economic, voting, or larger: either). Percentages are of
the outstanding shares: treasury shares are left out when the facts give the counts. Stakes
in different classes are weighed by each class's share of all rights and added, never merged
into one range nor summed as if every class weighed the same."""

from __future__ import annotations

import copy
import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from tos_policy import facts_from_document
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.errors import InputError
from tos_policy.facts.load import Share
from tos_policy.facts.reconcile import flags_of, merge_duplicate_stakes
from tos_policy.facts.stakes import read_stakes
from tos_policy.ownership.columnar import ColumnarFixpoint
from tos_policy.ownership.pipeline import DEFAULT_DRIVER, evaluate
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.records import explain_text

from .conftest import AS_OF

CN = {"id": "cn", "type": "company", "headquarters": "CN", "jurisdiction": "CN", "disclosure": "full"}
DUAL_CLASS = [{"name": "A", "economic": 50, "voting": 90}, {"name": "B", "economic": 50, "voting": 10}]


def target(**facts: Any) -> dict[str, Any]:
    return {"id": "t", "type": "company", "headquarters": "DE", "jurisdiction": "DE", "disclosure": "full", **facts}


def document(entity: dict[str, Any], *links: dict[str, Any]) -> dict[str, Any]:
    return {"entities": [CN, entity], "ownership": [{"owner": "cn", "asset": "t", **link} for link in links]}


def read(doc: dict[str, Any]) -> list[tuple[Share, Share | None]]:
    facts = facts_from_document(doc)
    return [(link.share, link.voting) for link in read_stakes(facts.entities, facts.links)]


@pytest.fixture(scope="module")
def measured(rules: RuleSet) -> dict[str, tuple[RuleSet, EmbeddedEngine]]:
    """Rules and engine per stake_measure: the fixture rules with the fixture profile's measure changed."""
    engines = {}
    for measure in ("economic", "voting", "larger"):
        data = copy.deepcopy(rules.data)
        data["ownership"]["profiles"][rules.policy_set["default_profile"]]["stake_measure"] = measure
        changed = dataclasses.replace(rules, data=data)
        engines[measure] = (changed, EmbeddedEngine(changed))
    return engines


def decided(doc: dict[str, Any], pair: tuple[RuleSet, EmbeddedEngine]) -> str:
    report = evaluate(facts_from_document(doc), pair[0], pair[1], as_of=AS_OF)
    return next(item.decision for item in report.decisions if item.entity.id == "t")


def test_treasury_shares_are_left_out_of_the_outstanding_shares(decide: Any) -> None:
    exact = Share(Decimal(50), Decimal(50))
    # 45 of 100 issued, 10 of them treasury shares: 45 of 90 outstanding is 50%.
    assert read(document(target(issued_shares=100, treasury_shares=10), {"shares": 45})) == [(exact, None)]
    # The counts as the link's source gives them.
    assert read(document(target(), {"shares": "45", "issued_shares": 100, "treasury_shares": "10"})) == [(exact, None)]
    # 45% of the issued shares, 10% of them in treasury: 50% of the outstanding ones.
    of_issued = document(target(issued_shares=1000, treasury_shares=100), {"percentage": 45, "percentage_of": "issued"})
    assert read(of_issued) == [(exact, None)]
    assert decide(document(target(issued_shares=100, treasury_shares=10), {"shares": 45}))["t"] == "deny"
    assert decide(document(target(issued_shares=100, treasury_shares=10), {"shares": 44}))["t"] == "allow"
    # Without treasury shares, 45% of the issued shares is 45% of the outstanding ones.
    assert decide(document(target(issued_shares=100), {"percentage": 45, "percentage_of": "issued"}))["t"] == "allow"


def test_a_count_without_the_total_is_unknown_and_a_third_is_never_rounded_across_a_threshold(decide: Any) -> None:
    assert read(document(target(), {"shares": 45})) == [(Share(Decimal(0), Decimal(100)), None)]
    assert decide(document(target(), {"shares": 45}))["t"] == "review"
    ((third, _),) = read(document(target(issued_shares=3), {"shares": 1}))
    assert third.min < Decimal(100) / 3 < third.max and third.min_exclusive and third.max_exclusive
    assert third.max - third.min == Decimal("1e-12")


def test_impossible_counts_name_their_json_path() -> None:
    cases = [
        (document(target(issued_shares=100, treasury_shares=10), {"shares": 91}), "$.ownership[0].shares"),
        (document(target(treasury_shares=10)), "$.entities[1].treasury_shares"),
        (document(target(issued_shares=10, treasury_shares=11)), "$.entities[1].treasury_shares"),
        (document(target(), {"percentage": 10, "shares": 4}), "$.ownership[0].shares"),
        (document(target(), {"economic": 10, "percentage_max": 40}), "$.ownership[0].economic"),
        (
            document(target(share_classes=[{"name": "A", "voting": 70}, {"name": "B", "voting": 40}])),
            "$.entities[1].share_classes",
        ),
        (document(target(share_classes=[{"name": "A"}, {"name": "A"}])), "$.entities[1].share_classes[1].name"),
    ]
    for doc, path in cases:
        with pytest.raises(InputError) as caught:
            facts = facts_from_document(doc, "f.json")
            read_stakes(facts.entities, facts.links)
        assert caught.value.path == path, (doc, str(caught.value))


def test_the_profile_says_which_measure_counts(measured: dict[str, tuple[RuleSet, EmbeddedEngine]]) -> None:
    votes = document(target(), {"economic": 40, "voting": 60})
    assert {measure: decided(votes, engine) for measure, engine in measured.items()} == {
        "economic": "allow",
        "voting": "deny",
        "larger": "deny",
    }
    shares = document(target(), {"economic": 60, "voting": 0})
    assert {measure: decided(shares, engine) for measure, engine in measured.items()} == {
        "economic": "deny",
        "voting": "allow",
        "larger": "deny",
    }
    # One percentage is both: every measure decides alike, as before.
    plain = document(target(), {"percentage": 50})
    assert {decided(plain, engine) for engine in measured.values()} == {"deny"}


def test_a_measure_the_facts_do_not_give_is_unknown(measured: dict[str, tuple[RuleSet, EmbeddedEngine]]) -> None:
    only_shares = document(target(), {"economic": 30})
    assert decided(only_shares, measured["economic"]) == "allow"
    assert decided(only_shares, measured["voting"]) == "review"
    only_votes = document(target(), {"voting": 30})
    assert decided(only_votes, measured["voting"]) == "allow"
    assert decided(only_votes, measured["economic"]) == "review"


def test_classes_are_weighed_not_summed(measured: dict[str, tuple[RuleSet, EmbeddedEngine]]) -> None:
    # 40% of class A and 40% of class B: 40% of the shares and 40% of the votes, never 80%.
    both = document(
        target(share_classes=DUAL_CLASS), {"share_class": "A", "percentage": 40}, {"share_class": "B", "percentage": 40}
    )
    assert read(both) == [
        (Share(Decimal(20), Decimal(20)), Share(Decimal(36), Decimal(36))),
        (Share(Decimal(20), Decimal(20)), Share(Decimal(4), Decimal(4))),
    ]
    assert {decided(both, engine) for engine in measured.values()} == {"allow"}
    # 60% of the class with 90% of the votes: 30% of the shares, 54% of the votes.
    voting_class = document(target(share_classes=DUAL_CLASS), {"share_class": "A", "percentage": 60})
    assert {measure: decided(voting_class, engine) for measure, engine in measured.items()} == {
        "economic": "allow",
        "voting": "deny",
        "larger": "deny",
    }


def test_a_class_the_facts_do_not_weigh_may_weigh_what_the_others_leave(decide: Any) -> None:
    unknown = document(target(), {"share_class": "A", "percentage": 60})
    assert read(unknown) == [(Share(Decimal(0), Decimal(60)), None)]
    assert decide(unknown)["t"] == "review"
    partly = document(
        target(share_classes=[{"name": "A", "economic": 70, "voting": 70}]), {"share_class": "B", "percentage": 100}
    )
    assert read(partly) == [(Share(Decimal(0), Decimal(30)), None)]
    assert decide(partly)["t"] == "allow"


def test_reconciliation_merges_reports_of_one_class_and_adds_different_classes() -> None:
    """The rule: reports of the same owner, asset, kind, joint group and class are one stake (the
    range of what they say); stakes in different classes are different stakes, each weighed by its
    class, and add up. 60% of class A + 60% of class B is 60% of the whole when each class is half."""
    halves = [{"name": "A", "economic": 50, "voting": 50}, {"name": "B", "economic": 50, "voting": 50}]
    doc = document(
        target(share_classes=halves),
        {"share_class": "A", "percentage": 60},
        {"share_class": "A", "percentage": 62},
        {"share_class": "B", "percentage": 60},
    )
    facts = facts_from_document(doc)
    links = merge_duplicate_stakes(read_stakes(facts.entities, facts.links), frozenset({"shareholding"}))
    assert [(link.share_class, link.share) for link in links] == [
        ("A", Share(Decimal(30), Decimal(31))),
        ("B", Share(Decimal(30), Decimal(30))),
    ]
    assert flags_of(links, frozenset({"shareholding"}), ["company"] * len(links), False) == ()  # 60% at least
    raw = facts_from_document(document(target(), {"percentage": 60}, {"percentage": 60}))
    assert flags_of(raw.links, frozenset({"shareholding"}), ["company"] * 2, False) == ("stakes_over_100",)


def test_votes_over_100_percent_are_flagged() -> None:
    # Facts that do not add up review that entity (TOS-OWN-6) instead of refusing the input.
    doc = document(target(), {"economic": 10, "voting": 60}, {"economic": 10, "voting": 60})
    doc["entities"].append({**CN, "id": "cn2"})
    doc["ownership"][1]["owner"] = "cn2"
    facts = facts_from_document(doc)
    links = read_stakes(facts.entities, facts.links)
    assert flags_of(links, frozenset({"shareholding"}), ["company"] * 2, False) == ("stakes_over_100",)


def test_every_plan_reads_votes_alike_and_explain_names_the_measure(rules: RuleSet, engine: EmbeddedEngine) -> None:
    doc = document(target(share_classes=DUAL_CLASS), {"share_class": "A", "percentage": 60})
    doc["entities"].append({**target(), "id": "u"})
    doc["ownership"].append({"owner": "t", "asset": "u", "economic": "33.333", "voting": 55})
    found = [
        {
            item.entity.id: (item.decision, item.reasons)
            for item in evaluate(facts_from_document(doc), rules, engine, as_of=AS_OF, driver=driver).decisions
        }
        for driver in (DEFAULT_DRIVER, ColumnarFixpoint())
    ]
    assert found[0] == found[1]
    report = evaluate(facts_from_document(doc), rules, engine, as_of=date(2026, 1, 1))
    item = next(decision for decision in report.decisions if decision.entity.id == "t")
    assert item.decision == "deny"
    assert "54% of the voting rights of t" in explain_text(report, item)
    assert "holds 30% of the shares and 54% of the votes (through class A shares)" in explain_text(report, item)
