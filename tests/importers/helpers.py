"""Shared helpers for the importer tests: where the samples are, and how to import them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tos_policy.importers import convert

DATA = Path(__file__).resolve().parent.parent / "data"
EXTERNAL = DATA / "external"


def imported(fmt: str, *files: Path) -> dict[str, Any]:
    document, _ = convert(fmt, list(files))
    return document


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def identifier_ids(records: list[dict[str, Any]], scheme: str) -> set[str]:
    return {item["id"] for record in records for item in record["identifiers"] if item.get("scheme") == scheme}


def links_between(document: dict[str, Any], owner: str, asset: str) -> list[dict[str, Any]]:
    return [link for link in document["ownership"] if link["owner"] == owner and link["asset"] == asset]
