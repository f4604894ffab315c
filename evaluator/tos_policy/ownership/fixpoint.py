"""The generic ownership fixpoint.

It knows nothing of thresholds or countries. It asks the rule for each entity's
status given the links held in it by owners that are restricted so far, and
repeats for the entities whose restricted owners changed, until nothing changes.
Everything starts unrestricted and a restricted entity may never turn back, so
the result is the least fixpoint: the same for any order of entities or links,
and reached in finitely many rounds even when ownership is circular."""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from tos_policy.engines import Engine, check_results
from tos_policy.errors import EngineError, LimitExceeded, NonMonotoneRuleError
from tos_policy.facts.load import Entity, Link
from tos_policy.limits import check_deadline, exceeded
from tos_policy.ownership.steps import NO_HOLDINGS, Bound, Holdings, StepInput, build_step_input


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """One entity's status in one reading, with the rule's reasons and the links they cite."""

    restricted: bool
    reasons: tuple[dict[str, Any], ...]
    links: tuple[Link, ...]
    # Under look-through: restricted for a reason that makes its stakes count whole below it
    # (the rule's `whole`), not only for the effective share it carries.
    whole: bool = False

    def cited_links(self, reason: dict[str, Any]) -> list[Link]:
        return [self.links[index] for index in reason.get("links", [])]


# How many distinct step inputs a StepCache keeps (least recently used dropped first):
# enough for every situation a round repeats, bounded whatever the registry.
STEP_CACHE_ENTRIES = 131_072


class StepCache:
    """Decisions by canonical step input: identical situations cost one rule call.

    Keys are the canonical JSON text of the input, kept as right-sized str objects
    (orjson's bytes keep a 4 KiB buffer each, which made a cache of distinct inputs
    cost 4 KiB an entry). At most `max_entries` inputs are kept, least recently used
    dropped first: a dropped input costs a rule call again, never another answer.

    Every engine answer is checked (one well-formed result per item) and every
    engine failure becomes an EngineError, whatever the engine: nothing an engine
    does can read as allow. Past `deadline` (time.monotonic()), EvaluationTimeout."""

    def __init__(
        self, deadline: float | None = None, max_seconds: float | None = None, max_entries: int = STEP_CACHE_ENTRIES
    ) -> None:
        if max_entries < 1:
            raise ValueError("a step cache keeps at least one entry")
        self._results: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.max_entries = max_entries
        self.hits = 0
        self.calls = 0
        self.evicted = 0
        self.deadline = deadline
        self.max_seconds = max_seconds

    def __len__(self) -> int:
        return len(self._results)

    def decide(self, engine: Engine, payloads: list[dict[str, Any]], batch_size: int) -> list[dict[str, Any]]:
        keys = [orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode() for payload in payloads]
        # This call's answers apart from the cache, which may drop some of them before the end.
        answers: dict[str, dict[str, Any]] = {}
        # Undecided inputs, grouped by (profile, reading): one batch query shares both.
        missing: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for key, payload in zip(keys, payloads, strict=True):
            if key in answers:
                continue
            known = self._results.get(key)
            if known is not None:
                self._results.move_to_end(key)
                answers[key] = known
            else:
                group = missing.setdefault((payload["profile"], payload["reading"]), {})
                group.setdefault(key, payload)
        for (profile, reading), group in missing.items():
            pending = list(group.items())
            for start in range(0, len(pending), batch_size):
                chunk = pending[start : start + batch_size]
                items = [{k: v for k, v in payload.items() if k not in ("profile", "reading")} for _, payload in chunk]
                results = self._ask(engine, {"profile": profile, "reading": reading, "items": items})
                self.calls += len(chunk)
                for (key, _), result in zip(chunk, results, strict=True):
                    answers[key] = result
                    self._keep(key, result)
        self.hits += len(keys) - sum(len(group) for group in missing.values())
        return [answers[key] for key in keys]

    def _keep(self, key: str, result: dict[str, Any]) -> None:
        self._results[key] = result
        if len(self._results) > self.max_entries:
            self._results.popitem(last=False)
            self.evicted += 1

    def _ask(self, engine: Engine, batch: dict[str, Any]) -> list[dict[str, Any]]:
        check_deadline(self.deadline, self.max_seconds)
        try:
            results = engine.decide(batch)
        except EngineError:
            raise
        except Exception as exc:  # an engine's own failure: fail closed, never a partial answer
            raise EngineError(f"{engine.name}: evaluation failed: {type(exc).__name__}: {exc}") from None
        checked = check_results(batch["items"], results, engine.name)
        check_deadline(self.deadline, self.max_seconds)  # an answer that came too late is not used
        return checked


@dataclass
class OwnershipGraph:
    """Active links of a facts set by owner, each entity's position in the input
    (the order in which every round decides, so results never depend on set order),
    and what is known of each entity's holders (steps.Holdings)."""

    entities: dict[str, Entity]
    outgoing: dict[str, list[Link]]
    order: dict[str, int]
    holdings: dict[str, Holdings] = field(default_factory=dict)

    def holdings_of(self, entity_id: str) -> Holdings:
        return self.holdings.get(entity_id, NO_HOLDINGS)

    @classmethod
    def build(
        cls, entities: dict[str, Entity], links: Iterable[Link], link_effects: Mapping[str, str] | None = None
    ) -> OwnershipGraph:
        """`link_effects` (the profile's) says which link kinds are stakes (known holdings)
        and which make the asset a branch of its owner."""
        effects = dict(link_effects or {"shareholding": "stake"})
        outgoing: dict[str, list[Link]] = defaultdict(list)
        incoming: dict[str, list[Link]] = defaultdict(list)
        for link in links:
            outgoing[link.owner].append(link)
            incoming[link.asset].append(link)
        order = {entity_id: position for position, entity_id in enumerate(entities)}
        holdings = {
            asset: Holdings.of(
                held,
                effects,
                [entities[link.owner].type if link.owner in entities else "unknown" for link in held],
                asset in entities and entities[asset].type == "person",
            )
            for asset, held in incoming.items()
        }
        return cls(entities, dict(outgoing), order, holdings)


READINGS = ("lower", "upper")


class ReadingRun(Protocol):
    """One reading of a fixpoint driver, everything but the reading bound (functools.partial)."""

    def __call__(self, *, reading: str) -> dict[str, StepOutcome]: ...


def both_readings(run: ReadingRun) -> tuple[dict[str, StepOutcome], dict[str, StepOutcome]]:
    """`run` for the lower reading, then the upper one: every fixpoint driver's `readings`."""
    lower, upper = (run(reading=reading) for reading in READINGS)
    return lower, upper


def chain_too_long(entity: Entity, max_rounds: int, reading: str) -> LimitExceeded:
    """The error of a restriction still spreading after `max_rounds` rounds (the chain-depth
    limit), naming an entity it reaches; every plan raises this one."""
    file, _, path = entity.path.rpartition(":")
    return exceeded(
        f"ownership chain too long: a restriction is still spreading after {max_rounds:,} rounds "
        f"({reading} reading) and reaches this entity",
        "max_chain_depth",
        max_rounds - 1,
        "links",
        file=file or "<facts>",
        path=path,
        value=entity.id,
    )


def run_fixpoint(
    graph: OwnershipGraph,
    engine: Engine,
    cache: StepCache,
    *,
    reading: str,
    profile: str,
    batch_size: int = 256,
    max_rounds: int | None = None,
    attribute_controlled: bool = False,
    settled: Mapping[str, StepOutcome] | None = None,
    effective: Mapping[str, Mapping[str, Bound]] | None = None,
) -> dict[str, StepOutcome]:
    """Every entity's status in one reading (lower or upper).

    `effective` (method look_through): each entity's effective share held by restricted
    organisations in this reading, by measure, given to the rule with its step input.

    With `attribute_controlled` (profile switch attribute_controlled_holdings), the
    holdings of a restricted entity are grouped with those of the parties its
    restriction cites (the owners that control it, transitively), so an owner and the
    companies it controls add up even where the profile adds up only joint holdings.

    `settled`: entities of the graph whose outcomes in this reading are already final
    (computed earlier over their whole owners' closure, which they are then the top
    of here: the graph holds none of their incoming links); they are not decided
    again, and those restricted are restricted from the first round on. The least
    fixpoint does not depend on when an owner became restricted, so the outcomes are
    those of the whole closure evaluated at once.

    At most `max_rounds` rounds (Limits.max_rounds: the first, and one per link of
    the longest chain a restriction travels); past it, LimitExceeded naming the
    entities still being decided. The cache's deadline is checked every round."""
    entities = graph.entities
    restricted_in: dict[str, list[Link]] = defaultdict(list)
    outcomes = _first_round(
        graph,
        engine,
        cache,
        reading=reading,
        profile=profile,
        batch_size=batch_size,
        settled=settled,
        effective=effective,
    )
    newly = [entity_id for entity_id, outcome in outcomes.items() if outcome.restricted]
    rounds = 1
    tops: dict[str, frozenset[str]] = {}
    cited: dict[str, set[str]] = {}  # controller_tops' control found so far
    while True:
        touched: set[str] = set()
        for owner in newly:
            for link in graph.outgoing.get(owner, ()):
                restricted_in[link.asset].append(link)
                touched.add(link.asset)
        if attribute_controlled:
            now = controller_tops(outcomes, cited)
            if now != tops:  # control changed: every holding of a restricted owner may add up anew
                tops = now
                touched.update(restricted_in)
        dirty = sorted(touched, key=graph.order.__getitem__)
        if not dirty:
            break
        rounds += 1
        if max_rounds is not None and rounds > max_rounds:
            raise chain_too_long(entities[dirty[0]], max_rounds, reading)
        check_deadline(cache.deadline, cache.max_seconds)
        controller = tops_of(tops) if tops else None
        inputs = [
            build_step_input(
                entities[entity_id],
                restricted_in[entity_id],
                entities,
                reading,
                profile,
                graph.holdings_of(entity_id),
                controller,
                None if effective is None else effective[entity_id],
            )
            for entity_id in dirty
        ]
        results = cache.decide(engine, [step.payload for step in inputs], batch_size)
        newly = []
        for entity_id, step, result in zip(dirty, inputs, results, strict=True):
            before = outcomes[entity_id]
            outcome = StepOutcome(
                result["restricted"], tuple(result["reasons"]), step.links, bool(result.get("whole", False))
            )
            if before.restricted and not outcome.restricted:
                raise NonMonotoneRuleError(
                    f"the rules turned {entity_id!r} from restricted back to unrestricted when more of its "
                    "owners became restricted; the ownership step must be monotone"
                )
            outcomes[entity_id] = outcome
            if outcome.restricted and not before.restricted:
                newly.append(entity_id)
    return outcomes


def tops_of(tops: dict[str, frozenset[str]]) -> Callable[[str], Iterable[str]]:
    """The parties at the top of an owner's chain of control (the owner itself when none)."""
    return lambda owner: tops.get(owner, (owner,))


def controller_tops(
    outcomes: dict[str, StepOutcome], seen: dict[str, set[str]] | None = None
) -> dict[str, frozenset[str]]:
    """For each restricted entity whose reasons cite owners (those that control it, alone or
    together), the parties at the top of that chain of control: {entity: tops}. Two holdings
    add up when their owners share a top (one party controls both, directly or not).

    `seen`, kept by a fixpoint across its rounds, accumulates the owners each entity's reasons
    have cited: control found once stays found. Without it, reasons that cite other owners once
    holdings are regrouped (a cross-holding) could regroup them back, round after round, and the
    fixpoint would never settle; with it the relation only grows, so it settles."""
    cited: dict[str, set[str]] = seen if seen is not None else {}
    for entity_id, outcome in outcomes.items():
        if outcome.restricted:
            owners = {link.owner for reason in outcome.reasons for link in outcome.cited_links(reason)}
            owners.discard(entity_id)
            if owners:
                cited.setdefault(entity_id, set()).update(owners)
    tops: dict[str, frozenset[str]] = {}
    for start, first_owners in cited.items():
        if start in tops:
            continue
        # Depth first without recursion; an entity met again on the current chain (a cycle
        # of control) is a top itself.
        stack: list[tuple[str, list[str]]] = [(start, sorted(first_owners))]
        on_chain = {start}
        found: dict[str, set[str]] = {start: set()}
        while stack:
            node, pending = stack[-1]
            if pending:
                parent = pending.pop()
                if parent in tops:
                    found[node] |= tops[parent]
                elif parent in on_chain or parent not in cited:
                    found[node].add(parent)
                else:
                    on_chain.add(parent)
                    found[parent] = set()
                    stack.append((parent, sorted(cited[parent])))
                continue
            stack.pop()
            on_chain.discard(node)
            tops[node] = frozenset(found[node] or {node})
            if stack:
                found[stack[-1][0]] |= tops[node]
    return tops


def _first_round(
    graph: OwnershipGraph,
    engine: Engine,
    cache: StepCache,
    *,
    reading: str,
    profile: str,
    batch_size: int,
    settled: Mapping[str, StepOutcome] | None = None,
    effective: Mapping[str, Mapping[str, Bound]] | None = None,
) -> dict[str, StepOutcome]:
    """Round one: no owner is restricted yet, so each step input is the entity's own
    facts alone, and entities with the same facts share one input and one outcome.
    Settled entities keep their outcomes."""
    entities = graph.entities
    shared: dict[tuple[Any, ...], StepOutcome] = {}
    keys, firsts, inputs = first_round_inputs(
        graph, reading=reading, profile=profile, settled=settled, effective=effective
    )
    results = cache.decide(engine, [step.payload for step in inputs], batch_size)
    for key, result in zip(firsts, results, strict=True):
        shared[key] = StepOutcome(result["restricted"], tuple(result["reasons"]), (), bool(result.get("whole", False)))
    return {
        entity_id: settled[entity_id] if entity_id not in keys and settled else shared[keys[entity_id]]
        for entity_id in entities
    }


def first_round_inputs(
    graph: OwnershipGraph,
    *,
    reading: str,
    profile: str,
    settled: Mapping[str, StepOutcome] | None = None,
    effective: Mapping[str, Mapping[str, Bound]] | None = None,
) -> tuple[dict[str, tuple[Any, ...]], dict[tuple[Any, ...], Entity], list[StepInput]]:
    """Round one's step inputs: each entity's key (its own facts), the first entity of each
    key, and one step input per key in that order (a plan may decide them anywhere)."""
    entities = graph.entities
    firsts: dict[tuple[Any, ...], Entity] = {}
    keys: dict[str, tuple[Any, ...]] = {}
    for entity_id, entity in entities.items():
        if settled and entity_id in settled:
            continue
        key = (
            entity.type,
            entity.headquarters,
            entity.jurisdiction,
            entity.disclosure,
            graph.holdings_of(entity_id),
            entity.headquarters_subdivision,
            entity.jurisdiction_subdivision,
            None if effective is None else tuple(sorted(effective[entity_id].items())),
        )
        keys[entity_id] = key
        if key not in firsts:
            firsts[key] = entity
    inputs = [
        build_step_input(
            entity,
            [],
            entities,
            reading,
            profile,
            key[4],
            effective=None if effective is None else effective[entity.id],
        )
        for key, entity in firsts.items()
    ]
    return keys, firsts, inputs
