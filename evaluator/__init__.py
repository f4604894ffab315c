"""tos-policy: terms-of-service ownership rules as code, and their evaluator."""

from .errors import EngineError, InputError, RulesError, TosPolicyError
from .evaluation import Report, evaluate
from .facts import Facts, facts_from_document, load_facts
from .rules import RuleSet, load_rules

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
