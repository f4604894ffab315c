"""Properties of share ranges (UK PSC bands and the like) under every shipped profile:
narrowing a range never turns a decided case into review, and a deny reached on the
lowest values stays deny when the values rise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RULES = Path(__file__).resolve().parent.parent.parent / "rules"
PROFILES = tuple(sorted(path.parent.name for path in RULES.glob("ownership/profiles/*/data.json")))


@st.composite
def ranged_stakes(draw: Any) -> list[tuple[int, int, bool, bool, str]]:
    """Up to three stakes as (low, high, min_exclusive, max_exclusive, owner country); lows add up to at most 100."""
    count = draw(st.integers(1, 3))
    stakes = []
    budget = 100
    for _ in range(count):
        low = draw(st.integers(0, budget // 5)) * 5
        high = draw(st.integers(low // 5, 20)) * 5
        min_ex = draw(st.booleans()) if low < high else False
        max_ex = draw(st.booleans()) if low < high else False
        stakes.append((low, high, min_ex, max_ex, draw(st.sampled_from(["CN", "RU", "FR"]))))
        budget -= low
    return stakes


def _document(stakes: list[tuple[int, int, bool, bool, str]], jointly: bool) -> dict[str, Any]:
    entities = [{"id": "target", "type": "company", "headquarters": "GB", "jurisdiction": "GB"}]
    links = []
    for index, (low, high, min_ex, max_ex, country) in enumerate(stakes):
        entities.append({"id": f"o{index}", "type": "company", "headquarters": country, "jurisdiction": country})
        link: dict[str, Any] = {
            "owner": f"o{index}",
            "asset": "target",
            "percentage_min": str(low),
            "percentage_max": str(high),
            "min_exclusive": min_ex,
            "max_exclusive": max_ex,
        }
        if jointly:
            link["acting_jointly"] = "group"
        links.append(link)
    return {"entities": entities, "ownership": links}


@st.composite
def narrowed(draw: Any, stakes: list[tuple[int, int, bool, bool, str]]) -> list[tuple[int, int, bool, bool, str]]:
    out = []
    for low, high, min_ex, max_ex, country in stakes:
        new_low = draw(st.integers(low, high))
        new_high = draw(st.integers(new_low, high))
        # An exclusive bound may become inclusive only where the bound itself moved inward.
        new_min_ex = (min_ex if new_low == low else draw(st.booleans())) if new_low < new_high else False
        new_max_ex = (max_ex if new_high == high else draw(st.booleans())) if new_low < new_high else False
        if new_low == new_high and ((new_low == low and min_ex) or (new_high == high and max_ex)):
            continue  # an empty range: no narrowing of the original
        out.append((new_low, new_high, new_min_ex, new_max_ex, country))
    if len(out) != len(stakes) or sum(low for low, *_ in out) > 100:
        return stakes  # not a narrowing that a register could publish (lows over 100% together)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), stakes=ranged_stakes(), jointly=st.booleans(), profile=st.sampled_from(PROFILES))
def test_narrowing_a_range_never_turns_a_decision_into_review(
    decide: Any, data: Any, stakes: list[tuple[int, int, bool, bool, str]], jointly: bool, profile: str
) -> None:
    before = decide(_document(stakes, jointly), profile=profile)["target"]
    after = decide(_document(data.draw(narrowed(stakes)), jointly), profile=profile)["target"]
    if before != "review":
        assert after == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), stakes=ranged_stakes(), jointly=st.booleans(), profile=st.sampled_from(PROFILES))
def test_deny_on_the_lowest_values_stays_deny_when_values_rise(
    decide: Any, data: Any, stakes: list[tuple[int, int, bool, bool, str]], jointly: bool, profile: str
) -> None:
    if decide(_document(stakes, jointly), profile=profile)["target"] != "deny":
        return
    budget = 100 - sum(low for low, *_ in stakes)
    risen = []
    for low, high, min_ex, max_ex, country in stakes:
        extra = data.draw(st.integers(0, budget))
        budget -= extra
        new_low = low + extra
        new_high = min(100, max(high, new_low) + data.draw(st.integers(0, 20)))
        risen.append((new_low, new_high, min_ex and new_low < new_high, max_ex and new_low < new_high, country))
    assert decide(_document(risen, jointly), profile=profile)["target"] == "deny"
