"""Load a rules directory the way OPA does: every .rego file is a module, every
.json file is data placed at its directory's path. Validate the data against
schemas/, refuse non-deterministic built-ins, and fingerprint the whole set."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema.exceptions import best_match

from tos_policy import jsonio
from tos_policy.errors import InputError, RulesError
from tos_policy.jsonio import json_path
from tos_policy.policy.index import index_for
from tos_policy.resources import default_rules_dir, schema
from tos_policy.schema_check import validator_for

# Built-ins that reach the network, the clock, randomness, the environment or the
# host's time zone, or print. Rules must decide from their input and data alone, so the same facts
# always give the same decision. This covers every built-in OPA itself marks
# non-deterministic (`opa capabilities --current`), and those that read the
# clock without saying so (certificate and token checks, request signing).
# opa/capabilities.json is OPA's list of built-ins less exactly these; `opa check
# --capabilities opa/capabilities.json` enforces it for the OPA toolchain, and
# check_sandbox below for the embedded engine. A test keeps the two in step.
FORBIDDEN_BUILTINS = (
    "http.send",
    "net.*",
    "opa.runtime",
    "time.now_ns",
    # These take a zone ([ns, "Europe/Paris"], "Local") and read the host's zoneinfo or
    # TZ: the same rule would decide differently on another server. time.parse_ns reads
    # a zone abbreviation ("EST") in the host's zone. (time.add_date, time.parse_rfc3339_ns
    # and time.parse_duration_ns are the same on every host and stay allowed.)
    "time.clock",
    "time.date",
    "time.weekday",
    "time.format",
    "time.diff",
    "time.parse_ns",
    "rand.*",
    "uuid.*",
    "io.jwt.decode_verify",
    "io.jwt.encode_sign",
    "io.jwt.encode_sign_raw",
    "json.match_schema",
    "json.verify_schema",
    "crypto.x509.parse_and_verify_certificates",
    "crypto.x509.parse_and_verify_certificates_with_options",
    "providers.aws.sign_req",
    "trace",
    "print",
)
# Built-ins the embedded engine (rego-cpp 1.5) reads differently from OPA: it compares numbers
# as text in them (max([5, 10]) is 5 there), so a rule calling one decides by engine, and could
# allow where OPA reviews. Rules compare numbers with < and > instead.
ENGINE_DIVERGENT_BUILTINS = ("max", "min")

# A forbidden name as a whole reference, called or not: `time.now_ns()`, `opa.runtime`.
_FORBIDDEN_RE = re.compile(
    r"(?<![\w.])("
    + "|".join(re.escape(name).replace(r"\*", r"[A-Za-z_]\w*") for name in FORBIDDEN_BUILTINS)
    + r")(?![\w])"
)


def is_forbidden_builtin(name: str) -> bool:
    """True when `name` (e.g. "net.lookup_ip_addr") is one of FORBIDDEN_BUILTINS."""
    match = _FORBIDDEN_RE.match(name)
    return match is not None and match.end() == len(name)


@dataclass(frozen=True)
class RuleInfo:
    """What a rule's METADATA says about it, keyed by its rule id."""

    rule_id: str
    title: str
    description: str
    clause: str | None
    file: str
    custom: dict[str, Any] = field(default_factory=dict)
    ref: str | None = None  # where the clause is read (METADATA related_resources)


@dataclass
class RuleSet:
    root: Path
    modules: dict[str, str]  # relative path -> source (tests excluded)
    test_modules: dict[str, str]
    data: dict[str, Any]
    digest: str
    rules: dict[str, RuleInfo]
    # What OPA read of the modules (policy/index.py): the docs take test sections and data use from it.
    index: dict[str, Any] = field(default_factory=dict)
    # Problems of access policies (name -> error), found at load against this revision's schemas
    # and raised only when that policy is used, so the ownership commands keep working without it.
    access_policy_errors: dict[str, RulesError] = field(default_factory=dict)

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
    error = best_match(validator_for(schema(schema_name)).iter_errors(document))
    if error is not None:
        raise RulesError(error.message, file=file, path=json_path(error.absolute_path), value=error.instance)


def _infos_from_index(index: dict[str, Any]) -> dict[str, RuleInfo]:
    """The rules' METADATA as OPA read it (`opa inspect -a`, kept in the rules index)."""
    return {
        str(rule_id): RuleInfo(
            rule_id=str(rule_id),
            title=str(entry["title"]),
            description=str(entry["description"]),
            clause=entry.get("clause"),
            file=str(entry["file"]),
            custom=dict(entry.get("custom") or {}),
            ref=entry.get("ref"),
        )
        for rule_id, entry in sorted(index.get("rules", {}).items())
    }


# The zone name that means "the host's zone" in every built-in taking one.
HOST_ZONE = "Local"


def check_builtin_uses(file: str, uses: Iterable[tuple[str, int]], source: str | None = None) -> None:
    """Refuse the first forbidden built-in among `uses`: (dotted reference, line number)
    pairs, from OPA's AST (policy/integrity.py) or from the rules index (line 0: not known).
    `source` gives the offending line in the message."""
    lines = source.splitlines() if source is not None else []
    for name, number in uses:
        parts = name.split(".")
        for size in range(1, len(parts) + 1):
            prefix = ".".join(parts[:size])
            if is_forbidden_builtin(prefix):
                line = lines[number - 1].strip() if 0 < number <= len(lines) else name
                raise RulesError(
                    f"rules may not use the non-deterministic built-in {prefix!r}" + _at_line(number),
                    file=file,
                    path=f"line {number}" if number else "$",
                    value=line,
                )


def check_divergent_builtins(file: str, uses: Iterable[tuple[str, int]], source: str | None = None) -> None:
    """Refuse the first of ENGINE_DIVERGENT_BUILTINS among `uses`: (built-in name, line number).
    `tos-policy validate` checks the working tree with it; rule sets released before it existed
    still load (their history is read as it was)."""
    lines = source.splitlines() if source is not None else []
    for name, number in uses:
        if name in ENGINE_DIVERGENT_BUILTINS:
            raise RulesError(
                f"rules may not use the built-in {name!r}: the embedded engine compares numbers as text in it "
                "(max([5, 10]) is 5 there); compare with < and >" + _at_line(number),
                file=file,
                path=f"line {number}" if number else "$",
                value=lines[number - 1].strip() if 0 < number <= len(lines) else name,
            )


def check_zone_literals(file: str, strings: Iterable[tuple[str, int]], source: str | None = None) -> None:
    """Refuse the host's zone ("Local") as a string in code: (text, line number) pairs."""
    lines = source.splitlines() if source is not None else []
    for text, number in strings:
        if text == HOST_ZONE:
            line = lines[number - 1].strip() if 0 < number <= len(lines) else text
            raise RulesError(
                f'rules may not name the host\'s time zone "{HOST_ZONE}"' + _at_line(number),
                file=file,
                path=f"line {number}" if number else "$",
                value=line,
            )


def _at_line(number: int) -> str:
    return f" (line {number})" if number else ""


def _rules_json(raw: bytes, file: str) -> Any:
    """A rules data file, read by the strict reader: a duplicate key or NaN in a profile is refused, never last-wins."""
    try:
        return jsonio.loads(raw, file=file, max_depth=1000, exact=False)  # numbers as the engines read them
    except InputError as exc:
        raise RulesError(exc.message, file=exc.file, path=exc.path, value=exc.value) from None


def _rule_files(base: Path) -> list[Path]:
    """The .rego and .json files under `base`, sorted. A symbolic link that leads out of
    the rules directory is refused: what it points to would be decided with, digested and
    published in bundles as if it were part of the rules."""
    inside = base.resolve()
    found: list[Path] = []
    for path in sorted(base.rglob("*")):
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(inside):
                raise RulesError("a symbolic link leads out of the rules directory", file=str(path), value=str(target))
        if path.suffix in (".rego", ".json") and path.is_file():
            found.append(path)
    return found


def _utf8(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RulesError(
            f"not UTF-8 text (byte {exc.start}, line {line})",
            file=file,
            path=f"line {line}",
            value=raw[max(0, exc.start - 10) : exc.start + 10],
        ) from None


REGION_LIST_KEYS = ("restricted_countries", "restricted_regions")


def _region_lists(node: Any, parts: list[str]) -> list[tuple[str, list[Any]]]:
    found: list[tuple[str, list[Any]]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in REGION_LIST_KEYS and isinstance(value, list):
                found.append((json_path([*parts, key]), value))
            else:
                found.extend(_region_lists(value, [*parts, key]))
    return found


def check_region_lists(data: dict[str, Any], file: str) -> None:
    """Refuse restricted-region lists that disagree: the rules keep one list (data.regions),
    and any other list of restricted regions left in the data must say the same."""
    lists = _region_lists({k: v for k, v in data.items() if k != "regions"}, [])
    regions = data.get("regions")
    if isinstance(regions, dict) and isinstance(regions.get("restricted"), list):
        lists.insert(0, ("$.regions.restricted", regions["restricted"]))
    for where, values in lists[1:]:
        if sorted(map(str, values)) != sorted(map(str, lists[0][1])):
            raise RulesError(
                f"two lists of restricted regions disagree ({lists[0][0]} and {where}): keep one list, "
                "rules/regions/data.json, which the ownership and access rules both read",
                file=file,
                path=where,
                value=values,
            )


def _check_sandbox_of(base: Path, index: dict[str, Any], sources: dict[str, str]) -> None:
    """The sandbox on every module, rules and tests, from what OPA read of it (the rules index)."""
    for relative, entry in sorted(index.get("modules", {}).items()):
        if relative not in sources:
            continue  # a test module the folder was copied without
        file, source = str(base / relative), sources[relative]
        check_builtin_uses(file, ((str(name), int(line)) for name, line in entry.get("builtins", {}).items()), source)
        check_zone_literals(file, ((str(text), int(line)) for text, line in entry.get("strings", {}).items()), source)


def load_rules(root: str | Path | None = None) -> RuleSet:
    base = Path(root) if root is not None else default_rules_dir()
    if not (base / "manifest.json").is_file():
        raise RulesError("not a rules directory (no manifest.json)", file=str(base), value=str(base))
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    data: dict[str, Any] = {}
    hasher = hashlib.sha256()
    for path in _rule_files(base):
        relative = path.relative_to(base).as_posix()
        raw = path.read_bytes()
        hasher.update(relative.encode() + b"\0" + raw + b"\0")
        if path.suffix == ".json":
            keys = list(path.relative_to(base).parent.parts)
            _place(data, keys, _rules_json(raw, str(path)), str(path))
            continue
        text = _utf8(raw, str(path))
        if path.suffix == ".rego":
            (tests if path.name.endswith("_test.rego") else modules)[relative] = text
            continue
    sources = {**modules, **tests}

    def sandbox(index: dict[str, Any]) -> None:
        _check_sandbox_of(base, index, sources)

    index = index_for(base, sources, sandbox)  # OPA's reading of the modules, never our own
    sandbox(index)
    _validate(data.get("policy_set"), "manifest", str(base / "manifest.json"))
    # An archived version's manifest may have no date (not recorded: policy-archive/README.md); reports say null.
    data["policy_set"].setdefault("effective_date", None)
    if "regions" in data:
        _validate(data["regions"], "regions", str(base / "regions" / "data.json"))
    check_region_lists(data, str(base))
    profiles = data.get("ownership", {}).get("profiles", {})
    for name, profile in profiles.items():
        _validate(profile, "profile", str(base / "ownership" / "profiles" / name / "data.json"))
    # Access policies are checked here, with the other data, so that a revision's rules are
    # checked against that revision's schemas (release/history.py), never a later one's.
    access_errors: dict[str, RulesError] = {}
    for name, policy in sorted(data.get("access", {}).get("policies", {}).items()):
        file = str(base / "access" / "policies" / name / "data.json")
        try:
            _validate(policy, "access-policy", file)
            named = policy["ownership_profile"]
            if named not in profiles:
                where = "$.ownership_profile"
                raise RulesError("no ownership profile of this name", file=file, path=where, value=named)
        except RulesError as error:
            access_errors[name] = error
    return RuleSet(
        root=base,
        modules=modules,
        test_modules=tests,
        data=data,
        digest="sha256:" + hasher.hexdigest(),
        rules=_infos_from_index(index),
        index=index,
        access_policy_errors=access_errors,
    )
