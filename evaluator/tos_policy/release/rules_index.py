"""The rules index (rules/rules.index): what OPA itself reads from the Rego modules, generated
with OPA and checked in, so the embedded path needs no Rego parser of its own.

    tos-policy index            # regenerate rules/rules.index with the pinned OPA
    tos-policy index --check    # exit 1 if it is not in step with the rules

For each module (tests excluded): its sha256 and every built-in it names, from the AST of
`opa parse --format json` (every reference, spelled out, whose dotted prefix is a built-in
of `opa capabilities --current`). For each rule with a `custom.rule_id`: its METADATA as
`opa inspect -a` reports it (title, description, clause, custom fields, entrypoint). The
file is JSON under a name OPA does not load as data (it is not part of data.*).

policy/ruleset.py reads the index (policy/index.py) when every module's sha256 matches; a
module edited since (a stale index) or a revision older than the index falls back to reading
METADATA comments and scanning for built-ins itself, and a test keeps the checked-in index in
step with the rules and the two readings in agreement.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tos_policy import jsonio
from tos_policy.errors import RulesError
from tos_policy.policy.index import FORMAT, INDEX_FILE, index_matches, read_index
from tos_policy.policy.integrity import string_literals

__all__ = ["INDEX_FILE", "build_index", "index_matches", "index_text", "read_index"]



def _run_opa(opa: Path, *args: str) -> Any:
    try:
        done = subprocess.run([str(opa), *args], capture_output=True, text=True, check=False, timeout=120)
    except OSError as exc:
        raise RulesError(f"cannot run OPA: {exc.strerror}", file=str(opa), value=str(opa)) from None
    if done.returncode != 0:
        message = " ".join((done.stderr or done.stdout).split())[:500]
        raise RulesError(f"opa {args[0]} failed: {message}", file=str(opa), value=list(args))
    return jsonio.loads(done.stdout, file=f"opa {args[0]}", exact=False, max_depth=10_000)


def _refs(node: Any) -> Iterator[str]:
    """Every reference in an OPA AST (JSON), as a dotted name: var, then string parts."""
    if isinstance(node, dict):
        if node.get("type") == "ref" and isinstance(node.get("value"), list):
            parts: list[str] = []
            for term in node["value"]:
                if term.get("type") in ("var", "string") and isinstance(term.get("value"), str):
                    parts.append(term["value"])
                else:
                    break
            if parts:
                yield ".".join(parts)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def builtins_named(ast: Any, builtins: set[str]) -> list[str]:
    """The built-ins a module's AST names, called or not."""
    found = set()
    for name in _refs(ast):
        parts = name.split(".")
        for size in range(1, len(parts) + 1):
            prefix = ".".join(parts[:size])
            if prefix in builtins:
                found.add(prefix)
    return sorted(found)


def _rule_entries(annotations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    rules: dict[str, dict[str, Any]] = {}
    for item in annotations:
        notes = item.get("annotations", {})
        custom = notes.get("custom") or {}
        rule_id = custom.get("rule_id")
        if not rule_id:
            continue
        resources = notes.get("related_resources") or []
        path = [str(part.get("value")) for part in item.get("path", [])[1:]]
        file = str(item.get("location", {}).get("file", ""))
        rules[str(rule_id)] = {
            "title": notes.get("title", rule_id),
            "description": " ".join(str(notes.get("description", "")).split()),
            "clause": resources[0].get("description") if resources else None,
            "ref": resources[0].get("ref") if resources else None,
            "custom": custom,
            "scope": notes.get("scope"),
            "entrypoint": bool(notes.get("entrypoint", False)),
            "path": "/".join(path),
            "file": file,
        }
    return rules


def build_index(rules_dir: Path, opa: Path) -> dict[str, Any]:
    """The index of the rules in `rules_dir`, read with the OPA binary `opa`."""
    root = rules_dir.resolve()
    builtins = {item["name"] for item in _run_opa(opa, "capabilities", "--current")["builtins"]}
    modules: dict[str, dict[str, Any]] = {}
    for path in sorted(root.rglob("*.rego")):
        if path.name.endswith("_test.rego"):
            continue
        relative = path.relative_to(root).as_posix()
        ast = _run_opa(opa, "parse", "--format", "json", str(path))
        modules[relative] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "builtins": builtins_named(ast, builtins),
            "strings": sorted({text for text, _ in string_literals(ast)}),  # for the sandbox's zone check
        }
    inspected = _run_opa(opa, "inspect", "-a", "-f", "json", str(root))
    rules = _rule_entries(inspected.get("annotations") or [])
    for entry in rules.values():  # paths relative to the rules folder, as in `modules`
        file = Path(entry["file"])
        entry["file"] = file.resolve().relative_to(root).as_posix() if file.is_absolute() else file.as_posix()
    return {
        "format": FORMAT,
        "generated_by": "tos-policy index (opa parse, opa inspect -a)",
        "modules": modules,
        "rules": dict(sorted(rules.items())),
    }


def index_text(index: dict[str, Any]) -> str:
    return json.dumps(index, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
