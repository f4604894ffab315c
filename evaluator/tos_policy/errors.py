"""The package's error tree: one base, subclasses that carry where and what, one exit code each.

    TosPolicyError                 exit 1  (base; a failure that is neither of the below)
    ├── InputError                 exit 2  bad input: file, JSON path and value
    │   ├── RulesError                     the rules directory is malformed
    │   ├── LimitExceeded                  input past a configured limit (limits.py)
    │   ├── DecisionLogError               the decision log cannot be appended to
    │   └── GitError                       --rules-ref cannot be read from git
    └── EngineError                exit 3  the engine failed: never read as allow
        ├── NonMonotoneRuleError           a rule took a restriction back
        ├── EvaluationTimeout              past --max-seconds (limits.py)
        └── OpaServerError                 a local OPA server could not be started

Usage errors (a bad option) exit 2 through click. The command line prints one line,
`tos-policy: error: <message>`, and exits with the error's code; nothing goes to stdout.
(Legal exceptions, the waivers granted by Legal, are policy/legal_exceptions.py: not errors.)"""

from __future__ import annotations

from typing import Any


class TosPolicyError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1


class InputError(TosPolicyError):
    """Bad input: names the file, the JSON path and the offending value. Exit code 2."""

    exit_code = 2

    def __init__(self, message: str, *, file: str = "<input>", path: str = "$", value: Any = None) -> None:
        self.message = message
        self.file = file
        self.path = path
        self.value = value
        super().__init__(self.render())

    def __reduce__(self) -> tuple[Any, ...]:  # whole across processes (screen's workers)
        return (_rebuild, (type(self), self.message, self.file, self.path, self.value))

    def render(self) -> str:
        shown = _short_repr(self.value)
        return f"{self.file}: {self.path}: {self.message} (value: {shown})"


class RulesError(InputError):
    """The rules directory is malformed: bad data, bad manifest, forbidden built-ins."""


class OutputError(InputError):
    """An output cannot be written (disk full, no permission, read-only): names the output. Exit code 2."""


class EngineError(TosPolicyError):
    """The policy engine failed, timed out or gave no result. Never read as allow."""

    exit_code = 3


class NonMonotoneRuleError(EngineError):
    """A rule turned a restricted entity back to unrestricted: the fixpoint would not terminate."""


class LimitExceeded(InputError):
    """The input goes past a configured limit. Exit code 2, nothing decided."""


class EvaluationTimeout(EngineError):
    """The evaluation ran past --max-seconds. Exit code 3, nothing decided."""


def _rebuild(kind: type[InputError], message: str, file: str, path: str, value: Any) -> InputError:
    return kind(message, file=file, path=path, value=value)


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 15] + f"...<{len(text)} chars>"
    return text
