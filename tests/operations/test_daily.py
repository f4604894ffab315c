"""README "Running it every day": the block runs as written (on a free port), and each
step does what the README says it does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tos_policy.engines.opa_server import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.opa


def _daily_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Running it every day") :]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_daily_commands_run_as_written(tmp_path: Path) -> None:
    if not (ROOT / ".tools" / "bin" / "opa").exists():
        pytest.fail("no OPA binary at .tools/bin/opa: run scripts/build-opa", pytrace=False)
    for name in ("examples", ".tools"):
        (tmp_path / name).symlink_to(ROOT / name)
    port = str(free_port())
    script = _daily_block().replace("8181", port)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr + (tmp_path / "opa.log").read_text(errors="replace")
    out = done.stdout

    # 1-2: two loads; the alerts name every entity whose decision moved between the extracts
    def decided(extract: str, day: str) -> dict[str, str]:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tos_policy",
                "evaluate",
                str(ROOT / "examples" / "daily" / extract),
                "--as-of",
                day,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return {d["entity"]: d["decision"] for d in json.loads(result.stdout)["decisions"]}

    before, after = decided("extract-2025-10-01.json", "2025-10-01"), decided("extract-2025-10-02.json", "2025-10-02")
    moved = {entity for entity in after if before.get(entity) != after[entity]}
    assert moved and {"allow", "deny", "review"} <= set(after.values()) | set(before.values())
    alerts = out[out.index("# Alerts since load 1") :]
    assert f"{len(moved)} decision(s) changed." in alerts
    for entity in moved:
        assert f"({entity})" in alerts

    # 3: the review queue (HTML page, and CSV on stdout) holds today's reviews
    reviews = {entity for entity, decision in after.items() if decision == "review"}
    page = (tmp_path / "review-queue.html").read_text()
    assert all(f'id="{entity}"' in page for entity in reviews)
    assert "rank,entity,name,at_stake_percent" in out

    # 4-5: the bundle holds today's decisions; OPA decided the sign-up from it, as the embedded engine does
    with tarfile.open(tmp_path / "bundle.tar.gz") as archive:
        member = next(m for m in archive.getmembers() if m.name.lstrip("/") == "data.json")
        data = json.load(archive.extractfile(member))  # type: ignore[arg-type]
    organisations = data["access"]["organisations"]
    assert {entity: entry["decision"] for entity, entry in organisations["decisions"].items()} == after
    answer = json.loads(out.strip().splitlines()[-1])["result"]
    import dataclasses

    from tos_policy.engines.embedded import EmbeddedEngine
    from tos_policy.policy.ruleset import load_rules

    rules = load_rules()
    engine = EmbeddedEngine(dataclasses.replace(rules, data={**rules.data, "access": data["access"]}))
    request = json.loads((ROOT / "examples" / "daily" / "signup.json").read_text())["input"]
    assert answer == engine.query("access/result", request)
    organisation = organisations["aliases"][request["organisation"]["id"]]
    assert [r["ownership_decision"] for r in answer["reasons"] if r["signal"] == "organisation"] in (
        [],
        [after[organisation]],
    )
