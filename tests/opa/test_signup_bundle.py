"""Sign-ups decided by OPA from a bundle with screened organisation decisions: a
small version of benchmarks/signup_load.py against the real `opa run --server`,
checking every answer against the embedded engine, and the bundle's contents."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tos_policy.engines.opa_server import start_server

pytestmark = pytest.mark.opa

ROOT = Path(__file__).resolve().parents[2]


def _load_module() -> Any:
    spec = importlib.util.spec_from_file_location("signup_load", ROOT / "benchmarks" / "signup_load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["signup_load"] = module
    spec.loader.exec_module(module)
    return module


signup_load = _load_module()


def test_every_sign_up_answered_by_opa_from_the_bundle_is_right(opa_bin: Path, tmp_path: Path) -> None:
    bundle, organisations = signup_load.build_signup_bundle(tmp_path, entities=400, seed=5)
    decisions = {entry["decision"] for entry in organisations["decisions"].values()}
    assert decisions == {"allow", "deny", "review"}  # the registry exercises every decision
    inputs = signup_load.sign_up_inputs(organisations, 300, seed=6)
    with start_server(opa_bin, bundle=bundle) as server:
        result = signup_load.run_load(f"{server.url}/v1/data/access/result", inputs, rate=150, seconds=2)
    signup_load.check_answers(result, inputs, signup_load.embedded_answers(organisations))
    assert result.errors == []
    assert len(result.answers) == result.sent == 300
    by_input = dict(result.answers)
    for which, item in enumerate(inputs):  # the organisation's screened decision reaches the answer
        organisation = item["organisation"]
        if organisation is None or which not in by_input:
            continue
        key = organisations["aliases"].get(organisation["id"])
        expected = organisations["decisions"][key]["decision"] if key else "review"
        cited = [reason for reason in by_input[which]["reasons"] if reason["signal"] == "organisation"]
        if expected != "allow":
            assert [reason["ownership_decision"] for reason in cited] == [expected]
            assert by_input[which]["decision"] != "allow"


def _bundle_data(bundle: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    with tarfile.open(bundle) as archive:
        data = json.load(archive.extractfile("/data.json") or archive.extractfile("data.json"))  # type: ignore[arg-type]
        manifest = json.load(archive.extractfile("/.manifest") or archive.extractfile(".manifest"))  # type: ignore[arg-type]
    return data, manifest


def test_bundle_packs_decisions_by_id_and_unambiguous_alias(tmp_path: Path) -> None:
    facts = {
        "entities": [
            {
                "id": "a",
                "type": "company",
                "headquarters": "DE",
                "identifiers": [{"scheme": "XI-LEI", "id": "LEI-A"}, {"scheme": "GB-COH", "id": "1"}],
            },
            {"id": "b", "type": "company", "headquarters": "FR", "identifiers": [{"scheme": "FR-SIREN", "id": "1"}]},
        ],
        "ownership": [],
    }
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(json.dumps(facts))
    decisions = tmp_path / "decisions.json"
    tool = [sys.executable, "-m", "tos_policy"]
    decisions.write_text(
        subprocess.run(
            [*tool, "evaluate", str(facts_file), "--as-of", "2025-10-01"], check=True, capture_output=True, text=True
        ).stdout
    )
    bundle = tmp_path / "bundle.tar.gz"
    done = subprocess.run(
        [*tool, "bundle", "--decisions", str(decisions), "--facts", str(facts_file), "-o", str(bundle)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data, manifest = _bundle_data(bundle)
    organisations = data["access"]["organisations"]
    evaluated = json.loads(decisions.read_text())
    assert (
        organisations["facts_digest"]
        == evaluated["facts_digest"]
        == manifest["metadata"]["organisations"]["facts_digest"]
    )
    assert organisations["policy_version"] == evaluated["policy"]["version"]
    assert organisations["aliases"] == {
        "a": "a",
        "b": "b",
        "XI-LEI:LEI-A": "a",
        "LEI-A": "a",
        "GB-COH:1": "a",
        "GB-COH:00000001": "a",  # the register number in its one form (padded to eight digits), with or without its code
        "00000001": "a",
        "FR-SIREN:1": "b",
    }
    assert organisations["ambiguous_aliases"] == ["1"]  # names two organisations: left out, so such a sign-up is review
    for record in evaluated["decisions"]:
        assert organisations["decisions"][record["entity"]]["decision"] == record["decision"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"decisions": [{"entity": "a", "decision": "maybe", "reasons": [], "policy_version": "x"}]}',
            "not a decision",
        ),
        (
            '{"decisions": [{"entity": "a", "decision": "allow", "reasons": [], "policy_version": "0.0.1"}], "facts_digest": "sha256:x"}',
            "decided under policy 0.0.1",
        ),
        ("not json", "not valid JSON"),
    ],
)
def test_bad_decisions_are_refused(tmp_path: Path, content: str, message: str) -> None:
    decisions = tmp_path / "decisions.json"
    decisions.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "tos_policy", "bundle", "--decisions", str(decisions), "-o", str(tmp_path / "b.tar.gz")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert message in done.stderr and str(decisions) in done.stderr
    assert not (tmp_path / "b.tar.gz").exists()
