"""Every mistake on the command line or in a value is one line naming what and where,
with exit 2: no traceback, no usage block, no lenient reading of a number, date or stake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tos_policy.cli.main import main
from tos_policy.limits import Limits
from tos_policy.schema_check import ecma_pattern, validator_for

ROOT = Path(__file__).resolve().parent.parent
CHAIN = str(ROOT / "examples" / "chain.json")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def one_line_exit_2(args: list[str], *named: str) -> str:
    code, out, err = run(*args)
    assert code == 2, (code, out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "Usage:" not in err
    for text in named:
        assert text in err, err
    return err


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-seconds", "1e10"),
        ("--max-seconds", "inf"),
        ("--max-seconds", "nan"),
        ("--max-seconds", "0"),
        ("--timeout", "inf"),
        ("--timeout", "nan"),
        ("--timeout", "-1"),
        ("--timeout", "1e300"),
        ("--as-of", "2025-W40-3"),
        ("--as-of", "20251001"),
        ("--as-of", "2025-10-01T00:00"),
        ("--as-of", "2025-02-30"),
        ("--as-of", "\uff12\uff10\uff12\uff15-\uff11\uff10-\uff10\uff11"),  # full-width digits
    ],
)
@pytest.mark.parametrize("command", ["evaluate", "explain"])
def test_bad_option_values_are_refused_when_parsed(command: str, option: str, value: str) -> None:
    extra = ["--entity", "nl-opco"] if command == "explain" else []
    one_line_exit_2([command, CHAIN, *extra, option, value], option, repr(value))


@pytest.mark.parametrize("command", ["screen", "decide"])
def test_other_commands_take_only_iso_dates(command: str) -> None:
    one_line_exit_2([command, CHAIN, "--as-of", "2025-W40-3"], "--as-of", "2025-W40-3")


def test_a_good_date_and_long_limits_are_taken() -> None:
    code, out, err = run("evaluate", CHAIN, "--as-of", "2025-10-01", "--max-seconds", "86400", "--timeout", "60")
    assert code == 0, err
    assert json.loads(out)["as_of"] == "2025-10-01"


def test_limits_refuse_time_past_what_timers_take() -> None:
    with pytest.raises(Exception, match="at most"):
        Limits(max_seconds=1e10)


def test_directory_as_decision_log_is_one_line(tmp_path: Path) -> None:
    one_line_exit_2(["evaluate", CHAIN, "--decision-log", str(tmp_path)], "--decision-log", str(tmp_path))


def test_unknown_option_is_one_line() -> None:
    one_line_exit_2(["evaluate", CHAIN, "--no-such-option"], "--no-such-option")


@pytest.mark.parametrize("stake", ["50\n", "50\r\n", " 50", "50 ", "5O", "50.\n"])
def test_a_stake_with_anything_around_the_number_is_refused(tmp_path: Path, stake: str) -> None:
    facts = {
        "entities": [
            {"id": "a", "type": "company", "headquarters": "US"},
            {"id": "b", "type": "company", "headquarters": "RU"},
        ],
        "ownership": [{"owner": "b", "asset": "a", "percentage": stake}],
    }
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts))
    one_line_exit_2(["evaluate", str(path), "--as-of", "2025-10-01"], str(path), "$.ownership[0].percentage")
    lines = tmp_path / "facts.jsonl"
    lines.write_text("\n".join(json.dumps(record) for record in [*facts["entities"], *facts["ownership"]]) + "\n")
    one_line_exit_2(["screen", str(lines), "--as-of", "2025-10-01"], str(lines), "line 3", "percentage")


def test_schema_patterns_end_where_the_text_ends() -> None:
    assert ecma_pattern(r"^[A-Z]{2}$") == r"^[A-Z]{2}\Z"
    assert ecma_pattern(r"^a\$[$]$") == r"^a\$[$]\Z"
    validator = validator_for({"type": "string", "pattern": "^[A-Z]{2}$"})
    assert validator.is_valid("US")
    assert not validator.is_valid("US\n")
    dates = validator_for({"type": "string", "format": "date"})
    assert dates.is_valid("2025-10-01")
    assert not dates.is_valid("2025-W40-3")


# --- Importers: wrongly typed records and XML with a DTD


@pytest.mark.parametrize(
    ("record", "place"),
    [
        ([{"LEI": "529900T8BM49AURSDO55", "Entity": "not an object"}], "$[0].Entity"),
        (
            [{"LEI": "529900T8BM49AURSDO55", "Entity": {"LegalName": {"name": "x"}, "LegalAddress": "US"}}],
            "$[0].Entity.",
        ),
        ({"data": [{"type": "lei-records", "attributes": ["not", "an", "object"]}]}, "line 1 $.data[0].attributes"),
        (
            {"data": [{"type": "lei-records", "attributes": {"entity": {"legalName": "text, not an object"}}}]},
            "line 1 $.data[0].attributes.entity.legalName",
        ),
        ([{"Relationship": "not an object"}], "$[0].Relationship"),
        (
            [{"Relationship": {"StartNode": ["x"], "EndNode": 7, "RelationshipType": "IS_DIRECTLY_CONSOLIDATED_BY"}}],
            "$[0].Relationship.",
        ),
    ],
)
def test_wrongly_typed_gleif_records_are_bad_input(tmp_path: Path, record: object, place: str) -> None:
    """Named by file and JSON path (the one location format), never `record N` or an AttributeError."""
    source = tmp_path / "gleif.json"
    source.write_text(json.dumps(record))
    code, out, err = run("import", "gleif", str(source), "-o", str(tmp_path / "out.json"))
    assert code == 2 and out == "", (code, out, err)
    first = err.strip().splitlines()[0]  # the invalid records, then a count (importers list every one)
    assert str(source) in first and f": {place}" in first, err
    assert "internal error" not in err and "record 1" not in err and "Traceback" not in err
    assert not (tmp_path / "out.json").exists()


LEI_NS = "http://www.gleif.org/data/schema/leidata/2016"
DTD_XML = {
    "entity bomb": '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    f'<LEIData xmlns="{LEI_NS}">&lol3;</LEIData>',
    "external entity": f'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><LEIData xmlns="{LEI_NS}">&e;</LEIData>',
    "a bare DTD": f'<!DOCTYPE LEIData><LEIData xmlns="{LEI_NS}"></LEIData>',
}


@pytest.mark.parametrize("name", sorted(DTD_XML))
def test_xml_with_a_dtd_is_refused_for_what_it_is(tmp_path: Path, name: str) -> None:
    source = tmp_path / "gleif.xml"
    source.write_text('<?xml version="1.0"?>\n' + DTD_XML[name])
    err = one_line_exit_2(["import", "gleif", str(source), "-o", str(tmp_path / "out.json")], str(source))
    assert "document type declaration" in err and "truncated" not in err


def test_only_xml_that_ends_early_looks_truncated(tmp_path: Path) -> None:
    source = tmp_path / "gleif.xml"
    source.write_text(f'<?xml version="1.0"?>\n<LEIData xmlns="{LEI_NS}"><LEIRecords>')
    assert "looks truncated" in one_line_exit_2(["import", "gleif", str(source), "-o", str(tmp_path / "o.json")])
    source.write_text(f'<?xml version="1.0"?>\n<LEIData xmlns="{LEI_NS}"><a></b></LEIData>')
    err = one_line_exit_2(["import", "gleif", str(source), "-o", str(tmp_path / "o.json")], "mismatched tag")
    assert "truncated" not in err


# --- Engine answers that cite links the step does not have


@pytest.mark.parametrize("cited", [[99], [-1], [True], ["0"], "0", [0.0]])
def test_an_engine_citing_a_link_the_step_lacks_is_an_engine_error(
    monkeypatch: pytest.MonkeyPatch, cited: object
) -> None:
    from tos_policy.cli import main as cli_main
    from tos_policy.engines.embedded import EmbeddedEngine

    class Lying(EmbeddedEngine):
        def decide(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
            results = super().decide(batch)
            for result in results:
                for reason in result["reasons"]:
                    if "links" in reason:
                        reason["links"] = cited
            return results

    monkeypatch.setattr(cli_main, "make_engine", lambda choice, rules: Lying(rules))
    code, out, err = run("evaluate", CHAIN, "--as-of", "2025-10-01")
    assert code == 3 and out == "", (code, err)
    assert len(err.strip().splitlines()) == 1 and "cited links" in err


def test_a_bare_group_still_shows_its_help() -> None:
    result = CliRunner().invoke(main, [])
    assert "Usage: " in result.output and "Commands:" in result.output
    assert "error" not in result.output
