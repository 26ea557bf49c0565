"""Provides the ncdu view of a URI: a listing written as an ncdu JSON export (`ncdu -f FILE` browses it)."""

from __future__ import annotations

import time
from typing import Any

from scitq.io.stores import Entry

__all__ = ["ncdu_export"]


def ncdu_export(root_name: str, entries: list[Entry]) -> list[Any]:
    """The ncdu export (format 1.0) of a recursive listing: folders rebuilt from relative names."""
    tree: dict[str, Any] = {}
    for e in entries:
        parts = [p for p in e.rel_name.split("/") if p]
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part + "/", {})
        if parts:
            node[parts[-1]] = e.size

    def render(name: str, node: dict[str, Any]) -> list[Any]:
        out: list[Any] = [{"name": name}]
        for key in sorted(node):
            value = node[key]
            if isinstance(value, dict):
                out.append(render(key[:-1], value))
            else:
                out.append({"name": key, "asize": value, "dsize": value})
        return out

    meta = {"progname": "scitq-fetch", "progver": "2", "timestamp": int(time.time())}
    return [1, 0, meta, render(root_name, tree)]
