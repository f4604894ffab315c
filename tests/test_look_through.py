"""Method look_through: the effective-share algebra against path enumeration and exact
solutions of cycles, and the decisions it leads to under a fixture look-through profile
(the fixture default profile with method look_through)."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tos_policy import facts_from_document
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.errors import InputError
from tos_policy.facts.load import Entity, Link, Share
from tos_policy.ownership import look_through as look_through_module
from tos_policy.ownership.columnar import ColumnarFixpoint
from tos_policy.ownership.fixpoint import OwnershipGraph, StepCache
from tos_policy.ownership.look_through import Terms, effective_bounds, effective_shares
from tos_policy.ownership.pipeline import decide_prepared, prepare, profile_readings, scope_graph
from tos_policy.ownership.screening import screen
from tos_policy.ownership.steps import Bound, effective_record
from tos_policy.policy.ruleset import RuleSet
from tos_policy.policy.wording import reason_message

from .conftest import AS_OF

TERMS = Terms(frozenset({"shareholding"}), frozenset({"person"}), frozenset({"unknown"}), frozenset({"full"}))
LOOK_THROUGH = "look_through_fixture"
MORE_THAN = "look_through_more_than"  # only more than the threshold restricts


@pytest.fixture(scope="module")
def look_through(rules: RuleSet) -> Iterator[tuple[RuleSet, EmbeddedEngine]]:
    """The fixture rules with a profile that is the default one with method look_through."""
    data = copy.deepcopy(rules.data)
    default = rules.profile(rules.policy_set["default_profile"])
    data["ownership"]["profiles"][LOOK_THROUGH] = {**default, "method": "look_through"}
    data["ownership"]["profiles"][MORE_THAN] = {**default, "method": "look_through", "threshold_inclusive": False}
    variant = dataclasses.replace(rules, data=data)
    engine = EmbeddedEngine(variant)
    yield variant, engine
    engine.close()


def _company(entity_id: str, country: str = "DE") -> dict[str, Any]:
    return {"id": entity_id, "type": "company", "headquarters": country, "jurisdiction": country, "disclosure": "full"}


def _decisions(rules: RuleSet, engine: EmbeddedEngine, document: dict[str, Any], profile: str) -> dict[str, Any]:
    report = decide_prepared(prepare(facts_from_document(document), rules, as_of=AS_OF, profile=profile), engine)
    return {item.entity.id: item for item in report.decisions}


def test_worked_example_whole_stake_denies_where_look_through_allows(
    look_through: tuple[RuleSet, EmbeddedEngine],
) -> None:
    """CN holds 60% of X, X 60% of Y: whole stake, X is restricted and its 60% counts whole;
    look-through, Y is 36% restricted-owned."""
    rules, engine = look_through
    document = {
        "entities": [_company("cn", "CN"), _company("x"), _company("y")],
        "ownership": [
            {"owner": "cn", "asset": "x", "percentage": "60"},
            {"owner": "x", "asset": "y", "percentage": "60"},
        ],
    }
    whole = _decisions(rules, engine, document, str(rules.policy_set["default_profile"]))
    assert [whole[name].decision for name in ("cn", "x", "y")] == ["deny", "deny", "deny"]
    looked = _decisions(rules, engine, document, LOOK_THROUGH)
    assert [looked[name].decision for name in ("cn", "x", "y")] == ["deny", "deny", "allow"]
    (reason,) = looked["x"].reasons
    assert (reason["code"], reason["share_min"], reason["share_max"]) == ("EFFECTIVELY_OWNED_BY_RESTRICTED", "60", "60")
    assert reason_message(reason, rules, "x") == (
        "Restricted organisations hold 60% of x through their holdings, multiplied along each chain and "
        "added up (look-through; threshold 50%)."
    )


def test_cross_holding_cycle_is_solved_exactly(look_through: tuple[RuleSet, EmbeddedEngine]) -> None:
    """A and B own 50% of each other, CN 30% of each: 0.3 + 0.5 * 0.3 + ... = 0.6 exactly, deny
    (whole stake with self-supporting cycles reviewed: review)."""
    rules, engine = look_through
    document = {
        "entities": [_company("cn", "CN"), _company("a"), _company("b")],
        "ownership": [
            {"owner": "a", "asset": "b", "percentage": "50"},
            {"owner": "b", "asset": "a", "percentage": "50"},
            {"owner": "cn", "asset": "a", "percentage": "30"},
            {"owner": "cn", "asset": "b", "percentage": "30"},
        ],
    }
    graph = OwnershipGraph.build(facts_from_document(document).entities, facts_from_document(document).links)
    for reading in ("lower", "upper"):
        shares = effective_shares(graph, {"cn"}, reading=reading, terms=TERMS)
        assert shares["a"] == shares["b"] == Fraction(3, 5)
    looked = _decisions(rules, engine, document, LOOK_THROUGH)
    assert [looked[name].decision for name in ("a", "b")] == ["deny", "deny"]


def test_an_effective_share_just_under_the_threshold_is_allowed_exactly(
    look_through: tuple[RuleSet, EmbeddedEngine],
) -> None:
    """70% x 71.4% = 49.98% (allow); 70% x 71.43% = 50.001% (deny); a share of 4/9 (no finite
    decimal, as cycles give) is bracketed in units, each end marked exclusive, never rounded."""
    rules, engine = look_through
    document = {
        "entities": [_company("cn", "CN"), _company("x"), _company("under"), _company("over")],
        "ownership": [
            {"owner": "cn", "asset": "x", "percentage": "70"},
            {"owner": "x", "asset": "under", "percentage": "71.4"},
            {"owner": "x", "asset": "over", "percentage": "71.43"},
        ],
    }
    looked = _decisions(rules, engine, document, LOOK_THROUGH)
    assert (looked["under"].decision, looked["over"].decision) == ("allow", "deny")
    record = effective_record({"economic": Bound(Fraction(4, 9))}, 10_000)
    assert record == {"min": 444_444, "min_exclusive": True, "max": 444_445, "max_exclusive": True}
    assert effective_record({"economic": Bound(Fraction(1, 2))}, 1) == {
        "min": 50,
        "min_exclusive": False,
        "max": 50,
        "max_exclusive": False,
    }


def test_ranges_and_undisclosed_owners_give_bounds(look_through: tuple[RuleSet, EmbeddedEngine]) -> None:
    """CN 40-80% of X, X 100% of Y: Y's effective share is 40% to 80%, review. An owner whose
    ownership is not disclosed may be restricted for what no known holder holds: in the strict
    reading its undisclosed part passes down the chain, multiplied."""
    rules, engine = look_through
    undisclosed = {"id": "u", "type": "company", "headquarters": "DE", "jurisdiction": "DE"}
    document = {
        "entities": [_company("cn", "CN"), _company("x"), _company("y"), undisclosed, _company("z")],
        "ownership": [
            {"owner": "cn", "asset": "x", "percentage_min": "40", "percentage_max": "80"},
            {"owner": "x", "asset": "y", "percentage": "100"},
            {"owner": "cn", "asset": "z", "percentage": "20"},
            {"owner": "u", "asset": "z", "percentage": "80"},
        ],
    }
    looked = _decisions(rules, engine, document, LOOK_THROUGH)
    # z: 20% known, and up to 80% x 100% of u undisclosed: review, although its own holders are all known.
    assert (looked["y"].decision, looked["z"].decision, looked["u"].decision) == ("review", "review", "review")
    facts = facts_from_document(document)
    graph = OwnershipGraph.build(facts.entities, facts.links)
    lower = effective_shares(graph, {"cn"}, reading="lower", terms=TERMS)
    upper = effective_shares(graph, {"cn"}, reading="upper", terms=TERMS)
    assert (lower["y"], upper["y"]) == (Fraction(2, 5), Fraction(4, 5))
    assert (lower["z"], upper["z"]) == (Fraction(1, 5), Fraction(1))


def test_columnar_plan_refuses_a_look_through_profile(look_through: tuple[RuleSet, EmbeddedEngine]) -> None:
    rules, engine = look_through
    document = {"entities": [_company("cn", "CN")], "ownership": []}
    prepared = prepare(facts_from_document(document), rules, as_of=AS_OF, profile=LOOK_THROUGH)
    with pytest.raises(InputError, match=f"columnar plan cannot decide method look_through .*'{LOOK_THROUGH}'"):
        profile_readings(
            ColumnarFixpoint(),
            scope_graph(prepared),
            engine,
            StepCache(),
            switches=rules.profile(LOOK_THROUGH),
            profile=LOOK_THROUGH,
            batch_size=16,
            max_rounds=100,
        )


def test_screen_decides_look_through_with_the_row_plan_and_refuses_the_columnar_one(
    look_through: tuple[RuleSet, EmbeddedEngine], tmp_path: Path
) -> None:
    rules, _ = look_through
    document = {
        "entities": [_company("cn", "CN"), _company("x"), _company("y")],
        "ownership": [
            {"owner": "cn", "asset": "x", "percentage": "60"},
            {"owner": "x", "asset": "y", "percentage": "60"},
        ],
    }
    facts = facts_from_document(document)
    rows = tmp_path / "rows.jsonl"
    screen(facts, rules, EmbeddedEngine, as_of=AS_OF, out=rows, profile=LOOK_THROUGH)
    decided = {record["entity"]: record["decision"] for record in map(json.loads, rows.read_text().splitlines())}
    assert decided == {"cn": "deny", "x": "deny", "y": "allow"}
    columnar = tmp_path / "columnar.jsonl"
    with pytest.raises(InputError, match="screen with --plan rows"):
        screen(facts, rules, EmbeddedEngine, as_of=AS_OF, out=columnar, profile=LOOK_THROUGH, driver=ColumnarFixpoint())
    assert not columnar.exists()


def test_a_cycle_owning_itself_wholly_is_bounded_not_guessed() -> None:
    """A and B own all of each other: any share solves the equations, so the lenient reading
    reads none and the strict one all of it."""
    entities = {name: Entity(name, "company", disclosure=("full",)) for name in ("cn", "a", "b")}
    links = [_link("a", "b", 100), _link("b", "a", 100)]
    graph = OwnershipGraph.build(entities, links)
    assert effective_shares(graph, {"cn"}, reading="lower", terms=TERMS) == {"cn": 0, "a": 0, "b": 0}
    assert effective_shares(graph, {"cn"}, reading="upper", terms=TERMS)["a"] == 1


# The algebra against references: path enumeration on acyclic graphs, the equations on cyclic ones.


def _link(owner: str, asset: str, low: Any, high: Any = None) -> Link:
    return Link(owner, asset, "shareholding", Share(Decimal(low), Decimal(low if high is None else high)))


@st.composite
def graphs(draw: st.DrawFn, acyclic: bool) -> tuple[OwnershipGraph, frozenset[str]]:
    """Up to 7 entities (some persons), stakes in exact or ranged percentages with each entity's
    stakes adding up to less than 100% at their highest; some organisations count whole. Cyclic
    graphs are fully disclosed (nothing undisclosed to pass on), acyclic ones at random."""
    count = draw(st.integers(1, 7))
    names = [f"e{i}" for i in range(count)]
    types = [draw(st.sampled_from(["company", "company", "person", "unknown"])) for _ in names]
    entities = {
        name: Entity(name, kind, disclosure=("full",) if not acyclic or draw(st.booleans()) else ())
        for name, kind in zip(names, types, strict=True)
    }
    links = []
    for asset_index, asset in enumerate(names):
        owners = names[:asset_index] if acyclic else [name for name in names if name != asset]
        headroom = 99
        for owner in draw(st.lists(st.sampled_from(owners), unique=True, max_size=3)) if owners else []:
            high = draw(st.integers(0, headroom))
            low = draw(st.integers(0, high))
            headroom -= high
            links.append(_link(owner, asset, Decimal(low) / 1, Decimal(high) / 1))
    whole = frozenset(draw(st.lists(st.sampled_from(names), unique=True, max_size=3)))
    return OwnershipGraph.build(entities, links), whole


def _stake(link: Link, reading: str) -> Fraction:
    return Fraction(link.share.min if reading == "lower" else link.share.max) / 100


def _open(graph: OwnershipGraph, entity_id: str, reading: str) -> Fraction:
    entity = graph.entities[entity_id]
    if reading == "lower" or "full" in entity.disclosure:
        return Fraction(0)
    return Fraction(graph.holdings_of(entity_id).remainder()[0]) / 100


def _paths_reference(graph: OwnershipGraph, whole: frozenset[str], reading: str) -> dict[str, Fraction]:
    """Every chain of stakes into each entity, enumerated: it starts at an organisation counting
    whole (weight 1) or at the undisclosed part of any other organisation (strict reading), passes
    only through organisations that do not count whole, and adds the product of its stakes."""
    incoming: dict[str, list[Link]] = {}
    for links in graph.outgoing.values():
        for link in links:
            incoming.setdefault(link.asset, []).append(link)

    def organisation(entity_id: str) -> bool:
        kind = graph.entities[entity_id].type
        return kind == "company" or (kind == "unknown" and reading == "upper")

    def share(entity_id: str) -> Fraction:  # chains ending at entity_id
        total = Fraction(0)
        for link in incoming.get(entity_id, []):
            if not organisation(link.owner):
                continue
            carried = Fraction(1) if link.owner in whole else share(link.owner) + _open(graph, link.owner, reading)
            total += _stake(link, reading) * carried
        return min(total, Fraction(1))  # a strict bound past the whole is the whole

    return {entity_id: share(entity_id) for entity_id in graph.entities}


@settings(max_examples=150, deadline=None)
@given(case=graphs(acyclic=True), reading=st.sampled_from(["lower", "upper"]))
def test_effective_shares_equal_the_sum_over_chains_of_their_products(
    case: tuple[OwnershipGraph, frozenset[str]], reading: str
) -> None:
    graph, whole = case
    assert effective_shares(graph, whole, reading=reading, terms=TERMS) == _paths_reference(graph, whole, reading)


@settings(max_examples=150, deadline=None)
@given(case=graphs(acyclic=False))
def test_effective_shares_of_cyclic_graphs_solve_the_equations_exactly_and_bound_the_truth(
    case: tuple[OwnershipGraph, frozenset[str]],
) -> None:
    """Each entity's stakes add up to less than 100%, so the equations have one solution; it
    satisfies them exactly, lies in [0, 1], and the lenient reading's is at most the strict one's."""
    graph, whole = case
    solved = {reading: effective_shares(graph, whole, reading=reading, terms=TERMS) for reading in ("lower", "upper")}
    for reading, shares in solved.items():
        for entity_id in graph.entities:
            expected = Fraction(0)
            for links in graph.outgoing.values():
                for link in links:
                    kind = graph.entities[link.owner].type
                    if link.asset != entity_id or not (kind == "company" or (kind == "unknown" and reading == "upper")):
                        continue
                    carried = (
                        Fraction(1) if link.owner in whole else shares[link.owner] + _open(graph, link.owner, reading)
                    )
                    expected += _stake(link, reading) * carried
            assert shares[entity_id] == min(expected, Fraction(1))
            assert 0 <= shares[entity_id] <= 1
    assert all(solved["lower"][entity_id] <= solved["upper"][entity_id] for entity_id in graph.entities)


def test_a_large_cycle_is_bounded_from_both_sides_around_its_exact_solution(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ring of 70 companies, each 50% held by the one before and 30% by CN: past the size solved
    by elimination, iteration gives a lower bound in the lenient reading and an upper one in the
    strict reading, within a billionth of the exact share (0.6)."""
    names = [f"r{index}" for index in range(70)]
    entities = {name: Entity(name, "company", disclosure=("full",)) for name in ["cn", *names]}
    links = [_link(names[index - 1], name, 50) for index, name in enumerate(names)]
    links += [_link("cn", name, 30) for name in names]
    graph = OwnershipGraph.build(entities, links)
    lower = effective_shares(graph, {"cn"}, reading="lower", terms=TERMS)
    upper = effective_shares(graph, {"cn"}, reading="upper", terms=TERMS)
    monkeypatch.setattr(look_through_module, "EXACT_COMPONENT", 100)
    exact = effective_shares(graph, {"cn"}, reading="lower", terms=TERMS)
    for name in names:
        assert exact[name] == Fraction(3, 5)
        assert lower[name] <= exact[name] <= upper[name]
        assert upper[name] - lower[name] < Fraction(1, 10**8)


@st.composite
def acyclic_registries(draw: st.DrawFn) -> dict[str, Any]:
    """Up to 7 fully disclosed companies, some Chinese, exact stakes held by earlier ones only,
    each company's stakes adding up to at most 100%."""
    count = draw(st.integers(1, 7))
    entities = [_company(f"c{index}", draw(st.sampled_from(["CN", "DE", "DE", "SG"]))) for index in range(count)]
    links = []
    for index in range(1, count):
        headroom = 100
        for owner in draw(st.lists(st.integers(0, index - 1), unique=True, max_size=3)):
            value = draw(st.integers(0, headroom))
            headroom -= value
            links.append({"owner": f"c{owner}", "asset": f"c{index}", "percentage": str(value)})
    return {"entities": entities, "ownership": links}


@settings(max_examples=60, deadline=None)
@given(document=acyclic_registries())
def test_look_through_decisions_equal_the_threshold_applied_to_the_sum_over_chains(
    look_through: tuple[RuleSet, EmbeddedEngine], document: dict[str, Any]
) -> None:
    """Deny exactly when the company is Chinese or the products of the stakes along every chain
    from a Chinese company, added up, reach the fixture threshold (50%, inclusive); else allow."""
    rules, engine = look_through
    roots = {entity["id"] for entity in document["entities"] if entity["headquarters"] == "CN"}
    held: dict[str, list[tuple[str, Fraction]]] = {}
    for link in document["ownership"]:
        held.setdefault(link["asset"], []).append((link["owner"], Fraction(link["percentage"]) / 100))

    def share(entity_id: str) -> Fraction:
        return sum(
            (stake * (1 if owner in roots else share(owner)) for owner, stake in held.get(entity_id, [])), Fraction(0)
        )

    expected = {
        entity["id"]: "deny" if entity["id"] in roots or share(entity["id"]) >= Fraction(1, 2) else "allow"
        for entity in document["entities"]
    }
    decided = _decisions(rules, engine, document, LOOK_THROUGH)
    assert {entity_id: item.decision for entity_id, item in decided.items()} == expected


def test_a_branch_carries_its_head_offices_share(look_through: tuple[RuleSet, EmbeddedEngine]) -> None:
    """CN holds 45% of H; H's branch B holds 60% of S, CN the other 40%: S is 60% x 45% + 40% = 67%
    restricted-owned (the branch is its head office), deny; B itself, like H, 45%: allow."""
    rules, engine = look_through
    document = {
        "entities": [_company("cn", "CN"), _company("h"), _company("b"), _company("s")],
        "ownership": [
            {"owner": "cn", "asset": "h", "percentage": "45"},
            {"owner": "h", "asset": "b", "kind": "branch"},
            {"owner": "b", "asset": "s", "percentage": "60"},
            {"owner": "cn", "asset": "s", "percentage": "40"},
        ],
    }
    looked = _decisions(rules, engine, document, LOOK_THROUGH)
    assert [looked[name].decision for name in ("h", "b", "s")] == ["allow", "allow", "deny"]
    (reason,) = looked["s"].reasons
    assert (reason["share_min"], reason["share_max"]) == ("67", "67")


def test_excluded_ends_of_stakes_make_the_shares_they_reach_strict(
    look_through: tuple[RuleSet, EmbeddedEngine],
) -> None:
    """Two Chinese companies each hold "more than 25%" of X: more than 50% together, so X is
    restricted even where only more than 50% restricts; one holds "less than 50%" of Y: less than
    50%, so Y is allowed where 50% or more restricts. X holds 80% of Z: more than 40%, strictly."""
    rules, engine = look_through
    band = {"percentage_min": "25", "min_exclusive": True, "percentage_max": "30"}
    document = {
        "entities": [_company("cn1", "CN"), _company("cn2", "CN"), _company("x"), _company("y"), _company("z")],
        "ownership": [
            {"owner": "cn1", "asset": "x", **band},
            {"owner": "cn2", "asset": "x", **band},
            {"owner": "cn1", "asset": "y", "percentage_min": "40", "percentage_max": "50", "max_exclusive": True},
            {"owner": "x", "asset": "z", "percentage": "80"},
        ],
    }
    facts = facts_from_document(document)
    graph = OwnershipGraph.build(facts.entities, facts.links)
    lower = effective_bounds(graph, {"cn1", "cn2"}, reading="lower", terms=TERMS)
    upper = effective_bounds(graph, {"cn1", "cn2"}, reading="upper", terms=TERMS)
    assert lower["x"] == Bound(Fraction(1, 2), above=True) and lower["z"] == Bound(Fraction(2, 5), above=True)
    assert upper["y"] == Bound(Fraction(1, 2), below=True) and upper["x"] == Bound(Fraction(3, 5))
    assert effective_record({"economic": lower["x"]}, 1)["min_exclusive"]
    # Without the excluded ends: x review where only more than 50% restricts, y review where 50% does.
    assert _decisions(rules, engine, document, MORE_THAN)["x"].decision == "deny"
    assert _decisions(rules, engine, document, LOOK_THROUGH)["y"].decision == "allow"
