"""The rules index (rules/rules.index): what OPA itself reads from the Rego modules, so the
embedded path needs no Rego parser of its own.

    tos-policy index            # regenerate rules/rules.index with the pinned OPA
    tos-policy index --check    # exit 1 if it is not in step with the rules

For each module (tests included): its sha256, every built-in and string literal it names (with
the line of its first use), for the sandbox, from the AST of `opa parse --format json`
(a reference, spelled out, whose dotted prefix is a built-in of `opa capabilities --current`);
its package; for a module of rules, each top-level name it defines with the references its
definitions use (what the docs follow to the data a rule reads); for a test module, its tests
in order with the rule whose section ("# Rule N (ID): ...") each is in. For each rule with a
`custom.rule_id`: its METADATA as `opa inspect -a` reports it. The file is JSON under a name OPA does not load as data.

load_rules (policy/ruleset.py) reads the checked-in index while every module's sha256 matches
it. When it does not (rules edited since, a revision read from git, a scratch rules folder) it
builds the index in memory with the same code, with the OPA binary found as the engines find it,
and keeps it in the user's cache under the modules' digest; without OPA it fails closed (exit 3),
saying how to regenerate the index."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tos_policy import jsonio
from tos_policy.atomic import replaced_atomically
from tos_policy.errors import EngineError, InputError, RulesError
from tos_policy.policy.opa_read import (
    OpaRefused,
    builtins_named,
    definitions,
    package_name,
    parse_module,
    run_opa,
    string_literals,
    test_sections,
)

INDEX_FILE = "rules.index"
FORMAT = 3


def read_index(rules_dir: Path) -> dict[str, Any] | None:
    """The checked-in index of `rules_dir`, or None when there is none."""
    path = rules_dir / INDEX_FILE
    if not path.is_file():
        return None
    document = jsonio.loads(path.read_bytes(), file=str(path), exact=False)
    if not isinstance(document, dict) or not isinstance(document.get("modules"), dict):
        raise RulesError("the rules index has an unknown format; run `tos-policy index`", file=str(path), value=None)
    return document


def index_matches(index: dict[str, Any] | None, modules: dict[str, str]) -> bool:
    """True when `index` is of this format and was generated from exactly these module sources
    (rules and tests: relative path -> text). A rules folder copied without its tests (a bundle,
    a package) reads the same: a test module the index names may be absent."""
    if index is None or index.get("format") != FORMAT:
        return False
    recorded = index.get("modules") or {}
    absent_tests = {name for name in recorded if name not in modules and name.endswith("_test.rego")}
    if set(recorded) - absent_tests != set(modules):
        return False
    return all(
        recorded[name].get("sha256") == hashlib.sha256(source.encode("utf-8")).hexdigest()
        for name, source in modules.items()
    )


def _rule_entries(annotations: list[dict[str, Any]], root: Path) -> dict[str, dict[str, Any]]:
    rules: dict[str, dict[str, Any]] = {}
    for item in annotations:
        notes = item.get("annotations", {})
        custom = notes.get("custom") or {}
        rule_id = custom.get("rule_id")
        if not rule_id:
            continue
        resources = notes.get("related_resources") or []
        file = Path(str(item.get("location", {}).get("file", "")))
        rules[str(rule_id)] = {
            "title": notes.get("title", rule_id),
            "description": " ".join(str(notes.get("description", "")).split()),
            "clause": resources[0].get("description") if resources else None,
            "ref": resources[0].get("ref") if resources else None,
            "custom": custom,
            "scope": notes.get("scope"),
            "entrypoint": bool(notes.get("entrypoint", False)),
            "path": "/".join(str(part.get("value")) for part in item.get("path", [])[1:]),
            # paths relative to the rules folder, as in `modules`
            "file": file.resolve().relative_to(root).as_posix() if file.is_absolute() else file.as_posix(),
        }
    return dict(sorted(rules.items()))


def _first_lines(found: list[tuple[str, int]]) -> dict[str, int]:
    lines: dict[str, int] = {}
    for text, line in found:
        lines.setdefault(text, line)
    return dict(sorted(lines.items()))


ModulesCheck = Callable[[dict[str, Any]], None]


def build_index(rules_dir: Path, opa: Path, check: ModulesCheck | None = None) -> dict[str, Any]:
    """The index of the rules in `rules_dir`, read with the OPA binary `opa`. `check` sees the
    modules' part (what `opa parse` gave) before `opa inspect` type-checks the whole, so the
    sandbox refuses a forbidden built-in, naming its line, before OPA's compiler speaks."""
    root = rules_dir.resolve()
    builtins = {item["name"] for item in run_opa(opa, "capabilities", "--current")["builtins"]}
    modules: dict[str, dict[str, Any]] = {}
    for path in sorted(root.rglob("*.rego")):
        relative = path.relative_to(root).as_posix()
        ast = parse_module(opa, path, comments=True)
        entry: dict[str, Any] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "package": package_name(ast),
            "builtins": builtins_named(ast, builtins),
            "strings": _first_lines(string_literals(ast)),  # for the sandbox's zone check
        }
        if path.name.endswith("_test.rego"):
            entry["tests"] = test_sections(ast)
        else:
            entry["definitions"] = definitions(ast)
        modules[relative] = entry
    if check is not None:
        check({"modules": modules})
    inspected = run_opa(opa, "inspect", "-a", "-f", "json", str(root), file=str(root))
    return {
        "format": FORMAT,
        "generated_by": "tos-policy index (opa parse, opa inspect -a)",
        "modules": modules,
        "rules": _rule_entries(inspected.get("annotations") or [], root),
    }


def index_text(index: dict[str, Any]) -> str:
    return json.dumps(index, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_index(rules_dir: Path, index: dict[str, Any]) -> bool:
    """Write `index` as the rules' rules.index unless it says that already; True when written."""
    target = rules_dir / INDEX_FILE
    text = index_text(index)
    if target.is_file() and target.read_text(encoding="utf-8") == text:
        return False
    with replaced_atomically(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return True


def no_opa_error(rules_dir: Path) -> EngineError:
    return EngineError(
        f"{rules_dir / INDEX_FILE}: the rules index is out of step with the rules and no OPA binary was found "
        "to read them; run `tos-policy index` (it needs OPA: run scripts/build-opa, or set OPA_BINARY)"
    )


def _cache_key(modules: dict[str, str], opa: Path) -> str:
    hasher = hashlib.sha256(f"format {FORMAT}\0".encode())
    stat = opa.resolve().stat()  # another OPA may know other built-ins
    hasher.update(f"{opa.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    for name, source in sorted(modules.items()):
        hasher.update(name.encode() + b"\0" + hashlib.sha256(source.encode("utf-8")).digest())
    return hasher.hexdigest()


def _cached(path: Path, modules: dict[str, str]) -> dict[str, Any] | None:
    try:
        document = jsonio.loads(path.read_bytes(), file=str(path), exact=False)
    except (OSError, InputError):
        return None
    return document if isinstance(document, dict) and index_matches(document, modules) else None


def _store(path: Path, index: dict[str, Any]) -> None:
    """Write the cache entry whole or not at all: concurrent processes may write the same one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(index_text(index))
        os.replace(temporary, path)
    except OSError:
        pass  # a cache that cannot be written is rebuilt next time


def index_for(rules_dir: Path, modules: dict[str, str], check: ModulesCheck | None = None) -> dict[str, Any]:
    """The index of these module sources (rules and tests) under `rules_dir`: the checked-in one
    when in step, else one OPA builds (cached; `check` as in build_index). EngineError when it is
    out of step and OPA is absent, or OPA cannot read the rules (they do not compile)."""
    checked_in = read_index(rules_dir)
    if index_matches(checked_in, modules):
        assert checked_in is not None
        return checked_in
    from tos_policy.engines.compiled import cache_dir, find_opa  # the engines' OPA lookup and cache

    opa = find_opa()
    if opa is None:
        raise no_opa_error(rules_dir)
    path = cache_dir() / "rules-index" / f"{_cache_key(modules, opa)}.json"
    cached = _cached(path, modules)
    if cached is not None:
        return cached
    try:
        built = build_index(rules_dir, opa, check)
    except OpaRefused as exc:
        raise EngineError(f"{exc.file}: the rules do not compile (read by OPA: {exc.message})") from None
    if not index_matches(built, modules):  # the folder changed while OPA read it
        raise RulesError("the rules changed while they were read; try again", file=str(rules_dir), value=None)
    _store(path, built)
    return built
