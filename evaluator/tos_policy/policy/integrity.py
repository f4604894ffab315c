"""The checks `tos-policy validate` adds to loading the rules (policy/ruleset.py).

- Built-in use read from OPA's own parse of every module (`opa parse --format json`),
  where an OPA binary is at hand: the same names the token scanner looks for, but from
  the AST, so no spelling of a reference can slip past a hand-written tokenizer.
  `builtin_uses` turns an AST into (dotted reference, line) pairs; any other source of
  such pairs (an index of the rules' built-in use) can feed the same check,
  ruleset.check_builtin_uses.
- Every entrypoint compiled on the embedded engine (rego-cpp), which accepts less than
  OPA does: a rule OPA's `opa check` passes but rego-cpp cannot compile fails here,
  naming the module, instead of failing every later evaluation."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tos_policy import jsonio
from tos_policy.errors import EngineError, RulesError
from tos_policy.policy.ruleset import RuleSet, check_builtin_uses, check_zone_literals

OPA_PARSE_TIMEOUT = 60.0


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            yield item
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _row(term: dict[str, Any]) -> int:
    location = term.get("location")
    return int(location.get("row", 0)) if isinstance(location, dict) else 0


def builtin_uses(ast: Any) -> list[tuple[str, int]]:
    """Every reference rooted at a variable in an `opa parse --format json` AST, as (dotted
    name up to its first non-string part, line): `time["clock"](x)` is ("time.clock", n)."""
    uses: list[tuple[str, int]] = []
    for term in _walk(ast):
        if term.get("type") != "ref" or not isinstance(term.get("value"), list) or not term["value"]:
            continue
        head, *rest = term["value"]
        if not isinstance(head, dict) or head.get("type") != "var":
            continue
        parts = [str(head.get("value"))]
        for part in rest:
            if not isinstance(part, dict) or part.get("type") != "string":
                break
            parts.append(str(part.get("value")))
        uses.append((".".join(parts), _row(term)))
    return sorted(uses, key=lambda use: use[1])


def string_literals(ast: Any) -> list[tuple[str, int]]:
    """Every string term in the AST (comments are not terms), as (text, line)."""
    return sorted(
        ((str(term["value"]), _row(term)) for term in _walk(ast) if term.get("type") == "string"),
        key=lambda literal: literal[1],
    )


def parse_module(opa: Path, path: Path) -> Any:
    """OPA's AST of one module (locations included, comments left out)."""
    try:
        done = subprocess.run(
            [str(opa), "parse", "--format", "json", "--json-include", "locations,-comments", str(path)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=OPA_PARSE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RulesError(f"cannot run opa parse: {exc}", file=str(path), value=str(opa)) from None
    if done.returncode != 0:
        message = " ".join(done.stderr.decode("utf-8", "replace").split())[:300]
        raise RulesError(f"opa parse refuses the module: {message}", file=str(path), value=path.name)
    return jsonio.loads(done.stdout, file=f"opa parse {path}", max_depth=100_000, exact=False)


def check_sandbox_with_opa(rules: RuleSet, opa: Path) -> int:
    """The sandbox check on OPA's AST of every module (tests included); the number checked."""
    sources = {**rules.modules, **rules.test_modules}
    for relative, source in sorted(sources.items()):
        path = rules.root / relative
        ast = parse_module(opa, path)
        check_builtin_uses(str(path), builtin_uses(ast), source)
        check_zone_literals(str(path), string_literals(ast), source)
    return len(sources)


def check_embedded_compiles(rules: RuleSet) -> None:
    """Compile the rules and every entrypoint on the embedded engine; refuse them, naming
    the first module it cannot compile, when it fails."""
    from tos_policy.engines.embedded import EmbeddedEngine

    try:
        EmbeddedEngine(rules).close()
        return
    except EngineError as exc:
        whole = str(exc)
    for relative, source in sorted(rules.modules.items()):  # alone, to name the module at fault
        single = RuleSet(rules.root, {relative: source}, {}, rules.data, rules.digest, {})
        try:
            EmbeddedEngine(single).close()
        except EngineError as exc:
            raise RulesError(
                f"the embedded engine (rego-cpp) cannot compile this module: {exc}",
                file=str(rules.root / relative),
                value=relative,
            ) from None
    raise RulesError(
        f"the embedded engine (rego-cpp) cannot compile the rules: {whole}", file=str(rules.root), value=None
    )


_CHECKED: set[tuple[str, str]] = set()  # (rules digest, OPA binary): checked in this process already


def check_rules(rules: RuleSet, opa: Path | None) -> str:
    """validate's checks on loaded rules: compiled by the embedded engine, and the sandbox
    on OPA's AST when `opa` is given (load_rules ran the token scanner already). Says how
    the sandbox was checked."""
    how = "opa parse (AST) and token scanner" if opa is not None else "token scanner (no OPA binary found)"
    key = (rules.digest, str(opa))
    if key in _CHECKED:
        return how
    check_embedded_compiles(rules)
    if opa is not None:
        check_sandbox_with_opa(rules, opa)
    _CHECKED.add(key)
    return how
