"""Determinations: reviewers' findings, recorded as data by pull request
(rules/determinations/*.json, schemas/determination.schema.json), applied over
the facts before deciding.

A determination establishes one fact about one entity: a stake confirmed (the
owner's shareholding links in it replaced by one exact stake), a country or a
type confirmed, or its ownership disclosure confirmed complete or partial. It is
in force from `determined_on` (inclusive) to `expires` (exclusive), the
convention of links and exceptions: on the day it expires the decision goes back
to what the facts alone give, usually review. A determination is a fact, not a
waiver: it may settle a review to deny as well as to allow, and it reaches the
entity's descendants as any fact does. Every decision whose owners' closure holds
a determined fact cites it."""

from __future__ import annotations

import dataclasses
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from jsonschema.exceptions import best_match

from tos_policy.dates import strict_date
from tos_policy.errors import RulesError
from tos_policy.facts.load import (
    Entity,
    Facts,
    Link,
    Share,
    country_code,
    json_path,
    parse_json_bytes,
    parse_percentage,
)
from tos_policy.policy.ruleset import RuleSet
from tos_policy.resources import schema
from tos_policy.schema_check import validator_for

DIRECTORY = "determinations"  # under the rules directory
IN_FORCE, EXPIRED, PENDING = "in_force", "expired", "not_yet_in_force"


@dataclass(frozen=True)
class Determination:
    id: str
    entity: str
    fact: dict[str, Any]
    determined_by: str
    determined_on: date
    evidence: str
    expires: date
    file: str

    def status(self, day: date) -> str:
        if day < self.determined_on:
            return PENDING
        return IN_FORCE if day < self.expires else EXPIRED

    def finding(self) -> str:
        """The fact established, in words."""
        if "stake" in self.fact:
            stake = self.fact["stake"]
            return f"stake confirmed: {stake['owner']} holds {stake['percentage']}% of {self.entity}"
        if "country" in self.fact:
            return f"{self.fact['country']['field']} confirmed: {self.fact['country']['value']}"
        if "type" in self.fact:
            return f"type confirmed: {self.fact['type']}"
        return f"disclosure {self.fact['disclosure']}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "entity": self.entity,
            "finding": self.finding(),
            "fact": self.fact,
            "determined_by": self.determined_by,
            "determined_on": self.determined_on.isoformat(),
            "evidence": self.evidence,
            "expires": self.expires.isoformat(),
        }


def load_determinations(rules: RuleSet) -> list[Determination]:
    """Every determination under the rules directory, each file checked against its schema."""
    directory = rules.root / DIRECTORY
    if not directory.is_dir():
        return []
    validator = validator_for(schema("determination"))
    found: dict[str, Determination] = {}
    for path in sorted(directory.glob("*.json")):
        file = str(path)
        document = parse_json_bytes(path.read_bytes(), file)
        error = best_match(validator.iter_errors(document))
        if error is not None:
            raise RulesError(error.message, file=file, path=json_path(error.absolute_path), value=error.instance)
        for key, item in document.items():
            if key in found:
                raise RulesError("determination id used twice", file=file, path=json_path([key]), value=key)
            determined_on, expires = strict_date(item["determined_on"]), strict_date(item["expires"])
            if expires <= determined_on:
                raise RulesError(
                    "expires must come after determined_on", file=file, path=f"$.{key}.expires", value=item["expires"]
                )
            if "country" in item["fact"]:
                country_code(item["fact"]["country"]["value"], file, f"$.{key}.fact.country.value")
            if "stake" in item["fact"]:
                parse_percentage(item["fact"]["stake"]["percentage"], file, f"$.{key}.fact.stake.percentage")
            found[key] = Determination(
                key, item["entity"], item["fact"], item["determined_by"], determined_on, item["evidence"], expires, file
            )
    return list(found.values())


@dataclass
class Overlay:
    """The facts with the determinations in force applied, and which decisions each touches."""

    facts: Facts
    as_of: date
    all: list[Determination]
    applied: list[Determination] = field(default_factory=list)
    touched: dict[str, list[str]] = field(default_factory=dict)  # entity -> ids of the determinations it rests on

    def cited_by(self, entity_id: str) -> list[dict[str, Any]]:
        by_id = {item.id: item for item in self.applied}
        return [by_id[key].as_json() for key in self.touched.get(entity_id, [])]

    def citations(self) -> dict[str, tuple[str, ...]]:
        return {entity: tuple(ids) for entity, ids in self.touched.items()}

    def summary(self) -> dict[str, Any]:
        """Counts for a report: the determinations by status on the as-of date, and the decisions they touch."""
        counts = {IN_FORCE: 0, EXPIRED: 0, PENDING: 0}
        for item in self.all:
            counts[item.status(self.as_of)] += 1
        applied = {item.id for item in self.applied}
        return {
            **counts,
            "applied": len(applied),
            "touched": sorted(self.touched),
            "determinations": [
                {**item.as_json(), "status": item.status(self.as_of), "applied": item.id in applied}
                for item in self.all
            ],
        }


def overlay(facts: Facts, rules: RuleSet, as_of: date) -> Overlay:
    """The facts as the determinations in force on `as_of` establish them. A determination about an
    entity (or owner) these facts do not hold does not apply to them."""
    every = load_determinations(rules)
    result = Overlay(facts, as_of, every)
    active = [
        item
        for item in every
        if item.status(as_of) == IN_FORCE and item.entity in facts.entities and _applies(item, facts)
    ]
    if not active:
        return result
    entities = dict(facts.entities)
    links = list(facts.links)
    for item in active:
        entities, links = _apply(item, entities, links, as_of)
    result.facts = dataclasses.replace(facts, entities=entities, links=links)  # aliases kept
    result.applied = active
    result.touched = _touched(active, result.facts.active_links(as_of))
    return result


def _applies(item: Determination, facts: Facts) -> bool:
    stake = item.fact.get("stake")
    return stake is None or stake["owner"] in facts.entities


def _apply(
    item: Determination, entities: dict[str, Entity], links: list[Link], as_of: date
) -> tuple[dict[str, Entity], list[Link]]:
    entity = entities[item.entity]
    where = f"{item.file}:$.{item.id}.fact"
    if "country" in item.fact:
        value = country_code(item.fact["country"]["value"], item.file, where)
        field_name = item.fact["country"]["field"]
        changed: dict[str, Any] = {field_name: value, "history": _without_field(entity, field_name)}
        entities[item.entity] = entity._replace(**changed)
    elif "type" in item.fact:
        entities[item.entity] = entity._replace(type=item.fact["type"], history=_without_field(entity, "type"))
    elif "disclosure" in item.fact:
        if "disclosure" in Entity._fields:  # the facts' disclosure statuses: complete disclosure is "full"
            status = "full" if item.fact["disclosure"] == "complete" else "partial"
            disclosed: dict[str, Any] = {"disclosure": (status,)}
            entities[item.entity] = entity._replace(**disclosed)
    else:
        stake = item.fact["stake"]
        owner, share = stake["owner"], Decimal(stake["percentage"])
        kept = [
            link
            for link in links
            if not (
                link.owner == owner
                and link.asset == item.entity
                and link.kind == "shareholding"
                and link.active_on(as_of)
            )
        ]
        kept.append(Link(owner=owner, asset=item.entity, kind="shareholding", share=Share(share, share), path=where))
        links = kept
    return entities, links


def _without_field(entity: Entity, field_name: str) -> tuple[Any, ...]:
    """Its dated values but those of `field_name`: a finding in force sets the field itself."""
    return tuple(item for item in entity.history if item.field != field_name)


def _touched(applied: list[Determination], links: list[Link]) -> dict[str, list[str]]:
    below: dict[str, list[str]] = defaultdict(list)
    for link in links:
        for party in link.parties():
            below[party].append(link.asset)
    touched: dict[str, list[str]] = defaultdict(list)
    for item in applied:
        seen = {item.entity}
        queue = deque([item.entity])
        while queue:
            current = queue.popleft()
            touched[current].append(item.id)
            for asset in below.get(current, ()):
                if asset not in seen:
                    seen.add(asset)
                    queue.append(asset)
    return dict(touched)
