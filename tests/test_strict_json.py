"""One strict JSON reader (tos_policy.jsonio) for every command and every JSON it reads.

A duplicate key, NaN, Infinity, -Infinity or a number too large for a double is refused
by `evaluate`, `explain`, `validate`, `screen` (JSON and JSON Lines), `decide` (request and
facts), the importers, the rules' data (profiles, exceptions) and engine answers: exit 2
(3 for an engine), nothing on stdout, one line naming the file, the line or JSON path and
the value, in one location format. SECURITY.md promise 1."""

from __future__ import annotations

import ast
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tos_policy import jsonio
from tos_policy.cli.main import main
from tos_policy.errors import EngineError, InputError
from tos_policy.resources import REPO_ROOT, default_rules_dir

AS_OF = "2025-10-01"
PREFIX = "tos-policy: error: "

# An entity and a link each read as harmless if the reader keeps the last of two keys.
ENTITY = '{"id": "cn-co", "type": "company", "headquarters": "CN", "jurisdiction": "CN"}'
TARGET = '{"id": "target", "type": "company", "headquarters": "SG", "jurisdiction": "SG"}'
LINK = '{"owner": "cn-co", "asset": "target", "percentage": 60}'

# fault: (edit of the entity line, edit of the link line, location key, value shown)
FAULTS = {
    "duplicate country": (
        ENTITY.replace('"jurisdiction": "CN"', '"jurisdiction": "CN", "headquarters": "US"'),
        LINK,
        ("entity", "headquarters"),
        "'headquarters'",
    ),
    "duplicate percentage": (
        ENTITY,
        LINK.replace("60}", '60, "percentage": 10}'),
        ("link", "percentage"),
        "'percentage'",
    ),
    "duplicate owner": (ENTITY, LINK.replace('"asset"', '"owner": "target", "asset"'), ("link", "owner"), "'owner'"),
    "NaN": (ENTITY, LINK.replace("60", "NaN"), ("link", "percentage"), "'NaN'"),
    "Infinity": (ENTITY, LINK.replace("60", "Infinity"), ("link", "percentage"), "'Infinity'"),
    "-Infinity": (ENTITY, LINK.replace("60", "-Infinity"), ("link", "percentage"), "'-Infinity'"),
    "1e999": (ENTITY, LINK.replace("60", "1e999"), ("link", "percentage"), "'1e999'"),
    "huge integer": (ENTITY, LINK.replace("60", "9" * 400), ("link", "percentage"), "'999999999"),
}


def _document(entity: str, link: str) -> str:
    return f'{{"entities": [{entity}, {TARGET}], "ownership": [{link}]}}\n'


def _lines(entity: str, link: str) -> str:
    return f"{entity}\n{TARGET}\n{link}\n"


def _document_location(where: tuple[str, str]) -> str:
    record, key = where
    return f"$.entities[0].{key}" if record == "entity" else f"$.ownership[0].{key}"


def _lines_location(where: tuple[str, str]) -> str:
    record, key = where
    return f"line {1 if record == 'entity' else 3} $.{key}"


def assert_refused(result: Result, file: Path | str, location: str, value: str, exit_code: int = 2) -> None:
    assert result.exit_code == exit_code, (result.exit_code, result.stdout[:300], result.stderr[:300])
    assert result.stdout == "" or result.stdout.startswith("rules: "), result.stdout  # validate reports the rules first
    lines = result.stderr.rstrip("\n").split("\n")
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{PREFIX}{file}: {location}: "), lines[0]
    assert f"(value: {value}" in lines[0], lines[0]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("command", ["evaluate", "explain", "validate", "screen", "decide"])
def test_every_facts_reader_refuses_the_fault_in_a_document(tmp_path: Path, command: str, fault: str) -> None:
    entity, link, where, value = FAULTS[fault]
    facts = tmp_path / "facts.json"
    facts.write_text(_document(entity, link), encoding="utf-8")
    if command == "evaluate":
        result = run("evaluate", str(facts), "--as-of", AS_OF)
    elif command == "explain":
        result = run("explain", str(facts), "--entity", "target", "--as-of", AS_OF)
    elif command == "validate":
        result = run("validate", str(facts))
    elif command == "screen":
        result = run("screen", str(facts), "--as-of", AS_OF)
    else:
        request = tmp_path / "request.json"
        request.write_text(json.dumps(_request("target")), encoding="utf-8")
        result = run("decide", str(request), "--facts", str(facts), "--as-of", AS_OF)
    assert_refused(result, facts, _document_location(where), value)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_screen_refuses_the_fault_in_json_lines(tmp_path: Path, fault: str) -> None:
    entity, link, where, value = FAULTS[fault]
    registry = tmp_path / "registry.jsonl"
    registry.write_text(_lines(entity, link), encoding="utf-8")
    out = tmp_path / "decisions.jsonl"
    result = run("screen", str(registry), "--as-of", AS_OF, "--out", str(out))
    assert_refused(result, registry, _lines_location(where), value)
    assert not out.exists()


def _request(organisation: str) -> dict[str, object]:
    signals = {
        "billing_country": "SG",
        "phone_country": "SG",
        "id_document_country": "SG",
        "ip_country": "SG",
        "ip_is_vpn": False,
        "ip_is_proxy": False,
        "ip_is_hosting": False,
        "reseller": None,
    }
    return {"id": "r1", "organisation": organisation, "signals": signals}


@pytest.mark.parametrize(
    ("edit", "location", "value"),
    [
        (('"ip_is_vpn": false', '"ip_is_vpn": true, "ip_is_vpn": false'), "$.signals.ip_is_vpn", "'ip_is_vpn'"),
        (('"reseller": null', '"reseller": NaN'), "$.signals.reseller", "'NaN'"),
    ],
)
def test_decide_refuses_the_fault_in_the_request(
    tmp_path: Path, edit: tuple[str, str], location: str, value: str
) -> None:
    request = tmp_path / "request.json"
    text = json.dumps(_request("target"))
    assert edit[0] in text
    request.write_text(text.replace(*edit), encoding="utf-8")
    facts = tmp_path / "facts.json"
    facts.write_text(_document(ENTITY, LINK), encoding="utf-8")
    result = run("decide", str(request), "--facts", str(facts), "--as-of", AS_OF)
    assert_refused(result, request, location, value)


@pytest.mark.parametrize(
    ("relative", "edit", "location", "value"),
    [
        (
            "ownership/profiles/terms_of_service/data.json",
            ('"root_country_fields": [', '"root_country_fields": [], "root_country_fields": ['),
            "$.root_country_fields",
            "'root_country_fields'",
        ),
        (
            "ownership/profiles/terms_of_service/data.json",
            ('"threshold_percent": 50', '"threshold_percent": NaN'),
            "$.threshold_percent",
            "'NaN'",
        ),
        ("exceptions/data.json", ('"granted": []', '"granted": [], "granted": []'), "$.granted", "'granted'"),
    ],
)
def test_rules_data_is_read_strictly(
    tmp_path: Path, relative: str, edit: tuple[str, str], location: str, value: str
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    data = rules / relative
    text = data.read_text(encoding="utf-8")
    assert edit[0] in text
    data.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    facts = tmp_path / "facts.json"
    facts.write_text(_document(ENTITY, LINK), encoding="utf-8")
    result = run("evaluate", str(facts), "--as-of", AS_OF, "--rules", str(rules))
    assert_refused(result, data, location, value)


def test_importers_read_strictly(tmp_path: Path) -> None:
    source = tmp_path / "in.ftm.json"
    lines = (REPO_ROOT / "tests" / "data" / "ftm" / "volga-group.ftm.json").read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith('{"id": "cy-target", "schema": "Company"')
    lines[1] = lines[1].replace('"schema": "Company"', '"schema": "Company", "schema": "Person"', 1)
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.json"
    result = run("import", "ftm", str(source), "-o", str(out))
    assert_refused(result, source, "line 2 $.schema", "'schema'")
    assert not out.exists()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"result": {"restricted": true, "reasons": [], "restricted": false}}', "duplicate key 'restricted'"),
        (b'{"result": [], "result": [{"restricted": false}]}', "duplicate key 'result'"),
        (b'{"result": [{"restricted": false, "scale": NaN}]}', "NaN"),
        (b'{"result": 1e999}', "too large for a double"),
        (b'{"result": []} {"result": []}', "Extra data"),
        (b"\xff", "not UTF-8"),
    ],
)
def test_engine_answers_are_read_strictly(raw: bytes, message: str) -> None:
    with pytest.raises(EngineError) as caught:
        jsonio.engine_answer(raw, engine="opa")
    assert message in str(caught.value)


def test_one_location_format() -> None:
    with pytest.raises(InputError) as in_lines:
        jsonio.loads(b'{"a": {"b": 1, "b": 2}}', file="f.jsonl", line=7)
    with pytest.raises(InputError) as in_document:
        jsonio.loads(b'{"a": {"b": 1, "b": 2}}', file="f.json")
    assert str(in_lines.value).startswith("f.jsonl: line 7 $.a.b: ")
    assert str(in_document.value).startswith("f.json: $.a.b: ")


def test_values_read_are_exact_and_finite() -> None:
    assert jsonio.loads('{"p": 33.333333333333333333}')["p"] == Decimal("33.333333333333333333")
    assert jsonio.loads("1e308", exact=False) == 1e308


def test_no_other_json_reader_in_the_package() -> None:
    """jsonio is the only module that decodes JSON: no json.load(s), orjson.loads or JSONDecoder elsewhere."""
    package = REPO_ROOT / "evaluator" / "tos_policy"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "jsonio.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("load", "loads", "JSONDecoder", "raw_decode")
                and isinstance(node.value, ast.Name)
                and node.value.id in ("json", "orjson", "simplejson", "ujson")
            ):
                found.append(f"{path.relative_to(package).as_posix()}: {node.value.id}.{node.attr}")
    # The exceptions read back what they wrote themselves a moment before: screen's merge its
    # decision lines, the relational plans their canonical step keys.
    own_output = {
        "ownership/screening.py: orjson.loads",
        "ownership/columnar.py: orjson.loads",
        "ownership/relational.py: orjson.loads",  # the relational plans' shared round loop
        "ownership/spark.py: orjson.loads",
        "ownership/spark_rules.py: orjson.loads",  # the executors read the plan's own step keys and reasons
    }
    assert set(found) <= own_output, found
