"""Reasons in plain English, worded by the rules' METADATA, not by Python.

Each rule's METADATA may carry `custom.messages`, one template per reason code it gives,
and a module's METADATA `custom.words`, words for values a reason holds (a country field,
a signal). A template is a Python format string over the reason's fields and:

    {entity}           the entity decided, "Name (id)"
    {owners}           the owners the reason cites, "Name (id) holds 60%" or "Name (id) (consolidation)"
    {total}            a summed share: "55%", or "at least 25% and at most 50%"
    {KEY_words}        the words for the reason's value of KEY (e.g. {field_words}: "headquartered in")
    {KEY_list}         a list field joined with ", " (e.g. {ownership_rule_ids_list})

A code's template may also be a list of templates: the first whose fields the reason all
holds (present and not null) is used, e.g. a subdivision's wording before the country's.
A reason whose rule has no usable template for its code is worded generically
("CODE: owners"), never dropped."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from tos_policy.policy.ruleset import RuleSet


def label(entity_id: str, name: str | None) -> str:
    return f"{name} ({entity_id})" if name else entity_id


def share_text(owner: Mapping[str, Any]) -> str:
    if "percentage" in owner:
        return f"{owner['percentage']}%"
    low = ("more than " if owner.get("min_exclusive") else "") + f"{owner['percentage_min']}%"
    high = ("less than " if owner.get("max_exclusive") else "at most ") + f"{owner['percentage_max']}%"
    return f"{low} to {high}"


def owner_text(owner: Mapping[str, Any], as_stake: bool) -> str:
    name = label(str(owner["id"]), owner.get("name"))
    if as_stake:
        held = share_text(owner)
        if "voting" in owner:  # votes given apart from the shares
            held = f"{held} of the shares and {share_text(owner['voting'])} of the votes"
        if "share_class" in owner:
            held += f" (through class {owner['share_class']} shares)"
        if "held_by" in owner:
            held += f" (registered to {owner['held_by']})"
        return f"{name} holds {held}"
    return f"{name} ({str(owner['kind']).replace('_', ' ')})"


def total_text(reason: Mapping[str, Any]) -> str:
    low, high = reason.get("share_min"), reason.get("share_max")
    cited = reason.get("owners", [])
    above = "more than" if any(owner.get("min_exclusive") for owner in cited) else "at least"
    below = "less than" if any(owner.get("max_exclusive") for owner in cited) else "at most"
    return f"{low}%" if low == high else f"{above} {low}% and {below} {high}%"


def module_words(rules: RuleSet, rule_file: str) -> dict[str, str]:
    """The words every METADATA block of one module gives (custom.words), merged."""
    words: dict[str, str] = {}
    for info in rules.rules.values():
        if info.file == rule_file:
            words.update({str(key): str(value) for key, value in (info.custom.get("words") or {}).items()})
    return words


def reason_message(
    reason: Mapping[str, Any], rules: RuleSet | None, entity_id: str = "", entity_name: str | None = None
) -> str:
    """The reason in plain English, from its rule's message template."""
    # A reason that sums a share cites stakes (the profile's link_effects chose them); any
    # other cites links by their kind.
    as_stakes = "share_min" in reason
    owners = "; ".join(owner_text(owner, as_stakes) for owner in reason.get("owners", []))
    code = str(reason.get("code"))
    generic = f"{code}: {owners}" if owners else code
    info = rules.rules.get(str(reason.get("rule_id"))) if rules is not None else None
    given = (info.custom.get("messages") or {}).get(code) if info is not None else None
    templates = [given] if isinstance(given, str) else [item for item in given or [] if isinstance(item, str)]
    if info is None or rules is None or not templates:
        return generic
    words = module_words(rules, info.file)
    context: dict[str, Any] = {key: value for key, value in reason.items() if key != "owners"}
    for key, value in reason.items():
        if isinstance(value, str) and value in words:
            context[f"{key}_words"] = words[value]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            context[f"{key}_list"] = ", ".join(value) or "none"
    context.update(entity=label(entity_id, entity_name), owners=owners)
    if "share_min" in reason:
        context["total"] = total_text(reason)
    formatter = string.Formatter()
    for template in templates:
        try:
            fields = [name for _, name, _, _ in formatter.parse(template) if name is not None]
            if all(context.get(name) is not None for name in fields):
                return formatter.vformat(template, (), context)
        except (KeyError, IndexError, ValueError):
            continue
    return generic
