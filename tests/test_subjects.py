"""Persons and placeholders are decided (their decisions restrict what they hold) but are not
screened organisations: each record says what it is about, and the summary counts them apart.

Real samples: Open Ownership's BODS statements of Bank Saderat PLC and the data standard's
joint ownership example (persons), and GLEIF golden copy relationships whose parents the
excerpt does not describe (placeholders); see tests/data/external/*/PROVENANCE.txt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tos_policy.cli.main import main

EXTERNAL = Path(__file__).parent / "data" / "external"
SOURCES = {
    "bods": [EXTERNAL / "opencheck-bods" / "2138008KTNTDICZU8L25.jsonl", EXTERNAL / "data-standard" / "joint-ownership.json"],
    "gleif": [EXTERNAL / "gleif-golden-copy" / "lei-data.json", EXTERNAL / "gleif-golden-copy" / "rr-data.json"],
}


def _evaluated(tmp_path: Path, fmt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    facts = tmp_path / f"{fmt}.json"
    done = CliRunner().invoke(main, ["import", fmt, *map(str, SOURCES[fmt]), "-o", str(facts)])
    assert done.exit_code == 0, done.output
    result = CliRunner().invoke(main, ["evaluate", str(facts), "--as-of", "2025-10-01"])
    assert result.exit_code == 0, result.output
    return json.loads(facts.read_text()), json.loads(result.stdout)


@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_persons_and_placeholders_are_flagged_and_counted_apart(tmp_path: Path, fmt: str) -> None:
    facts, report = _evaluated(tmp_path, fmt)
    kinds = {}
    for entity in facts["entities"]:
        placeholder = (entity.get("source") or {}).get("placeholder") is True
        kinds[entity["id"]] = "placeholder" if placeholder else "person" if entity["type"] == "person" else None
    records = {record["entity"]: record for record in report["decisions"]}
    assert {entity: record.get("subject") for entity, record in records.items()} == kinds
    aside = {"persons": list(kinds.values()).count("person"), "placeholders": list(kinds.values()).count("placeholder")}
    assert aside[{"bods": "persons", "gleif": "placeholders"}[fmt]] > 0  # the sample has some
    summary = report["summary"]
    assert summary["not_screened"] == aside
    organisations = [record for record in records.values() if "subject" not in record]
    assert {verdict: summary[verdict] for verdict in ("allow", "deny", "review")} == {
        verdict: sum(record["decision"] == verdict for record in organisations) for verdict in ("allow", "deny", "review")
    }
    assert summary["undisclosed"] <= summary["review"]
