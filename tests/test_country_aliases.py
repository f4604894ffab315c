"""Country aliases are data (evaluator/tos_policy/facts/country_aliases.json) with a schema."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator, ValidationError

from tos_policy.facts.countries import ALIASES_FILE, aliases, normalise_country
from tos_policy.resources import schema


def test_every_alias_in_the_data_normalises_to_its_code() -> None:
    found = aliases()
    assert found
    for alias, code in found.items():
        assert normalise_country(alias) == code
        assert normalise_country(f"  {alias.upper()} ") == code


@pytest.mark.parametrize("bad", [{"aliases": {"narnia": "NARNIA"}}, {"aliases": {"Uk": "GB"}}, {}])
def test_the_schema_refuses_malformed_aliases(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Draft202012Validator(schema("country-aliases")).validate(bad)


def test_the_shipped_file_keeps_its_schema() -> None:
    Draft202012Validator(schema("country-aliases")).validate(json.loads(ALIASES_FILE.read_text()))
