"""Provides the worker's side of `use_cache`: a task's input hash, the reusable execution it names, the copy.

The input hash is an MD5 over the command, the container and its options, and the listing (relative
name, size, MD5) of every input and resource with its action. The server keeps, in its views, the last
succeeded execution of each hash with what it uploaded (`keys.CACHE_INDEX`); the worker reuses it when
every file of that listing is still in its output folder, copying them when the task's folder differs.
All of this runs on the worker, never on the server's loop.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import redis

from scitq import io, keys
from scitq.projections.views import decode_execution

__all__ = ["input_hash", "find_reusable", "reuse", "output_listing"]

log = logging.getLogger("scitq.worker")


def _listing(uri: str) -> list[Any]:
    """(relative name, size, MD5) of each file of `uri` (its action left out of the listing, kept in the hash)."""
    base = io.parse_uri(uri).base
    entry = io.info(base, md5=True)
    if entry.type == "file":
        return [["", entry.size, entry.md5]]
    return sorted([e.rel_name, e.size, e.md5] for e in io.list_content(base, md5=True) if e.type == "file")


def input_hash(view: dict[str, Any]) -> str | None:
    """The input hash of a task view, or None when an input or resource cannot be listed (no caching)."""
    try:
        data = {
            "command": view.get("command") or "",
            "container": view.get("container") or "",
            "container_options": view.get("container_options") or "",
            "input": [[u, _listing(u)] for u in (view.get("input") or "").split()],
            "resource": [[u, _listing(u)] for u in (view.get("resource") or "").split()],
        }
    except Exception as exc:  # noqa: BLE001 - not listable (run://, http, missing): the task just runs
        log.info("task %s: no cache (input hash: %s)", view.get("task_id"), exc)
        return None
    return hashlib.md5(json.dumps(data, sort_keys=True).encode()).hexdigest()


def find_reusable(r: redis.Redis, digest: str) -> dict[str, Any] | None:
    """The succeeded execution (view) indexed under `digest` whose outputs are all still there, or None."""
    eid = r.hget(keys.CACHE_INDEX, digest)
    if eid is None:
        return None
    h = r.hgetall(keys.execution_view(int(eid)))
    if not h:
        return None
    ex = decode_execution(h, int(eid))
    if ex.get("status") != "succeeded":
        return None
    listing = ex.get("output_listing") or {}
    folder = ex.get("output_folder")
    if listing and not folder:
        return None
    if listing:
        try:
            have = {e.rel_name: e.size for e in io.list_content(folder) if e.type == "file"}
        except Exception:  # noqa: BLE001 - the folder is gone or unreadable: run again
            return None
        if any(have.get(rel) != size for rel, size in listing.items()):
            return None
    return ex


def reuse(ex: dict[str, Any], output: str | None) -> list[str]:
    """Copy the outputs of the reusable execution `ex` into `output` when it is another folder; what was written."""
    listing = ex.get("output_listing") or {}
    folder = ex.get("output_folder") or ""
    if not listing or not output or _same(folder, output):
        return (ex.get("output_files") or "").split()
    dest = output if output.endswith("/") else output + "/"
    src = folder if folder.endswith("/") else folder + "/"
    return io.copy(src, dest, file_list=sorted(listing))


def _same(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def output_listing(src: Path) -> dict[str, int]:
    """Relative name -> size of every file under the local output folder `src` (what was uploaded)."""
    if not src.is_dir():
        return {}
    return {str(p.relative_to(src)): p.stat().st_size for p in sorted(src.rglob("*"))
            if p.is_file() and not p.is_symlink()}
