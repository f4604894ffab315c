"""A synthetic company registry for benchmarks and scale tests.

Realistic in the ways that matter to the fixpoint: heavy-tailed corporate
groups, chains tens of levels deep, holding companies in tax havens, minority
cross-holdings that close cycles, banded (PSC-style) stakes, a few percent of
groups headed in restricted regions, some unknown countries and person owners.
Same seed, same file.

With `varied`, the registry defeats the evaluator's cache of identical step
inputs: countries drawn from every ISO 3166 code, percentages with up to four
decimals from wide distributions, ranges with random bounds and ends, more
restricted groups and control links of every kind, so that most entities with
a restricted owner are in a situation of their own.

Companies state how complete their ownership facts are as a register would: most
fully disclosed (a complete share register or a signed declaration: the holders of a
company with any known holder add up to 100%, the rest held by registered individuals), some partially, a few not at all
(`disclosure` absent). With `disclosure=False` no company states any and none is
completed, so every one may have an undisclosed remainder: the worst case for the
cache. The statements are drawn from a random generator of their own, so a registry
with and without them holds the same entities and the same links (and, with them,
the completing links at the end). --varied registries state no disclosure."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

RESTRICTED = ("CN", "RU", "IR", "KP")
HAVENS = ("KY", "VG", "BM", "JE", "LU", "NL", "CY", "IE", "SG", "AE", "MT", "PA")
ORDINARY = ("US", "GB", "DE", "FR", "JP", "IN", "BR", "CA", "AU", "KR", "IT", "ES", "SE", "CH", "ZA", "MX")
BANDS = (("25", "50"), ("50", "75"), ("75", "100"))


@dataclass(frozen=True)
class SynthOptions:
    entities: int
    seed: int = 1
    restricted_group_share: float = 0.03
    links_per_entity: float = 1.65
    varied: bool = False
    disclosure: bool = True


# Share of companies (in the default registry) by what they state of their ownership.
DISCLOSURE_MIX = (("full", 0.90), ("partial", 0.06), ("none", 0.04))


# --varied: every ISO 3166-1 code, restricted ones more often than their share.
CONTROL_KINDS = (
    "branch",
    "consolidation",
    "voting_majority",
    "board_appointment",
    "significant_influence",
    "other_control",
)
UNITS = 10_000  # a varied percentage is drawn in 1/10,000ths of a point
VARIED_RESTRICTED_GROUP_SHARE = 0.15


def _all_countries() -> tuple[str, ...]:
    import pycountry

    return tuple(sorted(str(country.alpha_2) for country in pycountry.countries))


def _country(rng: random.Random) -> str:
    return rng.choice(HAVENS) if rng.random() < 0.3 else rng.choice(ORDINARY)


def _group_size(rng: random.Random) -> int:
    # Pareto tail: most groups have a few companies, a few have thousands.
    return max(1, min(5000, int(rng.paretovariate(1.2))))


def generate(options: SynthOptions) -> Iterator[dict[str, Any]]:
    """Entity and link records in JSON Lines order: groups first, then links across groups."""
    if options.varied:
        yield from _RegisterLines()(_Varied(options).generate())
        return
    rng = random.Random(options.seed)
    headroom: dict[int, int] = {}  # asset index -> percent still unallocated
    counter = {"entities": 0, "links": 0}
    heads: list[int] = []
    records = _Disclosures(options.seed) if options.disclosure else None
    lines = _RegisterLines()
    while counter["entities"] < options.entities:
        size = min(_group_size(rng), options.entities - counter["entities"])
        restricted = rng.random() < options.restricted_group_share
        group = lines(_group(rng, size, restricted, headroom, counter, heads))
        yield from records.seen(group) if records else group
    cross = lines(_cross_links(rng, options, headroom, counter, heads))
    if records is None:
        yield from cross
        return
    yield from records.seen(cross)
    yield from records.completing()


class _RegisterLines:
    """Links as a register lists them: one line per holder, company and kind (a second link
    drawn for the same pair would be read by the evaluator's reconciliation as the same stake
    reported twice, a range, not as a second stake to add), and none into a person (nobody
    holds shares in an individual: the rules review such facts as inconsistent). The generators
    draw both at random; they are left out here, after the draws, so the rest stays the same."""

    def __init__(self) -> None:
        self.held: set[tuple[str, str, str]] = set()
        self.persons: set[str] = set()

    def __call__(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            if record.get("type") == "person":
                self.persons.add(record["id"])
            elif "owner" in record:
                key = (record["owner"], record["asset"], record.get("kind", "shareholding"))
                if key in self.held or record["asset"] in self.persons:
                    continue
                self.held.add(key)
            yield record


class _Disclosures:
    """Disclosure statements for the default registry (DISCLOSURE_MIX), and the links that
    complete the register of each fully disclosed company: registered individuals holding
    what the other known stakes leave, so that its holders add up to 100%."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"{seed}:disclosure")
        self.full: list[str] = []
        self.persons: list[str] = []
        self.known: dict[str, Decimal] = {}  # asset -> stakes read at their lowest
        self.exclusive: set[str] = set()  # assets with an exclusive lower bound (a band)
        self.holders: dict[str, set[str]] = {}  # asset -> its owners so far

    def seen(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            if "id" in record:
                if record["type"] == "company":
                    self._disclose(record)
                elif record["type"] == "person":
                    self.persons.append(record["id"])
            elif "kind" not in record:
                asset = record["asset"]
                self.holders.setdefault(asset, set()).add(record["owner"])
                self.known[asset] = self.known.get(asset, Decimal(0)) + Decimal(
                    record.get("percentage", record.get("percentage_min", "0"))
                )
                if record.get("min_exclusive"):
                    self.exclusive.add(asset)
            yield record

    def _disclose(self, record: dict[str, Any]) -> None:
        roll = self.rng.random()
        for status, share in DISCLOSURE_MIX:
            if roll < share:
                if status != "none":
                    record["disclosure"] = status
                if status == "full":
                    self.full.append(record["id"])
                return
            roll -= share

    def completing(self) -> Iterator[dict[str, Any]]:
        if not self.persons:
            return
        for company in self.full:
            known = self.known.get(company)
            # A company with no known holder (a group's head) keeps them all outside the registry.
            if known is None or company in self.exclusive:
                continue
            rest = 100 - known
            if rest <= 0:
                continue
            # A registered individual who holds none of it yet: a holder's second line would be
            # read as the same stake restated.
            holders = self.holders.get(company, set())
            draws = (self.rng.choice(self.persons) for _ in range(8))
            owner = next((person for person in draws if person not in holders), None)
            if owner is not None:
                yield {"owner": owner, "asset": company, "percentage": str(rest)}


def _disclose(rng: random.Random, record: dict[str, Any]) -> None:
    """A company's disclosure statement, drawn from DISCLOSURE_MIX ("none": absent)."""
    roll = rng.random()
    for status, share in DISCLOSURE_MIX:
        if roll < share:
            if status != "none":
                record["disclosure"] = status
            return
        roll -= share


def _member(rng: random.Random, index: int, head_of_restricted_group: bool) -> dict[str, Any]:
    if head_of_restricted_group:
        home = rng.choice(RESTRICTED)
        return _entity(index, "company", home, rng.choice((home, *HAVENS)))
    if rng.random() < 0.04:
        return _entity(index, "person", _country(rng), None)
    home = _country(rng)
    return _entity(index, "company", None if rng.random() < 0.004 else home, home)


def _group(
    rng: random.Random, size: int, restricted: bool, headroom: dict[int, int], counter: dict[str, int], heads: list[int]
) -> Iterator[dict[str, Any]]:
    members: list[int] = []
    for position in range(size):
        index = counter["entities"]
        counter["entities"] += 1
        entity = _member(rng, index, position == 0 and restricted)
        yield entity
        if members and entity["type"] != "person":
            # Deep chains: usually attach to the newest member, sometimes anywhere.
            parent = members[-1] if rng.random() < 0.6 else rng.choice(members)
            record = _stake(rng, parent, index, headroom, majority=True)
            if record is not None:
                counter["links"] += 1
                yield record
        members.append(index)
    # Minority cross-holdings inside the group close cycles.
    for _ in range(size // 4 if size > 1 else 0):
        owner, asset = rng.sample(members, 2)
        record = _stake(rng, owner, asset, headroom, majority=False)
        if record is not None:
            counter["links"] += 1
            yield record
    heads.extend(members[:3])
    del heads[:-2000]


def _cross_links(
    rng: random.Random, options: SynthOptions, headroom: dict[int, int], counter: dict[str, int], heads: list[int]
) -> Iterator[dict[str, Any]]:
    """Minority stakes and control links across groups, up to the link budget."""
    budget = int(options.entities * options.links_per_entity)
    while counter["links"] < budget:
        owner = rng.choice(heads) if heads and rng.random() < 0.5 else rng.randrange(options.entities)
        asset = rng.randrange(options.entities)
        if owner == asset:
            continue
        counter["links"] += 1
        if rng.random() < 0.05:
            kind = rng.choice(("consolidation", "significant_influence", "board_appointment", "voting_majority"))
            yield {"owner": f"E{owner}", "asset": f"E{asset}", "kind": kind}
            continue
        record = _stake(rng, owner, asset, headroom, majority=False)
        if record is not None:
            yield record


def _entity(index: int, kind: str, headquarters: str | None, jurisdiction: str | None) -> dict[str, Any]:
    return {
        "id": f"E{index}",
        "type": kind,
        "name": f"Entity {index}",
        "headquarters": headquarters,
        "jurisdiction": jurisdiction,
    }


def _stake(
    rng: random.Random, owner: int, asset: int, headroom: dict[int, int], *, majority: bool
) -> dict[str, Any] | None:
    room = headroom.get(asset, 100)
    record: dict[str, Any] = {"owner": f"E{owner}", "asset": f"E{asset}"}
    if majority and room >= 75 and rng.random() < 0.1:
        low, high = rng.choice(BANDS)
        headroom[asset] = room - int(low)
        record.update(percentage_min=low, min_exclusive=True, percentage_max=high)
        return record
    if room <= 0:
        return None
    if majority:
        value = min(room, rng.choice((100, 100, 100, 75, 60, 51, 50, rng.randint(30, 100))))
    else:
        value = min(room, rng.randint(1, 20))
    cents = rng.choice((0, 0, 0, rng.randint(0, 99)))
    if value == room or cents == 0:
        text = str(value)
    else:
        value = max(0, value - 1)
        text = f"{value}.{cents:02d}"
    headroom[asset] = room - value - (1 if text.endswith(f".{cents:02d}") and cents else 0)
    record["percentage"] = text
    if rng.random() < 0.02:
        record["start_date"] = "2024-06-01"
    return record


class _Varied:
    """The --varied registry: the same shape (groups, chains, cycles, cross links) with
    facts drawn from wide distributions. Headroom is kept in UNITS so totals stay <= 100%."""

    def __init__(self, options: SynthOptions) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.countries = _all_countries()
        self.headroom: dict[int, int] = {}
        self.entities = 0
        self.links = 0
        self.heads: list[int] = []

    def generate(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        share = max(self.options.restricted_group_share, VARIED_RESTRICTED_GROUP_SHARE)
        while self.entities < self.options.entities:
            size = min(_group_size(rng), self.options.entities - self.entities)
            yield from self._group(size, rng.random() < share)
        yield from self._cross_links()

    def _country(self) -> str | None:
        roll = self.rng.random()
        if roll < 0.02:
            return None
        if roll < 0.06:
            return self.rng.choice(RESTRICTED)
        return self.rng.choice(self.countries)

    def _member(self, index: int, head_of_restricted_group: bool) -> dict[str, Any]:
        rng = self.rng
        if head_of_restricted_group:
            home = rng.choice(RESTRICTED)
            return _entity(index, "company", home, rng.choice((home, *self.countries)))
        roll = rng.random()
        if roll < 0.05:
            return _entity(index, "person", self._country(), None)
        kind = "public_body" if roll < 0.07 else "unknown" if roll < 0.08 else "company"
        return _entity(index, kind, self._country(), self._country())

    def _group(self, size: int, restricted: bool) -> Iterator[dict[str, Any]]:
        rng = self.rng
        members: list[int] = []
        for position in range(size):
            index = self.entities
            self.entities += 1
            entity = self._member(index, position == 0 and restricted)
            yield entity
            if members and entity["type"] != "person":
                parent = members[-1] if rng.random() < 0.6 else rng.choice(members)
                record = self._stake(parent, index, majority=True)
                if record is not None:
                    self.links += 1
                    yield record
            members.append(index)
        for _ in range(size // 4 if size > 1 else 0):
            owner, asset = rng.sample(members, 2)
            record = self._stake(owner, asset, majority=False)
            if record is not None:
                self.links += 1
                yield record
        self.heads.extend(members[:3])
        del self.heads[:-2000]

    def _cross_links(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        total = self.options.entities
        budget = int(total * self.options.links_per_entity)
        while self.links < budget:
            owner = rng.choice(self.heads) if self.heads and rng.random() < 0.5 else rng.randrange(total)
            asset = rng.randrange(total)
            if owner == asset:
                continue
            self.links += 1
            if rng.random() < 0.12:
                yield {"owner": f"E{owner}", "asset": f"E{asset}", "kind": rng.choice(CONTROL_KINDS)}
                continue
            record = self._stake(owner, asset, majority=False)
            if record is not None:
                yield record

    def _stake(self, owner: int, asset: int, *, majority: bool) -> dict[str, Any] | None:
        rng = self.rng
        room = self.headroom.get(asset, 100 * UNITS)
        if room <= 0:
            return None
        record: dict[str, Any] = {"owner": f"E{owner}", "asset": f"E{asset}"}
        if rng.random() < 0.12:  # a range with random bounds and ends
            low = rng.randint(0, room)
            high = rng.randint(low, 100 * UNITS)
            record.update(percentage_min=_percent(low), percentage_max=_percent(high))
            if low < high:
                record.update(min_exclusive=rng.random() < 0.5, max_exclusive=rng.random() < 0.3)
            self.headroom[asset] = room - low
        else:
            if majority:
                value = rng.randint(min(room, 30 * UNITS), room)
            else:
                value = min(room, max(1, int(rng.expovariate(1 / (8 * UNITS)))))
            # As many decimals as a register would give: whole, 2 or 4.
            digits = rng.choice((0, 2, 4, 4))
            step = 10 ** (4 - digits)
            value = max(step, value - value % step) if value >= step else value
            record["percentage"] = _percent(value)
            self.headroom[asset] = room - value
        if rng.random() < 0.05:
            record["start_date"] = f"20{rng.randint(10, 25):02d}-{rng.randint(1, 12):02d}-01"
        return record


def _percent(units: int) -> str:
    whole, part = divmod(units, UNITS)
    return f"{whole}.{part:04d}".rstrip("0").rstrip(".") if part else str(whole)
