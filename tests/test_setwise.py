"""The set-wise (DuckDB) loader of `screen --plan columnar` reads JSON Lines exactly as the row
loader does: the same facts for good input, and for bad input the same refusal (exit 2, one
line naming file, line, JSON path and value, nothing on stdout, no output file), whatever the
fault and however deep it hides (a duplicate key in a nested object). `screen` writes the
same bytes with either plan on generated registries and on the corpus facts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tos_policy import jsonio
from tos_policy.cli.main import main
from tos_policy.errors import InputError
from tos_policy.facts import setwise
from tos_policy.facts.load import Facts
from tos_policy.facts.setwise import load_setwise
from tos_policy.facts.streaming import load_streaming

AS_OF = "2025-10-01"
CORPUS = Path(__file__).parent / "corpus"
BAD_INPUT = Path(__file__).parent / "bad_input"

ENTITY = '{"id": "cn-co", "type": "company", "headquarters": "CN", "jurisdiction": "CN"}'
TARGET = '{"id": "target", "type": "company", "name": "T", "headquarters": "SG", "jurisdiction": "SG"}'
LINK = '{"owner": "cn-co", "asset": "target", "percentage": "60"}'

# Each replaces one line of the three above (0: entity, 1: target, 2: link), or adds lines.
FAULTS: dict[str, tuple[int, str]] = {
    "duplicate key": (0, ENTITY.replace('"jurisdiction": "CN"', '"jurisdiction": "CN", "headquarters": "US"')),
    "duplicate key, same value": (2, LINK.replace('"60"}', '"60", "percentage": "60"}')),
    "duplicate owner": (2, LINK.replace('"asset"', '"owner": "target", "asset"')),
    "duplicate key in a nested source": (2, LINK.replace("}", ', "source": {"url": "a", "url": "b"}}')),
    "duplicate key two levels down": (
        1,
        TARGET.replace("}", ', "source": {"register": {"name": "a", "name": "b"}}}'),
    ),
    "duplicate key in a list of objects": (
        1,
        TARGET.replace("}", ', "identifiers": [{"scheme": "LEI", "scheme": "x", "id": "1"}]}'),
    ),
    "duplicate key in a dated value": (
        1,
        TARGET.replace('"headquarters": "SG"', '"headquarters": [{"value": "SG", "value": "CN"}]'),
    ),
    "trailing comma": (0, ENTITY.replace('"CN"}', '"CN",}')),
    "NaN": (2, LINK.replace('"60"', "NaN")),
    "Infinity": (2, LINK.replace('"60"', "Infinity")),
    "1e999": (2, LINK.replace('"60"', "1e999")),
    "huge integer": (2, LINK.replace('"60"', "9" * 400)),
    "lone surrogate": (1, TARGET.replace('"T"', '"\\ud800"')),
    "two objects on a line": (2, LINK + " " + LINK),
    "an array": (2, "[1, 2]"),
    "not an entity or link": (2, '{"name": "x"}'),
    "percentage over 100": (2, LINK.replace('"60"', '"100.5"')),
    "percentage, 13 decimals": (2, LINK.replace('"60"', '"10.1234567890123"')),
    "percentage with an exponent": (2, LINK.replace('"60"', '"1e1"')),
    "percentage, a word": (2, LINK.replace('"60"', '"sixty"')),
    "percentage and a range": (2, LINK.replace("}", ', "percentage_max": "70"}')),
    "empty range": (2, '{"owner": "cn-co", "asset": "target", "percentage_min": "70", "percentage_max": "60"}'),
    "exclusive bound as a string": (
        2,
        '{"owner": "cn-co", "asset": "target", "percentage_min": "50", "min_exclusive": "true"}',
    ),
    "unknown country": (0, ENTITY.replace('"headquarters": "CN"', '"headquarters": "Atlantis"')),
    "country too long": (0, ENTITY.replace('"headquarters": "CN"', f'"headquarters": "{"X" * 129}"')),
    "unknown type": (0, ENTITY.replace('"company"', '"corporation"')),
    "type missing": (0, '{"id": "cn-co", "headquarters": "CN"}'),
    "unknown field": (0, ENTITY.replace("}", ', "colour": "red"}')),
    "empty id": (1, TARGET.replace('"target"', '""')),
    "id too long": (1, TARGET.replace('"target"', f'"{"t" * 513}"')),
    "name a number": (1, TARGET.replace('"T"', "7")),
    "name null": (1, TARGET.replace('"T"', "null")),
    "unknown link kind": (2, LINK.replace("}", ', "kind": "friendship"}')),
    "nominee without principal": (2, LINK.replace("}", ', "kind": "nominee"}')),
    "principal without nominee": (2, LINK.replace("}", ', "principal": "target"}')),
    "impossible date": (2, LINK.replace("}", ', "start_date": "2025-02-30"}')),
    "date in another format": (2, LINK.replace("}", ', "start_date": "01/02/2025"}')),
    "end before start": (2, LINK.replace("}", ', "start_date": "2025-02-01", "end_date": "2025-01-01"}')),
    "dangling owner": (2, LINK.replace('"cn-co"', '"nobody"')),
    "duplicate entity id": (1, ENTITY),
    "blank of another kind": (1, "\u3000"),
    "a control character in a string": (1, TARGET.replace('"T"', '"T\x01"')),
}


def _lines(fault: tuple[int, str] | None = None) -> str:
    lines = [ENTITY, TARGET, LINK]
    if fault is not None:
        lines[fault[0]] = fault[1]
    return "\n".join(lines) + "\n"


def _screen(registry: Path, out: Path, plan: str, *extra: str) -> Result:
    return CliRunner().invoke(
        main, ["screen", str(registry), "--as-of", AS_OF, "--out", str(out), "--plan", plan, *extra]
    )


def _same_refusal(registry: Path, tmp_path: Path, *extra: str) -> str:
    """Both plans refuse `registry` alike: exit 2, one line on stderr, nothing on stdout, no output."""
    messages = []
    for plan in ("rows", "columnar"):
        out = tmp_path / f"{plan}.jsonl"
        result = _screen(registry, out, plan, *extra)
        assert result.exit_code == 2, (plan, result.exit_code, result.stderr[:500])
        assert result.stdout == ""
        assert len(result.stderr.rstrip("\n").split("\n")) == 1, result.stderr
        assert not out.exists()
        assert not [name for name in tmp_path.iterdir() if name.name.startswith(out.name)]
        messages.append(result.stderr)
    assert messages[0] == messages[1]
    assert messages[0].startswith(f"tos-policy: error: {registry}: ")
    return messages[0]


def _same_output(registry: Path, tmp_path: Path, *extra: str) -> bytes:
    outputs = []
    for plan in ("rows", "columnar"):
        out = tmp_path / f"{plan}.jsonl"
        result = _screen(registry, out, plan, *extra)
        assert result.exit_code == 0, (plan, result.stderr[-800:])
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    return outputs[0]


def _same_facts(paths: list[Path]) -> Facts:
    """Both loaders give equal facts, and the set-wise one did not hand the input to the row loader."""
    by_rows = load_streaming(paths)
    by_sets = load_setwise(paths)
    assert by_sets.entities == by_rows.entities
    assert list(by_sets.entities) == list(by_rows.entities)
    assert by_sets.links == by_rows.links
    assert (by_sets.files, by_sets.aliases, by_sets.merged) == (by_rows.files, by_rows.aliases, by_rows.merged)
    return by_sets


def _no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Facts:
        raise AssertionError("the set-wise loader handed the input to the row loader")

    monkeypatch.setattr(setwise, "load_streaming", refuse)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_fault_is_refused_alike_by_both_plans(tmp_path: Path, fault: str) -> None:
    registry = tmp_path / "registry.jsonl"
    registry.write_text(_lines(FAULTS[fault]), encoding="utf-8")
    message = _same_refusal(registry, tmp_path)
    assert "line " in message and "(value: " in message


@pytest.mark.parametrize(
    "edit",
    [
        lambda data: data.replace(b'"T"', b'"\xe9"'),  # Latin-1, not UTF-8
        lambda data: data.replace(b'"T"', b'"T\x00"'),  # a NUL byte
        lambda data: b"\xef\xbb\xbf" + data.replace(b"\n", b"\n\n", 1) + b"{",  # a BOM first, a cut-off last line
    ],
    ids=["latin1", "nul", "bom-and-cut"],
)
def test_bytes_that_are_not_json_text_are_refused_alike(tmp_path: Path, edit: Any) -> None:
    registry = tmp_path / "registry.jsonl"
    registry.write_bytes(edit(_lines().encode("utf-8")))
    _same_refusal(registry, tmp_path)


def test_limits_are_refused_alike(tmp_path: Path) -> None:
    registry = tmp_path / "registry.jsonl"
    registry.write_text(_lines() + '{"owner": "target", "asset": "cn-co", "percentage": "1"}\n', encoding="utf-8")
    _same_refusal(registry, tmp_path, "--max-entities", "1")
    _same_refusal(registry, tmp_path, "--max-links", "1")
    _same_refusal(registry, tmp_path, "--max-input-bytes", "100")


def test_a_fault_after_good_lines_names_the_first_bad_line(tmp_path: Path) -> None:
    lines = [ENTITY, TARGET] + [
        f'{{"id": "e{index}", "type": "company", "headquarters": "SG", "jurisdiction": "SG"}}' for index in range(50)
    ]
    lines += [LINK, '{"owner": "e1", "asset": "e2", "percentage": "30", "percentage": "30"}', "[", LINK]
    registry = tmp_path / "registry.jsonl"
    registry.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert f"line {len(lines) - 2} $" in _same_refusal(registry, tmp_path)


def test_good_lines_of_every_form_load_as_the_row_loader_loads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Escapes, CRLF, blank lines, numbers and nested values are read line by line by the row
    loader's own code, inside the set-wise load, in file order."""
    registry = tmp_path / "registry.jsonl"
    registry.write_text(
        "\r\n".join(
            [
                ENTITY,
                "",
                "  \t",
                TARGET.replace('"T"', '"T \\u00e9\\"quoted\\""'),
                "\ufeff" + '{"id": "bom", "type": "trust"}',  # a byte-order mark the strict reader passes over
                '{"id": "p", "type": "person", "jurisdiction": null, "headquarters": "UA-43"}',
                '{"id": "q", "type": [{"value": "fund", "start_date": "2020-01-01"}], "headquarters": "DE"}',
                LINK.replace('"60"', "60.5"),
                '{"owner": "p", "asset": "target", "percentage_min": "25", "min_exclusive": true, '
                '"percentage_max": "50", "kind": "voting_majority", "start_date": "2024-01-01"}',
                '{"owner": "q", "asset": "target", "kind": "nominee", "principal": "p", "percentage": "5"}',
                '{"owner": "p", "asset": "q", "economic": "10", "voting": {"percentage_min": "5"}}',
            ]
        )
        + "\r\n",
        encoding="utf-8",
    )
    _no_fallback(monkeypatch)
    facts = _same_facts([registry])
    assert facts.entities["target"].name == 'T é"quoted"'
    assert len(facts.links) == 4


@pytest.mark.parametrize("extra", [(), ("--varied",)], ids=["default", "varied"])
def test_generated_registries_give_the_same_facts_and_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: tuple[str, ...]
) -> None:
    registry = tmp_path / "registry.jsonl"
    done = CliRunner().invoke(main, ["synth", "--entities", "1500", "--seed", "5", *extra, "-o", str(registry)])
    assert done.exit_code == 0, done.stderr
    with monkeypatch.context() as patched:
        _no_fallback(patched)
        _same_facts([registry])
    assert _same_output(registry, tmp_path).count(b"\n") == 1500


def _as_lines(document: Any) -> str:
    """The records of a facts document, one a line, as written (duplicate keys kept; exact
    numbers as decimal strings, which the schema reads alike)."""
    records = [*document.get("entities", []), *document.get("ownership", [])]
    return "".join(_dump(record) + "\n" for record in records)


def _dump(value: Any) -> str:
    if isinstance(value, _Ordered):
        return "{" + ", ".join(f"{json.dumps(key)}: {_dump(item)}" for key, item in value.pairs) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)}: {_dump(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(item) for item in value) + "]"
    text = json.dumps(value, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: written as an escape
        return json.dumps(value, default=str)
    return text


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.glob("*.json") if path.name != "expected.json"))
def test_corpus_facts_as_json_lines_give_the_same_facts_and_bytes(tmp_path: Path, name: str) -> None:
    document = jsonio.loads((CORPUS / name).read_bytes(), file=name)
    registry = tmp_path / f"{Path(name).stem}.jsonl"
    registry.write_text(_as_lines(document), encoding="utf-8")
    _same_facts([registry])
    _same_output(registry, tmp_path)


@pytest.mark.parametrize("name", sorted(path.name for path in BAD_INPUT.glob("*.json")))
def test_bad_input_corpus_as_json_lines_is_read_alike(tmp_path: Path, name: str) -> None:
    """Every file of the bad-input corpus, as JSON Lines where a lenient reader can split it into
    records (duplicates kept as written), and as it is: the same refusal or the same bytes."""
    raw = (BAD_INPUT / name).read_bytes()
    cases = [BAD_INPUT / name]
    try:
        document = json.loads(raw, object_pairs_hook=_pairs)
    except (ValueError, RecursionError):
        document = None
    if isinstance(document, _Ordered) and isinstance(document.get("entities"), list):
        registry = tmp_path / f"{Path(name).stem}.jsonl"
        registry.write_text(_as_lines(document), encoding="utf-8")
        cases.append(registry)
    for path in cases:
        by_rows = _screen(path, tmp_path / "rows.jsonl", "rows")
        if by_rows.exit_code == 0:
            _same_output(path, tmp_path)
        else:
            assert by_rows.exit_code == 2, by_rows.stderr
            _same_refusal(path, tmp_path)


class _Ordered(dict[str, Any]):
    """A JSON object as written: `pairs` keeps duplicate keys, which json.dumps writes back."""

    pairs: list[tuple[str, Any]]


def _pairs(pairs: list[tuple[str, Any]]) -> _Ordered:
    found = _Ordered(pairs)
    found.pairs = pairs
    return found


# Values that probe the set-wise checks: schema edges, country forms, percentages, dates.
_VALUES = st.sampled_from(
    [
        "company",
        "person",
        "fund",
        "corporation",
        "",
        "CN",
        "SG",
        "UA-43",
        "Atlantis",
        "China",
        "full",
        "partial",
        "nope",
        "0",
        "100",
        "100.0",
        "100.000000000001",
        "33.333333333333",
        "33.3333333333333",
        "1e2",
        "-1",
        " 5",
        "5 ",
        "2024-01-01",
        "2024-02-30",
        "2024-1-1",
        "nominee",
        "shareholding",
        "voting_majority",
        "issued",
        "12",
        "Côte d'Ivoire",
        "Société 😀",
        "x" * 129,
        None,
        True,
        False,
    ]
)
_KEYS = st.sampled_from(
    [
        "id",
        "type",
        "name",
        "headquarters",
        "jurisdiction",
        "disclosure",
        "headquarters_subdivision",
        "owner",
        "asset",
        "kind",
        "principal",
        "percentage",
        "percentage_min",
        "percentage_max",
        "min_exclusive",
        "max_exclusive",
        "start_date",
        "end_date",
        "acting_jointly",
        "shares",
        "issued_shares",
        "percentage_of",
        "share_class",
        "colour",
    ]
)
_IDS = st.sampled_from(["a", "b", "c"])


@st.composite
def _registries(draw: st.DrawFn) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [{"id": name, "type": "company"} for name in ("a", "b", "c")]
    for _ in range(draw(st.integers(1, 6))):
        record: dict[str, Any] = (
            {"owner": draw(_IDS), "asset": draw(_IDS)}
            if draw(st.booleans())
            else {"id": draw(st.text("xyz", min_size=1))}
        )
        record.update(draw(st.dictionaries(_KEYS, _VALUES, max_size=4)))
        records.insert(draw(st.integers(0, len(records))), record)
    return records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=_registries())
def test_random_flat_records_are_read_alike(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    """Flat records over the schema's fields and edge values: the set-wise loader admits only what
    the row loader admits, and makes the same facts or gives the same refusal."""
    registry = tmp_path / "registry.jsonl"
    registry.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    try:
        expected: Facts | str = load_streaming([registry])
    except InputError as exc:
        expected = str(exc)
    calls: list[int] = []
    real = getattr(setwise, "load_streaming")  # noqa: B009

    def counted(*args: Any, **kwargs: Any) -> Facts:
        calls.append(1)
        facts: Facts = real(*args, **kwargs)
        return facts

    setattr(setwise, "load_streaming", counted)  # noqa: B010 - hypothesis: no function-scoped monkeypatch
    try:
        got: Facts | str = load_setwise([registry])
    except InputError as exc:
        got = str(exc)
    finally:
        setattr(setwise, "load_streaming", real)  # noqa: B010
    if isinstance(expected, str):
        assert got == expected
    else:
        assert isinstance(got, Facts)
        assert (got.entities, got.links, got.aliases, got.merged) == (
            expected.entities,
            expected.links,
            expected.aliases,
            expected.merged,
        )
        assert not calls  # good input is read set-wise, not handed back
