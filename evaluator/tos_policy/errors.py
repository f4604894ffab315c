"""The package's exceptions: one base, and subclasses that carry where and what."""

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

    def render(self) -> str:
        shown = _short_repr(self.value)
        return f"{self.file}: {self.path}: {self.message} (value: {shown})"


class RulesError(InputError):
    """The rules directory is malformed: bad data, bad manifest, forbidden built-ins."""


class EngineError(TosPolicyError):
    """The policy engine failed, timed out or gave no result. Never read as allow."""

    exit_code = 3


class NonMonotoneRuleError(EngineError):
    """A rule turned a restricted entity back to unrestricted: the fixpoint would not terminate."""


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 15] + f"...<{len(text)} chars>"
    return text
