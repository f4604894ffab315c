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


@lru_cache(maxsize=4096)
def normalise_subdivision(value: str) -> str | None:
    """The ISO 3166-2 code (e.g. "UA-43", Crimea) for a subdivision code, case-insensitively; None if unknown."""
    key = value.strip().upper()
    if "-" not in key:
        return None
    subdivision = pycountry.subdivisions.get(code=key)  # type: ignore[no-untyped-call]
    return None if subdivision is None else str(subdivision.code)


def normalise_place(value: str) -> tuple[str, str | None] | None:
    """(alpha-2 country, ISO 3166-2 subdivision or None) for a country code or name,
    or for a subdivision code such as "UA-43" (its country is the code's first part);
    None if neither."""
    country = normalise_country(value)
    if country is not None:
        return country, None
    subdivision = normalise_subdivision(value)
    if subdivision is None:
        return None
    return subdivision.partition("-")[0], subdivision
