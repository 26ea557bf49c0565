"""Provides the shape of the views: entity -> Redis hash (strings) and Redis hash -> typed dict.

The fields of a view are the fields of its entity's Struct (projections/state.py), in that order; how a
value is read back follows the field's declared type. Nothing here lists a field by hand except the
few whose view differs from the entity (`output_files`, `held`, the batch's counters).
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Callable, Union

import msgspec

from scitq.events.model import TASK_STATUSES
from scitq.projections.state import Batch, Execution, Recruiter, Task, Worker

__all__ = [
    "task_hash", "execution_hash", "worker_hash", "batch_hash",
    "decode_task", "decode_execution", "decode_worker", "decode_batch", "recruiter_hash", "decode_recruiter",
]


def _bool(v: str) -> bool:
    return v == "1"


def _encode(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _reader(tp: Any) -> Callable[[str], Any] | None:
    """How a view string is read back into a value of the declared type `tp` (None: kept as str)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _reader(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _reader(args[0]) if len(args) == 1 else None
    if tp is bool:
        return _bool
    if tp is int:
        return int
    if tp is float:
        return float
    if origin in (list, dict):
        return json.loads
    return None


def _fields(cls: type[msgspec.Struct], *, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(f.name for f in msgspec.structs.fields(cls) if f.name not in skip)


def _template(cls: type[msgspec.Struct], *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """What a view without a field reads as: the field's default when it is a plain value (a view
    written before the field existed), else None. (A field is missing from a view only when it is
    None, or when the view predates it.)"""
    out: dict[str, Any] = {}
    for f in msgspec.structs.fields(cls):
        if f.name not in skip:
            plain = f.default_factory is msgspec.NODEFAULT and isinstance(f.default, (str, int, float, bool))
            out[f.name] = f.default if plain else None
    return out


def _readers(cls: type[msgspec.Struct]) -> dict[str, Callable[[str], Any]]:
    out = {}
    for f in msgspec.structs.fields(cls):
        conv = _reader(f.type)
        if conv is not None:
            out[f.name] = conv
    return out


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


_TASK_FIELDS = _fields(Task)
_EXEC_FIELDS = _fields(Execution, skip=("output_files",))      # written space-separated, as v1 showed them
_WORKER_FIELDS = _fields(Worker, skip=("held",))               # written as a count
_TASK_EMPTY = dict.fromkeys(_TASK_FIELDS)
_EXEC_EMPTY = dict.fromkeys(_EXEC_FIELDS + ("output_files",))
_WORKER_EMPTY = {**_template(Worker, skip=("held",)), "held": None}   # views older than flavor/permanent
_RECRUITER_FIELDS = _fields(Recruiter)
_RECRUITER_EMPTY = _template(Recruiter)
_RECRUITER_READ = _readers(Recruiter)
_TASK_READ = _readers(Task)
_EXEC_READ = {**_readers(Execution), "output_files": str}
_WORKER_READ = {**_readers(Worker), "held": int}
# the pause flag is `batch_paused`: `paused` is the count of paused tasks, like every status
_BATCH_EMPTY = dict.fromkeys(("batch", "creation_date", "batch_paused", "queued", *TASK_STATUSES))
_BATCH_READ: dict[str, Callable[[str], Any]] = {"creation_date": float, "batch_paused": _bool, "queued": int,
                                                **{s: int for s in TASK_STATUSES}}


def task_hash(t: Task) -> dict[str, str]:
    return _hash(t, _TASK_FIELDS)


def execution_hash(e: Execution) -> dict[str, str]:
    return _hash(e, _EXEC_FIELDS, {"output_files": " ".join(e.output_files) if e.output_files else None})


def worker_hash(w: Worker) -> dict[str, str]:
    return _hash(w, _WORKER_FIELDS, {"held": len(w.held)})


def batch_hash(b: Batch) -> dict[str, str]:
    out = {"batch": b.name, "creation_date": repr(b.creation_date), "batch_paused": "1" if b.paused else "0",
           "queued": str(b.queued)}
    for status in TASK_STATUSES:
        out[status] = str(b.counts.get(status, 0))
    return out


def recruiter_hash(r: Recruiter) -> dict[str, str]:
    return _hash(r, _RECRUITER_FIELDS)


def _decode(h: dict[str, str], empty: dict[str, Any], readers: dict[str, Callable[[str], Any]]) -> dict[str, Any]:
    out = dict(empty)
    for key, value in h.items():
        conv = readers.get(key)
        out[key] = conv(value) if conv else value
    return out


def decode_task(h: dict[str, str]) -> dict[str, Any]:
    d = _decode(h, _TASK_EMPTY, _TASK_READ)
    d["queued"] = bool(d.get("queued"))
    d["use_cache"] = bool(d.get("use_cache"))
    d["accept_failure"] = bool(d.get("accept_failure"))
    d["required_task_ids"] = d.get("required_task_ids") or []
    return d


def decode_execution(h: dict[str, str]) -> dict[str, Any]:
    return _decode(h, _EXEC_EMPTY, _EXEC_READ)


def decode_worker(h: dict[str, str]) -> dict[str, Any]:
    d = _decode(h, _WORKER_EMPTY, _WORKER_READ)
    d["task_properties"] = d.get("task_properties") or {}
    return d


def decode_batch(h: dict[str, str]) -> dict[str, Any]:
    return _decode(h, _BATCH_EMPTY, _BATCH_READ)


def decode_recruiter(h: dict[str, str]) -> dict[str, Any]:
    return _decode(h, _RECRUITER_EMPTY, _RECRUITER_READ)
