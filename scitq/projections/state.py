"""Provides the in-memory model folded from the ledger: tasks, executions, workers, batches, recruiters."""

from __future__ import annotations

import heapq
import sys
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import msgspec

from scitq import keys
from scitq.events.model import (
    ACTIVE_EXECUTION_STATUSES, ACTIVE_TASK_STATUSES, TASK_STATUSES, BatchFields, CacheFields, DeployFields,
    DeployStatus, ExecutionStatus, FlavorFields, QuotaFields, RecruiterFields, TaskFields, TaskStatus, WorkerFields,
    WorkerStatus,
)

__all__ = ["task_weight", "Task", "Execution", "Worker", "Batch", "Recruiter", "Deploy", "State", "ACTIVE_TASK_STATUS",
           "ACTIVE_EXECUTION_STATUS", "EVICTABLE_STATUSES", "NO_TASKS", "NO_FILES", "NO_LISTING", "compact_task",
           "compact_execution", "index_entry", "HeldTasks", "TaskExecutions"]


def task_weight(batch: str, own_batch: str, task_properties: dict | None) -> float:
    """What a task of `batch` held by a worker of `own_batch` weighs against its concurrency: 1, unless the
    worker was recycled out of `batch` and its `task_properties` (v1: `{batch: [weight, priority]}`) say
    otherwise. The server's recruiting and the worker's slots count with it."""
    prop = (task_properties or {}).get(batch) if batch and batch != own_batch else None
    if isinstance(prop, (list, tuple)) and prop and isinstance(prop[0], (int, float)) and prop[0] >= 0:
        return float(prop[0])
    return 1.0

ACTIVE_TASK_STATUS = ACTIVE_TASK_STATUSES
ACTIVE_EXECUTION_STATUS = ACTIVE_EXECUTION_STATUSES
# a task in one of these statuses is finished: once its view is written the server may forget it (a
# blocked task stays, for its parent's relaunch unblocks it)
EVICTABLE_STATUSES = ("succeeded", "failed")


class Task(TaskFields, kw_only=True, gc=False):
    """A task as the server knows it: the user's `TaskFields` plus where it stands.

    The server holds one for every live task, so it is kept small (see `compact_task`): not tracked by
    the garbage collector (it refers to strings, numbers and a list of ints only, never to itself)."""
    task_id: int
    batch: str
    status: TaskStatus
    creation_date: float
    modification_date: float
    status_date: float
    attempt: int = 0              # last attempt number handed out by a dispatch
    queued: bool = False          # in its batch's queue stream, not yet claimed
    execution_id: int | None = None
    worker: str | None = None     # worker holding the current attempt (while active)
    deliveries: int = 0           # dispatches since the last outcome (poison-task guard)
    blocked_by: int | None = None # while blocked: the required task that failed
    # how its view is indexed as last written (`index_entry`; None: not written yet). Bookkeeping of
    # the projection writer (`State.indexed_tasks`), not written into the view.
    indexed: tuple[str, str, str | None, bool] | None = None


# Shared empty values, never changed in place (a change assigns a new list or dict): the requirements
# of a task requiring none, the output files and listing of an execution that uploaded none.
NO_TASKS: list[int] = ()  # type: ignore[assignment]
NO_FILES: list[str] = ()  # type: ignore[assignment]
NO_LISTING: dict[str, int] = {}

_INDEX_ENTRIES: dict[tuple[str, str, str | None, bool], tuple[str, str, str | None, bool]] = {}
_intern = sys.intern


def compact_task(t: Task) -> Task:
    """`t` made to share what other tasks hold the same: the strings thousands of tasks have alike
    (batch, status, container, its options, resource, worker) interned, no list of its own when it
    requires no task. The server holds one `Task` per live task: this keeps one to its struct and the
    strings that are its own (command, input...)."""
    t.batch = _intern(t.batch)
    t.status = _intern(t.status)  # type: ignore[assignment]
    if t.container is not None:
        t.container = _intern(t.container)
        if t.container_options is not None:
            t.container_options = _intern(t.container_options)
    if t.resource is not None:
        t.resource = _intern(t.resource)
    if t.worker is not None:
        t.worker = _intern(t.worker)
    if not t.required_task_ids:
        t.required_task_ids = NO_TASKS
    return t


def compact_execution(ex: Execution, t: Task | None) -> Execution:
    """`ex` made to share what its task holds the same (the command, container... it ran are the task's
    unless the task was edited since) and the strings many executions hold (worker, status)."""
    if t is not None:   # (written out: a start-up does this for every live execution)
        if ex.command is not None and ex.command == t.command:
            ex.command = t.command
        if ex.container is not None and ex.container == t.container:
            ex.container = t.container
        if ex.container_options is not None and ex.container_options == t.container_options:
            ex.container_options = t.container_options
        if ex.input is not None and ex.input == t.input:
            ex.input = t.input
        if ex.output_folder is not None and ex.output_folder == t.output:
            ex.output_folder = t.output
        if ex.resource is not None and ex.resource == t.resource:
            ex.resource = t.resource
    worker = ex.worker
    if worker is not None:
        ex.worker = worker = _intern(worker)
    ex.status = _intern(ex.status)  # type: ignore[assignment]
    if not ex.output_listing:
        ex.output_listing = NO_LISTING
    stream = _STREAM.__get__(ex, Execution)     # not held when it is its worker's stream of the attempt
    if stream and worker and stream == keys.worker_output(worker, ex.task_id, ex.attempt):
        _STREAM.__set__(ex, "")                 # (see `Execution.stream`)
    return ex


def index_entry(t: Task) -> tuple[str, str, str | None, bool]:
    """How the task's view is indexed (status, batch, name, held by a worker), the tuple shared by the
    tasks indexed alike (a named task has its own)."""
    entry = (t.status, t.batch, t.name, t.worker is not None)
    if t.name is not None or len(_INDEX_ENTRIES) >= 10000:
        return entry
    return _INDEX_ENTRIES.setdefault(entry, entry)


class Execution(CacheFields, kw_only=True, gc=False):
    """One attempt of a task on a worker; `command`... `resource` are frozen when the process starts.
    Not tracked by the garbage collector (strings, numbers, a list and a dict of them: no cycle)."""
    execution_id: int
    task_id: int
    worker_id: int | None
    worker: str | None
    attempt: int
    status: ExecutionStatus
    creation_date: float
    modification_date: float
    return_code: int | None = None
    pid: str | None = None
    output_files: list[str] = NO_FILES    # an attempt's own list once it uploaded files
    # no dict of its own until it has a listing (`NO_LISTING`, shared, is never changed in place)
    output_listing: dict[str, int] = msgspec.field(default_factory=lambda: NO_LISTING)
    command: str | None = None
    container: str | None = None
    container_options: str | None = None
    input: str | None = None
    output_folder: str | None = None
    resource: str | None = None
    latest: bool = True
    stream: str | None = None
    start_date: float | None = None
    cached_from: int | None = None   # did not run: the outputs of that execution stand for it
    indexed: bool = False            # its view is in the executions indexes (`State.indexed_executions`)


# `Execution.stream`, the output stream an attempt's worker writes, is almost always that worker's stream
# of the attempt (`keys.worker_output(worker, task, attempt)`), a string of its own per execution (90 B and
# more). The execution holds an empty string instead (no stream is ever named ""), and reading the field
# names it again: the attribute reads and writes the same values as a plain field, while msgspec (an archive
# snapshot, `structs.asdict`, the repr) sees what is held. Change `worker` only after reading the stream
# (see evolve's cached executions).
_STREAM = Execution.__dict__["stream"]      # the struct's own slot


def _get_stream(ex: Execution) -> str | None:
    held = _STREAM.__get__(ex, Execution)
    if held == "" and ex.worker:
        return keys.worker_output(ex.worker, ex.task_id, ex.attempt)
    return held  # type: ignore[no-any-return]


def _set_stream(ex: Execution, stream: str | None) -> None:
    if stream and ex.worker and stream == keys.worker_output(ex.worker, ex.task_id, ex.attempt):
        stream = ""
    _STREAM.__set__(ex, stream)


Execution.stream = property(_get_stream, _set_stream)  # type: ignore[assignment]


class HeldTasks:
    """The ids of the tasks a worker holds (its active attempts), kept sorted in an array of machine
    integers: 8 B a task, where a set takes 30 to 100. A set's methods (`add`, `discard`, `in`, `len`,
    iteration, in order), and equal to the set of the same ids."""

    __slots__ = ("ids",)

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self.ids = array("q", sorted(set(ids)))

    def __contains__(self, tid: object) -> bool:
        if not isinstance(tid, int):
            return False
        ids = self.ids
        i = bisect_left(ids, tid)
        return i < len(ids) and ids[i] == tid

    def add(self, tid: int) -> None:
        ids = self.ids
        if not ids or tid > ids[-1]:    # the usual case: task ids are handed out in order
            ids.append(tid)
            return
        i = bisect_left(ids, tid)
        if ids[i] != tid:
            ids.insert(i, tid)

    def discard(self, tid: int) -> None:
        ids = self.ids
        i = bisect_left(ids, tid)
        if i < len(ids) and ids[i] == tid:
            del ids[i]

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HeldTasks):
            return self.ids == other.ids
        if isinstance(other, (set, frozenset)):
            return len(other) == len(self.ids) and all(tid in other for tid in self.ids)
        return NotImplemented

    __hash__ = None   # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HeldTasks({set(self.ids)!r})"


class Worker(WorkerFields, kw_only=True):
    """A worker as the server knows it: its `WorkerFields` plus identity, status and held tasks."""
    worker_id: int
    name: str
    status: WorkerStatus
    creation_date: float
    modification_date: float
    incarnation: str = ""
    # task ids of its active attempts (a set where it is read or written: a snapshot, a test)
    held: set[int] = msgspec.field(default_factory=HeldTasks)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if not isinstance(self.held, HeldTasks):
            self.held = HeldTasks(self.held)  # type: ignore[assignment]


def _zero_counts() -> dict[str, int]:
    return {s: 0 for s in TASK_STATUSES}


class Batch(BatchFields, kw_only=True):
    """A batch as the server knows it: its `BatchFields` plus its queue and counts."""
    queued: int = 0
    counts: dict[str, int] = msgspec.field(default_factory=_zero_counts)
    ready: list[int] = []   # heap of task ids maybe ready to dispatch


class Recruiter(RecruiterFields, kw_only=True):
    """A recruiter as the server knows it: its `RecruiterFields`, its key (batch, rank) and whether it
    already said that it would deploy (`deploy_wanted`, said once until it is changed)."""
    batch: str
    rank: int
    creation_date: float
    modification_date: float
    deploy_wanted: bool = False


class Deploy(DeployFields, kw_only=True):
    """A machine scitq asked a provider for, named after its worker: where it stands and what it cost.

    Its cost runs from `running_date` (the provider said it runs) at `cost` per hour, charged to the batch its
    worker is in (`cost_batch` since `cost_since`); `spent` is what it cost up to `cost_since`."""
    worker: str
    status: DeployStatus
    why: str
    requested_date: float
    modification_date: float
    rank: int = 0
    attempts: int = 0
    instance: str = ""
    ipv4: str = ""
    running_date: float | None = None
    end_date: float | None = None
    error_kind: str = ""
    error: str = ""
    destroy_why: str = ""
    destroy_reason: str = ""
    cost_batch: str = ""
    cost_since: float | None = None
    spent: float = 0.0


class _ByGet:
    """`m[tid]` and `tid in m` of a mapping whose `get` says everything (None: absent)."""

    def get(self, tid: int, default: Any = None) -> Any:
        raise NotImplementedError

    def __getitem__(self, tid: int) -> Any:
        value = self.get(tid)
        if value is None:
            raise KeyError(tid)
        return value

    def __contains__(self, tid: object) -> bool:
        return self.get(tid) is not None   # type: ignore[arg-type]


class IndexedTasks(_ByGet):
    """Task id -> how the task's view is indexed as last written (`index_entry`), for the projection
    writer: kept on the task itself (`Task.indexed`, no entry of its own) while it is in memory, and
    here for a task deleted since (`removed`) until its view is deleted. A dict's methods."""

    def __init__(self, tasks: dict[int, Task]) -> None:
        self.tasks = tasks
        self.gone: dict[int, tuple[str, str, str | None, bool]] = {}

    def get(self, tid: int, default: Any = None) -> Any:
        t = self.tasks.get(tid)
        if t is not None:
            return t.indexed if t.indexed is not None else default
        return self.gone.get(tid, default)

    def __setitem__(self, tid: int, entry: tuple[str, str, str | None, bool]) -> None:
        t = self.tasks.get(tid)
        if t is not None:
            t.indexed = entry
        else:
            self.gone[tid] = entry

    def pop(self, tid: int, default: Any = None) -> Any:
        t = self.tasks.get(tid)
        if t is not None and t.indexed is not None:
            entry, t.indexed = t.indexed, None
            return entry
        return self.gone.pop(tid, default)

    def removed(self, t: Task) -> None:
        """`t` left the tasks (deleted): its view's index entry is kept until the view is deleted."""
        if t.indexed is not None:
            self.gone[t.task_id] = t.indexed

    def __iter__(self) -> Iterator[int]:
        yield from (tid for tid, t in self.tasks.items() if t.indexed is not None)
        yield from self.gone

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self) -> Iterator[tuple[int, tuple[str, str, str | None, bool]]]:
        return ((tid, self[tid]) for tid in self)

    def clear(self) -> None:
        for t in self.tasks.values():
            t.indexed = None
        self.gone.clear()


class TaskExecutions(_ByGet):
    """Task id -> the ids of its executions, oldest first. A task in memory whose only execution is its
    current one (`Task.execution_id`), or that has none, has no entry of its own: the list is made when
    asked for. The others (relaunched tasks, tasks not in memory) have theirs in `more`. A dict's
    methods; a list it returns is not to be changed in place (assign a new one)."""

    def __init__(self, tasks: dict[int, Task], lists: dict[int, list[int]] | None = None) -> None:
        self.tasks = tasks
        self.more: dict[int, list[int]] = {}
        if lists is not None:
            for tid, t in tasks.items():
                if t.execution_id is not None and tid not in lists:
                    self.more[tid] = []     # listed with none
            for tid, ids in lists.items():
                self[tid] = ids

    def get(self, tid: int, default: Any = None) -> Any:
        ids = self.more.get(tid)
        if ids is None:
            t = self.tasks.get(tid)
            if t is None or t.execution_id is None:
                return default
            return [t.execution_id]
        return ids if ids else default

    def __setitem__(self, tid: int, ids: list[int]) -> None:
        """Set the task's executions, once `Task.execution_id` names the last of them."""
        t = self.tasks.get(tid)
        current = t.execution_id if t is not None else None
        if (ids[0] == current if len(ids) == 1 else not ids and current is None):
            if self.more:
                self.more.pop(tid, None)
        else:
            self.more[tid] = list(ids)

    def __delitem__(self, tid: int) -> None:
        if self.pop(tid) is None:
            raise KeyError(tid)

    def pop(self, tid: int, default: Any = None) -> Any:
        """The task's executions, forgotten: call it as the task leaves `tasks` (before, while its
        current execution is still known from it)."""
        ids = self.get(tid)
        self.more.pop(tid, None)
        return ids if ids is not None else default

    def __iter__(self) -> Iterator[int]:
        yield from (tid for tid, t in self.tasks.items() if tid not in self.more and t.execution_id is not None)
        yield from (tid for tid, ids in self.more.items() if ids)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self) -> Iterator[tuple[int, list[int]]]:
        return ((tid, self[tid]) for tid in self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (TaskExecutions, dict)):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None   # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TaskExecutions({dict(self.items())!r})"


class IndexedExecutions:
    """The ids of the executions whose views are in the executions indexes, for the projection writer:
    a flag on each execution in memory (`Execution.indexed`), no entry of its own. A set's methods."""

    def __init__(self, executions: dict[int, Execution]) -> None:
        self.executions = executions

    def __contains__(self, eid: object) -> bool:
        ex = self.executions.get(eid)   # type: ignore[call-overload]
        return ex is not None and ex.indexed

    def add(self, eid: int) -> None:
        ex = self.executions.get(eid)
        if ex is not None:
            ex.indexed = True

    def discard(self, eid: int) -> None:
        ex = self.executions.get(eid)
        if ex is not None:
            ex.indexed = False

    def __iter__(self) -> Iterator[int]:
        return (eid for eid, ex in self.executions.items() if ex.indexed)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class State:
    tasks: dict[int, Task] = field(default_factory=dict)
    executions: dict[int, Execution] = field(default_factory=dict)
    workers: dict[int, Worker] = field(default_factory=dict)
    worker_ids: dict[str, int] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    recruiters: dict[tuple[str, int], Recruiter] = field(default_factory=dict)   # (batch, rank) -> recruiter
    deploys: dict[str, Deploy] = field(default_factory=dict)       # worker name -> its machine (kept when gone)
    batch_costs: dict[str, float] = field(default_factory=dict)    # batch -> cost of machines' time in it, closed
    unusable: dict[tuple[str, str, str], tuple[str, float]] = field(default_factory=dict)  # (provider, region,
    # flavor) -> (error kind, when) of the last deploy that failed for good there (see deploy_plan.choose)
    flavors: dict[tuple[str, str, str], FlavorFields] = field(default_factory=dict)  # (provider, region, name)
    quotas: dict[tuple[str, str], QuotaFields] = field(default_factory=dict)         # (provider, region)
    dependents: dict[int, set[int]] = field(default_factory=dict)  # required task -> the tasks requiring it
    # task -> its executions' ids, oldest first (a `TaskExecutions`, made from the dict given)
    task_executions: dict[int, list[int]] = field(default_factory=dict)
    paused_offline: set[int] = field(default_factory=set)   # offline workers that were paused
    next_task_id: int = 1
    next_execution_id: int = 1
    next_worker_id: int = 1
    last_event_id: str = "0-0"
    # what changed since the views were last written (bookkeeping for the projection writer)
    dirty_tasks: set[int] = field(default_factory=set)
    dirty_executions: set[int] = field(default_factory=set)
    dirty_workers: set[int] = field(default_factory=set)
    dirty_batches: set[str] = field(default_factory=set)
    dirty_recruiters: set[tuple[str, int]] = field(default_factory=set)
    dirty_deploys: set[str] = field(default_factory=set)
    dirty_costs: set[str] = field(default_factory=set)
    dirty_flavors: set[tuple[str, str, str]] = field(default_factory=set)
    dirty_quotas: set[tuple[str, str]] = field(default_factory=set)
    indexed_tasks: IndexedTasks = field(init=False)
    rewrite_tasks: set[int] = field(default_factory=set)      # task views to rewrite whole (a user edit)
    indexed_workers: dict[int, str] = field(default_factory=dict)
    indexed_executions: IndexedExecutions = field(init=False)
    cache: dict[str, int] = field(default_factory=dict)       # input hash -> last succeeded execution
    dirty_cache: set[str] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)           # finished tasks in memory (to evict)
    deadlines: list[tuple[float, int, int]] = field(default_factory=list)  # heap: (start + run_timeout, task, execution)
    meta_written: dict[str, str] | None = None                # the counters as last written (SERVER_STATE)

    def __post_init__(self) -> None:
        # a new state has written nothing yet (`mark_indexed` says when its views are current), whatever
        # the tasks and executions it is made with say
        for t in self.tasks.values():
            t.indexed = None
        for ex in self.executions.values():
            ex.indexed = False
        self.indexed_tasks = IndexedTasks(self.tasks)
        self.indexed_executions = IndexedExecutions(self.executions)
        if not isinstance(self.task_executions, TaskExecutions):
            self.task_executions = TaskExecutions(self.tasks, self.task_executions)  # type: ignore[assignment]

    def mark_indexed(self) -> None:
        """Declare the stored views equal to this state (after a replay of a ledger whose views are current)."""
        self.indexed_tasks.gone.clear()
        for t in self.tasks.values():
            t.indexed = index_entry(t)
        self.indexed_workers = {wid: w.name for wid, w in self.workers.items()}
        for ex in self.executions.values():
            ex.indexed = True
        for dirty in (self.dirty_tasks, self.dirty_executions, self.dirty_workers, self.dirty_batches,
                      self.dirty_recruiters, self.rewrite_tasks, self.dirty_flavors, self.dirty_quotas,
                      self.dirty_deploys, self.dirty_costs):
            dirty.clear()

    def evict(self) -> int:
        """Forget the finished tasks (and their executions) whose views are written and that no live task
        in memory requires; they are read back from their views when needed. Returns how many were dropped.
        A finished task kept for a live dependant is looked at again at each call until it goes."""
        if self.dirty_tasks or self.dirty_executions:
            return 0
        dropped = 0
        todo = self.finished
        self.finished = set()
        while todo:
            again: set[int] = set()
            for tid in todo:
                t = self.tasks.get(tid)
                if t is None or t.status not in EVICTABLE_STATUSES:
                    continue
                if self._needed(tid):
                    self.finished.add(tid)
                    continue
                eids = self.task_executions.pop(tid, ())
                del self.tasks[tid]
                self.indexed_tasks.pop(tid, None)
                self.dependents.pop(tid, None)
                for eid in eids:
                    ex = self.executions.pop(eid, None)
                    self.indexed_executions.discard(eid)
                    if ex is not None and ex.input_hash and self.cache.get(ex.input_hash) == eid:
                        del self.cache[ex.input_hash]
                for req in t.required_task_ids:
                    deps = self.dependents.get(req)
                    if deps is not None:
                        deps.discard(tid)
                        if not deps:
                            del self.dependents[req]
                    if req in self.tasks:
                        again.add(req)
                dropped += 1
            todo = again
        return dropped

    def _needed(self, tid: int) -> bool:
        """A task in memory that is not finished requires `tid` (its verdict reads it)."""
        for dep in self.dependents.get(tid, ()):
            d = self.tasks.get(dep)
            if d is not None and d.status not in EVICTABLE_STATUSES:
                return True
        return False

    def evict_all(self) -> int:
        """After a full replay: every finished task is a candidate."""
        self.finished = {tid for tid, t in self.tasks.items() if t.status in EVICTABLE_STATUSES}
        return self.evict()

    # --- helpers used by evolve -------------------------------------------------------------
    def batch(self, name: str, ts: float) -> Batch:
        b = self.batches.get(name)
        if b is None:
            b = self.batches[name] = Batch(name=name, creation_date=ts)
            self.dirty_batches.add(name)
        return b

    def push_ready(self, task: Task) -> None:
        if task.status == "pending" and not task.queued:
            heapq.heappush(self.batch(task.batch, task.creation_date).ready, task.task_id)

    def push_deadline(self, task: Task, ex: Execution) -> None:
        """Remember when the running attempt `ex` of `task` reaches its run timeout (checked when due)."""
        if task.run_timeout and ex.start_date is not None:
            heapq.heappush(self.deadlines, (ex.start_date + task.run_timeout, task.task_id, ex.execution_id))

    def worker_by_name(self, name: str | None) -> Worker | None:
        if name is None:
            return None
        wid = self.worker_ids.get(name)
        return self.workers.get(wid) if wid is not None else None

    def current_execution(self, task: Task) -> Execution | None:
        return self.executions.get(task.execution_id) if task.execution_id is not None else None
