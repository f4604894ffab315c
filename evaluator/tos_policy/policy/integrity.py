"""The checks `tos-policy validate` adds to loading the rules (policy/ruleset.py).

- Built-in use read afresh from OPA's own parse of every module (`opa parse --format json`),
  where an OPA binary is at hand, with the line of each use (load_rules checks the same names
  from the rules index, OPA's reading of the modules made by `tos-policy index`).
- Every entrypoint compiled on the embedded engine (rego-cpp), which accepts less than
  OPA does: a rule OPA's `opa check` passes but rego-cpp cannot compile fails here,
  naming the module, instead of failing every later evaluation."""

from __future__ import annotations

from pathlib import Path

from tos_policy.errors import EngineError, RulesError
from tos_policy.policy.index import index_for
from tos_policy.policy.opa_read import builtin_uses, parse_module, string_literals
from tos_policy.policy.ruleset import RuleSet, check_builtin_uses, check_divergent_builtins, check_zone_literals

__all__ = ["builtin_uses", "check_rules", "parse_module", "string_literals"]


def check_sandbox_with_opa(rules: RuleSet, opa: Path) -> int:
    """The sandbox check on OPA's AST of every module (tests included); the number checked."""
    sources = {**rules.modules, **rules.test_modules}
    for relative, source in sorted(sources.items()):
        path = rules.root / relative
        ast = parse_module(opa, path)
        check_builtin_uses(str(path), builtin_uses(ast), source)
        check_zone_literals(str(path), string_literals(ast), source)
    return len(sources)


def check_engines_agree(rules: RuleSet) -> None:
    """Refuse a built-in the embedded engine reads differently from OPA (ENGINE_DIVERGENT_BUILTINS),
    in any module or test, from OPA's reading of the modules (the rules index)."""
    sources = {**rules.modules, **rules.test_modules}
    for relative, entry in sorted(index_for(rules.root, sources).get("modules", {}).items()):
        if relative in sources:
            uses = ((str(name), int(line)) for name, line in entry.get("builtins", {}).items())
            check_divergent_builtins(str(rules.root / relative), uses, sources[relative])


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
    """validate's checks on loaded rules: no built-in the engines read apart, compiled by the
    embedded engine, and the sandbox on OPA's AST when `opa` is given (load_rules checked it
    from the rules index already). Says how the sandbox was checked."""
    how = "opa parse (AST) and the rules index" if opa is not None else "the rules index (OPA's reading, checked in)"
    key = (rules.digest, str(opa))
    if key in _CHECKED:
        return how
    check_engines_agree(rules)
    check_embedded_compiles(rules)
    if opa is not None:
        check_sandbox_with_opa(rules, opa)
    _CHECKED.add(key)
    return how
