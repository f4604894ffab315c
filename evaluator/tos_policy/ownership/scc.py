"""Strongly connected components of a directed graph (iterative Tarjan: no recursion limit).

Cross-holding cycles are found with it (ownership/cycles.py), and the look-through method
solves each component after every component it depends on (ownership/look_through.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def strongly_connected_components(nodes: Iterable[str], successors: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The components of the graph `successors` over `nodes` (walked in that order), each
    emitted after every component it reaches: successors' components first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in nodes:
        if start in index:
            continue
        work: list[tuple[str, int]] = [(start, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            following = successors.get(node, ())
            if position < len(following):
                work.append((node, position + 1))
                child = following[position]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found
