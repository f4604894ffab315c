"""Union-find over string keys: which records are one legal person, which entities one component."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class UnionFind:
    """Disjoint sets of keys. A set is named by its member that sorts first by `rank` (default:
    the key itself), so the name depends on the members alone, never on the order of unions."""

    def __init__(self, rank: Callable[[str], Any] | None = None) -> None:
        self.parent: dict[str, str] = {}
        self._rank = rank if rank is not None else (lambda key: key)

    def find(self, item: str) -> str:
        root = item
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while item != root:  # path compression
            self.parent[item], item = root, self.parent.get(item, item)
        return root

    def union(self, first: str, second: str) -> None:
        a, b = self.find(first), self.find(second)
        if a != b:
            keep, drop = (a, b) if self._rank(a) <= self._rank(b) else (b, a)
            self.parent[drop] = keep
