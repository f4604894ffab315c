"""Hypothesis strategies for ownership graphs in the facts format, cycles included."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

RESTRICTED = ["CN", "RU", "KP", "IR"]
CLEAN = ["SG", "US", "KY", "GB", "DE", "AE", "VG"]
# Places the regions list makes review, restricted by subdivision, or not: Hong Kong, Crimea,
# Ukraine without a subdivision, Kyiv.
REGIONAL = ["HK", "UA-43", "UA", "UA-30"]
COUNTRIES = RESTRICTED + CLEAN
TAGS = ["joint-a", "joint-b"]
DATES = ["2020-01-01", "2025-10-01", "2025-10-02", "2030-01-01"]
TYPES = ["company", "company", "company", "person", "public_body", "organization", "unknown"]
CONTROL_KINDS = ["consolidation", "voting_majority", "board_appointment", "significant_influence", "branch"]
# Disclosure facts: absent, a status alone, or statements (only an explicit "full" is complete by default).
DISCLOSURES: list[Any] = [
    None,
    "full",
    "full",
    "partial",
    "none",
    [{"status": "partial", "statement": "gleif:NATURAL_PERSONS"}],
    [{"status": "none", "statement": "gleif:NON_CONSOLIDATING"}, {"status": "full"}],
]


@st.composite
def percentages(draw: st.DrawFn, headroom: Decimal) -> dict[str, Any]:
    """An exact or ranged stake that keeps the asset's total at or under 100%."""
    if headroom <= 0:
        return {"percentage": "0"}
    cents = int(headroom * 100)
    if draw(st.integers(0, 4)) == 0 and cents >= 1:
        low = draw(st.sampled_from([0, 2500, 5000, min(cents, 7500)]) | st.integers(0, cents))
        low = min(low, cents)
        high = draw(st.sampled_from([5000, 7500, 10000]) | st.integers(low, 10000))
        high = max(high, low)
        return {
            "percentage_min": str(Decimal(low) / 100),
            "percentage_max": str(Decimal(high) / 100),
            "min_exclusive": low < high and draw(st.booleans()),
            "max_exclusive": low < high and draw(st.booleans()),
        }
    value = Decimal(draw(st.integers(0, cents))) / 100
    return {"percentage": str(value) if draw(st.booleans()) else float(value)}


@st.composite
def ownership_graphs(draw: st.DrawFn, max_entities: int = 12, clean_only: bool = False) -> dict[str, Any]:
    count = draw(st.integers(1, max_entities))
    countries = CLEAN if clean_only else COUNTRIES + REGIONAL
    country = st.one_of(st.sampled_from(countries), st.none()) if not clean_only else st.sampled_from(countries)
    entities = [
        {
            "id": f"e{i}",
            "type": draw(st.sampled_from(TYPES)),
            "headquarters": draw(country),
            "jurisdiction": draw(country),
        }
        for i in range(count)
    ]
    for entity in entities:
        # A clean graph is a complete account: every holder is in it.
        disclosure = "full" if clean_only else draw(st.sampled_from(DISCLOSURES))
        if disclosure is not None:
            entity["disclosure"] = disclosure
    headroom = {entity["id"]: Decimal(100) for entity in entities}
    types = {entity["id"]: entity["type"] for entity in entities}
    links: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, count * 2))):
        owner = f"e{draw(st.integers(0, count - 1))}"
        asset = f"e{draw(st.integers(0, count - 1))}"
        if clean_only and types[asset] == "person" and types[owner] != "person":
            continue  # a clean account has no person held by an organisation (rule 6 reviews that)
        if draw(st.integers(0, 6)) == 0:
            links.append({"owner": owner, "asset": asset, "kind": draw(st.sampled_from(CONTROL_KINDS))})
            continue
        stake = draw(percentages(headroom[asset]))
        held = Decimal(str(stake.get("percentage", stake.get("percentage_min", 0))))
        if clean_only and Decimal(100) - headroom[asset] + held == 1:
            continue  # nor stakes adding up to exactly 1, which rule 6 reads as 0-1 ratios
        headroom[asset] -= held
        link = {"owner": owner, "asset": asset, **stake}
        if not clean_only and draw(st.integers(0, 5)) == 0:  # held by the owner for a principal, maybe undisclosed
            link["kind"] = "nominee"
            link["principal"] = draw(st.none() | st.sampled_from([f"e{i}" for i in range(count)]))
        if draw(st.integers(0, 3)) == 0:
            link["acting_jointly"] = draw(st.sampled_from(TAGS))
        links.append(link)
    for link in links:  # some links only hold for a while (start inclusive, end exclusive)
        if draw(st.integers(0, 5)) == 0:
            start, end = sorted(draw(st.lists(st.sampled_from(DATES), min_size=2, max_size=2)))
            link["start_date"] = start
            if draw(st.booleans()):
                link["end_date"] = end
    return {"entities": entities, "ownership": links}
