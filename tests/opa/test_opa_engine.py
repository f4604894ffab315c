"""The OPA engine against a real OPA server: the same answers as the embedded
engine, and every failure an EngineError, never an allow."""

from __future__ import annotations

import dataclasses
import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.opa.rest import policy_ids, rest
from tos_policy import EngineError, InputError, evaluate, facts_from_document
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.engines.opa import POLICY_ID_PREFIX, OpaEngine, parse_opa_url
from tos_policy.engines.opa_server import OpaServer, free_port, opa_binary
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.records import to_json

pytestmark = pytest.mark.opa

REPO = Path(__file__).resolve().parents[2]
AS_OF = date(2025, 10, 1)
DEFAULT_PROFILE = "terms_of_service"


# --- hand-written step inputs --------------------------------------------------------------------------------


def link(
    kind: str = "shareholding",
    owner_type: str = "company",
    low: int = 0,
    high: int | None = None,
    *,
    low_exclusive: bool = False,
    high_exclusive: bool = False,
    group: int | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "owner_type": owner_type,
        "min": low,
        "min_exclusive": low_exclusive,
        "max": low if high is None else high,
        "max_exclusive": high_exclusive,
        "group": group,
    }


def step(
    entity_type: str = "company",
    headquarters: str | None = "SG",
    jurisdiction: str | None = "SG",
    links: list[dict[str, Any]] | None = None,
    *,
    profile: str = DEFAULT_PROFILE,
    scale: int = 1,
) -> dict[str, Any]:
    """One case: a batch item ({scale, entity, links}) and the profile it is read under."""
    records = []
    for index, record in enumerate(links or []):
        group = index if record["group"] is None else record["group"]
        records.append({"index": index, **record, "group": group})
    return {
        "profile": profile,
        "scale": scale,
        "entity": {"type": entity_type, "headquarters": headquarters, "jurisdiction": jurisdiction},
        "links": records,
    }


def batch(cases: list[dict[str, Any]], reading: str = "lower") -> dict[str, Any]:
    """The engine input for cases that share one profile."""
    (profile,) = {case["profile"] for case in cases}
    items = [{key: value for key, value in case.items() if key != "profile"} for case in cases]
    return {"profile": profile, "reading": reading, "items": items}


STEP_CASES: dict[str, dict[str, Any]] = {
    # Rule 1: restricted roots, unknown countries, entity types
    "root-clean": step("company", "SG", "US"),
    "root-headquarters": step("company", "CN", "SG"),
    "root-jurisdiction": step("company", "SG", "RU"),
    "root-both": step("company", "IR", "KP"),
    "root-offshore-jurisdiction": step("company", "CN", "KY"),
    "root-unknown-headquarters": step("company", None, "SG"),
    "root-unknown-both": step("company", None, None),
    "root-unknown-and-restricted": step("company", None, "CN"),
    "root-unlisted-country-code": step("company", "XK", "GB"),
    "root-person-restricted": step("person", "CN", "CN"),
    "root-person-unknown": step("person", None, None),
    "root-public-body": step("public_body", "RU", "RU"),
    "root-new-type-counts": step("trust", "KP", None),
    "root-field-absent": {**step(), "entity": {"type": "company", "headquarters": "SG"}},
    # Rule 2: stakes, aggregation, ranges
    "stake-exactly-threshold": step(links=[link(low=50)]),
    "stake-just-below": step(links=[link(low=4999)], scale=100),
    "stake-zero": step(links=[link(low=0)]),
    "stake-aggregate-30-20": step(links=[link(low=30), link(low=20)]),
    "stake-aggregate-30-19": step(links=[link(low=30), link(low=19)]),
    "stake-person-not-counted": step(links=[link(low=30), link(owner_type="person", low=30)]),
    "stake-public-body-counts": step(links=[link(owner_type="public_body", low=50)]),
    "stake-band-more-than-25-to-50": step(links=[link(low=25, high=50, low_exclusive=True)]),
    "stake-band-less-than-50": step(links=[link(low=25, high=50, low_exclusive=True, high_exclusive=True)]),
    "stake-range-40-60": step(links=[link(low=40, high=60)]),
    "stake-range-unknown": step(links=[link(low=0, high=100)]),
    "stake-range-plus-exact": step(links=[link(low=10, high=30), link(low=25)]),
    "stake-fine-scale": step(
        links=[link(low=33_333_333_333_333), link(low=16_666_666_666_667, high=20_000_000_000_000)],
        scale=10**12,
    ),
    "stake-fine-scale-below": step(
        links=[link(low=33_333_333_333_333), link(low=16_666_666_666_666)],
        scale=10**12,
    ),
    "stake-same-group": step(links=[link(low=30, group=0), link(low=30, group=0)]),
    # Rule 3: control without shares
    "control-consolidation": step(links=[link("consolidation")]),
    "control-voting-majority": step(links=[link("voting_majority")]),
    "control-board-appointment": step(links=[link("board_appointment")]),
    "control-significant-influence": step(links=[link("significant_influence")]),
    "control-unnamed-kind": step(links=[link("other_control")]),
    "control-by-person": step(links=[link("consolidation", owner_type="person")]),
    "control-two-links": step(links=[link("board_appointment"), link("voting_majority")]),
    # Rule 4: branches
    "branch": step(links=[link("branch")]),
    "branch-of-person": step(links=[link("branch", owner_type="person")]),
    # several rules at once
    "mixed": step(
        "company",
        None,
        "RU",
        [link(low=20), link("branch"), link("significant_influence"), link(low=35, high=40), link("consolidation")],
    ),
    # the other profiles
    "separate-owners-apart": step(links=[link(low=30), link(low=30)], profile="separate_owners"),
    "separate-owners-jointly": step(
        links=[link(low=30, group=0), link(low=30, group=0), link(low=60, group=1)], profile="separate_owners"
    ),
    "exclusive-threshold-equal": step(links=[link(low=25)], profile="exclusive_threshold"),
    "exclusive-threshold-more-than": step(
        links=[link(low=25, high=30, low_exclusive=True)], profile="exclusive_threshold"
    ),
    "exclusive-threshold-above": step(links=[link(low=26)], profile="exclusive_threshold"),
    "all-countries-one": step("company", "CN", "SG", profile="all_countries"),
    "all-countries-both": step("company", "CN", "RU", profile="all_countries"),
    "all-countries-unknown": step("company", None, "CN", profile="all_countries"),
    "all-countries-public-body": step("public_body", "CN", "CN", profile="all_countries"),
    "strict-links": step(
        links=[link("board_appointment"), link("other_control"), link("significant_influence")],
        profile="strict_links",
    ),
}


READINGS = ("lower", "upper")

# An engine difference these tests found: regopy 1.5.2 evaluates `not` inside an
# `every` body wrongly. rules/ avoids the construct; the probe below keeps the
# engine bug visible (strict xfail: it fails the suite once regopy is fixed).
REGOPY_EVERY_NOT = pytest.mark.xfail(
    strict=True,
    reason="regopy 1.5.2 gets `not` inside `every` wrong (rules/ avoids the construct: _any_max_exclusive)",
)


@pytest.mark.parametrize("reading", READINGS)
@pytest.mark.parametrize("case", list(STEP_CASES))
def test_step_results_match_the_embedded_engine(
    case: str, reading: str, opa_engine: OpaEngine, embedded: EmbeddedEngine
) -> None:
    query = batch([STEP_CASES[case]], reading)
    assert opa_engine.decide(query) == embedded.decide(query)


def cases_by_profile(skip: set[tuple[str, str]], reading: str) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for name, case in STEP_CASES.items():
        if (name, reading) not in skip:
            grouped.setdefault(case["profile"], []).append(case)
    return grouped


@pytest.mark.parametrize("reading", READINGS)
def test_whole_batches_match_in_order(reading: str, opa_engine: OpaEngine, embedded: EmbeddedEngine) -> None:
    seen: list[dict[str, Any]] = []
    for cases in cases_by_profile(set(), reading).values():
        expected = embedded.decide(batch(cases, reading))
        assert opa_engine.decide(batch(cases, reading)) == expected
        assert opa_engine.decide(batch(cases[::-1], reading)) == expected[::-1]
        seen += expected
    # The cases are not trivial: both verdicts occur, and every rule gives reasons.
    assert {result["restricted"] for result in seen} == {True, False}
    codes = {reason["code"] for result in seen for reason in result["reasons"]}
    assert codes >= {"RESTRICTED_COUNTRY", "OWNED_BY_RESTRICTED", "CONTROLLED_BY_RESTRICTED", "BRANCH_OF_RESTRICTED"}
    if reading == "upper":
        assert codes >= {"COUNTRY_UNKNOWN", "INFLUENCED_BY_RESTRICTED"}


def test_an_empty_batch_needs_no_server(opa_engine: OpaEngine) -> None:
    assert opa_engine.decide({"profile": DEFAULT_PROFILE, "reading": "lower", "items": []}) == []


def test_a_batch_without_items_is_an_error(opa_engine: OpaEngine) -> None:
    with pytest.raises(EngineError, match="list of items"):
        opa_engine.decide({"profile": DEFAULT_PROFILE, "reading": "lower"})


@pytest.mark.parametrize("reading", READINGS)
def test_an_unknown_profile_gets_the_same_answer(reading: str, opa_engine: OpaEngine, embedded: EmbeddedEngine) -> None:
    # evaluate() refuses unknown profiles before any engine call; the engines must still agree.
    query = batch([step("company", "CN", "CN", profile="no_such_profile")], reading)
    try:
        expected: Any = embedded.decide(query)
    except EngineError:
        expected = EngineError
    if expected is EngineError:
        with pytest.raises(EngineError):
            opa_engine.decide(query)
    else:
        assert opa_engine.decide(query) == expected


# --- the engine difference, and the Rego change that removes it ---------------------------------------------

EVERY_NOT_PROBE = """package ownership

batch := [{"restricted": _all_inclusive(item), "reasons": []} | some item in input.items]

_all_inclusive(item) := true if _every_link_inclusive(item)

_all_inclusive(item) := false if not _every_link_inclusive(item)

_every_link_inclusive(item) if {
\tevery link in item.links {
\t\tnot link.max_exclusive
\t}
}
"""


@REGOPY_EVERY_NOT
def test_regopy_evaluates_not_inside_every_like_opa(scratch_server: OpaServer, variant_rules: RuleSet) -> None:
    probe = with_module(variant_rules, EVERY_NOT_PROBE)
    items = [{"links": [{"max_exclusive": True}]}, {"links": [{"max_exclusive": False}]}, {"links": []}]
    query = {"profile": DEFAULT_PROFILE, "reading": "upper", "items": items}
    engine = OpaEngine(probe, scratch_server.url)
    try:
        by_opa = engine.decide(query)
    finally:
        engine.close()
    assert [result["restricted"] for result in by_opa] == [False, True, True]  # OPA: Rego's meaning
    assert EmbeddedEngine(probe).decide(query) == by_opa


# --- end to end ----------------------------------------------------------------------------------------------


def entity(entity_id: str, headquarters: str | None, jurisdiction: str | None, kind: str = "company") -> dict[str, Any]:
    return {"id": entity_id, "type": kind, "headquarters": headquarters, "jurisdiction": jurisdiction}


def own(owner: str, asset: str, percentage: str | None = None, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"owner": owner, "asset": asset, **extra}
    if percentage is not None:
        record["percentage"] = percentage
    return record


FACT_DOCUMENTS: dict[str, dict[str, Any]] = {
    "example-offshore-subsidiary": json.loads((REPO / "examples" / "offshore-subsidiary.json").read_text()),
    "chain": {
        "entities": [
            entity("cn", "CN", "CN"),
            entity("a", "SG", "SG"),
            entity("b", "GB", "GB"),
            entity("c", "US", "US"),
        ],
        "ownership": [own("cn", "a", "60"), own("a", "b", "50"), own("b", "c", "10")],
    },
    "aggregation": {
        "entities": [
            entity("ru", "RU", "RU"),
            entity("ir", "IR", "KY"),
            entity("sg", "SG", "SG"),
            entity("target", "SG", "SG"),
            entity("other", "GB", "GB"),
        ],
        "ownership": [
            own("ru", "target", "30"),
            own("ir", "target", "25.5"),
            own("sg", "target", "20"),
            own("ru", "other", "24.99"),
            own("ir", "other", "25"),
        ],
    },
    "ranges-and-unknowns": {
        "entities": [
            entity("cn", "CN", None),
            entity("band", "GB", "GB"),
            entity("unknown", None, "SG"),
            entity("child", "SG", "SG"),
            entity("open", "US", "US"),
        ],
        "ownership": [
            own("cn", "band", percentage_min="25", percentage_max="50", min_exclusive=True),
            own("unknown", "child", "100"),
            own("cn", "open"),
        ],
    },
    "control-branch-persons": {
        "entities": [
            entity("person", "CN", "CN", "person"),
            entity("state", "RU", "RU", "public_body"),
            entity("kp", "KP", "KP"),
            entity("held-by-person", "SG", "SG"),
            entity("consolidated", "GB", "GB"),
            entity("influenced", "US", "US"),
            entity("branch", "SG", "SG"),
            entity("other", "SG", "SG"),
        ],
        "ownership": [
            own("person", "held-by-person", "80"),
            own("state", "consolidated", kind="consolidation"),
            own("kp", "influenced", kind="board_appointment"),
            own("kp", "branch", kind="branch"),
            own("state", "other", kind="other_control"),
        ],
    },
    "cycle-and-dates": {
        "entities": [
            entity("cn", "CN", "CN"),
            entity("b", "SG", "SG"),
            entity("c", "SG", "SG"),
            entity("sold", "GB", "GB"),
            entity("bought-later", "GB", "GB"),
        ],
        "ownership": [
            own("cn", "b", "50"),
            own("b", "c", "50"),
            own("c", "b", "10"),
            own("cn", "sold", "90", start_date="2020-01-01", end_date="2025-10-01"),
            own("cn", "bought-later", "90", start_date="2025-10-02"),
        ],
    },
}


def comparable(report_json: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(report_json)
    document.pop("engine")
    return document


@pytest.mark.parametrize("name", list(FACT_DOCUMENTS))
def test_evaluate_end_to_end_matches_the_embedded_engine(
    name: str, profile_name: str, opa_engine: OpaEngine, embedded: EmbeddedEngine, variant_rules: RuleSet
) -> None:
    facts = facts_from_document(FACT_DOCUMENTS[name], file=name)
    by_opa = evaluate(facts, variant_rules, opa_engine, as_of=AS_OF, profile=profile_name)
    by_embedded = evaluate(facts, variant_rules, embedded, as_of=AS_OF, profile=profile_name)
    assert by_opa.engine == "opa"
    assert by_embedded.engine == "regopy"
    assert [(d.entity.id, d.decision, d.reasons, d.paths) for d in by_opa.decisions] == [
        (d.entity.id, d.decision, d.reasons, d.paths) for d in by_embedded.decisions
    ]
    assert comparable(to_json(by_opa)) == comparable(to_json(by_embedded))


def test_the_end_to_end_documents_reach_every_decision(embedded: EmbeddedEngine, variant_rules: RuleSet) -> None:
    seen = set()
    for name, document in FACT_DOCUMENTS.items():
        report = evaluate(facts_from_document(document, file=name), variant_rules, embedded, as_of=AS_OF)
        seen |= {item.decision for item in report.decisions}
    assert seen == {"allow", "deny", "review"}


# The engine difference end to end: a restricted owner holds "more than 25% to
# less than 50%". Under a 50%-or-more rule that can never reach the threshold,
# so the target is allowed (OPA); the embedded engine says review.
BAND_BELOW_THRESHOLD = {
    "entities": [entity("cn", "CN", "CN"), {**entity("target", "GB", "GB"), "disclosure": "full"}],
    "ownership": [
        own("cn", "target", percentage_min="25", percentage_max="50", min_exclusive=True, max_exclusive=True)
    ],
}


def test_a_band_below_the_threshold_is_allowed_by_opa(opa_engine: OpaEngine, variant_rules: RuleSet) -> None:
    facts = facts_from_document(BAND_BELOW_THRESHOLD, file="band")
    report = evaluate(facts, variant_rules, opa_engine, as_of=AS_OF)
    assert {item.entity.id: item.decision for item in report.decisions} == {"cn": "deny", "target": "allow"}


def test_a_band_below_the_threshold_end_to_end(
    profile_name: str,
    opa_engine: OpaEngine,
    embedded: EmbeddedEngine,
    variant_rules: RuleSet,
) -> None:
    facts = facts_from_document(BAND_BELOW_THRESHOLD, file="band")
    by_opa = evaluate(facts, variant_rules, opa_engine, as_of=AS_OF, profile=profile_name)
    by_embedded = evaluate(facts, variant_rules, embedded, as_of=AS_OF, profile=profile_name)
    assert comparable(to_json(by_opa)) == comparable(to_json(by_embedded))


# --- loading the rules -----------------------------------------------------------------------------------------


def test_loading_again_replaces_the_previous_version(opa_server: OpaServer, variant_rules: RuleSet) -> None:
    extra_module = "package tos_policy_extra\n\nanswer := 42\n"
    with_extra = dataclasses.replace(variant_rules, modules={**variant_rules.modules, "extra/extra.rego": extra_module})
    OpaEngine(with_extra, opa_server.url).close()
    ours = {policy for policy in policy_ids(opa_server) if policy.startswith(POLICY_ID_PREFIX)}
    assert ours == {POLICY_ID_PREFIX + path for path in with_extra.modules}
    OpaEngine(variant_rules, opa_server.url).close()
    ours = {policy for policy in policy_ids(opa_server) if policy.startswith(POLICY_ID_PREFIX)}
    assert ours == {POLICY_ID_PREFIX + path for path in variant_rules.modules}
    assert rest(opa_server, "GET", "data/ownership/profiles")["result"] == variant_rules.data["ownership"]["profiles"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8181", ("127.0.0.1", 8181, False)),
        ("http://127.0.0.1:8181/", ("127.0.0.1", 8181, False)),
        (" https://opa.example ", ("opa.example", 443, True)),
        ("http://[::1]:8181", ("[::1]", 8181, False)),
    ],
)
def test_server_urls(url: str, expected: tuple[str, int, bool]) -> None:
    assert parse_opa_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["", "127.0.0.1:8181", "ftp://127.0.0.1", "http://127.0.0.1:8181/v1", "http://u:p@127.0.0.1", "http://h:99999"],
)
def test_bad_server_urls_are_input_errors(url: str, variant_rules: RuleSet) -> None:
    with pytest.raises(InputError, match="--opa-url") as caught:
        OpaEngine(variant_rules, url)
    assert caught.value.exit_code == 2


def test_a_trailing_slash_is_fine(opa_server: OpaServer, variant_rules: RuleSet) -> None:
    engine = OpaEngine(variant_rules, opa_server.url + "/")
    try:
        assert engine.decide(batch([step("company", "CN", "SG")]))[0]["restricted"] is True
    finally:
        engine.close()


# --- failure is never allow ------------------------------------------------------------------------------------


def with_module(rules: RuleSet, source: str) -> RuleSet:
    """The rules with the ownership module replaced by `source`."""
    return dataclasses.replace(rules, modules={"ownership/ownership.rego": source})


def assert_names_url(error: pytest.ExceptionInfo[EngineError], url: str) -> None:
    message = str(error.value)
    assert url in message
    assert "\n" not in message


def test_unreachable_server(variant_rules: RuleSet) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(EngineError, match="cannot reach") as caught:
        OpaEngine(variant_rules, url, timeout=2.0)
    assert_names_url(caught, url)


def test_server_gone_after_loading(start_opa: Callable[[], OpaServer], variant_rules: RuleSet) -> None:
    server = start_opa()
    engine = OpaEngine(variant_rules, server.url, timeout=2.0)
    server.stop()
    with pytest.raises(EngineError, match="cannot reach") as caught:
        engine.decide(batch([step("company", "SG", "SG")]))
    assert_names_url(caught, server.url)


UNDEFINED_OR_MALFORMED = {
    "batch-missing": "package ownership\n\nstep := 1\n",
    "batch-undefined": "package ownership\n\nbatch := input.no_such_field\n",
    "batch-not-a-list": 'package ownership\n\nbatch := "allow"\n',
    "batch-too-short": "package ownership\n\nbatch := []\n",
    "verdict-not-boolean": 'package ownership\n\nbatch := [{"restricted": "no", "reasons": []} | some _ in input.items]\n',
    "verdict-missing": 'package ownership\n\nbatch := [{"reasons": []} | some _ in input.items]\n',
    "reasons-missing": 'package ownership\n\nbatch := [{"restricted": false} | some _ in input.items]\n',
}


@pytest.mark.parametrize("case", list(UNDEFINED_OR_MALFORMED))
def test_undefined_or_malformed_result(case: str, scratch_server: OpaServer, variant_rules: RuleSet) -> None:
    engine = OpaEngine(with_module(variant_rules, UNDEFINED_OR_MALFORMED[case]), scratch_server.url)
    try:
        with pytest.raises(EngineError) as caught:
            engine.decide(batch([step("company", "SG", "SG"), step("company", "US", "US")]))
        assert_names_url(caught, scratch_server.url)
    finally:
        engine.close()


def test_rules_removed_from_the_server_after_loading(scratch_server: OpaServer, variant_rules: RuleSet) -> None:
    engine = OpaEngine(variant_rules, scratch_server.url)
    query = batch([step("company", "SG", "SG")])
    assert engine.decide(query) == [{"restricted": False, "reasons": []}]
    # Modules that import rules/regions first: OPA refuses to leave a module with an undefined function.
    for policy in sorted(policy_ids(scratch_server), key=lambda policy: "regions" in policy):
        rest(scratch_server, "DELETE", f"policies/{policy}")
    with pytest.raises(EngineError, match="undefined") as caught:
        engine.decide(query)
    assert_names_url(caught, scratch_server.url)
    engine.close()


@pytest.fixture
def blocked_socket() -> Iterator[socket.socket]:
    """A socket that listens and never accepts: connections open, requests never get an answer."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield listener
    finally:
        listener.close()


def test_timeout_while_loading(blocked_socket: socket.socket, variant_rules: RuleSet) -> None:
    url = f"http://127.0.0.1:{blocked_socket.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(EngineError, match="timed out") as caught:
        OpaEngine(variant_rules, url, timeout=0.2)
    assert time.monotonic() - started < 5
    assert_names_url(caught, url)


def test_timeout_while_deciding(scratch_server: OpaServer, variant_rules: RuleSet) -> None:
    slow = (
        "package ownership\n\n"
        "batch := [x | some _ in input.items; "
        "x := count([1 | some i in numbers.range(1, 3000); some j in numbers.range(1, 3000)])]\n"
    )
    engine = OpaEngine(with_module(variant_rules, slow), scratch_server.url, timeout=0.2)
    started = time.monotonic()
    try:
        with pytest.raises(EngineError, match="timed out") as caught:
            engine.decide(batch([step()]))
    finally:
        engine.close()
    assert time.monotonic() - started < 5
    assert_names_url(caught, scratch_server.url)


def test_http_error_while_deciding(scratch_server: OpaServer, variant_rules: RuleSet) -> None:
    conflicting = "package ownership\n\nbatch := [true] if input.items\n\nbatch := [false] if input.items\n"
    engine = OpaEngine(with_module(variant_rules, conflicting), scratch_server.url)
    try:
        with pytest.raises(EngineError, match="HTTP 500") as caught:
            engine.decide(batch([step()]))
        assert_names_url(caught, scratch_server.url)
    finally:
        engine.close()


def test_builtin_error_while_deciding_is_an_http_error(scratch_server: OpaServer, variant_rules: RuleSet) -> None:
    # Without strict built-in errors OPA would drop the failing item and the batch would come back short.
    failing = (
        "package ownership\n\n"
        'batch := [{"restricted": to_number(input.profile) > 0, "reasons": []} | some item in input.items]\n'
    )
    engine = OpaEngine(with_module(variant_rules, failing), scratch_server.url)
    try:
        with pytest.raises(EngineError, match=r"HTTP 500.*to_number") as caught:
            engine.decide(batch([step()]))
        assert_names_url(caught, scratch_server.url)
    finally:
        engine.close()


def test_rules_the_server_rejects(scratch_server: OpaServer, variant_rules: RuleSet) -> None:
    with pytest.raises(EngineError, match="load the policy") as caught:
        OpaEngine(with_module(variant_rules, "package ownership\n\nbatch := [x | x := }\n"), scratch_server.url)
    assert_names_url(caught, scratch_server.url)


class NotOpaHandler(http.server.BaseHTTPRequestHandler):
    """Some other web server: every request gets 404."""

    def _not_found(self) -> None:
        body = b'{"code": "not_found", "message": "no such thing"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _not_found

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_http_error_from_a_server_that_is_not_opa(variant_rules: RuleSet) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotOpaHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(EngineError, match="HTTP 404") as caught:
            OpaEngine(variant_rules, url, timeout=2.0)
        assert_names_url(caught, url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_failing_engine_gives_no_report(start_opa: Callable[[], OpaServer], variant_rules: RuleSet) -> None:
    server = start_opa()
    engine = OpaEngine(variant_rules, server.url, timeout=2.0)
    server.stop()
    facts = facts_from_document(FACT_DOCUMENTS["chain"])
    with pytest.raises(EngineError, match="cannot reach"):
        evaluate(facts, variant_rules, engine, as_of=AS_OF)


# --- the command line ------------------------------------------------------------------------------------------


def cli() -> list[str]:
    found = shutil.which("tos-policy")
    return [found] if found else [sys.executable, "-m", "tos_policy.cli.main"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli(), *args], capture_output=True, text=True, timeout=120, check=False, cwd=REPO)


@pytest.mark.parametrize("name", ["example-offshore-subsidiary", "aggregation", "control-branch-persons"])
def test_cli_evaluate_with_opa(name: str, opa_server: OpaServer, tmp_path: Path) -> None:
    facts_file = tmp_path / f"{name}.json"
    facts_file.write_text(json.dumps(FACT_DOCUMENTS[name]))
    common = ["evaluate", str(facts_file), "--as-of", "2025-10-01"]
    by_opa = run_cli(*common, "--engine", "opa", "--opa-url", opa_server.url)
    by_embedded = run_cli(*common)
    assert by_opa.returncode == 0, by_opa.stderr
    assert by_embedded.returncode == 0, by_embedded.stderr
    assert json.loads(by_opa.stdout)["engine"] == "opa"
    assert comparable(by_opa.stdout) == comparable(by_embedded.stdout)
    assert comparable(by_opa.stdout)["decisions"]


def test_cli_with_an_unreachable_server(tmp_path: Path) -> None:
    facts_file = tmp_path / "chain.json"
    facts_file.write_text(json.dumps(FACT_DOCUMENTS["chain"]))
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("evaluate", str(facts_file), "--engine", "opa", "--opa-url", url, "--as-of", "2025-10-01")
    assert result.returncode == 3
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tos-policy: error: opa:")
    assert url in lines[0]


def test_the_opa_binary_is_the_pinned_version() -> None:
    binary = opa_binary()  # fails with "run scripts/build-opa" when missing
    version = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=True, timeout=30)
    assert "Version: 1.22.0" in version.stdout
