"""The review queue as one static HTML page: each entity's facts to settle, and its
owners' closure drawn as inline SVG (no script, no network: it opens offline)."""

from __future__ import annotations

from html import escape
from typing import Any

from tos_policy.facts.load import plain_decimal
from tos_policy.operations.review_queue import QueueItem

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 190, 46, 30, 70, 12
COLOURS = {"deny": "#f8d0d0", "review": "#fbeeb8", "allow": "#d3f0d3", None: "#e6e6e6"}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
section { border-top: 1px solid #ccc; padding: 1rem 0; }
h2 { font-size: 1.1rem; margin: 0 0 .5rem; }
.stake { font-weight: bold; }
svg text { font-size: 11px; font-family: system-ui, sans-serif; }
svg .edge-label { font-size: 10px; fill: #444; }
"""


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def svg(graph: dict[str, Any], entity: str) -> str:
    """The graph with the entity at the bottom and its owners in rows above it, by distance."""
    levels: dict[int, list[dict[str, Any]]] = {}
    for node in graph["nodes"]:
        levels.setdefault(node["level"], []).append(node)
    top = max(levels)
    widest = max(len(row) for row in levels.values())
    width = MARGIN * 2 + widest * BOX_W + (widest - 1) * GAP_X
    height = MARGIN * 2 + (top + 1) * BOX_H + top * GAP_Y
    where: dict[str, tuple[float, float]] = {}
    for depth, row in levels.items():
        span = len(row) * BOX_W + (len(row) - 1) * GAP_X
        left = (width - span) / 2
        row_y = float(MARGIN + (top - depth) * (BOX_H + GAP_Y))
        for index, node in enumerate(row):
            where[node["id"]] = (left + index * (BOX_W + GAP_X), row_y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ownership-graph" data-entity="{escape(entity)}" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{escape(f"Owners of {entity}")}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
    ]
    for edge in graph["edges"]:
        (ox, oy), (ax, ay) = where[edge["owner"]], where[edge["asset"]]
        x1, y1, x2, y2 = ox + BOX_W / 2, oy + BOX_H, ax + BOX_W / 2, ay
        if edge["owner"] == edge["asset"] or y1 >= y2:  # a cycle back up: draw it down the side
            x1, x2 = ox + BOX_W, ax + BOX_W
            y1, y2 = oy + BOX_H / 2, ay + BOX_H / 2
        parts.append(
            f'<line class="edge" data-owner="{escape(edge["owner"])}" data-asset="{escape(edge["asset"])}" '
            f'x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#555" marker-end="url(#arrow)"/>'
        )
        label_x, label_y = (x1 + x2) / 2 + 4, (y1 + y2) / 2
        parts.append(f'<text class="edge-label" x="{label_x:.0f}" y="{label_y:.0f}">{escape(edge["label"])}</text>')
    for node in graph["nodes"]:
        x, y = where[node["id"]]
        colour = COLOURS.get(node["decision"], COLOURS[None])
        stroke = ' stroke-width="2.5"' if node["id"] == entity else ""
        title = node["name"] or node["id"]
        shown = f"{_short(node['id'], 20)} · {node['decision']}"
        parts.append(
            f'<g class="node" data-id="{escape(node["id"])}" data-decision="{escape(str(node["decision"]))}">'
            f"<title>{escape(title)} ({escape(node['id'])}): {escape(str(node['decision']))}</title>"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{colour}" '
            f'stroke="#333"{stroke}/><text x="{x + 8:.0f}" y="{y + 18:.0f}">{escape(_short(title))}</text>'
            f'<text x="{x + 8:.0f}" y="{y + 35:.0f}">{escape(shown)}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def page(items: list[QueueItem], title: str) -> str:
    sections = []
    for rank, item in enumerate(items, start=1):
        label = f"{item.name} ({item.entity})" if item.name else item.entity
        settle = "".join(f"<li>{escape(fact['text'])}</li>" for fact in item.to_settle)
        reasons = "".join(
            f"<li>{escape(str(reason.get('rule_id')))} {escape(str(reason.get('code')))}</li>"
            for reason in item.reasons
        )
        cited = "".join(
            f"<li>{escape(d['id'])}: {escape(d['finding'])} ({escape(d['evidence'])}, "
            f"expires {escape(d['expires'])})</li>"
            for d in item.determinations
        )
        sections.append(
            f'<section id="{escape(item.entity)}" class="item"><h2>{rank}. {escape(label)}</h2>'
            f'<p><span class="stake">{escape(plain_decimal(item.at_stake))}% restricted ownership at stake</span>; '
            f"{item.below} entities below it.</p>"
            f"<h3>To settle</h3><ul>{settle}</ul><h3>Reasons</h3><ul>{reasons}</ul>"
            + (f"<h3>Determinations</h3><ul>{cited}</ul>" if cited else "")
            + svg(item.graph, item.entity)
            + "</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>{len(items)} decision(s) to review, most consequential first.</p>"
        + "".join(sections)
        + "</body></html>\n"
    )
