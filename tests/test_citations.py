"""Every decision cites its facts: each reason and path names where each fact it uses was read
(file, JSON path, and what the record says of its origin), in JSON and in `explain`; a stake
reconciled from several reports cites them all; `screen` keeps its compact records."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from tos_policy import evaluate, load_facts
from tos_policy.cli.main import main
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.policy.ruleset import RuleSet
from tos_policy.reports.records import decision_record, explain_text

AS_OF = "2026-12-01"


def _decided(files: tuple[str, ...], entity: str, rules: RuleSet, engine: EmbeddedEngine) -> tuple[Any, Any]:
    """(JSON record, explain text) of one decision on facts read from several files."""
    report = evaluate(load_facts(list(files)), rules, engine, as_of=date.fromisoformat(AS_OF), entity_ids=[entity])
    (item,) = report.decisions
    return json.loads(json.dumps(decision_record(report, item))), explain_text(report, item)


def _write(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def _two_files(tmp_path: Path) -> tuple[str, str]:
    """A parent in China (first file) holds 60% of a Singapore company (second file) through one
    link, reported twice in the second file (a range); a UK company is held by nobody restricted."""
    companies = _write(
        tmp_path / "companies.json",
        {
            "entities": [
                {"id": "cn-parent", "type": "company", "headquarters": "CN", "jurisdiction": "CN"},
                {"id": "gb-other", "type": "company", "headquarters": "GB", "jurisdiction": "GB", "disclosure": "full"},
            ]
        },
    )
    register = _write(
        tmp_path / "register.json",
        {
            "entities": [
                {"id": "sg-sub", "type": "company", "headquarters": "SG", "jurisdiction": "SG", "disclosure": "full"},
            ],
            "ownership": [
                {"owner": "gb-other", "asset": "sg-sub", "percentage": 10},
                {"owner": "cn-parent", "asset": "sg-sub", "percentage": 60},
                {
                    "owner": "cn-parent",
                    "asset": "sg-sub",
                    "percentage": 62,
                    "source": {"publisher": "Registry X", "file": "notice.json", "record": 7, "id": "notice-7"},
                },
            ],
        },
    )
    return companies, register


def _run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_json_reasons_and_paths_cite_the_file_and_record_of_each_fact(
    tmp_path: Path, rules: RuleSet, engine: EmbeddedEngine
) -> None:
    companies, register = _two_files(tmp_path)
    decision, _ = _decided((companies, register), "sg-sub", rules, engine)
    assert decision["decision"] == "deny"
    (reason,) = decision["reasons"]
    (owner,) = reason["owners"]
    assert owner["id"] == "cn-parent"
    # the stake reported twice is one stake (60-62%), citing both reports, the second with its origin
    assert owner["sources"] == [
        {"file": register, "at": "$.ownership[1]"},
        {
            "file": register,
            "at": "$.ownership[2]",
            "source": [{"publisher": "Registry X", "file": "notice.json", "record": 7, "id": "notice-7"}],
        },
    ]
    (path,) = decision["path_sources"]
    assert path["root"] == {"entity": "cn-parent", "sources": [{"file": companies, "at": "$.entities[0]"}]}
    assert [(hop["owner"], hop["asset"]) for hop in path["links"]] == [("cn-parent", "sg-sub")]
    assert path["links"][0]["sources"] == owner["sources"]


def test_a_root_reason_cites_the_record_its_country_was_read_from(
    tmp_path: Path, rules: RuleSet, engine: EmbeddedEngine
) -> None:
    companies, register = _two_files(tmp_path)
    decision, _ = _decided((companies, register), "cn-parent", rules, engine)
    assert {reason["field"] for reason in decision["reasons"]} == {"headquarters", "jurisdiction"}
    for reason in decision["reasons"]:
        assert reason["sources"] == [{"file": companies, "at": "$.entities[0]"}]


def test_explain_prints_where_each_fact_was_read(tmp_path: Path, rules: RuleSet, engine: EmbeddedEngine) -> None:
    companies, register = _two_files(tmp_path)
    _, text = _decided((companies, register), "sg-sub", rules, engine)
    assert f"cn-parent -> sg-sub read from: {register} $.ownership[1]" in text
    assert f"{register} $.ownership[2] (published by Registry X, from notice.json record 7, id notice-7)" in text
    assert f"cn-parent read from: {companies} $.entities[0]" in text


def test_the_explain_command_cites_its_facts_file(tmp_path: Path) -> None:
    facts = _write(
        tmp_path / "facts.json",
        {
            "entities": [
                {"id": "ru", "type": "company", "headquarters": "RU", "jurisdiction": "RU"},
                {"id": "de", "type": "company", "headquarters": "DE", "jurisdiction": "DE", "disclosure": "full"},
            ],
            "ownership": [{"owner": "ru", "asset": "de", "percentage": 70}],
        },
    )
    text = _run("explain", facts, "--as-of", AS_OF, "--entity", "de").stdout
    assert f"ru -> de read from: {facts} $.ownership[0]" in text
    assert f"ru read from: {facts} $.entities[0]" in text


def test_screen_keeps_its_compact_records(tmp_path: Path) -> None:
    companies, register = _two_files(tmp_path)
    out = tmp_path / "decisions.jsonl"
    _run("screen", companies, register, "--as-of", AS_OF, "--out", str(out))
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert all("path_sources" not in record for record in records)
    assert all("sources" not in owner for record in records for r in record["reasons"] for owner in r.get("owners", []))


def test_imported_facts_cite_their_statement_ids(tmp_path: Path) -> None:
    """BODS statements through the importer and evaluate: the decision names the statements."""
    source = Path(__file__).parent / "data" / "external" / "data-standard" / "indirect-ownership.json"
    imported = tmp_path / "facts.json"
    _run("import", "bods", str(source), "-o", str(imported))
    document = json.loads(imported.read_text())
    parent = next(entity for entity in document["entities"] if entity["name"] == "Company B")
    parent["headquarters"] = "CN"  # make the parent restricted: its 60% of Company A then restricts
    _write(imported, document)
    out = _run("evaluate", str(imported), "--as-of", AS_OF).stdout
    decision = next(item for item in json.loads(out)["decisions"] if item.get("name") == "Company A")
    (reason,) = [reason for reason in decision["reasons"] if reason["code"] == "OWNED_BY_RESTRICTED"]
    (cited,) = reason["owners"][0]["sources"]
    assert cited["source"][0]["statementId"] == "7fff3986-233f-413f-bec8-3b28c62a4a51"
    assert cited["source"][0]["format"] == "bods" and cited["source"][0]["file"] == str(source)
    assert cited["source"][0]["publisher"] == "XXXXXXXXX"  # the statement's publicationDetails
    roots = [path["root"] for path in decision["path_sources"]]
    assert roots[0]["sources"][0]["source"][0]["statementId"] == "e2bbe3ce-f5b4-42d0-bb68-9b405e8fd6a0"


def test_one_legal_person_recorded_in_two_files_cites_both_records(
    tmp_path: Path, rules: RuleSet, engine: EmbeddedEngine
) -> None:
    lei = [{"scheme": "LEI", "id": "5493001KJTIIGC8Y1R12"}]
    first = _write(
        tmp_path / "first.json",
        {
            "entities": [
                {"id": "cn-a", "type": "company", "headquarters": "CN", "jurisdiction": "CN", "identifiers": lei}
            ]
        },
    )
    second = _write(
        tmp_path / "second.json",
        {
            "entities": [
                {"id": "cn-b", "type": "company", "headquarters": "CN", "jurisdiction": "CN", "identifiers": lei},
                {"id": "sg", "type": "company", "headquarters": "SG", "jurisdiction": "SG", "disclosure": "full"},
            ],
            "ownership": [{"owner": "cn-b", "asset": "sg", "percentage": 60}],
        },
    )
    decision, _ = _decided((first, second), "sg", rules, engine)
    (path,) = decision["path_sources"]
    assert path["root"]["sources"] == [
        {"file": first, "at": "$.entities[0]"},
        {"file": second, "at": "$.entities[0]"},
    ]
    assert path["links"][0]["sources"] == [{"file": second, "at": "$.ownership[0]"}]


def test_an_allow_states_what_restricted_owners_hold_against_the_threshold(tmp_path: Path, rules: RuleSet) -> None:
    threshold = int(rules.profile(str(rules.policy_set["default_profile"]))["threshold_percent"])
    held = threshold - 5
    facts = _write(
        tmp_path / "facts.json",
        {
            "entities": [
                {"id": "cn", "type": "company", "headquarters": "CN", "jurisdiction": "CN"},
                {"id": "de", "type": "company", "headquarters": "DE", "jurisdiction": "DE", "disclosure": "full"},
            ],
            "ownership": [{"owner": "cn", "asset": "de", "percentage": held}],
        },
    )
    (decision,) = json.loads(_run("evaluate", facts, "--as-of", AS_OF, "--entity", "de").stdout)["decisions"]
    assert decision["decision"] == "allow"
    (below,) = [note for note in decision["considered"] if note["code"] == "BELOW_THRESHOLD"]
    assert (below["share_min"], below["share_max"], below["threshold_percent"]) == (str(held), str(held), threshold)
    assert below["owners"][0]["sources"] == [{"file": facts, "at": "$.ownership[0]"}]
    text = _run("explain", facts, "--as-of", AS_OF, "--entity", "de").stdout
    assert "Considered:" in text
    assert f"hold {held}% of de together, below the threshold of {threshold}%: cn holds {held}%." in text
    assert f"cn -> de read from: {facts} $.ownership[0]" in text


def test_an_allow_names_the_undisclosed_part_of_its_ownership(tmp_path: Path, rules: RuleSet) -> None:
    threshold = int(rules.profile(str(rules.policy_set["default_profile"]))["threshold_percent"])
    facts = _write(
        tmp_path / "facts.json",
        {
            "entities": [
                {"id": "us", "type": "company", "headquarters": "US", "jurisdiction": "US", "disclosure": "full"},
                {"id": "de", "type": "company", "headquarters": "DE", "jurisdiction": "DE"},
            ],
            "ownership": [{"owner": "us", "asset": "de", "percentage": 100 - threshold + 10}],
        },
    )
    (decision,) = json.loads(_run("evaluate", facts, "--as-of", AS_OF, "--entity", "de").stdout)["decisions"]
    assert decision["decision"] == "allow"
    codes = {note["code"] for note in decision["considered"]}
    assert {"NO_RESTRICTED_STAKE", "UNDISCLOSED_BELOW_THRESHOLD", "COUNTRY_NOT_RESTRICTED"} <= codes
    (missing,) = [note for note in decision["considered"] if note["code"] == "UNDISCLOSED_BELOW_THRESHOLD"]
    assert missing["undisclosed"] == str(threshold - 10)


def test_decide_cites_the_facts_of_the_organisations_ownership_reasons() -> None:
    examples = Path(__file__).resolve().parent.parent / "examples" / "access"
    request, facts = str(examples / "subsidiary-request.json"), str(examples / "facts.json")
    args = ("decide", request, "--facts", facts, "--as-of", AS_OF)
    text = _run(*args, "--format", "text").stdout
    assert f"(cn-parent) -> Lion City Trading Pte Ltd (sg-trading) read from: {facts} $.ownership[0]" in text
    assert f"Shenzhen Parent Co (cn-parent) read from: {facts} $.entities[2]" in text
    record = json.loads(_run(*args, "--format", "json").stdout)
    (reason,) = [item for item in record["organisation"]["reasons"] if item["code"] == "OWNED_BY_RESTRICTED"]
    assert reason["owners"][0]["sources"] == [{"file": facts, "at": "$.ownership[0]"}]
    assert record["organisation"]["path_sources"][0]["root"]["entity"] == "cn-parent"
