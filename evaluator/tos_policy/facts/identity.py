"""One legal person, one entity: identifiers normalised, records sharing a strong identifier merged.

Sources write one company's identifiers in many forms (`985 198 292` with no scheme,
`NO-BRREG 985198292`, an LEI in lower case, a GLEIF registration authority id and its
number). Each identifier of a facts record is read into one canonical form,
SCHEME:VALUE, when it is strong: an LEI whose ISO 17442 check digits are right, or a
number of a company register (an org-id.guide code such as GB-COH; a register named
by its GLEIF RA code or a source's name for it; an unspecified registration number
of the form of the entity's own country's register). Which names mean which register
is data (identifier_schemes.json), not code.

Records sharing any strong identifier are one legal person, whatever files or formats
they came from: they become one entity, with a canonical id chosen from their content
alone (the record holding the lowest LEI; otherwise the lowest record id), so neither the order of files
nor of records changes an id or a decision. Every identifier and every merged record's
id stays an alias of the entity (Facts.aliases), accepted wherever an entity is named.

Merging never makes the facts less cautious: types or countries the records disagree
on become unknown, disclosure statements are all kept."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pycountry
from jsonschema import Draft202012Validator

from tos_policy import jsonio
from tos_policy.resources import schema

SCHEMES_FILE = Path(__file__).resolve().parent / "identifier_schemes.json"
LEI = "XI-LEI"
_LEI_FORM = re.compile(r"^[A-Z0-9]{18}[0-9]{2}$")
_ORG_ID = re.compile(r"^[A-Z]{2,3}-[A-Z0-9]+$")  # an org-id.guide register code, e.g. GB-COH, XI-LEI
_GLEIF_RA = re.compile(r"^GLEIF-RA:(RA[0-9]{6})$")
_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
# The alias that two entities share names neither of them.
AMBIGUOUS = ""


def compact(value: str) -> str:
    """A value in capitals without spaces or punctuation: `985 198 292` -> `985198292`."""
    return _NOT_ALNUM.sub("", value).upper()


def _name_key(value: str) -> str:
    return _NOT_ALNUM.sub("", value).casefold()


def lei_is_valid(value: str) -> bool:
    """ISO 17442: 20 characters, the last two check digits by ISO 7064 MOD 97-10 (the
    letters read as 10-35, the whole number modulo 97 is 1)."""
    if not _LEI_FORM.fullmatch(value):
        return False
    return int("".join(str(int(char, 36)) for char in value)) % 97 == 1


@dataclass(frozen=True)
class Register:
    code: str
    country: str
    pattern: re.Pattern[str]
    pad_digits: int | None

    def value(self, raw: str) -> str | None:
        """The number in this register's form, or None when it does not have that form."""
        value = compact(raw)
        if self.pad_digits and value.isdigit() and len(value) < self.pad_digits:
            value = value.zfill(self.pad_digits)
        return value if self.pattern.fullmatch(value) else None


@dataclass(frozen=True)
class Schemes:
    lei_names: frozenset[str]
    unspecified: frozenset[str]
    registers: dict[str, Register]
    by_name: dict[str, str]  # name key -> register code
    by_ra: dict[str, str]  # GLEIF RA code -> register code
    by_country: dict[str, list[str]]  # country -> register codes

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> Schemes:
        registers: dict[str, Register] = {}
        by_name: dict[str, str] = {}
        by_ra: dict[str, str] = {}
        by_country: dict[str, list[str]] = {}
        for code, entry in document["registers"].items():
            registers[code] = Register(code, entry["country"], re.compile(entry["pattern"]), entry.get("pad_digits"))
            for name in [code, *entry["names"]]:
                by_name[_name_key(name)] = code
            for ra in entry["gleif_ra"]:
                by_ra[ra] = code
            by_country.setdefault(entry["country"], []).append(code)
        return cls(
            frozenset(_name_key(name) for name in [LEI, *document["lei_schemes"]]),
            frozenset(_name_key(name) for name in document["unspecified_schemes"]),
            registers,
            by_name,
            by_ra,
            by_country,
        )

    def strong(self, scheme: str, value: str, country: str | None) -> str | None:
        """SCHEME:VALUE for a strong identifier; None for a weak one (a source's record id, a
        malformed number, a number whose register cannot be told)."""
        key = _name_key(scheme)
        if key in self.lei_names:
            lei = compact(value)
            return f"{LEI}:{lei}" if lei_is_valid(lei) else None
        ra = _GLEIF_RA.fullmatch(scheme.strip().upper())
        if ra is not None:
            code = self.by_ra.get(ra[1])
            # an RA code is read as a register only for an entity of that register's country
            return self._in(code, value) if code and self.registers[code].country == country else None
        if key in self.unspecified:
            found = {self._in(code, value) for code in self.by_country.get(country or "", [])} - {None}
            return found.pop() if len(found) == 1 else None
        code = self.by_name.get(key)
        if code is not None:
            return self._in(code, value)
        canonical = scheme.strip().upper()
        if _ORG_ID.fullmatch(canonical) and _is_region(canonical.partition("-")[0]):
            # a register code the data does not list (DK-CVR, RU-INN): its number, compacted
            number = compact(value)
            return f"{canonical}:{number}" if number else None
        return None

    def _in(self, code: str | None, value: str) -> str | None:
        if code is None:
            return None
        number = self.registers[code].value(value)
        return f"{code}:{number}" if number else None


@cache
def schemes() -> Schemes:
    """The identifier schemes data (identifier_schemes.json, checked against its schema)."""
    document = jsonio.loads(SCHEMES_FILE.read_bytes(), file=str(SCHEMES_FILE), exact=False)
    Draft202012Validator(schema("identifier-schemes")).validate(document)
    return Schemes.of(document)


def strong_identifiers(identifiers: Iterable[Any], country: str | None) -> tuple[str, ...]:
    """The strong identifiers (SCHEME:VALUE, sorted, distinct) of a facts record's `identifiers`
    list ({scheme, id} objects; `schemeName` stands for a missing scheme), `country` its jurisdiction."""
    table = schemes()
    found = set()
    for item in identifiers:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        scheme = item.get("scheme") if isinstance(item.get("scheme"), str) else ""
        if not scheme and isinstance(item.get("schemeName"), str):
            scheme = item["schemeName"]
        strong = table.strong(str(scheme), item["id"], country)
        if strong is not None:
            found.add(strong)
    return tuple(sorted(found))


def strong_form(text: str) -> str | None:
    """A name written as SCHEME:VALUE or SCHEME VALUE (`NO-BRREG 985 198 292`, `gb-coh:1403668`)
    in its canonical form, or None."""
    for separator in (":", " "):
        scheme, found, value = text.strip().partition(separator)
        if found and value.strip():
            strong = schemes().strong(scheme, value, _country_of(scheme))
            if strong is not None:
                return strong
    return None


def alias_forms(text: str) -> list[str]:
    """The forms in which a name a user gives (--entity, a request) may be an alias: as
    written, as SCHEME:VALUE, or a bare value without spaces or punctuation."""
    strong = strong_form(text)
    return [text, *([strong] if strong else []), compact(text)]


def _is_region(prefix: str) -> bool:
    """An org-id.guide prefix: an ISO 3166-1 country code (alpha-2 or alpha-3) or XI/XM
    (international lists), so a source's own scheme (`ftm-id`) is never read as a register."""
    if prefix in ("XI", "XM"):
        return True
    lookup = pycountry.countries.get(alpha_2=prefix) if len(prefix) == 2 else pycountry.countries.get(alpha_3=prefix)
    return lookup is not None


def canonical_id(members: Iterable[tuple[str, Iterable[str]]]) -> str:
    """The id a group of records of one legal person goes by, from their content alone: the id
    of the record holding the lowest LEI, or else the lowest id ((id, strong identifiers) pairs)."""

    return min(members, key=lambda member: canonical_rank(*member))[0]


def canonical_rank(record_id: str, identifiers: Iterable[str]) -> tuple[int, str, str]:
    """How a record ranks as the one its legal person's entity is named after (lowest first)."""
    leis = sorted(identifier for identifier in identifiers if identifier.startswith(f"{LEI}:"))
    return (0, leis[0], record_id) if leis else (1, "", record_id)


def _country_of(scheme: str) -> str | None:
    code = schemes().by_name.get(_name_key(scheme))
    return schemes().registers[code].country if code else None
