"""What the machinery reads from an ownership profile (rules/ownership/profiles/NAME/data.json)
to word and check facts the way the rules read them, instead of naming kinds and types itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def stake_kinds(profile: Mapping[str, Any]) -> frozenset[str]:
    """The link kinds the profile's `link_effects` count as stakes (shares that add up)."""
    effects: Mapping[str, str] = profile.get("link_effects", {})
    return frozenset(kind for kind, effect in effects.items() if effect == "stake")


def unknown_types(profile: Mapping[str, Any]) -> frozenset[str]:
    """The entity types the profile reads as unknown (a person or an organisation)."""
    return frozenset(profile.get("unknown_types", ()))
