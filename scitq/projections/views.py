"""Provides the shape of the views: entity -> Redis hash (strings) and Redis hash -> typed view Struct.

The fields of a view are the fields of its entity's Struct (projections/state.py), in that order; a view
is read back into a Struct derived from the entity (`TaskView`, `ExecutionView`, `WorkerView`,
`BatchView`, typed statuses included) with `msgspec.convert`. Nothing here lists a field by hand except
the few whose view differs from the entity (`output_files`, `held`, the heartbeat figures, the batch's
names and counters).
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Callable, Iterator, Union

import msgspec

from scitq.events.model import TASK_STATUSES, BatchFields, derive
from scitq.projections.state import Batch, Deploy, Execution, Recruiter, Task, Worker

__all__ = [
    "task_hash", "execution_hash", "worker_hash", "batch_hash", "recruiter_hash", "View", "TaskView",
    "ExecutionView", "WorkerView", "BatchView", "RecruiterView", "decode_task", "decode_execution",
    "decode_worker", "decode_batch", "decode_recruiter", "deploy_hash", "DeployView", "decode_deploy", "IO_FIELDS", "HEARTBEAT_FIELDS",
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


_TASK_FIELDS = _fields(Task, skip=("indexed",))                 # `indexed`: the writer's bookkeeping
_EXEC_FIELDS = _fields(Execution, skip=("output_files", "indexed"))      # written space-separated, as v1 showed them
_WORKER_FIELDS = _fields(Worker, skip=("held",))               # written as a count
_RECRUITER_FIELDS = _fields(Recruiter)
_DEPLOY_FIELDS = _fields(Deploy)


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


def deploy_hash(d: Deploy) -> dict[str, str]:
    return _hash(d, _DEPLOY_FIELDS)


class View(msgspec.Struct, kw_only=True):
    """A view read back: typed attributes (`task.status`), and a read-only mapping face (`task["status"]`,
    `get`, `keys`, `items`, `dict(task)`) for callers that still read views as dicts."""

    def __getitem__(self, key: str) -> Any:
        if key in self.__struct_fields__:
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.__struct_fields__ else default

    def __contains__(self, key: object) -> bool:
        return key in self.__struct_fields__

    def keys(self) -> tuple[str, ...]:
        return self.__struct_fields__

    def __iter__(self) -> Iterator[str]:
        return iter(self.__struct_fields__)

    def __len__(self) -> int:
        return len(self.__struct_fields__)

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.__struct_fields__]

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


# the heartbeat figures `Client.workers()` adds to each worker's view
IO_FIELDS = ("disk_read", "disk_write", "disk_read_total", "disk_write_total", "net_recv", "net_sent",
             "net_recv_total", "net_sent_total")
_HEARTBEAT: tuple = (("load", Union[str, None], None), ("memory", Union[float, None], None),
                     ("disk", Union[float, None], None), ("loadavg", Union[str, None], None),
                     ("last_contact_date", Union[float, None], None), ("running", int, 0),
                     *((k, Union[int, None], None) for k in IO_FIELDS), ("stats", Union[str, None], None))
HEARTBEAT_FIELDS = tuple(f[0] for f in _HEARTBEAT)

TaskView = derive("TaskView", Task, bases=(View,), mode="view", skip=("indexed",), module=__name__)
TaskView.__doc__ = "A task's view: every field of the task (`projections.state.Task`), typed."
ExecutionView = derive("ExecutionView", Execution, bases=(View,), mode="view", skip=("output_files", "indexed"),
                       tail=(("output_files", Union[str, None], None),), module=__name__)
ExecutionView.__doc__ = "An execution's view: the execution's fields, its output files space-separated (as v1)."
WorkerView = derive("WorkerView", Worker, bases=(View,), mode="view", skip=("held",),
                    tail=(("held", Union[int, None], None), *_HEARTBEAT), module=__name__)
WorkerView.__doc__ = ("A worker's view: the worker's fields, `held` as a count, and (from `Client.workers()`) the "
                      "figures of its last heartbeat.")
# the batch's view keeps v1's names: `batch` for its name, `batch_paused` for the pause flag, since
# `paused` is the count of paused tasks like every status
BatchView = derive("BatchView", BatchFields, bases=(View,), mode="view", skip=("name", "paused"),
                   head=(("batch", Union[str, None], None),),
                   tail=(("batch_paused", Union[bool, None], None), ("queued", Union[int, None], None),
                         *((st, Union[int, None], None) for st in TASK_STATUSES)), module=__name__)
BatchView.__doc__ = "A batch's view: its name, creation, pause flag, queued count and count of tasks by status."
RecruiterView = derive("RecruiterView", Recruiter, bases=(View,), mode="view", module=__name__)
RecruiterView.__doc__ = "A recruiter's view: its batch and rank, and what it asks for (`RecruiterFields`)."
DeployView = derive("DeployView", Deploy, bases=(View,), mode="view", module=__name__)
DeployView.__doc__ = "A deploy's view: the machine of a worker, where it stands and what it cost (`Deploy`)."


def _json_fields(cls: type[msgspec.Struct]) -> tuple[str, ...]:
    """The fields of `cls` a view writes as JSON (lists and dicts)."""
    return tuple(name for name, conv in _readers(cls).items() if conv is json.loads)


_TASK_JSON = _json_fields(Task)
_EXEC_JSON = tuple(f for f in _json_fields(Execution) if f != "output_files")   # written space-separated
_WORKER_JSON = _json_fields(Worker)


def decode_hash(h: dict[str, str], cls: type[msgspec.Struct], json_fields: tuple[str, ...] = ()) -> Any:
    """A view hash as `cls` (views, and the server's state read back from them): `json_fields` hold JSON."""
    if json_fields:
        h = dict(h)
        for name in json_fields:
            if name in h:
                h[name] = json.loads(h[name])
    return msgspec.convert(h, cls, strict=False)


def decode_task(h: dict[str, str]) -> TaskView:
    return decode_hash(h, TaskView, _TASK_JSON)


def decode_execution(h: dict[str, str]) -> ExecutionView:
    return decode_hash(h, ExecutionView, _EXEC_JSON)


def decode_worker(h: dict[str, str]) -> WorkerView:
    return decode_hash(h, WorkerView, _WORKER_JSON)


def decode_batch(h: dict[str, str]) -> BatchView:
    return decode_hash(h, BatchView)


def decode_recruiter(h: dict[str, str]) -> RecruiterView:
    return decode_hash(h, RecruiterView)


def decode_deploy(h: dict[str, str]) -> DeployView:
    return decode_hash(h, DeployView)
