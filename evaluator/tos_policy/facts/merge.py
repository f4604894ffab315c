"""Merge the records of one legal person into one entity (facts/identity.py says why and how
identifiers are read), and name every entity by all its aliases.

Done once, when facts are loaded, so every command, plan and format sees the same entities.
The result depends on the records' content only: the canonical id is the id of the record
holding the group's lowest LEI, or else its lowest record id, and merged fields are chosen without regard to
order (a value the records disagree on is unknown)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from tos_policy.errors import InputError
from tos_policy.facts.identity import AMBIGUOUS, LEI, alias_forms, canonical_id
from tos_policy.facts.load import Capital, Dated, Entity, Facts, Link
from tos_policy.facts.provenance import Source
from tos_policy.unionfind import UnionFind

UNKNOWN_TYPE = "unknown"


def merge_legal_persons(facts: Facts) -> Facts:
    """`facts` with the records sharing a strong identifier merged (links renamed to the
    merged entity, a link of the entity to itself dropped) and every alias recorded."""
    groups = UnionFind()
    holder: dict[str, str] = {}
    for entity in facts.entities.values():
        for identifier in entity.identifiers:
            if identifier in holder:
                groups.union(holder[identifier], entity.id)
            else:
                holder[identifier] = entity.id
    members: dict[str, list[Entity]] = defaultdict(list)
    for entity_id in groups.parent:
        members[groups.find(entity_id)].append(facts.entities[entity_id])
    for root, group in members.items():  # a root is nobody's child: add it to its own group
        group.append(facts.entities[root])
    renamed: dict[str, str] = {}
    merged: dict[str, Entity] = {}
    for group in members.values():
        if len(group) < 2:
            continue
        entity = _merged(group)
        merged[entity.id] = entity
        for member in group:
            renamed[member.id] = entity.id
        facts.merged[entity.id] = tuple(sorted((member.id, member.path) for member in group))
    if renamed:
        entities: dict[str, Entity] = {}
        for entity in facts.entities.values():  # a merged entity takes its first record's place
            target = renamed.get(entity.id, entity.id)
            if target not in entities:
                entities[target] = merged.get(target, entity)
        facts.entities = entities
        facts.links = [link for link in (_renamed(link, renamed) for link in facts.links) if link is not None]
    facts.aliases = _aliases(facts, renamed)
    return facts


def _merged(group: list[Entity]) -> Entity:
    canonical = canonical_id((member.id, member.identifiers) for member in group)
    ordered = sorted(group, key=lambda member: (member.id != canonical, member.id))
    types = {member.type for member in group} - {UNKNOWN_TYPE}
    headquarters = _agreed(member.headquarters for member in group)
    jurisdiction = _agreed(member.jurisdiction for member in group)
    return Entity(
        id=canonical,
        type=types.pop() if len(types) == 1 else UNKNOWN_TYPE,
        name=next((member.name for member in ordered if member.name), None),
        headquarters=headquarters,
        jurisdiction=jurisdiction,
        # a subdivision only within the country the records agree on (else the place is unknown)
        headquarters_subdivision=_agreed(m.headquarters_subdivision for m in group) if headquarters else None,
        jurisdiction_subdivision=_agreed(m.jurisdiction_subdivision for m in group) if jurisdiction else None,
        path=ordered[0].path,
        disclosure=tuple(sorted({term for member in group for term in member.disclosure})),
        identifiers=tuple(sorted({identifier for member in group for identifier in member.identifiers})),
        placeholder=all(member.placeholder for member in group),  # one described record describes it
        history=_history(group),
        capital=_agreed_capital(group),
        records=tuple(sorted(record for member in group for record in _records(member))),
    )


def _records(entity: Entity) -> tuple[tuple[str, tuple[Source, ...]], ...]:
    """The records an entity was read from, each with its origins (cited by decisions)."""
    return entity.records or ((entity.path, entity.sources),)


def _agreed_capital(group: list[Entity]) -> Capital | None:
    """The share counts the records give, when they agree; records that disagree leave them
    unknown, so a stake stated as a number of shares is read as unknown, never as a guess."""
    known = {member.capital for member in group if member.capital is not None}
    return known.pop() if len(known) == 1 else None


def _history(group: list[Entity]) -> tuple[Dated, ...]:
    """The dated values of every record; where one record dates a field, another's undated value of
    it is one more value in force, so records that disagree on the day leave the field unknown."""
    dated = {item.field for member in group for item in member.history}
    history = [item for member in group for item in member.history]
    for member in group:
        own = {item.field for item in member.history}
        for field_name in sorted(dated - own):
            value = member.type if field_name == "type" else getattr(member, field_name)
            if value is None or (field_name == "type" and value == UNKNOWN_TYPE):
                continue
            subdivision = getattr(member, f"{field_name}_subdivision", None)
            history.append(Dated(field_name, value, path=member.path, subdivision=subdivision))
    return tuple(sorted(history, key=lambda item: (item.field, item.path, str(item.start_date), str(item.value))))


def _agreed(values: Iterable[str | None]) -> str | None:
    """The one country the records give; unknown when none does or they disagree."""
    known = {value for value in values if value is not None}
    return known.pop() if len(known) == 1 else None


def _renamed(link: Link, renamed: dict[str, str]) -> Link | None:
    owner, asset = renamed.get(link.owner, link.owner), renamed.get(link.asset, link.asset)
    principal = None if link.principal is None else renamed.get(link.principal, link.principal)
    if owner == link.owner and asset == link.asset and principal == link.principal:
        return link
    if owner == asset:  # two records of one legal person linked to each other say nothing of its owners
        return None
    return link._replace(owner=owner, asset=asset, principal=principal)


def _aliases(facts: Facts, renamed: dict[str, str]) -> dict[str, str]:
    aliases: dict[str, str] = {}

    def add(name: str, entity_id: str) -> None:
        if name in facts.entities and name != entity_id:
            return  # an entity's own id always names it
        known = aliases.get(name)
        aliases[name] = entity_id if known in (None, entity_id) else AMBIGUOUS

    for old, new in renamed.items():
        if old != new:
            add(old, new)
    for entity in facts.entities.values():
        for identifier in entity.identifiers:
            add(identifier, entity.id)
            add(identifier.partition(":")[2], entity.id)
    return aliases


def resolve(facts: Facts, name: str, *, file: str, path: str = "$") -> str:
    """The id of the entity `name` names: its id, a merged record's id or any of its identifiers
    in any form; an InputError naming `file` and `path` when none or several entities match."""
    if name in facts.entities:
        return name
    for form in dict.fromkeys(alias_forms(name)):
        found = facts.aliases.get(form)
        if found == AMBIGUOUS:
            message = "this identifier names more than one entity in the facts"
            raise InputError(message, file=file, path=path, value=name)
        if found is not None:
            return found
    raise InputError("no entity with this id or identifier in the facts", file=file, path=path, value=name)


def names_of(facts: Facts, entity_id: str) -> set[str]:
    """Every name of an entity: its id, the ids of the records merged into it and its identifiers."""
    names = {entity_id, *(member for member, _ in facts.merged.get(entity_id, ()))}
    for identifier in facts.entities[entity_id].identifiers:
        names.add(identifier)
        if identifier.startswith(f"{LEI}:"):  # an LEI is unique alone; a bare register number is not
            names.add(identifier.partition(":")[2])
    return names
