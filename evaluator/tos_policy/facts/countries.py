"""ISO 3166-1 alpha-2 country codes from the names people and registers use."""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

import pycountry
from jsonschema import Draft202012Validator

from tos_policy import jsonio
from tos_policy.resources import schema

# Country aliases are data: a name a register uses is added there, not here.
ALIASES_FILE = Path(__file__).resolve().parent / "country_aliases.json"


@cache
def aliases() -> dict[str, str]:
    """Names registers use that pycountry's ISO names do not cover (country_aliases.json,
    checked against schemas/country-aliases.schema.json)."""
    document = jsonio.loads(ALIASES_FILE.read_bytes(), file=str(ALIASES_FILE), exact=False)
    Draft202012Validator(schema("country-aliases")).validate(document)
    found: dict[str, str] = document["aliases"]
    return found


@lru_cache(maxsize=4096)
def normalise_country(value: str) -> str | None:
    """The alpha-2 code for a code or name, case-insensitively; None if unknown."""
    key = value.strip()
    if not key:
        return None
    alias = aliases().get(key.lower())
    if alias:
        return alias
    try:
        return str(pycountry.countries.lookup(key).alpha_2)
    except LookupError:
        return None
