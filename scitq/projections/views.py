"""Provides the shape of the views: entity -> Redis hash (strings) and Redis hash -> typed dict."""

from __future__ import annotations

import json
from typing import Any, Callable

from scitq.projections.state import Batch, Execution, Task, Worker
from scitq.settings import TASK_STATUS

__all__ = [
    "task_hash", "execution_hash", "worker_hash", "batch_hash",
    "decode_task", "decode_execution", "decode_worker", "decode_batch",
]

_INT = int
_FLOAT = float


def _bool(v: str) -> bool:
    return v == "1"


def _list_int(v: str) -> list[int]:
    return [int(x) for x in json.loads(v)]


def _list_str(v: str) -> list[str]:
    return list(json.loads(v))


def _encode(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _hash(obj: Any, fields: tuple[str, ...], extra: dict[str, Any] | None = None) -> dict[str, str]:
    out = {}
    for name in fields:
        enc = _encode(getattr(obj, name))
        if enc is not None:
            out[name] = enc
    for name, value in (extra or {}).items():
        enc = _encode(value)
        if enc is not None:
            out[name] = enc
    return out


_TASK_FIELDS = ("task_id", "name", "command", "status", "creation_date", "modification_date", "status_date",
                "batch", "input", "output", "container", "container_options", "resource", "required_task_ids",
                "retry", "download_timeout", "run_timeout", "use_cache", "uid", "gid", "attempt", "queued",
                "execution_id", "worker", "deliveries")
_EXEC_FIELDS = ("execution_id", "task_id", "worker_id", "worker", "attempt", "status", "creation_date",
                "modification_date", "return_code", "pid", "command", "container", "container_options", "input",
                "output_folder", "resource", "latest", "stream", "start_date")
_WORKER_FIELDS = ("worker_id", "name", "hostname", "status", "concurrency", "prefetch", "batch", "creation_date",
                  "modification_date", "incarnation")


def task_hash(t: Task) -> dict[str, str]:
    return _hash(t, _TASK_FIELDS)


def execution_hash(e: Execution) -> dict[str, str]:
    return _hash(e, _EXEC_FIELDS, {"output_files": " ".join(e.output_files) if e.output_files else None})


def worker_hash(w: Worker) -> dict[str, str]:
    return _hash(w, _WORKER_FIELDS, {"held": len(w.held)})


def batch_hash(b: Batch) -> dict[str, str]:
    # the pause flag is `batch_paused`: `paused` is the count of paused tasks, like every status
    out = {"batch": b.name, "creation_date": repr(b.creation_date), "batch_paused": "1" if b.paused else "0",
           "queued": str(b.queued)}
    for status in TASK_STATUS:
        out[status] = str(b.counts.get(status, 0))
    return out


_TYPES: dict[str, Callable[[str], Any]] = {
    "task_id": _INT, "execution_id": _INT, "worker_id": _INT, "attempt": _INT, "retry": _INT,
    "download_timeout": _INT, "run_timeout": _INT, "uid": _INT, "gid": _INT, "deliveries": _INT,
    "return_code": _INT, "concurrency": _INT, "prefetch": _INT, "held": _INT, "queued": _INT,
    "creation_date": _FLOAT, "modification_date": _FLOAT, "status_date": _FLOAT, "start_date": _FLOAT,
    "use_cache": _bool, "latest": _bool, "batch_paused": _bool, "required_task_ids": _list_int,
}
for _s in TASK_STATUS:
    _TYPES.setdefault(_s, _INT)


def _decode(h: dict[str, str], fields: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {name: None for name in fields}
    for key, value in h.items():
        conv = _TYPES.get(key)
        out[key] = conv(value) if conv else value
    return out


def decode_task(h: dict[str, str]) -> dict[str, Any]:
    d = _decode(h, _TASK_FIELDS)
    d["queued"] = bool(d.get("queued"))
    d["use_cache"] = bool(d.get("use_cache"))
    d["required_task_ids"] = d.get("required_task_ids") or []
    return d


def decode_execution(h: dict[str, str]) -> dict[str, Any]:
    return _decode(h, _EXEC_FIELDS + ("output_files",))


def decode_worker(h: dict[str, str]) -> dict[str, Any]:
    return _decode(h, _WORKER_FIELDS + ("held",))


def decode_batch(h: dict[str, str]) -> dict[str, Any]:
    return _decode(h, ("batch", "creation_date", "batch_paused", "queued", *TASK_STATUS))
