"""tos-policy: terms-of-service ownership rules as code, and their evaluator."""

from tos_policy.errors import EngineError, InputError, RulesError, TosPolicyError
from tos_policy.facts.load import Facts, facts_from_document, load_facts
from tos_policy.ownership.pipeline import Report, evaluate
from tos_policy.policy.ruleset import RuleSet, load_rules

__all__ = [
    "EngineError",
    "Facts",
    "InputError",
    "Report",
    "RuleSet",
    "RulesError",
    "TosPolicyError",
    "evaluate",
    "facts_from_document",
    "load_facts",
    "load_rules",
]
