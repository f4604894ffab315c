"""tos-policy: terms-of-service ownership rules as code, and their evaluator.

The Python API (README.md, "Python API"):

    policy = Policy.load()                                   # rules loaded and compiled once
    registry = policy.prepare(load_facts(["facts.json"]), as_of=date(2026, 12, 1))
    policy.decide(registry, "sub-sg")["decision"]            # "allow" | "deny" | "review"
    policy.decide_batch(registry, ["a", "b"])                # [DecisionRecord, ...]
    policy.decide_access(request_document, facts, as_of=...) # AccessRecord

`evaluate(facts, rules, engine=None, as_of=...)` is the one-shot form: it returns a Report.
Every error is a TosPolicyError: InputError (bad input, exit code 2) or EngineError
(engine trouble, exit code 3), never a silent allow.
"""

from tos_policy.api import EngineName, Policy
from tos_policy.errors import EngineError, InputError, LimitExceeded, RulesError, TosPolicyError
from tos_policy.facts.load import Facts, facts_from_document, load_facts
from tos_policy.limits import Limits
from tos_policy.ownership.pipeline import Prepared, Report, evaluate
from tos_policy.policy.ruleset import RuleSet, load_rules
from tos_policy.shapes import AccessRecord, DecisionRecord, Reason, Verdict
from tos_policy.versions import evaluator_version

__version__ = evaluator_version()

__all__ = [
    "AccessRecord",
    "DecisionRecord",
    "EngineError",
    "EngineName",
    "Facts",
    "InputError",
    "LimitExceeded",
    "Limits",
    "Policy",
    "Prepared",
    "Reason",
    "Report",
    "RuleSet",
    "RulesError",
    "TosPolicyError",
    "Verdict",
    "__version__",
    "evaluate",
    "facts_from_document",
    "load_facts",
    "load_rules",
]
