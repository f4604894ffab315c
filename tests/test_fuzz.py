"""Fuzzing: valid facts files, mutated at random, never crash, hang or fail open.

Each example takes a valid facts file (the examples, and the valid files of the
bad-input corpus), mutates it (bytes cut, inserted or replaced; or a value of the
parsed document replaced by a hostile one, a key removed or added, a record
duplicated) and runs `tos-policy evaluate` on it. The outcome must be either

- exit 2, nothing on stdout, and one line on stderr naming the file and a JSON path,
  with the value; or
- exit 0 and the decisions of the independent reference model (tests/reference.py)
  on the facts as loaded.

Never a traceback, exit 1 or 3, or a decision the reference does not make."""

from __future__ import annotations

import copy
import json
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tos_policy.cli.main import main
from tos_policy.facts.load import Facts, load_facts
from tos_policy.policy.ruleset import load_rules

from .conftest import AS_OF
from .reference import reference_decisions

ROOT = Path(__file__).parent.parent
SEEDS: dict[str, bytes] = {path.name: path.read_bytes() for path in sorted((ROOT / "examples").glob("*.json"))}
SEEDS.update(
    {
        name: (ROOT / "tests" / "bad_input" / name).read_bytes()
        for name in ("restricted-cycle.json", "split-thirds.json", "unnamed-control-kind.json", "unicode-ids.json")
    }
)

# Values that cannot be written as JSON by json.dumps: spliced into the text after dumping.
RAW = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e999": "1e999",
    "-1e999": "-1e999",
    "1e-999": "1e-999",
    "huge-exponent": "1e1000000000000000000",
    "5000-digits": "1" * 5000,
    "lone-surrogate": '"\\udc00"',
    "deep": "[" * 3000 + "]" * 3000,
}
HOSTILE: list[Any] = [
    *(f"@@RAW:{name}@@" for name in RAW),
    None,
    True,
    False,
    0,
    -1,
    -0.0,
    50,
    100,
    101,
    2**70,
    Decimal("49.999999999999"),
    Decimal("50.0000000000001"),
    "50",
    "50%",
    "fifty",
    "",
    " ",
    "x" * 3000,
    "CN",
    "RU",
    "Narnia",
    "person",
    "unknown",
    "company",
    "branch",
    "significant_influence",
    "golden_share",
    "2025-02-30",
    "2025-10-01",
    "9999-12-31",
    "\u2028",
    [],
    {},
    [50],
    {"id": "x", "type": "company"},
]
KEYS = ["id", "type", "owner", "asset", "percentage", "percentage_min", "percentage_max", "kind", "ceo", "source"]


def _dump(document: Any) -> bytes:
    text = json.dumps(document, default=str, ensure_ascii=False)
    for name, raw in RAW.items():
        text = text.replace(f'"@@RAW:{name}@@"', raw)
    return text.encode("utf-8", "surrogatepass")


def _slots(document: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in the document, in a fixed order."""
    found: list[tuple[Any, Any]] = []
    pending = [document]
    while pending:
        node = pending.pop(0)
        keys: list[Any] = (
            list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        )
        for key in keys:
            found.append((node, key))
            pending.append(node[key])
    return found


@st.composite
def structural_mutation(draw: st.DrawFn, raw: bytes) -> bytes:
    document = json.loads(raw.decode("utf-8-sig"), parse_float=Decimal)
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(document)
        if not slots:
            break
        container, key = slots[draw(st.integers(0, len(slots) - 1))]
        operation = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "duplicate"]))
        if operation == "replace":
            # deep copies: the hostile values are shared between examples and must never alias
            container[key] = copy.deepcopy(
                draw(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20), st.integers()))
            )
        elif operation == "delete":
            del container[key]
        elif operation == "add" and isinstance(container[key], dict):
            container[key][draw(st.sampled_from(KEYS))] = copy.deepcopy(draw(st.sampled_from(HOSTILE)))
        elif operation == "duplicate" and isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
    return _dump(document)


@st.composite
def byte_mutation(draw: st.DrawFn, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["truncate", "delete", "insert", "replace"]))
        if operation == "truncate":
            del data[position:]
        elif operation == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        elif operation == "insert":
            data[position:position] = draw(
                st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from([b"{", b"[", b'"', b",", b"\xef\xbb\xbf"]))
            )
        elif data:
            data[min(position, len(data) - 1)] = draw(st.integers(0, 255))
    return bytes(data)


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    raw = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
    return draw(st.one_of(structural_mutation(raw), byte_mutation(raw)))


def _normalised(facts: Facts) -> dict[str, Any]:
    """The facts as loaded (countries as ISO codes, stakes as exact decimals), in the reference's format."""
    entities = [
        {
            "id": e.id,
            "type": e.type,
            "headquarters": e.headquarters,
            "jurisdiction": e.jurisdiction,
            "disclosure": [{"status": term} for term in e.disclosure if term in ("full", "partial", "none")],
        }
        for e in facts.entities.values()
    ]
    links = [
        {
            "owner": link.owner,
            "asset": link.asset,
            "kind": link.kind,
            **link.share.as_json(),
            "start_date": link.start_date.isoformat() if link.start_date else None,
            "end_date": link.end_date.isoformat() if link.end_date else None,
        }
        for link in facts.links
    ]
    return {"entities": entities, "ownership": links}


@settings(
    max_examples=int(os.environ.get("TOS_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(content=mutated_files())
def test_mutated_facts_files_are_refused_cleanly_or_decided_correctly(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        file = Path(directory) / "mutated.json"
        file.write_bytes(content)
        result = CliRunner().invoke(main, ["evaluate", str(file), "--as-of", AS_OF.isoformat(), "--max-seconds", "30"])
        assert "Traceback" not in result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.exit_code in (0, 2), (result.exit_code, result.stderr[:300])
        event(f"exit {result.exit_code}")
        if result.exit_code == 2:
            assert result.stdout == ""
            lines = result.stderr.rstrip("\n").split("\n")
            assert len(lines) == 1, result.stderr[:500]
            assert lines[0].startswith(f"tos-policy: error: {file}: $"), lines[0][:300]
            assert "(value: " in lines[0]
            return
        decided = {item["entity"]: item["decision"] for item in json.loads(result.stdout)["decisions"]}
        rules = load_rules()  # the rules the command decided with (the fixture rules)
        default = rules.policy_set["default_profile"]
        expected = reference_decisions(
            _normalised(load_facts([file])), AS_OF, rules.profile(default), rules.data["regions"]
        )
        assert decided == expected
