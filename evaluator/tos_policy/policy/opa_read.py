"""What OPA itself reads from Rego modules: `opa parse --format json` ASTs, `opa inspect -a`
annotations and `opa capabilities --current` built-ins, run as subprocesses of one OPA binary,
and the walks over an AST that the rules index (policy/index.py) and `tos-policy validate`
(policy/integrity.py) take from them. Nothing here reads Rego text itself."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tos_policy import jsonio
from tos_policy.errors import RulesError

OPA_TIMEOUT = 120.0


class OpaRefused(RulesError):
    """OPA did not read the rules: it refused them (a syntax or type error) or could not run."""


def run_opa(opa: Path, *args: str, file: str | None = None) -> Any:
    """The JSON OPA prints for `opa <args>`; OPA refusing (a module it cannot parse) is OpaRefused,
    naming `file` (or the binary)."""
    try:
        done = subprocess.run(
            [str(opa), *args], capture_output=True, stdin=subprocess.DEVNULL, timeout=OPA_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OpaRefused(f"cannot run opa {args[0]}: {exc}", file=file or str(opa), value=str(opa)) from None
    if done.returncode != 0:
        message = " ".join((done.stderr or done.stdout).decode("utf-8", "replace").split())[:500]
        raise OpaRefused(f"opa {args[0]} refuses the rules: {message}", file=file or str(opa), value=list(args))
    return jsonio.loads(done.stdout, file=f"opa {args[0]}", exact=False, max_depth=100_000)


def parse_module(opa: Path, path: Path, *, comments: bool = False) -> Any:
    """OPA's AST of one module, with locations (and its comments when asked)."""
    include = "locations,comments" if comments else "locations,-comments"
    return run_opa(opa, "parse", "--format", "json", "--json-include", include, str(path), file=str(path))


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in an AST, outermost first."""
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            yield item
            pending.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            pending.extend(reversed(item))


def row(term: dict[str, Any]) -> int:
    location = term.get("location")
    return int(location.get("row", 0)) if isinstance(location, dict) else 0


def source_text(location: Any) -> str:
    """The source text OPA records with a location (base64 in its JSON)."""
    text = location.get("text") if isinstance(location, dict) else None
    return base64.b64decode(text).decode("utf-8", "replace") if isinstance(text, str) else ""


def dotted(term: dict[str, Any]) -> str | None:
    """A reference rooted at a variable as a dotted name up to its first non-string part
    (`time["clock"](x)` is "time.clock"); a variable alone is its name; anything else None."""
    if term.get("type") == "var":
        return str(term.get("value"))
    if term.get("type") != "ref" or not isinstance(term.get("value"), list) or not term["value"]:
        return None
    head, *rest = term["value"]
    if not isinstance(head, dict) or head.get("type") != "var":
        return None
    parts = [str(head.get("value"))]
    for part in rest:
        if not isinstance(part, dict) or part.get("type") != "string":
            break
        parts.append(str(part.get("value")))
    return ".".join(parts)


def builtin_uses(ast: Any) -> list[tuple[str, int]]:
    """Every reference rooted at a variable in an AST, as (dotted name, line)."""
    uses = [(name, row(term)) for term in walk(ast) if term.get("type") == "ref" and (name := dotted(term))]
    return sorted(uses, key=lambda use: use[1])


def builtins_named(ast: Any, builtins: set[str]) -> dict[str, int]:
    """The built-ins a module's AST names, called or not, each with the line of its first use."""
    found: dict[str, int] = {}
    for name, line in builtin_uses(ast):
        parts = name.split(".")
        for size in range(1, len(parts) + 1):
            if (prefix := ".".join(parts[:size])) in builtins:
                found.setdefault(prefix, line)
    return dict(sorted(found.items()))


def string_literals(ast: Any) -> list[tuple[str, int]]:
    """Every string term in the AST (comments are not terms), as (text, line)."""
    return sorted(
        ((str(term["value"]), row(term)) for term in walk(ast) if term.get("type") == "string"),
        key=lambda literal: literal[1],
    )


def rule_name(rule: dict[str, Any]) -> str:
    """The name a rule defines: `deny contains msg if`, `f(x) := y` and `r := 1` give deny, f, r."""
    head = rule.get("head") or {}
    ref = head.get("ref")
    if isinstance(ref, list) and ref and isinstance(ref[0], dict):
        return str(ref[0].get("value"))
    return str(head.get("name", ""))


def package_name(ast: Any) -> str:
    """The package of a module's AST, without `data.`: "ownership_test"."""
    path = (ast.get("package") or {}).get("path") or []
    return ".".join(str(part.get("value")) for part in path[1:])


def definitions(ast: Any) -> dict[str, list[str]]:
    """Each top-level name the module defines -> the references and variables its definitions
    use (dotted, sorted): what the docs follow to find the data a rule reads."""
    found: dict[str, set[str]] = {}
    for rule in ast.get("rules") or []:
        names = found.setdefault(rule_name(rule), set())
        names.update(name for term in walk(rule) if (name := dotted(term)))
    return {name: sorted(names) for name, names in sorted(found.items())}


def test_sections(ast: Any) -> list[dict[str, str | None]]:
    """Each test of a test module in order, with the rule whose section it is in: a section
    starts at an unindented comment standing alone between blank lines, and is the rule's when
    the comment reads "Rule N (ID): ...", so a comment naming no rule ("Several rules at once")
    ends a rule's section."""
    taken: set[int] = set()  # the lines holding code or a comment
    for item in [ast.get("package") or {}, *(ast.get("imports") or []), *(ast.get("rules") or [])]:
        start = row(item)
        taken.update(range(start, start + source_text(item.get("location")).count("\n") + 1))
    comments = [(int(at.get("row", 0)), int(at.get("col", 0)), source_text(at)) for at in _comment_locations(ast)]
    taken.update(line for line, _, _ in comments)
    events: list[tuple[int, str, str | None]] = []
    for line, col, text in comments:
        if col == 1 and line - 1 not in taken and line + 1 not in taken:
            events.append((line, "section", _section_rule(text)))
    for rule in ast.get("rules") or []:
        name = rule_name(rule)
        if name.startswith("test_") and int((rule.get("location") or {}).get("col", 0)) == 1:
            events.append((row(rule), "test", name))
    tests: list[dict[str, str | None]] = []
    current: str | None = None
    for _, kind, value in sorted(events, key=lambda event: event[0]):
        if kind == "section":
            current = value
        else:
            tests.append({"name": value, "section": current})
    return tests


def _comment_locations(ast: Any) -> list[dict[str, Any]]:
    """Where each comment is (OPA's JSON spells a comment's keys "Text" and "Location")."""
    found = (comment.get("Location") for comment in ast.get("comments") or [] if isinstance(comment, dict))
    return [location for location in found if isinstance(location, dict)]


def _section_rule(comment: str) -> str | None:
    """The rule id of a section comment "# Rule N (ID): ...", else None."""
    words = comment.lstrip("#").split()
    if len(words) >= 3 and words[0] == "Rule" and words[1].isdigit() and words[2].startswith("("):
        rule_id = words[2][1:].split(")", 1)[0]
        return rule_id or None
    return None
