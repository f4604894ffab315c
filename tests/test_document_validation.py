"""A large facts document is checked by the facts schema compiled to Python (fastjsonschema)
and only a refusal is explained by jsonschema. That is safe only while the two accept the
same documents: checked here on every stored document (good and hostile) and on hostile
mutations of them, with both checks called directly whatever the document's size."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tos_policy.errors import InputError
from tos_policy.facts.load import _facts_validator, _passes_compiled_check, parse_json_bytes, validate_document

from .test_fuzz import SEEDS, structural_mutation

ROOT = Path(__file__).resolve().parent.parent


def _document(raw: bytes) -> Any:
    try:
        return parse_json_bytes(raw, "<doc>")
    except InputError:
        return None  # refused before any schema check


# Every stored facts document the strict reader takes (the rest never reach a schema check).
STORED = {
    str(path.relative_to(ROOT)): document
    for folder in (ROOT / "tests" / "bad_input", ROOT / "tests" / "corpus", ROOT / "examples")
    for path in sorted(folder.rglob("*.json"))
    if (document := _document(path.read_bytes())) is not None
}


def _jsonschema_accepts(document: Any) -> bool:
    return next(_facts_validator().iter_errors(document), None) is None


@pytest.mark.parametrize("name", sorted(STORED))
def test_the_compiled_check_accepts_a_stored_document_exactly_when_jsonschema_does(name: str) -> None:
    assert _passes_compiled_check(STORED[name]) == _jsonschema_accepts(STORED[name])


@settings(
    max_examples=int(os.environ.get("TOS_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_the_compiled_check_accepts_a_mutated_document_exactly_when_jsonschema_does(data: st.DataObject) -> None:
    raw = data.draw(structural_mutation(SEEDS[data.draw(st.sampled_from(sorted(SEEDS)))]))
    document = _document(raw)
    if document is not None:
        assert _passes_compiled_check(document) == _jsonschema_accepts(document)


def _padded(document: dict[str, Any], count: int) -> dict[str, Any]:
    extra = [
        {"id": f"padding-{index}", "type": "company", "headquarters": "SG", "jurisdiction": "SG"}
        for index in range(count)
    ]
    return {**document, "entities": [*document["entities"], *extra]}


def test_a_large_document_is_refused_with_the_line_a_small_one_gets() -> None:
    """The compiled check decides for large documents; the message is still jsonschema's."""
    bad = json.loads((ROOT / "tests" / "bad_input" / "stake-percent-sign.json").read_text())
    small, large = bad, _padded(bad, 600)
    messages = []
    for document in (small, large):
        with pytest.raises(InputError) as refused:
            validate_document(document, "facts.json")
        messages.append(str(refused.value))
    assert messages[0] == messages[1] and "$.ownership[0].percentage" in messages[0]
