"""Shares held for a principal: a nominee, custodian or trustee is the registered holder,
another party (the principal) the owner the shares are held for.

A facts link of kind `nominee` (owner: the registered holder, `principal`: the party) is
read here as two links, so the rules see each party in its own role and the profile's
`link_effects` say what each does:

- kind `nominee`, held by the principal (the registered holder kept as `holder`): the
  principal's stake, as if it held the shares itself;
- kind `held_as_nominee`, held by the registered holder: its legal title, never a second
  stake in the same shares (the profile schema allows only restricts or review for it).

A principal the facts do not disclose is an owner nobody knows: a placeholder entity of
the unknown type with unknown countries, one per registered holder, which the strict
reading may take as restricted and the lenient one never does. Nothing here knows which
parties are restricted or what a kind means: that is the rules' and the profile's."""

from __future__ import annotations

from tos_policy.facts.load import UNKNOWN_TYPE, Entity, Link

NOMINEE = "nominee"  # the facts' link kind of shares held for a principal, and the principal's link
HELD_AS_NOMINEE = "held_as_nominee"  # the registered holder's link to the same shares


def undisclosed_principal_id(holder: str, taken: dict[str, Entity]) -> str:
    """The placeholder id of the undisclosed principal(s) of `holder`: not any entity's id."""
    base = f"{holder} (undisclosed principal)"
    found, number = base, 1
    while found in taken:
        number += 1
        found = f"{base} #{number}"
    return found


def attribute_to_principals(entities: dict[str, Entity], links: list[Link]) -> tuple[dict[str, Entity], list[Link]]:
    """The entities (with a placeholder for each undisclosed principal) and the links with every
    facts link held for a principal read as the principal's stake and the holder's title, in
    place (each keeps the facts link's path). The same objects when no link is held for one."""
    if not any(link.kind == NOMINEE and link.holder is None for link in links):
        return entities, links
    out_entities = dict(entities)
    placeholders: dict[str, str] = {}
    out: list[Link] = []
    for link in links:
        if link.kind != NOMINEE or link.holder is not None:
            out.append(link)
            continue
        principal = link.principal
        if principal is None:
            principal = placeholders.get(link.owner)
            if principal is None:
                principal = undisclosed_principal_id(link.owner, out_entities)
                placeholders[link.owner] = principal
                name = f"the undisclosed principal of {entities[link.owner].name or link.owner}"
                out_entities[principal] = Entity(principal, UNKNOWN_TYPE, name, path=link.path)
        out.append(link._replace(owner=principal, principal=principal, holder=link.owner))
        out.append(link._replace(kind=HELD_AS_NOMINEE, principal=principal))
    return out_entities, out
