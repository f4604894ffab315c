"""Build an OPA bundle from a rules directory: stage the rules, run the real `opa build`.

    built = build_bundle(load_rules(), Path("dist/bundle.tar.gz"))
    print(built.path, built.revision)

The staging directory holds exactly what the evaluator loaded (RuleSet), never a
second read of the files:

- every module except tests (*_test.rego), at its path under the rules directory;
- one /data.json with the whole data tree (manifest.json's `policy_set`, the
  profiles under `ownership`...), placed as OPA places the rules directory's .json
  files. A bundle reads only files named data.json as data, so the tree is written
  as one;
- a generated /.manifest: `revision` (see bundle_revision), `roots` (see
  bundle_roots) and `metadata` ({policy_set, rules_digest}).

`opa check --strict` then `opa build -b . --revision REV -o TMP` run in the staging
directory; TMP sits beside the output and replaces it atomically (os.replace).
`opa build` writes every entry with the same mode and time, so the same rules give a
byte-identical bundle.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tos_policy.atomic import replaced_atomically
from tos_policy.engines.opa_server import OpaServerError, opa_binary
from tos_policy.errors import TosPolicyError
from tos_policy.policy.ruleset import RuleSet

DIGEST_PREFIX_LENGTH = 12
OPA_TIMEOUT = 120.0  # seconds for each of `opa check` and `opa build`

# The first segment of a module's package: `package ownership` -> "ownership",
# `package a.b["c"]` -> "a". Comments start with "#", so a `# package x` line never matches.
_PACKAGE_RE = re.compile(r"^package[ \t]+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


class BundleError(TosPolicyError):
    """The bundle could not be built: no OPA binary, rules OPA rejects, an unwritable output. Exit code 1."""


@dataclass(frozen=True)
class BuiltBundle:
    path: Path
    revision: str
    roots: list[str]
    modules: list[str]  # module paths inside the bundle


def bundle_revision(rules: RuleSet) -> str:
    """NAME@VERSION+sha256:<first 12 hex of the rules digest>, e.g. tos-policy@2.0.0+sha256:c17de8420603.

    The digest is RuleSet.digest, the one every report carries as `rules_digest`, so a
    server's bundle revision names the exact rules (not only their version) it decides with.
    """
    algorithm, _, hexdigest = rules.digest.partition(":")
    return f"{rules.policy_set['name']}@{rules.version}+{algorithm}:{hexdigest[:DIGEST_PREFIX_LENGTH]}"


def module_package_root(path: str, source: str) -> str:
    """The top-level name of the module's package (its first segment under data)."""
    found = _PACKAGE_RE.search(source)
    if found is None:
        raise BundleError(f"{path}: no `package NAME` line; cannot tell which bundle root the module belongs to")
    return found.group(1)


def bundle_roots(rules: RuleSet) -> list[str]:
    """The bundle's roots: every top-level data key and every module's top-level package, sorted.

    For the shipped rules: ["ownership", "policy_set"] (package ownership and
    data.ownership.profiles; manifest.json's policy_set). A server fed the bundle
    owns exactly these paths, so nothing else may write under them.
    """
    roots = set(rules.data)
    roots.update(module_package_root(path, source) for path, source in rules.modules.items())
    if not roots:
        raise BundleError(f"{rules.root}: the rules define no data and no modules; nothing to bundle")
    return sorted(roots)


def _manifest(
    rules: RuleSet, revision: str, roots: list[str], organisations: dict[str, Any] | None
) -> dict[str, object]:
    metadata: dict[str, Any] = {"policy_set": rules.policy_set, "rules_digest": rules.digest}
    if organisations is not None:  # screened decisions packed in: what they were decided from
        metadata["organisations"] = {
            "count": len(organisations["decisions"]),
            "facts_digest": organisations["facts_digest"],
            "as_of": organisations["as_of"],
        }
    return {"revision": revision, "roots": roots, "metadata": metadata}


def stage(
    rules: RuleSet, directory: Path, revision: str, roots: list[str], organisations: dict[str, Any] | None = None
) -> list[str]:
    """Write the bundle's files into `directory` (empty); return the module paths written."""
    written: list[str] = []
    for relative, source in sorted(rules.modules.items()):
        posix = PurePosixPath(relative)
        if posix.is_absolute() or ".." in posix.parts:
            raise BundleError(f"{rules.root}: a module path leaves the rules directory: {relative!r}")
        if posix.name.endswith("_test.rego"):  # RuleSet keeps tests apart already; never ship one
            continue
        target = directory.joinpath(*posix.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
        written.append(relative)
    data = rules.data
    if organisations is not None:  # data.access.organisations, read by access/result
        data = {**data, "access": {**data.get("access", {}), "organisations": organisations}}
    (directory / "data.json").write_text(
        json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (directory / ".manifest").write_text(
        json.dumps(_manifest(rules, revision, roots, organisations), indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    return written


def _run_opa(binary: Path, arguments: list[str], cwd: Path, action: str) -> None:
    try:
        done = subprocess.run(
            [str(binary), *arguments],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=OPA_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BundleError(f"{action} did not finish within {OPA_TIMEOUT:g}s") from None
    except OSError as exc:
        raise BundleError(f"cannot run the OPA binary {binary}: {exc.strerror}") from None
    if done.returncode != 0:
        output = " ".join((done.stderr or done.stdout).split())[:800]
        raise BundleError(f"{action} failed (exit {done.returncode}): {output or '<no output>'}")


def build_bundle(
    rules: RuleSet, output: Path, *, opa: Path | None = None, organisations: dict[str, Any] | None = None
) -> BuiltBundle:
    """Build `output` (a .tar.gz OPA bundle) from `rules` with the real `opa build`; replace it atomically."""
    try:
        binary = opa if opa is not None else opa_binary()
    except OpaServerError as exc:
        raise BundleError(f"cannot build a bundle: {exc}") from None
    revision = bundle_revision(rules)
    roots = bundle_roots(rules)
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BundleError(f"cannot create the output directory {output.parent}: {exc.strerror}") from None
    if output.is_dir():
        raise BundleError(f"the output {output} is a directory; name the bundle file, e.g. {output / 'bundle.tar.gz'}")
    with tempfile.TemporaryDirectory(prefix="tos-policy-bundle-") as staging_name:
        staging = Path(staging_name)
        modules = stage(rules, staging, revision, roots, organisations)
        _run_opa(binary, ["check", "--strict", "-b", "."], staging, "opa check --strict")
        try:
            with replaced_atomically(output) as temporary:
                _run_opa(
                    binary,
                    ["build", "-b", ".", "--revision", revision, "-o", str(temporary.resolve())],
                    staging,
                    "opa build",
                )
        except OSError as exc:
            raise BundleError(f"cannot write the bundle {output}: {exc.strerror}") from None
    return BuiltBundle(path=output, revision=revision, roots=roots, modules=modules)
