"""ISO 3166-1 alpha-2 country codes from the names people and registers use."""

from __future__ import annotations

from functools import lru_cache

import pycountry

# Short names common in registers that pycountry's ISO names do not cover.
# XK (Kosovo) is a user-assigned code that GLEIF and many registers use.
_ALIASES = {
    "russia": "RU",
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "usa": "US",
    "america": "US",
    "south korea": "KR",
    "republic of korea": "KR",
    "dprk": "KP",
    "vietnam": "VN",
    "laos": "LA",
    "syria": "SY",
    "turkey": "TR",
    "czech republic": "CZ",
    "macau": "MO",
    "ivory coast": "CI",
    "moldova": "MD",
    "tanzania": "TZ",
    "venezuela": "VE",
    "bolivia": "BO",
    "brunei": "BN",
    "cape verde": "CV",
    "swaziland": "SZ",
    "burma": "MM",
    "kosovo": "XK",
    "xk": "XK",
    "xkx": "XK",
}


@lru_cache(maxsize=4096)
def normalise_country(value: str) -> str | None:
    """The alpha-2 code for a code or name, case-insensitively; None if unknown."""
    key = value.strip()
    if not key:
        return None
    alias = _ALIASES.get(key.lower())
    if alias:
        return alias
    try:
        return str(pycountry.countries.lookup(key).alpha_2)
    except LookupError:
        return None
