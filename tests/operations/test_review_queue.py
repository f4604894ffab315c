"""The review queue lists exactly the review decisions, most consequential first, each
with what would settle it; its HTML page draws every entity's owners, checked in a
real headless browser (Debian chromium)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from decimal import Decimal
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tos_policy.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
AS_OF = "2025-10-01"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _review_graph() -> dict[str, Any]:
    """Unknown countries, a band, a control link, an owner under review above others."""
    return {
        "entities": [
            {"id": "unknown-top", "type": "company", "name": "Unknown Top", "headquarters": None, "jurisdiction": "SC"},
            {"id": "mid", "type": "company", "name": "Mid Holding", "headquarters": "NL", "jurisdiction": "NL"},
            {"id": "low", "type": "company", "name": "Low Opco", "headquarters": "DE", "jurisdiction": "DE"},
            {"id": "cn-owner", "type": "company", "name": "Hangzhou Co", "headquarters": "CN", "jurisdiction": "CN"},
            {"id": "banded", "type": "company", "name": "Banded Ltd", "headquarters": "GB", "jurisdiction": "GB"},
            {"id": "clean", "type": "company", "name": "Clean SA", "headquarters": "FR", "jurisdiction": "FR"},
        ],
        "ownership": [
            {"owner": "unknown-top", "asset": "mid", "percentage": "80"},
            {"owner": "mid", "asset": "low", "percentage": "55"},
            {
                "owner": "cn-owner",
                "asset": "banded",
                "percentage_min": "25",
                "min_exclusive": True,
                "percentage_max": "50",
            },
            {"owner": "clean", "asset": "low", "percentage": "45"},
        ],
    }


@pytest.fixture
def facts_file(tmp_path: Path) -> Path:
    path = tmp_path / "review.json"
    path.write_text(json.dumps(_review_graph()))
    return path


def test_the_queue_holds_exactly_the_review_decisions_most_consequential_first(facts_file: Path) -> None:
    decided = json.loads(run("evaluate", str(facts_file), "--as-of", AS_OF).stdout)["decisions"]
    reviews = {d["entity"] for d in decided if d["decision"] == "review"}
    assert len(reviews) >= 3
    queue = json.loads(run("review-queue", str(facts_file), "--as-of", AS_OF).stdout)["queue"]
    assert {item["entity"] for item in queue} == reviews
    keys = [(-Decimal(item["at_stake_percent"]), -item["entities_below"]) for item in queue]
    assert keys == sorted(keys)
    for item in queue:
        assert item["to_settle"], item
        assert all(fact["entity"] in {e["id"] for e in _review_graph()["entities"]} for fact in item["to_settle"])
    rows = list(
        csv.DictReader(io.StringIO(run("review-queue", str(facts_file), "--as-of", AS_OF, "--format", "csv").stdout))
    )
    assert [row["entity"] for row in rows] == [item["entity"] for item in queue]
    assert [row["rank"] for row in rows] == [str(rank) for rank in range(1, len(queue) + 1)]


def test_the_queue_names_the_facts_that_would_settle_each_review(facts_file: Path) -> None:
    queue = {
        item["entity"]: item
        for item in json.loads(run("review-queue", str(facts_file), "--as-of", AS_OF).stdout)["queue"]
    }
    facts = {(fact["kind"], fact["entity"], fact["fact"]) for item in queue.values() for fact in item["to_settle"]}
    # every unknown country, range and reviewed owner of the input is named where it matters
    assert ("missing", "unknown-top", "headquarters") in facts
    assert ("uncertain stake", "cn-owner", "stake") in facts
    assert ("owner under review", "unknown-top", "decision") in facts


def test_the_queue_from_the_store_equals_the_queue_from_the_files(facts_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    run("store", "init", str(db))
    run("store", "load", str(db), str(facts_file), "--known-on", AS_OF)
    from_store = json.loads(run("review-queue", "--store", str(db)).stdout)
    from_files = json.loads(run("review-queue", str(facts_file), "--as-of", AS_OF).stdout)
    assert from_store["queue"] == from_files["queue"]


def test_bad_input_and_no_source_exit_2(tmp_path: Path) -> None:
    assert run("review-queue").exit_code == 2
    bad = Path(__file__).resolve().parents[1] / "bad_input" / "dangling-owner.json"
    result = run("review-queue", str(bad), "--as-of", AS_OF)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == run("evaluate", str(bad), "--as-of", AS_OF).stderr


# A probe run by the browser on a copy of the page: the geometry it lays out, as JSON in the title.
_PROBE = """
<script>
const out = [];
for (const section of document.querySelectorAll("section.item")) {
  const svg = section.querySelector("svg.ownership-graph");
  if (!svg) { out.push({id: section.id, svg: false}); continue; }
  const box = svg.getBoundingClientRect();
  const nodes = [...svg.querySelectorAll("g.node")].map(g => {
    const r = g.querySelector("rect").getBoundingClientRect();
    const texts = [...g.querySelectorAll(":scope > text")].map(t => t.getComputedTextLength());
    return {id: g.dataset.id, x: r.x, y: r.y, w: r.width, h: r.height, text: Math.max(...texts)};
  });
  const edges = [...svg.querySelectorAll("line.edge")].map(l => [l.dataset.owner, l.dataset.asset]);
  out.push({id: section.id, svg: true, box: {x: box.x, y: box.y, w: box.width, h: box.height}, nodes, edges});
}
document.title = JSON.stringify(out);
</script>
"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed and could not be (scripts/test installs it with apt-get)")
    return found


def test_the_html_page_draws_every_entity_graph_in_a_real_browser(facts_file: Path, tmp_path: Path) -> None:
    browser = _chromium()
    page = tmp_path / "queue.html"
    assert run("review-queue", str(facts_file), "--as-of", AS_OF, "--format", "html", "-o", str(page)).exit_code == 0
    queue = json.loads(run("review-queue", str(facts_file), "--as-of", AS_OF).stdout)["queue"]
    html = page.read_text()
    assert "<script" not in html  # a static page: nothing to run, nothing fetched
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", _PROBE + "</body>"))
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None, dom[:500]
    drawn = json.loads(unescape(title.group(1)))
    graph = _review_graph()
    assert [item["id"] for item in drawn] == [item["entity"] for item in queue]
    for item in drawn:
        assert item["svg"]
        ids = [node["id"] for node in item["nodes"]]
        assert item["id"] in ids and len(ids) == len(set(ids))
        expected_owners = {link["owner"] for link in graph["ownership"] if link["asset"] == item["id"]}
        assert expected_owners <= set(ids)
        assert {tuple(edge) for edge in item["edges"]} >= {(owner, item["id"]) for owner in expected_owners}
        box = item["box"]
        for node in item["nodes"]:
            assert node["w"] > 0 and node["h"] > 0
            assert box["x"] <= node["x"] and node["x"] + node["w"] <= box["x"] + box["w"] + 0.5
            assert box["y"] <= node["y"] and node["y"] + node["h"] <= box["y"] + box["h"] + 0.5
            assert 0 < node["text"] <= node["w"]  # labels drawn, and inside their box
        for one in item["nodes"]:
            for other in item["nodes"]:
                if one is not other:
                    apart = (
                        one["x"] + one["w"] <= other["x"]
                        or other["x"] + other["w"] <= one["x"]
                        or one["y"] + one["h"] <= other["y"]
                        or other["y"] + other["h"] <= one["y"]
                    )
                    assert apart, (one, other)
