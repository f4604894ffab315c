"""What registers say about how complete an entity's ownership is, as disclosure facts.

GLEIF reporting exceptions and BODS unspecified parties are not "no parent": each
says how much of the ownership the register leaves out. Every importer maps the
same statement to the same disclosure fact ({status, statement, note}), so a GLEIF
exception read from a GLEIF file, from a BODS file made from GLEIF, or from a
FollowTheMoney record means the same. Whether a statement counts as complete
disclosure is policy (profile field complete_disclosures), not decided here.
"""

from __future__ import annotations

import re
from typing import Any

# GLEIF Level 2 reporting exception reasons (ExceptionReason), by their published meaning:
# the disclosure each implies, and what it leaves out. Exceptions are about accounting
# consolidation parents, so even the "no parent" reasons say nothing of minority holders.
GLEIF_REASONS: dict[str, tuple[str, str]] = {
    "NATURAL_PERSONS": (
        "partial",
        "no parent entity: natural persons control it; holders that do not consolidate it are not reported",
    ),
    "NON_CONSOLIDATING": (
        "none",
        "a parent may exist that does not consolidate it in its accounts (state owners are typical); "
        "it is not disclosed",
    ),
    "NO_KNOWN_PERSON": (
        "partial",
        "no known person controls it (for example dispersed shareholders); holders below control are not reported",
    ),
    "NON_PUBLIC": ("none", "a parent exists; its relationship information is not public"),
    "BINDING_LEGAL_COMMITMENTS": ("none", "a parent exists; binding legal commitments prevent disclosing it"),
    "LEGAL_OBSTACLES": ("none", "a parent exists; legal obstacles prevent disclosing it"),
    "DISCLOSURE_DETRIMENTAL": ("none", "a parent exists; disclosing it would be detrimental to the entity"),
    "DETRIMENT_NOT_EXCLUDED": ("none", "a parent exists; detriment from disclosing it cannot be excluded"),
    "CONSENT_NOT_OBTAINED": ("none", "a parent exists; its consent to disclosure was not obtained"),
    "NO_LEI": ("none", "a parent exists without an LEI; it is not identified"),
}

# BODS 0.4 unspecified reasons (codelist unspecifiedReason), by their meaning.
BODS_REASONS: dict[str, tuple[str, str]] = {
    "noBeneficialOwners": ("partial", "the source reports no beneficial owners above its threshold"),
    "subjectExemptFromDisclosure": (
        "partial",
        "the subject is exempt from disclosure (for example, listed on a regulated market)",
    ),
    "subjectUnableToConfirmOrIdentifyBeneficialOwner": ("none", "the subject cannot identify its owners"),
    "interestedPartyHasNotProvidedInformation": ("none", "an owner has not provided its information"),
    "interestedPartyExemptFromDisclosure": ("none", "an owner is exempt from disclosure"),
    "unknown": ("none", "the owner is unknown to the source"),
    "informationUnknownToPublisher": ("none", "the owner is unknown to the publisher"),
}

# UK PSC register statements (Companies House codes) that say who is not on the register.
PSC_STATEMENTS: dict[str, tuple[str, str]] = {
    "no-individual-or-entity-with-signficant-control": (
        "partial",
        "UK PSC: no registrable person or entity (nobody holds more than 25%); smaller holders are not reported",
    ),
    "psc-exists-but-not-identified": ("none", "UK PSC: a registrable person exists but is not identified"),
    "psc-details-not-confirmed": ("none", "UK PSC: a registrable person's details are not confirmed"),
    "steps-to-find-psc-not-yet-completed": ("none", "UK PSC: the company has not finished looking for its PSCs"),
}

_GLEIF_CODE = re.compile(r"\b(" + "|".join(sorted(GLEIF_REASONS, key=len, reverse=True)) + r")\b")
_PSC_CODE = re.compile(r"\b(" + "|".join(sorted(PSC_STATEMENTS, key=len, reverse=True)) + r")\b")


def _fact(register: str, code: str, status: str, meaning: str, context: str, source: dict[str, Any]) -> dict[str, Any]:
    note = f"{register} {code}{f' ({context})' if context else ''}: {meaning}"
    return {"status": status, "statement": f"{register.lower()}:{code}", "note": note, "source": source}


def gleif_exception(reason: str, category: str | None, source: dict[str, Any]) -> dict[str, Any] | None:
    """The disclosure fact of a GLEIF reporting exception; None for a reason GLEIF does not publish."""
    meaning = GLEIF_REASONS.get(reason)
    if meaning is None:
        return None
    return _fact("GLEIF", reason, *meaning, (category or "").lower().replace("_", " "), source)


def bods_unspecified(reason: str | None, description: str, source: dict[str, Any]) -> dict[str, Any]:
    """The disclosure fact of a BODS unspecified party. A description naming a GLEIF reporting
    exception or a UK PSC statement (as Open Ownership's pipelines write them) is read as that
    statement, so the same fact reads the same from every format."""
    stated = statement_in_text(description, source)
    if stated is not None:
        return stated
    status, meaning = BODS_REASONS.get(reason or "", ("none", "the source does not say why"))
    return _fact("BODS", reason or "unspecified", status, meaning, "", source)


def add_disclosure(record: dict[str, Any], fact: dict[str, Any]) -> None:
    """Add a disclosure fact to an entity record once (the same statement from the same source)."""
    facts = record.setdefault("disclosure", [])
    if fact not in facts:
        facts.append(fact)


def statement_in_text(text: str, source: dict[str, Any]) -> dict[str, Any] | None:
    """The disclosure fact a free-text field states, when it names a GLEIF reporting exception
    reason or a UK PSC statement code (FollowTheMoney notes and summaries carry them so)."""
    found = _GLEIF_CODE.search(text)
    if found:
        return _fact("GLEIF", found.group(1), *GLEIF_REASONS[found.group(1)], "", source)
    psc = _PSC_CODE.search(text)
    if psc:
        return _fact("PSC", psc.group(1), *PSC_STATEMENTS[psc.group(1)], "", source)
    return None
