"""Load a rules directory the way OPA does: every .rego file is a module, every
.json file is data placed at its directory's path. Validate the data against
schemas/, refuse non-deterministic built-ins, and fingerprint the whole set."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .errors import RulesError
from .facts import json_path
from .resources import default_rules_dir, schema

# Built-ins that reach the network, the clock, randomness or the environment.
# Rules must decide from their input and data alone, so the same facts always
# give the same decision.
FORBIDDEN_BUILTINS = (
    "http.send",
    "net.*",
    "opa.runtime",
    "time.now_ns",
    "rand.*",
    "uuid.*",
    "io.jwt.decode_verify",
    "trace",
    "print",
)
_FORBIDDEN_RE = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(name).replace(r"\*", r"\w+") for name in FORBIDDEN_BUILTINS) + r")\s*\("
)


@dataclass(frozen=True)
class RuleInfo:
    """What a rule's METADATA says about it, keyed by its rule id."""

    rule_id: str
    title: str
    description: str
    clause: str | None
    file: str
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass
class RuleSet:
    root: Path
    modules: dict[str, str]  # relative path -> source (tests excluded)
    test_modules: dict[str, str]
    data: dict[str, Any]
    digest: str
    rules: dict[str, RuleInfo]

    @property
    def policy_set(self) -> dict[str, Any]:
        policy: dict[str, Any] = self.data["policy_set"]
        return policy

    @property
    def version(self) -> str:
        return str(self.policy_set["version"])

    def profile(self, name: str) -> dict[str, Any]:
        profiles: dict[str, Any] = self.data["ownership"]["profiles"]
        if name not in profiles:
            known = ", ".join(sorted(profiles))
            raise RulesError(f"unknown profile (known: {known})", file=str(self.root), path="--profile", value=name)
        profile: dict[str, Any] = profiles[name]
        return profile


def _place(tree: dict[str, Any], keys: list[str], value: Any, file: str) -> None:
    node = tree
    for key in keys:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise RulesError("data conflicts with another file", file=file, path=json_path(keys), value=key)
    if not isinstance(value, dict):
        raise RulesError("a data file must hold a JSON object", file=file, value=type(value).__name__)
    for key, item in value.items():
        if key in node:
            raise RulesError("data key defined twice", file=file, path=json_path([*keys, key]), value=key)
        node[key] = item


def _validate(document: Any, schema_name: str, file: str) -> None:
    error = best_match(Draft202012Validator(schema(schema_name)).iter_errors(document))
    if error is not None:
        raise RulesError(error.message, file=file, path=json_path(error.absolute_path), value=error.instance)


def _metadata_blocks(source: str, file: str) -> list[dict[str, Any]]:
    """Parse `# METADATA` comment blocks (OPA annotations) into dictionaries."""
    blocks: list[dict[str, Any]] = []
    lines = source.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() == "# METADATA":
            body: list[str] = []
            index += 1
            while index < len(lines) and lines[index].startswith("#"):
                body.append(lines[index][2:] if lines[index].startswith("# ") else lines[index][1:])
                index += 1
            try:
                parsed = yaml.safe_load("\n".join(body)) or {}
            except yaml.YAMLError as exc:
                raise RulesError(f"bad METADATA block: {exc}", file=file, value=body[:1]) from None
            blocks.append(parsed)
        else:
            index += 1
    return blocks


def _rule_infos(modules: dict[str, str]) -> dict[str, RuleInfo]:
    infos: dict[str, RuleInfo] = {}
    for file, source in sorted(modules.items()):
        for block in _metadata_blocks(source, file):
            custom = block.get("custom") or {}
            rule_id = custom.get("rule_id")
            if not rule_id:
                continue
            resources = block.get("related_resources") or []
            clause = resources[0].get("description") if resources else None
            infos[rule_id] = RuleInfo(
                rule_id=rule_id,
                title=str(block.get("title", rule_id)),
                description=" ".join(str(block.get("description", "")).split()),
                clause=clause,
                file=file,
                custom=custom,
            )
    return infos


def check_sandbox(file: str, source: str) -> None:
    for number, line in enumerate(source.splitlines(), start=1):
        code = line.split("#", 1)[0]
        match = _FORBIDDEN_RE.search(code)
        if match:
            raise RulesError(
                f"rules may not use the non-deterministic built-in {match.group(1)!r} (line {number})",
                file=file,
                path=f"line {number}",
                value=line.strip(),
            )


def load_rules(root: str | Path | None = None) -> RuleSet:
    base = Path(root) if root is not None else default_rules_dir()
    if not (base / "manifest.json").is_file():
        raise RulesError("not a rules directory (no manifest.json)", file=str(base), value=str(base))
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    data: dict[str, Any] = {}
    hasher = hashlib.sha256()
    for path in sorted(base.rglob("*")):
        if not path.is_file() or path.suffix not in (".rego", ".json"):
            continue
        relative = path.relative_to(base).as_posix()
        raw = path.read_bytes()
        hasher.update(relative.encode() + b"\0" + raw + b"\0")
        text = raw.decode("utf-8")
        if path.suffix == ".rego":
            check_sandbox(str(path), text)
            (tests if path.name.endswith("_test.rego") else modules)[relative] = text
            continue
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RulesError(f"not valid JSON: {exc.msg}", file=str(path), value=text[exc.pos : exc.pos + 20]) from None
        keys = list(path.relative_to(base).parent.parts)
        _place(data, keys, document, str(path))
    _validate(data.get("policy_set"), "manifest", str(base / "manifest.json"))
    profiles = data.get("ownership", {}).get("profiles", {})
    for name, profile in profiles.items():
        _validate(profile, "profile", str(base / "ownership" / "profiles" / name / "data.json"))
    return RuleSet(
        root=base,
        modules=modules,
        test_modules=tests,
        data=data,
        digest="sha256:" + hasher.hexdigest(),
        rules=_rule_infos(modules),
    )
