"""The Python API: load the rules once, then decide organisations, batches and access requests.

    from datetime import date
    import tos_policy

    policy = tos_policy.Policy.load()                  # the shipped rules, compiled once
    facts = tos_policy.load_facts(["registry.jsonl"])
    registry = policy.prepare(facts, as_of=date(2026, 12, 1))
    record = policy.decide(registry, "sub-sg")         # a DecisionRecord
    record["decision"]                                 # "allow" | "deny" | "review"

A Policy is safe to share between threads: its engine answers one call at a time (a
lock), so concurrent calls are serialised, never interleaved. Deciding one organisation
evaluates only what can reach it (its owners' closure): after `prepare`, its cost
depends on that closure, not on the size of the registry. The outcomes computed are kept
in the prepared registry (thread-safe), so later decisions evaluate only what no earlier
one did.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast

from tos_policy.engines import Engine, make_engine
from tos_policy.errors import InputError
from tos_policy.facts.load import Facts
from tos_policy.limits import Limits
from tos_policy.ownership.pipeline import Prepared, Report, decide_prepared, prepare
from tos_policy.policy.ruleset import RuleSet, load_rules
from tos_policy.reports.records import decision_record
from tos_policy.shapes import AccessRecord, DecisionRecord

EngineName = Literal["embedded", "opa"]


class Policy:
    """Rules loaded and compiled once, with one engine; thread-safe.

    Build it with `Policy.load()`; close it (or use it as a context manager) when done.
    Every method raises a TosPolicyError subclass on bad input (InputError) or engine
    trouble (EngineError), never returns a partial answer."""

    def __init__(self, rules: RuleSet, engine: Engine) -> None:
        self.rules = rules
        self._engine = engine
        self._lock = threading.RLock()

    @classmethod
    def load(
        cls,
        rules_dir: str | Path | None = None,
        *,
        engine: EngineName = "embedded",
        opa_url: str | None = None,
        timeout: float = 10.0,
    ) -> Policy:
        """Load and compile the rules (default: the shipped rules) for `engine`:
        "embedded" (in process) or "opa" (a running OPA server at `opa_url`; needs the
        `[opa]` extra)."""
        rules = load_rules(rules_dir)
        return cls(rules, make_engine(rules, engine, opa_url=opa_url, timeout=timeout))

    @property
    def version(self) -> str:
        """The policy set's version (rules/manifest.json)."""
        return self.rules.version

    def prepare(self, facts: Facts, *, as_of: date, profile: str | None = None) -> Prepared:
        """Facts made ready to decide on `as_of` with `profile` (default: the policy set's):
        links active that day, checked. Prepare a registry once, then decide from it often."""
        return prepare(facts, self.rules, as_of=as_of, profile=profile)

    def _prepared(self, facts: Facts | Prepared, as_of: date | None, profile: str | None) -> Prepared:
        if isinstance(facts, Prepared):
            if facts.rules.digest != self.rules.digest:
                raise InputError("the facts were prepared with other rules", file="rules", value=facts.rules.digest)
            if as_of is not None and as_of != facts.as_of:
                raise InputError("the facts were prepared for another date", file="as_of", value=as_of.isoformat())
            if profile is not None and profile != facts.profile:
                raise InputError("the facts were prepared for another profile", file="profile", value=profile)
            return facts
        if as_of is None:
            raise InputError("as_of is needed to decide from facts that are not prepared", file="as_of", value=None)
        return self.prepare(facts, as_of=as_of, profile=profile)

    def report(
        self,
        facts: Facts | Prepared,
        entity_ids: Sequence[str] | None = None,
        *,
        as_of: date | None = None,
        profile: str | None = None,
        limits: Limits | None = None,
    ) -> Report:
        """The full Report (decisions with their graph, for reports/records.py) for
        `entity_ids` (default: every entity)."""
        prepared = self._prepared(facts, as_of, profile)
        with self._lock:
            return decide_prepared(prepared, self._engine, entity_ids=entity_ids, limits=limits)

    def decide(
        self,
        facts: Facts | Prepared,
        entity_id: str,
        *,
        as_of: date | None = None,
        profile: str | None = None,
        limits: Limits | None = None,
    ) -> DecisionRecord:
        """The decision for one organisation (only its owners' closure is evaluated)."""
        report = self.report(facts, [entity_id], as_of=as_of, profile=profile, limits=limits)
        return decision_record(report, report.decisions[0])

    def decide_batch(
        self,
        facts: Facts | Prepared,
        entity_ids: Iterable[str] | None = None,
        *,
        as_of: date | None = None,
        profile: str | None = None,
        limits: Limits | None = None,
    ) -> list[DecisionRecord]:
        """The decisions for `entity_ids` (default: every entity), in that order."""
        chosen = list(entity_ids) if entity_ids is not None else None
        report = self.report(facts, chosen, as_of=as_of, profile=profile, limits=limits)
        return [decision_record(report, item) for item in report.decisions]

    def decide_access(
        self,
        request: Mapping[str, Any],
        facts: Facts | None = None,
        *,
        as_of: date,
        policy: str | None = None,
    ) -> AccessRecord:
        """The decision for one access request (a REQUEST.json document: schemas/access-request.schema.json),
        with `facts` about its organisation unless it comes from an individual."""
        from tos_policy.access import decide_access, request_from_document

        parsed = request_from_document(request)
        with self._lock:
            outcome = decide_access(parsed, facts, self.rules, self._engine, as_of=as_of, policy=policy)
        return cast(AccessRecord, outcome.as_json())

    def close(self) -> None:
        with self._lock:
            self._engine.close()

    def __enter__(self) -> Policy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
