"""`tos-policy bundle` and a real OPA server fed by the bundle: the real `opa build`,
the real `opa run --server --bundle FILE`, an OpaEngine that only queries
(load_rules=False), the same decisions as the embedded engine, and every mismatch
or missing rule an EngineError, never an allow."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.fixture_rules import fixture_rules_dir
from tests.opa.rest import policy_ids, rest
from tos_policy import EngineError, evaluate, load_facts
from tos_policy.engines.embedded import EmbeddedEngine
from tos_policy.engines.opa import POLICY_ID_PREFIX, OpaEngine
from tos_policy.engines.opa_server import OpaServer, OpaServerError, opa_binary, start_server
from tos_policy.policy.ruleset import RuleSet, load_rules
from tos_policy.release.bundle import BundleError, build_bundle, bundle_revision, bundle_roots

pytestmark = pytest.mark.opa

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = fixture_rules_dir()  # the shipped Rego with the frozen test data
EXAMPLES = sorted((REPO / "examples").glob("*.json"))
# Before and after the divestment example's sale (2022-06-01), and the date the other tests use.
DATES = [date(2022, 1, 1), date(2025, 10, 1)]
OTHER_VERSION = "99.0.0"  # a policy version the shipped rules will not have


# --- helpers ---------------------------------------------------------------------------------------------------


def read_bundle(path: Path) -> dict[str, bytes]:
    """Every regular file in the bundle, by its name inside the tar (OPA writes names with a leading /)."""
    with tarfile.open(path, "r:gz") as archive:
        files = {}
        for member in archive.getmembers():
            if member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                files[member.name] = handle.read()
    return files


def manifest_of(path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(read_bundle(path)["/.manifest"])
    return manifest


def copy_rules(target: Path) -> Path:
    shutil.copytree(RULES_DIR, target)
    return target


def start_bundle_server(bundle: Path) -> OpaServer:
    try:
        return start_server(opa_binary(), bundle=bundle)
    except OpaServerError as exc:
        pytest.fail(f"cannot start an OPA server with the bundle {bundle}: {exc}", pytrace=False)


def decisions(report: Any) -> list[tuple[Any, ...]]:
    return [(item.entity.id, item.decision, item.reasons, item.paths) for item in report.decisions]


def cli() -> list[str]:
    found = shutil.which("tos-policy")
    return [found] if found else [sys.executable, "-m", "tos_policy.cli.main"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli(), *args], capture_output=True, text=True, timeout=120, check=False, cwd=REPO)


def comparable(report_json: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(report_json)
    document.pop("engine")
    return document


# --- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules(RULES_DIR)


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory: pytest.TempPathFactory, shipped: RuleSet) -> Path:
    """The shipped rules, built once into a bundle for this module."""
    return build_bundle(shipped, tmp_path_factory.mktemp("dist") / "bundle.tar.gz").path


@pytest.fixture(scope="module")
def bundle_server(bundle_path: Path) -> Iterator[OpaServer]:
    """`opa run --server --bundle FILE`: rules and data come from the bundle, nothing is pushed."""
    server = start_bundle_server(bundle_path)
    try:
        yield server
    finally:
        server.stop()  # by pid: SIGTERM, then SIGKILL
    assert not server.running(), f"the OPA server (pid {server.pid}) is still running"


@pytest.fixture
def bundle_servers() -> Iterator[Callable[[Path], OpaServer]]:
    """Start servers on other bundles in a test; each is stopped by pid when the test ends."""
    started: list[OpaServer] = []

    def start(bundle: Path) -> OpaServer:
        server = start_bundle_server(bundle)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        assert not server.running()


@pytest.fixture(scope="module")
def embedded_engine(shipped: RuleSet) -> Iterator[EmbeddedEngine]:
    engine = EmbeddedEngine(shipped)
    yield engine
    engine.close()


@pytest.fixture
def bundle_engine(bundle_server: OpaServer, shipped: RuleSet) -> Iterator[OpaEngine]:
    engine = OpaEngine(shipped, bundle_server.url, timeout=10.0, load_rules=False)
    yield engine
    engine.close()


# --- what the bundle holds -------------------------------------------------------------------------------------


def test_the_revision_names_policy_version_and_rules_digest(bundle_path: Path, shipped: RuleSet) -> None:
    manifest = manifest_of(bundle_path)
    algorithm, hexdigest = shipped.digest.split(":")
    expected = f"tos-policy@{shipped.version}+{algorithm}:{hexdigest[:12]}"
    assert manifest["revision"] == expected == bundle_revision(shipped)
    assert re.fullmatch(r"tos-policy@[0-9]+\.[0-9]+\.[0-9]+\+sha256:[0-9a-f]{12}", manifest["revision"])
    assert manifest["metadata"] == {"policy_set": shipped.policy_set, "rules_digest": shipped.digest}


def test_the_roots_are_the_rules_top_level_names(bundle_path: Path, shipped: RuleSet) -> None:
    assert (
        manifest_of(bundle_path)["roots"]
        == ["access", "exceptions", "ownership", "policy_set", "regions"]
        == bundle_roots(shipped)
    )


def test_no_rego_tests_and_exactly_the_loaded_rules(bundle_path: Path, shipped: RuleSet) -> None:
    files = read_bundle(bundle_path)
    assert shipped.test_modules, "the shipped rules have Rego tests, which the bundle must leave out"
    assert not [name for name in files if name.endswith("_test.rego")]
    assert set(files) == {"/.manifest", "/data.json"} | {f"/{path}" for path in shipped.modules}
    for path, source in shipped.modules.items():
        assert files[f"/{path}"].decode() == source
    assert json.loads(files["/data.json"]) == shipped.data


def test_the_same_rules_give_the_same_bytes(tmp_path: Path, shipped: RuleSet, bundle_path: Path) -> None:
    again = build_bundle(shipped, tmp_path / "again.tar.gz")
    assert again.path.read_bytes() == bundle_path.read_bytes()


def test_roots_are_computed_from_the_rules(tmp_path: Path) -> None:
    rules_dir = copy_rules(tmp_path / "rules")
    (rules_dir / "audit").mkdir()
    (rules_dir / "audit" / "log.rego").write_text(
        "# package not_this_one\npackage audit.log\n\nentries := count(data.registers.sanctions)\n"
    )
    (rules_dir / "registers").mkdir()
    (rules_dir / "registers" / "lists.json").write_text('{"sanctions": ["x"]}\n')
    rules = load_rules(rules_dir)
    built = build_bundle(rules, tmp_path / "out" / "bundle.tar.gz")
    assert (
        built.roots
        == ["access", "audit", "exceptions", "ownership", "policy_set", "regions", "registers"]
        == bundle_roots(rules)
    )
    assert manifest_of(built.path)["roots"] == built.roots
    assert "/audit/log.rego" in read_bundle(built.path)


def test_the_output_is_replaced_atomically(tmp_path: Path, shipped: RuleSet) -> None:
    target = tmp_path / "new" / "dir" / "bundle.tar.gz"  # the parent is created
    build_bundle(shipped, target)
    first = target.read_bytes()
    target.write_bytes(b"an older bundle")
    build_bundle(shipped, target)
    assert target.read_bytes() == first
    assert sorted(item.name for item in target.parent.iterdir()) == ["bundle.tar.gz"]  # no temporary left
    assert target.stat().st_mode & 0o444 == 0o444  # a bundle server can read it


def test_rules_that_fail_the_strict_check_build_nothing(tmp_path: Path) -> None:
    rules_dir = copy_rules(tmp_path / "rules")
    (rules_dir / "ownership" / "sloppy.rego").write_text("package ownership\n\nunused_argument(x) := true\n")
    target = tmp_path / "bundle.tar.gz"
    target.write_bytes(b"previous")
    with pytest.raises(BundleError, match="opa check --strict"):
        build_bundle(load_rules(rules_dir), target)
    assert target.read_bytes() == b"previous"
    assert sorted(item.name for item in tmp_path.iterdir()) == ["bundle.tar.gz", "rules"]


def test_without_the_opa_binary_the_error_names_build_opa(
    tmp_path: Path, shipped: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPA_BINARY", str(tmp_path / "no-opa-here"))
    with pytest.raises(BundleError, match="scripts/build-opa"):
        build_bundle(shipped, tmp_path / "bundle.tar.gz")
    assert not (tmp_path / "bundle.tar.gz").exists()


# --- a server fed by the bundle --------------------------------------------------------------------------------


@pytest.mark.parametrize("as_of", DATES, ids=str)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_a_bundle_fed_server_decides_like_the_embedded_engine(
    example: Path, as_of: date, bundle_engine: OpaEngine, embedded_engine: EmbeddedEngine, shipped: RuleSet
) -> None:
    facts = load_facts([example])
    by_opa = evaluate(facts, shipped, bundle_engine, as_of=as_of)
    by_embedded = evaluate(facts, shipped, embedded_engine, as_of=as_of)
    assert by_opa.engine == "opa"
    assert decisions(by_opa) == decisions(by_embedded)
    assert by_opa.decisions


def test_the_examples_reach_every_decision(embedded_engine: EmbeddedEngine, shipped: RuleSet) -> None:
    seen = {
        item.decision
        for example in EXAMPLES
        for item in evaluate(load_facts([example]), shipped, embedded_engine, as_of=DATES[-1]).decisions
    }
    assert seen == {"allow", "deny", "review"}


def test_the_engine_pushes_nothing(bundle_engine: OpaEngine, bundle_server: OpaServer, shipped: RuleSet) -> None:
    policies = policy_ids(bundle_server)
    bundles = rest(bundle_server, "GET", "data/system/bundles")["result"]
    assert not [policy for policy in policies if policy.startswith(POLICY_ID_PREFIX)]
    assert [entry["manifest"]["revision"] for entry in bundles.values()] == [bundle_revision(shipped)]


def test_a_bundle_fed_server_refuses_rules_pushed_over_it(bundle_server: OpaServer, shipped: RuleSet) -> None:
    # The bundle owns its roots: loading through the API fails (closed), which is why load_rules=False exists.
    with pytest.raises(EngineError) as caught:
        OpaEngine(shipped, bundle_server.url, timeout=5.0)
    assert bundle_server.url in str(caught.value)


# --- failing closed --------------------------------------------------------------------------------------------


def test_a_server_without_the_rules_is_refused(start_opa: Callable[[], OpaServer], shipped: RuleSet) -> None:
    server = start_opa()  # `opa run --server` with nothing loaded
    with pytest.raises(EngineError, match=r"no data\.policy_set") as caught:
        OpaEngine(shipped, server.url, timeout=5.0, load_rules=False)
    assert server.url in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bundle_without_the_rego_rules_decides_nothing(
    tmp_path: Path, bundle_servers: Callable[[Path], OpaServer]
) -> None:
    rules_dir = copy_rules(tmp_path / "rules")
    for module in rules_dir.rglob("*.rego"):
        module.unlink()
    data_only = load_rules(rules_dir)
    assert not data_only.modules
    server = bundle_servers(build_bundle(data_only, tmp_path / "data-only.tar.gz").path)
    engine = OpaEngine(data_only, server.url, timeout=5.0, load_rules=False)  # the data matches: accepted
    try:
        item = {"scale": 1, "entity": {"type": "company", "headquarters": "SG", "jurisdiction": "SG"}, "links": []}
        with pytest.raises(EngineError, match="undefined") as caught:
            engine.decide({"profile": "terms_of_service", "reading": "lower", "items": [item]})
        assert server.url in str(caught.value)
        with pytest.raises(EngineError, match="undefined"):
            evaluate(load_facts([REPO / "examples" / "clean-company.json"]), data_only, engine, as_of=DATES[-1])
    finally:
        engine.close()


def _other_profile(rules_dir: Path) -> None:
    path = rules_dir / "ownership" / "profiles" / "terms_of_service" / "data.json"
    profile = json.loads(path.read_text())
    profile["threshold_percent"] = 25
    path.write_text(json.dumps(profile))


def _other_version(rules_dir: Path) -> None:
    path = rules_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["policy_set"]["version"] = OTHER_VERSION
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_other_profile, "bundle revision is tos-policy@"),  # same version, other rules
        (_other_version, f"decides with tos-policy {OTHER_VERSION}"),
    ],
    ids=["same-version-other-data", "other-version"],
)
def test_a_bundle_of_other_rules_is_refused(
    change: Callable[[Path], None],
    message: str,
    tmp_path: Path,
    bundle_servers: Callable[[Path], OpaServer],
    shipped: RuleSet,
) -> None:
    rules_dir = copy_rules(tmp_path / "rules")
    change(rules_dir)
    other = load_rules(rules_dir)
    server = bundle_servers(build_bundle(other, tmp_path / "other.tar.gz").path)
    with pytest.raises(EngineError, match=message) as caught:
        OpaEngine(shipped, server.url, timeout=5.0, load_rules=False)
    assert server.url in str(caught.value)
    OpaEngine(other, server.url, timeout=5.0, load_rules=False).close()  # its own rules are accepted


# --- the command line ------------------------------------------------------------------------------------------


def test_cli_bundle(tmp_path: Path, shipped: RuleSet) -> None:
    target = tmp_path / "dist" / "bundle.tar.gz"
    result = run_cli("bundle", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert target.is_file()
    assert f"bundle: {target}" in result.stdout
    assert f"revision: {bundle_revision(shipped)}" in result.stdout
    assert manifest_of(target)["revision"] == bundle_revision(shipped)


def test_cli_bundle_of_another_rules_directory(tmp_path: Path) -> None:
    rules_dir = copy_rules(tmp_path / "rules")
    _other_version(rules_dir)
    target = tmp_path / "bundle.tar.gz"
    result = run_cli("bundle", "--rules", str(rules_dir), "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert manifest_of(target)["revision"].startswith(f"tos-policy@{OTHER_VERSION}+sha256:")


def test_cli_bundle_of_a_bad_rules_directory(tmp_path: Path) -> None:
    result = run_cli("bundle", "--rules", str(tmp_path), "-o", str(tmp_path / "bundle.tar.gz"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "not a rules directory" in result.stderr
    assert not (tmp_path / "bundle.tar.gz").exists()


def test_cli_bundle_without_opa(tmp_path: Path) -> None:
    target = tmp_path / "bundle.tar.gz"
    result = subprocess.run(
        [*cli(), "bundle", "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env={**os.environ, "OPA_BINARY": str(tmp_path / "no-opa-here")},
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "scripts/build-opa" in result.stderr
    assert not target.exists()


@pytest.mark.parametrize("example", ["chain", "divestment", "unknown-owner"])
def test_cli_evaluate_against_a_bundle_fed_server(example: str, bundle_server: OpaServer) -> None:
    common = ["evaluate", f"examples/{example}.json", "--as-of", "2025-10-01"]
    by_opa = run_cli(*common, "--engine", "opa", "--opa-url", bundle_server.url, "--opa-no-load")
    by_embedded = run_cli(*common)
    assert by_opa.returncode == 0, by_opa.stderr
    assert by_embedded.returncode == 0, by_embedded.stderr
    assert json.loads(by_opa.stdout)["engine"] == "opa"
    assert comparable(by_opa.stdout) == comparable(by_embedded.stdout)


def test_cli_screen_with_workers_against_a_bundle_fed_server(bundle_server: OpaServer, tmp_path: Path) -> None:
    # Worker processes make their own engines: --opa-no-load must reach them too.
    common = ["screen", *[str(path) for path in EXAMPLES[:3]], "--as-of", "2025-10-01", "--workers", "2"]
    opa_options = ["--engine", "opa", "--opa-url", bundle_server.url, "--opa-no-load"]
    by_opa = run_cli(*common, "--out", str(tmp_path / "opa.jsonl"), *opa_options)
    by_embedded = run_cli(*common, "--out", str(tmp_path / "embedded.jsonl"))
    assert by_opa.returncode == 0, by_opa.stderr
    assert by_embedded.returncode == 0, by_embedded.stderr
    summary = json.loads(by_opa.stderr.strip().splitlines()[-1])
    assert summary["partitions"] == 2, by_opa.stderr  # the decisions were made in two forked workers

    def lines(name: str) -> list[dict[str, Any]]:
        rows = [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
        for row in rows:
            row.pop("engine", None)
        return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))

    assert lines("opa.jsonl") == lines("embedded.jsonl")
    assert lines("opa.jsonl")


def test_cli_without_opa_no_load_cannot_use_a_bundle_fed_server(bundle_server: OpaServer) -> None:
    result = run_cli("evaluate", "examples/chain.json", "--engine", "opa", "--opa-url", bundle_server.url)
    assert result.returncode == 3
    assert result.stdout == ""
    assert bundle_server.url in result.stderr


def test_cli_opa_no_load_against_a_server_without_the_rules(start_opa: Callable[[], OpaServer]) -> None:
    server = start_opa()
    result = run_cli("evaluate", "examples/chain.json", "--engine", "opa", "--opa-url", server.url, "--opa-no-load")
    assert result.returncode == 3
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no data.policy_set" in lines[0]
    assert server.url in lines[0]


def test_cli_opa_no_load_needs_the_opa_engine() -> None:
    result = run_cli("evaluate", "examples/chain.json", "--opa-no-load")
    assert result.returncode == 2
    assert "--opa-no-load needs --engine opa" in result.stderr
