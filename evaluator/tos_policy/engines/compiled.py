"""Where the Wasm engine's module comes from: shipped, cached or built now.

The module is compiled from the Rego modules alone (tests excluded); the rules'
data is loaded into it at run time, so editing data needs no new module. A module
is keyed by the digest of what it was compiled from (`wasm_key`): the entrypoints
and every module's path and source. In order:

1. the module shipped in the package (engines/compiled/), when its key matches
   the rules (the packaged rules: `pip install .` users need no Go or OPA);
2. a module built earlier for these rules, in the cache directory
   ($TOS_POLICY_CACHE, else $XDG_CACHE_HOME/tos-policy, else ~/.cache/tos-policy);
3. a module built now with OPA (`opa build -t wasm`), when an OPA binary is found
   ($OPA_BINARY, the repository's .tools/bin/opa, or `opa` on the PATH), then cached.

`scripts/build-wasm` refreshes the shipped module after the rules change; a test
keeps it in step with the rules."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import orjson

from tos_policy import jsonio
from tos_policy.engines import ENTRYPOINTS
from tos_policy.errors import EngineError, InputError
from tos_policy.policy.ruleset import RuleSet

SHIPPED_DIR = Path(__file__).resolve().parent / "compiled"
SHIPPED_MODULE = SHIPPED_DIR / "policy.wasm"
SHIPPED_KEY = SHIPPED_DIR / "policy.json"
_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)


def entrypoints(rules: RuleSet) -> list[str]:
    """The engine's entrypoints the rules define: their package, with the rule at the start of a
    line of one of its modules (fixture rules may hold ownership alone; rules of an older revision
    may not have a newer entrypoint)."""
    found = []
    for entry in ENTRYPOINTS:
        package, _, rule = entry.rpartition("/")
        head = re.compile(rf"^{re.escape(rule)}\b", re.MULTILINE)
        if any(
            package.replace("/", ".") in {match.group(1) for match in _PACKAGE.finditer(source)} and head.search(source)
            for source in rules.modules.values()
        ):
            found.append(entry)
    return found


def wasm_key(rules: RuleSet) -> str:
    """The digest of what the module is compiled from: entrypoints, module paths and sources."""
    hasher = hashlib.sha256()
    for entry in entrypoints(rules):
        hasher.update(b"entrypoint\0" + entry.encode() + b"\0")
    for path, source in sorted(rules.modules.items()):
        hasher.update(path.encode() + b"\0" + source.encode() + b"\0")
    return "sha256:" + hasher.hexdigest()


def cache_dir() -> Path:
    configured = os.environ.get("TOS_POLICY_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tos-policy"


def _cached_path(key: str) -> Path:
    return cache_dir() / "wasm" / f"{key.removeprefix('sha256:')}.wasm"


def shipped_module(key: str) -> bytes | None:
    """The packaged module, if it was compiled from exactly these rules."""
    try:
        recorded = jsonio.loads(SHIPPED_KEY.read_bytes(), file=str(SHIPPED_KEY), exact=False)
        if isinstance(recorded, dict) and recorded.get("key") == key:
            module = SHIPPED_MODULE.read_bytes()
            if "sha256:" + hashlib.sha256(module).hexdigest() == recorded.get("sha256"):
                return module
    except (OSError, InputError):
        pass
    return None


def find_opa() -> Path | None:
    from tos_policy.engines.opa_server import DEFAULT_BINARY

    configured = os.environ.get("OPA_BINARY")
    for candidate in (Path(configured) if configured else None, DEFAULT_BINARY):
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("opa")
    return Path(found) if found else None


def build_module(rules: RuleSet, opa: Path) -> bytes:
    """Compile the rules' modules with `opa build -t wasm`; the policy.wasm of the bundle it writes."""
    wanted = entrypoints(rules)
    if not wanted:
        raise EngineError("wasm: the rules define none of the engine's entrypoints")
    with tempfile.TemporaryDirectory(prefix="tos-policy-wasm-") as scratch:
        source = Path(scratch) / "rules"
        for path, text in rules.modules.items():
            target = source / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        bundle = Path(scratch) / "bundle.tar.gz"
        command = [str(opa.resolve()), "build", "-t", "wasm"]
        for entry in wanted:
            command += ["-e", entry]
        # Relative paths: the module names its source files, and must not name a temporary directory.
        command += ["rules", "-o", "bundle.tar.gz"]
        try:
            done = subprocess.run(command, cwd=scratch, capture_output=True, text=True, check=False, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EngineError(f"wasm: running {opa} build failed: {exc}") from None
        if done.returncode != 0:
            message = " ".join((done.stderr or done.stdout).split())[:300]
            raise EngineError(f"wasm: opa build could not compile the rules: {message}")
        with tarfile.open(bundle, "r:gz") as archive:
            for member in archive.getmembers():
                if member.name.lstrip("/") == "policy.wasm":
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        return extracted.read()
    raise EngineError("wasm: opa build wrote no policy.wasm")


def _store(path: Path, module: bytes) -> None:
    """Write atomically, so a concurrent reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".wasm-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(module)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def module_for(rules: RuleSet, *, build: bool = True) -> bytes | None:
    """The compiled module for these rules: shipped, cached, or (build=True and OPA found) built
    and cached now. None when there is none and none can be built."""
    key = wasm_key(rules)
    shipped = shipped_module(key)
    if shipped is not None:
        return shipped
    cached = _cached_path(key)
    try:
        return cached.read_bytes()
    except OSError:
        pass
    opa = find_opa() if build else None
    if opa is None:
        return None
    module = build_module(rules, opa)
    with contextlib.suppress(OSError):  # an unwritable cache costs a rebuild next time, not a decision
        _store(cached, module)
    return module


def write_shipped(rules: RuleSet, opa: Path) -> str:
    """Compile the rules and store them as the shipped module with their key; the key."""
    module = build_module(rules, opa)
    key = wasm_key(rules)
    _store(SHIPPED_MODULE, module)
    record = {"key": key, "sha256": "sha256:" + hashlib.sha256(module).hexdigest(), "entrypoints": entrypoints(rules)}
    _store(SHIPPED_KEY, orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    return key
