"""Provides the shape of the views: entity -> Redis hash (strings) and Redis hash -> typed view Struct.

The fields of a view are the fields of its entity's Struct (projections/state.py), in that order; a view
is read back into a Struct derived from the entity (`TaskView`, `ExecutionView`, `WorkerView`,
`BatchView`, typed statuses included) with `msgspec.convert`. Nothing here lists a field by hand except
the few whose view differs from the entity (`output_files`, `held`, the heartbeat figures, the batch's
names and counters).

A task or execution hash holds only what its defaults and its other fields do not say (layout
`VIEW_LAYOUT`; every task and execution of a long history has one, so each byte counts): a field at its
default is not written; a finished task omits `retry`, `queued`, `deliveries` at their default, its
`status_date` when it equals its `modification_date` and its `executions` when they are its
`execution_id` alone (a live task writes them all: they change without an edit); an execution omits
its output `stream` when it is the one its worker, task and attempt name, and its `start_date` when it
equals its `creation_date` (claimed as it started; one not started writes it empty), as its
`modification_date` (dates only grow: once written it stays). No view writes the id its key gives
(`task_id` in `view:task:N`, `execution_id` in `view:execution:N`), and an execution that started omits
its `command` when it is its task's (the common case; a task edited since makes the views of its
executions be rewritten, naming the command they ran). Decoding fills all of these back (the ids from
the key, the command from the task's view), so every reader sees the same values as when they were
written.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Callable, Iterator, Union

import msgspec

from scitq import keys
from scitq.events.model import TASK_STATUSES, BatchFields, derive
from scitq.projections.state import EVICTABLE_STATUSES, Batch, Deploy, Execution, Recruiter, Task, Worker

__all__ = [
    "task_hash", "execution_hash", "worker_hash", "batch_hash", "recruiter_hash", "View", "TaskView",
    "ExecutionView", "WorkerView", "BatchView", "RecruiterView", "decode_task", "decode_execution",
    "decode_worker", "decode_batch", "decode_recruiter", "deploy_hash", "DeployView", "decode_deploy", "IO_FIELDS", "HEARTBEAT_FIELDS",
    "VIEW_LAYOUT", "FINISHED_SPARSE", "BITMAP_STATUSES", "bitmap_ids", "task_execution_ids", "fill_task", "fill_execution", "TASK_NEEDS", "EXECUTION_NEEDS",
    "needs_task_command",
]

# The layout of the task and execution views (see the module docstring); written in `scitq:view:state`.
# A server finding views of another layout rebuilds them from the ledger once, at start.
VIEW_LAYOUT = "3"

# The statuses whose index (`keys.tasks_by_status`) is a bitmap (bit n set: task n is in it) rather than a
# set: those where finished tasks gather, a whole history of them (an eighth of a byte a task id, where a
# set member costs about 50 bytes); the others hold live tasks only, a few.
BITMAP_STATUSES = EVICTABLE_STATUSES


def bitmap_ids(data: bytes | None) -> list[int]:
    """The task ids set in a status bitmap (its bit n is task n, the first bit the highest of byte 0)."""
    out: list[int] = []
    if not data:
        return out
    for i, byte in enumerate(data):
        if byte:
            base = i * 8
            out.extend(base + b for b in range(8) if byte & (0x80 >> b))
    return out


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


def _defaults(cls: type[msgspec.Struct]) -> dict[str, str | None]:
    """The encoded default of each field of `cls` that has one (a field at its default is not written)."""
    out: dict[str, str | None] = {}
    for f in msgspec.structs.fields(cls):
        if f.default is not msgspec.NODEFAULT:
            out[f.name] = _encode(f.default)
        elif f.default_factory is not msgspec.NODEFAULT:
            out[f.name] = _encode(f.default_factory())
    return out


def _hash(obj: Any, fields: tuple[str, ...], extra: dict[str, Any] | None = None,
          defaults: dict[str, str | None] | None = None) -> dict[str, str]:
    out = {}
    for name in fields:
        enc = _encode(getattr(obj, name))
        if enc is not None and (defaults is None or name not in defaults or defaults[name] != enc):
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


# what a view does not write: the id its key gives
_TASK_HASH_FIELDS = tuple(f for f in _TASK_FIELDS if f != "task_id")
_EXEC_HASH_FIELDS = tuple(f for f in _EXEC_FIELDS if f != "execution_id")
_TASK_DEFAULTS = _defaults(Task)
_EXEC_DEFAULTS = _defaults(Execution)
# what a live task writes even at its default or derived value (it changes without an edit, and an HSET
# does not remove a field); a task that becomes finished deletes those it no longer writes
FINISHED_SPARSE = ("retry", "queued", "deliveries", "status_date", "executions")
_LIVE_DEFAULTS = {k: v for k, v in _TASK_DEFAULTS.items() if k not in FINISHED_SPARSE}


def task_hash(t: Task, executions: list[int] | tuple[int, ...] = ()) -> dict[str, str]:
    """The view of task `t` whose executions are `executions` (ids, oldest first)."""
    finished = t.status in EVICTABLE_STATUSES
    out = _hash(t, _TASK_HASH_FIELDS, defaults=_TASK_DEFAULTS if finished else _LIVE_DEFAULTS)
    if not finished:
        out.setdefault("status_date", repr(t.status_date))
        out["executions"] = " ".join(map(str, executions))
    else:
        if t.status_date == t.modification_date:
            out.pop("status_date", None)
        if list(executions) != ([t.execution_id] if t.execution_id is not None else []):
            out["executions"] = " ".join(map(str, executions))
    return out


def _stream_of(worker: Any, task_id: Any, attempt: Any, start_date: Any) -> str | None:
    """The output stream an execution that started names unless its view says otherwise."""
    if worker is None or task_id is None or attempt is None or start_date is None:
        return None
    return keys.worker_output(worker, int(task_id), int(attempt))


def execution_hash(e: Execution, task_command: str | None = None) -> dict[str, str]:
    """The view of execution `e`, whose task's command is `task_command` (None: unknown, the execution's
    command is written)."""
    out = _hash(e, _EXEC_HASH_FIELDS, {"output_files": " ".join(e.output_files) if e.output_files else None},
                defaults=_EXEC_DEFAULTS)
    if e.start_date is not None and task_command is not None and e.command == task_command:
        out.pop("command", None)    # it ran its task's command: read there
    if e.start_date is None:
        out["start_date"] = ""      # not started (an attempt that starts as it is claimed omits it)
    elif e.start_date == e.creation_date:
        del out["start_date"]
    if e.modification_date == e.creation_date:
        del out["modification_date"]
    derived = _stream_of(e.worker, e.task_id, e.attempt, e.start_date)
    if e.stream == derived:
        out.pop("stream", None)
    elif e.stream is None:
        out["stream"] = ""          # started, but no stream named (yet, or before output keys were per worker)
    return out


def task_execution_ids(h: dict[str, str]) -> list[int]:
    """The ids of a task's executions, oldest first, from its view (or from its `executions` and
    `execution_id` fields alone)."""
    listed = h.get("executions")
    if listed is not None:
        return [int(x) for x in listed.split()]
    current = h.get("execution_id")
    return [int(current)] if current else []


# the fields a partial read must fetch too, to fill a field its view may omit (an execution's `command`
# also needs its task's: `needs_task_command`)
TASK_NEEDS = {"status_date": ("modification_date",)}
EXECUTION_NEEDS = {"start_date": ("creation_date",), "modification_date": ("creation_date",),
                   "stream": ("worker", "task_id", "attempt", "start_date", "creation_date"),
                   "command": ("task_id", "start_date", "creation_date")}


def fill_task(h: dict[str, str], task_id: int | None = None) -> dict[str, str]:
    """A task's view hash with what it omits because it is derived put back (defaults are the decoder's):
    its id (`task_id`, the key's) and its status date."""
    if task_id is not None and "task_id" not in h:
        h = dict(h)
        h["task_id"] = str(task_id)
    if "status_date" not in h and "modification_date" in h:
        h = dict(h)
        h["status_date"] = h["modification_date"]
    return h


def needs_task_command(h: dict[str, str]) -> int | None:
    """The task whose command an execution's view hash leaves out (it started and ran that command), or
    None when the view names its command or did not start."""
    if "command" in h or h.get("start_date") == "" or "task_id" not in h:
        return None
    if "start_date" not in h and "creation_date" not in h:
        return None     # a partial read that did not fetch the dates: not known here
    return int(h["task_id"])


def fill_execution(h: dict[str, str], execution_id: int | None = None,
                   task_command: str | None = None) -> dict[str, str]:
    """An execution's view hash with its id (`execution_id`, the key's), start date (none, or its
    creation's), output stream (named, derived, or none) and command (its task's, `task_command`, when it
    started and its view names none) put back."""
    if task_command is not None and needs_task_command(h) is not None:
        h = dict(h)
        h["command"] = task_command
    if execution_id is not None and "execution_id" not in h:
        h = dict(h)
        h["execution_id"] = str(execution_id)
    if "modification_date" not in h and "creation_date" in h:
        h = dict(h)
        h["modification_date"] = h["creation_date"]
    start = h.get("start_date")
    if start is None and "creation_date" in h:
        h = dict(h)
        h["start_date"] = h["creation_date"]
    elif start == "":
        h = dict(h)
        del h["start_date"]
    stream = h.get("stream")
    if stream is None:
        derived = _stream_of(h.get("worker"), h.get("task_id"), h.get("attempt"), h.get("start_date"))
        if derived is not None:
            h = dict(h)
            h["stream"] = derived
    elif stream == "":
        h = dict(h)
        del h["stream"]
    return h


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


def decode_task(h: dict[str, str], task_id: int | None = None) -> TaskView:
    """Task `task_id`'s view hash (`h`) as a TaskView."""
    return decode_hash(fill_task(h, task_id), TaskView, _TASK_JSON)


def decode_execution(h: dict[str, str], execution_id: int | None = None,
                     task_command: str | None = None) -> ExecutionView:
    """Execution `execution_id`'s view hash (`h`) as an ExecutionView; `task_command`: its task's command
    (`needs_task_command`), which the execution's view leaves out when it ran it."""
    return decode_hash(fill_execution(h, execution_id, task_command), ExecutionView, _EXEC_JSON)


def decode_worker(h: dict[str, str]) -> WorkerView:
    return decode_hash(h, WorkerView, _WORKER_JSON)


def decode_batch(h: dict[str, str]) -> BatchView:
    return decode_hash(h, BatchView)


def decode_recruiter(h: dict[str, str]) -> RecruiterView:
    return decode_hash(h, RecruiterView)


def decode_deploy(h: dict[str, str]) -> DeployView:
    return decode_hash(h, DeployView)
