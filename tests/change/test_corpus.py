"""The decision corpus: the shipped rules give exactly the decisions in expected.json.

This is where what the shipped policy decides is pinned: expected.json is case data that
`tos-policy corpus --update` rewrites, never a value written into a test."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tos_policy.policy.ruleset import RuleSet, load_rules
from tos_policy.release.corpus import corpus_dir, decide_corpus, evaluate_sets, load_corpus, mismatches

from .conftest import CORPUS_DECISIONS, CORPUS_FILES, CORPUS_REQUESTS, ROOT, run


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules(ROOT / "rules")


def test_the_rules_give_exactly_the_expected_decisions(shipped: RuleSet) -> None:
    corpus = load_corpus(corpus_dir(ROOT), ROOT)
    outcomes = decide_corpus(corpus, shipped)
    assert mismatches(corpus, outcomes) == []
    decided = {label: {item.entity.id for item in report.decisions} for label, report in outcomes.reports.items()}
    assert {label.rsplit("/", 1)[1]: ids for label, ids in decided.items()} == {
        name: set(decisions) for name, decisions in corpus.expected.items()
    }
    requests = {label: {item.request_id for item in items} for label, items in outcomes.access.items()}
    assert {label.rsplit("/", 1)[1]: ids for label, ids in requests.items()} == {
        name: set(decisions) for name, decisions in corpus.expected_access.items()
    }


def test_the_corpus_covers_every_outcome_and_rule(shipped: RuleSet) -> None:
    corpus = load_corpus(corpus_dir(ROOT), ROOT)
    outcomes = Counter(decision for decisions in corpus.expected.values() for decision in decisions.values())
    assert set(outcomes) == {"allow", "deny", "review"}
    reports = evaluate_sets(corpus.fact_sets, shipped, as_of=corpus.as_of)
    cited = {reason["rule_id"] for report in reports.values() for item in report.decisions for reason in item.reasons}
    numbered = {rule_id for rule_id in shipped.rules if re.fullmatch(r"TOS-OWN-[0-9]+", rule_id)}
    assert len(numbered) >= 6 and cited == numbered  # every numbered ownership rule the rules have


def test_the_access_cases_cover_every_outcome_and_access_rule(shipped: RuleSet) -> None:
    corpus = load_corpus(corpus_dir(ROOT), ROOT)
    outcomes = Counter(decision for decisions in corpus.expected_access.values() for decision in decisions.values())
    assert set(outcomes) == {"allow", "deny", "review"}
    decided = decide_corpus(corpus, shipped).access
    cited = {reason["rule_id"] for items in decided.values() for item in items for reason in item.reasons}
    # Rule 6 (unknown country signals) has no effect in the shipped access policy, so no case can cite it.
    assert {"TOS-ACC-1", "TOS-ACC-2", "TOS-ACC-3", "TOS-ACC-4", "TOS-ACC-5"} <= cited


def test_the_corpus_command_checks_it() -> None:
    code, out, err = run("corpus", "--dir", str(ROOT / "tests" / "corpus"), "--rules", str(ROOT / "rules"))
    assert code == 0, err
    assert out.startswith(f"corpus: {CORPUS_FILES} files, {CORPUS_DECISIONS + CORPUS_REQUESTS} decisions as expected")
