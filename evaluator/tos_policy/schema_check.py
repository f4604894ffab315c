"""JSON Schema validation with the schema's own regular-expression meaning.

A JSON Schema `pattern` is an ECMA-262 expression, where `$` matches only at the
end of the text. Python's `re` also matches `$` before a final newline, so with the
jsonschema library `"^[0-9]{1,3}$"` accepts the stake "50\\n". Every validator the
evaluator builds comes from here, with `$` read as ECMA-262 reads it (fastjsonschema,
used for screening, does the same), and with formats (dates) checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators


def ecma_pattern(pattern: str) -> str:
    """`pattern` with every end-of-text `$` (not escaped, not in a character class) as `\\Z`."""
    out: list[str] = []
    index = 0
    in_class = False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        out.append(r"\Z" if char == "$" and not in_class else char)
        index += 1
    return "".join(out)


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(ecma_pattern(pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


StrictValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})  # type: ignore[no-untyped-call]


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    """A Draft 2020-12 validator for `schema`: ECMA-262 patterns, formats checked."""
    validator: Draft202012Validator = StrictValidator(schema, format_checker=FormatChecker())
    return validator
