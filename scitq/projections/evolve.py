"""Provides `evolve(state, event)`: the pure fold of one ledger event into the in-memory model."""

from __future__ import annotations

from typing import Callable

import msgspec
from msgspec import UNSET

from scitq import keys
from scitq.events import base as _base
from scitq.events.batch import BatchCreated, BatchDeleted, BatchPaused, BatchResumed
from scitq.events.deploy import (
    DeployFailed, DeployRequested, DeployStarted, DeploySucceeded, DestroyDone, DestroyRequested, WorkerEvicted,
)
from scitq.events.execution import (
    ExecutionAccepted, ExecutionCached, ExecutionClaimed, ExecutionFinished, ExecutionOutputOpened, ExecutionRefused,
    ExecutionStarted, ReportRejected,
)
from scitq.events.task import (
    TaskBlocked, TaskDeleted, TaskDispatched, TaskFailed, TaskQuarantined, TaskReleased, TaskRequeued, TaskRetried,
    TaskSignalled, TaskStatusSet, TaskSubmitted, TaskSucceeded, TaskTimedOut, TaskUnblocked, TaskUpdated,
)
from scitq.events.flavor import FlavorCatalogUpdated
from scitq.events.recruiter import (
    RecruiterCreated, RecruiterDeleted, RecruiterDeployWanted, RecruiterUpdated, WorkerRecruited,
)
from scitq.events.worker import (
    WorkerBatchChanged, WorkerConcurrencyChanged, WorkerDeleted, WorkerLost, WorkerOffline, WorkerOnline,
    WorkerPaused, WorkerPrefetchChanged, WorkerRegistered, WorkerResumed, WorkerSignalled, WorkerUpdated,
)
from scitq.events.model import ACTIVE_TASK_STATUSES, DEPLOY_FIELDS, RECRUITER_FIELDS, TASK_FIELDS, WORKER_FIELDS
from scitq.projections.state import (
    EVICTABLE_STATUSES, NO_FILES, NO_TASKS, Deploy, Execution, Recruiter, State, Task, Worker, compact_execution,
    compact_task,
)

__all__ = ["evolve", "EDITABLE_FIELDS"]

EDITABLE_FIELDS = frozenset(TASK_FIELDS) | {"batch"}

_HANDLERS: dict[type, Callable[[State, _base.Event], None]] = {}


def _on(cls: type) -> Callable:
    def register(fn: Callable) -> Callable:
        _HANDLERS[cls] = fn
        return fn
    return register


def evolve(state: State, event: _base.Event) -> State:
    """Apply one event to `state` (in place, no I/O) and return it."""
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        handler(state, event)
    return state


# --- small helpers -----------------------------------------------------------------------------
def _set_status(state: State, task: Task, status: str, ts: float) -> None:
    if task.status != status:
        if task.status == "blocked":
            task.blocked_by = None
            state.rewrite_tasks.add(task.task_id)     # the view drops its blocked_by
        counts = state.batch(task.batch, ts).counts
        counts[task.status] = counts.get(task.status, 0) - 1
        counts[status] = counts.get(status, 0) + 1
        task.status = status
        task.status_date = ts
        state.dirty_batches.add(task.batch)
        if status in EVICTABLE_STATUSES:
            state.finished.add(task.task_id)
    task.modification_date = ts
    state.dirty_tasks.add(task.task_id)


def _unqueue(state: State, task: Task) -> None:
    if task.queued:
        task.queued = False
        b = state.batches.get(task.batch)
        if b is not None:
            b.queued -= 1
            state.dirty_batches.add(task.batch)


def _release_holder(state: State, task: Task) -> None:
    w = state.worker_by_name(task.worker)
    if w is not None and task.task_id in w.held:
        w.held.discard(task.task_id)
        state.dirty_workers.add(w.worker_id)
    task.worker = None


def _exec_status(state: State, ex: Execution, status: str, ts: float) -> None:
    ex.status = status
    ex.modification_date = ts
    state.dirty_executions.add(ex.execution_id)


# --- tasks -------------------------------------------------------------------------------------
@_on(TaskSubmitted)
def _submitted(state: State, e: TaskSubmitted) -> None:
    values = msgspec.structs.asdict(e)         # task_id, batch, status and the TaskFields
    del values["ts"]
    values["required_task_ids"] = list(e.required_task_ids)
    t = compact_task(Task(creation_date=e.ts, modification_date=e.ts, status_date=e.ts, **values))
    state.tasks[t.task_id] = t
    state.next_task_id = max(state.next_task_id, t.task_id + 1)
    b = state.batch(t.batch, e.ts)
    b.counts[t.status] = b.counts.get(t.status, 0) + 1
    state.dirty_batches.add(t.batch)
    state.dirty_tasks.add(t.task_id)
    for req in t.required_task_ids:
        state.dependents.setdefault(req, set()).add(t.task_id)
    state.push_ready(t)


@_on(TaskUpdated)
def _updated(state: State, e: TaskUpdated) -> None:
    t = state.tasks[e.task_id]
    for key, value in e.changes.items():
        if key not in EDITABLE_FIELDS:
            continue
        if key == "batch" and value != t.batch:
            old = state.batch(t.batch, e.ts)
            old.counts[t.status] -= 1
            if t.queued:
                old.queued -= 1
            new = state.batch(value, e.ts)
            new.counts[t.status] = new.counts.get(t.status, 0) + 1
            if t.queued:
                new.queued += 1
            state.dirty_batches.update((t.batch, value))
            t.batch = value
            state.push_ready(t)
        elif key == "required_task_ids":
            for req in t.required_task_ids:
                state.dependents.get(req, set()).discard(t.task_id)
            t.required_task_ids = list(value) if value else NO_TASKS
            for req in t.required_task_ids:
                state.dependents.setdefault(req, set()).add(t.task_id)
        else:
            setattr(t, key, value)
    compact_task(t)
    t.modification_date = e.ts
    state.dirty_tasks.add(t.task_id)
    state.rewrite_tasks.add(t.task_id)     # an edit may empty a field: the view is rewritten whole


@_on(TaskDeleted)
def _deleted(state: State, e: TaskDeleted) -> None:
    t = state.tasks.get(e.task_id)
    if t is None:
        return
    eids = state.task_executions.pop(t.task_id, [])
    del state.tasks[t.task_id]
    state.indexed_tasks.removed(t)
    b = state.batch(t.batch, e.ts)
    b.counts[t.status] -= 1
    if t.queued:
        b.queued -= 1
    state.dirty_batches.add(t.batch)
    _release_holder(state, t)
    for req in t.required_task_ids:
        state.dependents.get(req, set()).discard(t.task_id)
    for eid in eids:
        ex = state.executions.pop(eid, None)
        if ex is not None and ex.input_hash and state.cache.get(ex.input_hash) == eid:
            del state.cache[ex.input_hash]      # its outputs are no longer known: no reuse
            state.dirty_cache.add(ex.input_hash)
        state.dirty_executions.add(eid)
    state.dirty_tasks.add(t.task_id)


@_on(TaskDispatched)
def _dispatched(state: State, e: TaskDispatched) -> None:
    t = state.tasks[e.task_id]
    t.attempt = e.attempt
    t.queued = True
    t.modification_date = e.ts
    state.batch(t.batch, e.ts).queued += 1
    state.dirty_batches.add(t.batch)
    state.dirty_tasks.add(t.task_id)


def _settle(state: State, t: Task, status: str, ts: float) -> None:
    """The task leaves its queue and its worker (if it had them) for `status`."""
    _unqueue(state, t)
    _release_holder(state, t)
    _set_status(state, t, status, ts)
    if status == "pending":
        state.push_ready(t)


@_on(TaskRequeued)
def _requeued(state: State, e: TaskRequeued) -> None:
    _settle(state, state.tasks[e.task_id], "pending", e.ts)


@_on(TaskStatusSet)
def _status_set(state: State, e: TaskStatusSet) -> None:
    t = state.tasks[e.task_id]
    _unqueue(state, t)
    keeps_worker = (e.status == "paused" or e.status in ACTIVE_TASK_STATUSES) and t.worker is not None \
        and (e.status != "paused" or t.status in ACTIVE_TASK_STATUSES)
    if not keeps_worker and (t.status in ACTIVE_TASK_STATUSES or t.status == "paused" or t.worker):
        _release_holder(state, t)
    if e.retry is not None:
        t.retry = e.retry
    if e.status == "pending":
        t.deliveries = 0
    _set_status(state, t, e.status, e.ts)
    state.push_ready(t)


@_on(TaskSucceeded)
def _succeeded(state: State, e: TaskSucceeded) -> None:
    t = state.tasks[e.task_id]
    t.deliveries = 0
    _settle(state, t, "succeeded", e.ts)


@_on(TaskFailed)
def _failed(state: State, e: TaskFailed) -> None:
    t = state.tasks[e.task_id]
    t.deliveries = 0
    _settle(state, t, "failed", e.ts)


@_on(TaskQuarantined)
def _quarantined(state: State, e: TaskQuarantined) -> None:
    _settle(state, state.tasks[e.task_id], "failed", e.ts)


@_on(TaskRetried)
def _retried(state: State, e: TaskRetried) -> None:
    t = state.tasks[e.task_id]
    t.retry = e.retry
    t.deliveries = 0        # the attempt had an outcome: the poison-task count starts again
    _settle(state, t, "pending", e.ts)


@_on(TaskReleased)
def _released(state: State, e: TaskReleased) -> None:
    _settle(state, state.tasks[e.task_id], "pending", e.ts)     # a waiting task: no queue, no worker


@_on(TaskBlocked)
def _blocked(state: State, e: TaskBlocked) -> None:
    t = state.tasks[e.task_id]
    _settle(state, t, "blocked", e.ts)
    t.blocked_by = e.parent


@_on(TaskUnblocked)
def _unblocked(state: State, e: TaskUnblocked) -> None:
    _settle(state, state.tasks[e.task_id], "waiting", e.ts)


@_on(TaskTimedOut)
def _timed_out(state: State, e: TaskTimedOut) -> None:
    pass


@_on(TaskSignalled)
def _signalled(state: State, e: TaskSignalled) -> None:
    pass


# --- executions --------------------------------------------------------------------------------
@_on(ExecutionClaimed)
def _claimed(state: State, e: ExecutionClaimed) -> None:
    _claim(state, e.execution_id, e.task_id, e.attempt, e.worker, e.worker_id, e.ts)


def _claim(state: State, execution_id: int, task_id: int, attempt: int, worker: str, worker_id: int | None,
           ts: float) -> None:
    """Worker `worker` took attempt `attempt` of the task: execution `execution_id` exists (pending)."""
    t = state.tasks[task_id]
    for eid in state.task_executions.get(t.task_id, []):
        old = state.executions.get(eid)
        if old is not None and old.latest:
            old.latest = False
            state.dirty_executions.add(eid)
    ex = Execution(execution_id=execution_id, task_id=t.task_id, worker_id=worker_id, worker=worker,
                   attempt=attempt, status="pending", creation_date=ts, modification_date=ts)
    state.executions[ex.execution_id] = ex
    eids = [*state.task_executions.get(t.task_id, ()), ex.execution_id]
    t.execution_id = ex.execution_id
    state.task_executions[t.task_id] = eids
    state.next_execution_id = max(state.next_execution_id, ex.execution_id + 1)
    state.dirty_executions.add(ex.execution_id)
    _unqueue(state, t)
    t.deliveries += 1
    t.worker = worker
    w = state.workers.get(worker_id) if worker_id is not None else None
    if w is not None:
        w.held.add(t.task_id)
        state.dirty_workers.add(w.worker_id)
    _set_status(state, t, "assigned", ts)


def _progress(state: State, e: ExecutionAccepted | ExecutionStarted, status: str) -> None:
    ex = state.executions[e.execution_id]
    _exec_status(state, ex, status, e.ts)
    t = state.tasks[e.task_id]
    if t.status != "paused":            # a paused task stays paused while its attempt goes on
        _set_status(state, t, status, e.ts)


@_on(ExecutionAccepted)
def _accepted(state: State, e: ExecutionAccepted) -> None:
    _progress(state, e, "accepted")


@_on(ExecutionStarted)
def _started(state: State, e: ExecutionStarted) -> None:
    if e.attempt is not None:      # the claim and the start in one fact (version 3)
        _claim(state, e.execution_id, e.task_id, e.attempt, e.worker, e.worker_id, e.ts)
    ex = state.executions[e.execution_id]
    if ex.worker:                  # version 3: the output is the worker's stream of this attempt
        ex.stream = keys.worker_output(ex.worker, ex.task_id, ex.attempt)
    ex.command, ex.container, ex.container_options = e.command, e.container, e.container_options
    ex.input, ex.output_folder, ex.resource, ex.pid = e.input, e.output, e.resource, e.pid
    compact_execution(ex, state.tasks.get(e.task_id))
    ex.start_date = e.ts
    _progress(state, e, "running")
    state.push_deadline(state.tasks[e.task_id], ex)


@_on(ExecutionOutputOpened)
def _output_opened(state: State, e: ExecutionOutputOpened) -> None:
    ex = state.executions[e.execution_id]
    ex.stream = e.stream
    state.dirty_executions.add(ex.execution_id)


@_on(ExecutionFinished)
def _finished(state: State, e: ExecutionFinished) -> None:
    ex = state.executions[e.execution_id]
    ex.return_code = e.return_code
    ex.output_files = list(e.output_files) if e.output_files else NO_FILES
    ex.input_hash, ex.output_listing = e.input_hash, dict(e.output_listing)
    _exec_status(state, ex, "succeeded" if e.return_code == 0 else "failed", e.ts)
    if e.return_code == 0 and e.input_hash:
        state.cache[e.input_hash] = ex.execution_id
        state.dirty_cache.add(e.input_hash)


@_on(ExecutionCached)
def _cached(state: State, e: ExecutionCached) -> None:
    ex = state.executions[e.execution_id]
    stream = ex.stream                     # named after its worker: read before the worker goes
    ex.worker_id = ex.worker = None       # no worker ran it (the task's holder is released by its success)
    ex.stream = stream
    ex.return_code, ex.cached_from, ex.input_hash = 0, e.cached_from, e.input_hash
    ex.output_files = list(e.output_files) if e.output_files else NO_FILES
    src = state.executions.get(e.cached_from)
    if src is not None:
        ex.output_listing = dict(src.output_listing)
    _exec_status(state, ex, "succeeded", e.ts)


@_on(ExecutionRefused)
def _refused(state: State, e: ExecutionRefused) -> None:
    ex = state.executions.get(e.execution_id)
    if ex is not None:
        _exec_status(state, ex, "failed" if e.failed else "refused", e.ts)


@_on(ReportRejected)
def _rejected(state: State, e: ReportRejected) -> None:
    pass


# --- workers -----------------------------------------------------------------------------------
def _worker(state: State, worker_id: int, ts: float) -> Worker:
    w = state.workers[worker_id]
    w.modification_date = ts
    state.dirty_workers.add(worker_id)
    return w


@_on(WorkerRegistered)
def _registered(state: State, e: WorkerRegistered) -> None:
    w = state.workers.get(e.worker_id)
    described = {name: getattr(e, name) for name in WORKER_FIELDS}
    if w is None:
        w = Worker(worker_id=e.worker_id, name=e.worker, status=e.status, creation_date=e.ts, modification_date=e.ts,
                   incarnation=e.incarnation, **described)
        state.workers[w.worker_id] = w
        state.worker_ids[w.name] = w.worker_id
        state.next_worker_id = max(state.next_worker_id, w.worker_id + 1)
    else:
        for name, value in described.items():
            setattr(w, name, value)
        w.status, w.incarnation, w.modification_date = e.status, e.incarnation, e.ts
        state.paused_offline.discard(w.worker_id)
    state.dirty_workers.add(w.worker_id)


@_on(WorkerUpdated)
def _worker_updated(state: State, e: WorkerUpdated) -> None:
    w = _worker(state, e.worker_id, e.ts)
    for name in WORKER_FIELDS:
        value = getattr(e, name)
        if value is not UNSET:
            setattr(w, name, value)
    if e.name is not UNSET and e.name != w.name:     # a rename: the name index follows
        state.worker_ids.pop(w.name, None)
        w.name = e.name
        state.worker_ids[w.name] = w.worker_id


def _status_handler(status: str) -> Callable[[State, _base.Event], None]:
    def handler(state: State, e) -> None:
        _worker(state, e.worker_id, e.ts).status = status
        state.paused_offline.discard(e.worker_id)
    return handler


_HANDLERS[WorkerResumed] = _status_handler("running")
_HANDLERS[WorkerPaused] = _status_handler("paused")


@_on(WorkerOffline)
def _offline(state: State, e: WorkerOffline) -> None:
    w = _worker(state, e.worker_id, e.ts)
    if w.status == "paused":           # it comes back paused
        state.paused_offline.add(w.worker_id)
    w.status = "offline"


@_on(WorkerOnline)
def _online(state: State, e: WorkerOnline) -> None:
    w = _worker(state, e.worker_id, e.ts)
    w.status = "paused" if w.worker_id in state.paused_offline else "running"
    state.paused_offline.discard(w.worker_id)


@_on(WorkerLost)
def _lost(state: State, e: WorkerLost) -> None:
    _worker(state, e.worker_id, e.ts)


@_on(WorkerDeleted)
def _worker_deleted(state: State, e: WorkerDeleted) -> None:
    w = state.workers.pop(e.worker_id, None)
    state.paused_offline.discard(e.worker_id)
    if w is not None:
        state.worker_ids.pop(w.name, None)
        state.dirty_workers.add(e.worker_id)


@_on(WorkerSignalled)
def _worker_signalled(state: State, e: WorkerSignalled) -> None:
    pass                                # an order to the worker, kept for the audit: no view changes


@_on(WorkerConcurrencyChanged)
def _concurrency(state: State, e: WorkerConcurrencyChanged) -> None:
    _worker(state, e.worker_id, e.ts).concurrency = e.concurrency


@_on(WorkerPrefetchChanged)
def _prefetch(state: State, e: WorkerPrefetchChanged) -> None:
    _worker(state, e.worker_id, e.ts).prefetch = e.prefetch


@_on(WorkerBatchChanged)
def _worker_batch(state: State, e: WorkerBatchChanged) -> None:
    _worker(state, e.worker_id, e.ts).batch = e.batch
    _charge(state, e.worker, e.batch, e.ts)


# --- batches -----------------------------------------------------------------------------------
@_on(BatchCreated)
def _batch_created(state: State, e: BatchCreated) -> None:
    state.batch(e.batch, e.ts)


@_on(BatchPaused)
def _batch_paused(state: State, e: BatchPaused) -> None:
    state.batch(e.batch, e.ts).paused = True
    state.dirty_batches.add(e.batch)


@_on(BatchResumed)
def _batch_resumed(state: State, e: BatchResumed) -> None:
    b = state.batch(e.batch, e.ts)
    b.paused = False
    state.dirty_batches.add(e.batch)


@_on(BatchDeleted)
def _batch_deleted(state: State, e: BatchDeleted) -> None:
    if state.batches.pop(e.batch, None) is not None:
        state.dirty_batches.add(e.batch)


# --- recruiters --------------------------------------------------------------------------------
@_on(RecruiterCreated)
def _recruiter_created(state: State, e: RecruiterCreated) -> None:
    key = (e.batch, e.rank)
    state.recruiters[key] = Recruiter(batch=e.batch, rank=e.rank, creation_date=e.ts, modification_date=e.ts,
                                      **{name: getattr(e, name) for name in RECRUITER_FIELDS})
    state.dirty_recruiters.add(key)


@_on(RecruiterUpdated)
def _recruiter_updated(state: State, e: RecruiterUpdated) -> None:
    rec = state.recruiters.get((e.batch, e.rank))
    if rec is None:
        return
    for name in RECRUITER_FIELDS:
        value = getattr(e, name)
        if value is not UNSET:
            setattr(rec, name, value)
    rec.modification_date = e.ts
    rec.deploy_wanted = False
    state.dirty_recruiters.add((e.batch, e.rank))


@_on(RecruiterDeleted)
def _recruiter_deleted(state: State, e: RecruiterDeleted) -> None:
    if state.recruiters.pop((e.batch, e.rank), None) is not None:
        state.dirty_recruiters.add((e.batch, e.rank))


@_on(RecruiterDeployWanted)
def _recruiter_deploy_wanted(state: State, e: RecruiterDeployWanted) -> None:
    rec = state.recruiters.get((e.batch, e.rank))
    if rec is not None:
        rec.deploy_wanted = True
        state.dirty_recruiters.add((e.batch, e.rank))


@_on(WorkerRecruited)
def _worker_recruited(state: State, e: WorkerRecruited) -> None:
    w = state.workers.get(e.worker_id)
    if w is None:
        return
    w = _worker(state, e.worker_id, e.ts)
    w.batch, w.concurrency, w.prefetch = e.batch, e.concurrency, e.prefetch
    if e.task_properties is not None:
        w.task_properties = dict(e.task_properties)
    _charge(state, e.worker, e.batch, e.ts)


# --- deploys (machines) and their costs ------------------------------------------------------------
def _deploy(state: State, worker: str, ts: float) -> Deploy | None:
    d = state.deploys.get(worker)
    if d is not None:
        d.modification_date = ts
        state.dirty_deploys.add(worker)
    return d


def _charge(state: State, worker: str, batch: str | None, ts: float) -> None:
    """Close the running machine's cost segment at `ts` (charged to its batch) and open one for `batch`
    (None: the machine stops costing)."""
    d = state.deploys.get(worker)
    if d is None or d.cost_since is None:
        return
    spent = max(0.0, ts - d.cost_since) * d.cost / 3600.0
    d.spent += spent
    if spent and d.cost_batch:
        state.batch_costs[d.cost_batch] = state.batch_costs.get(d.cost_batch, 0.0) + spent
        state.dirty_costs.add(d.cost_batch)
    d.cost_since = ts if batch is not None else None
    d.cost_batch = batch or d.cost_batch
    state.dirty_deploys.add(worker)


@_on(DeployRequested)
def _deploy_requested(state: State, e: DeployRequested) -> None:
    state.deploys[e.worker] = Deploy(worker=e.worker, status="requested", why=e.why, rank=e.rank, batch=e.batch,
                                     requested_date=e.ts, modification_date=e.ts, cost_batch=e.batch,
                                     **{n: getattr(e, n) for n in DEPLOY_FIELDS if n != "batch"})
    state.dirty_deploys.add(e.worker)


@_on(DeployStarted)
def _deploy_started(state: State, e: DeployStarted) -> None:
    d = _deploy(state, e.worker, e.ts)
    if d is not None and d.status in ("requested", "deploying"):
        d.status, d.attempts = "deploying", e.attempt


@_on(DeploySucceeded)
def _deploy_succeeded(state: State, e: DeploySucceeded) -> None:
    d = _deploy(state, e.worker, e.ts)
    if d is None:
        return
    d.instance, d.ipv4 = e.instance, e.ipv4
    if d.status in ("requested", "deploying"):
        d.status = "running"
    if d.running_date is None:
        d.running_date = d.cost_since = e.ts
        w = state.worker_by_name(e.worker)
        d.cost_batch = w.batch if w is not None else d.batch


@_on(DeployFailed)
def _deploy_failed(state: State, e: DeployFailed) -> None:
    d = _deploy(state, e.worker, e.ts)
    if d is not None:
        d.error_kind, d.error, d.attempts = e.kind, e.message, max(d.attempts, e.attempt)
        if e.final and d.status in ("requested", "deploying"):
            d.status, d.end_date = "failed", e.ts
    if e.final:      # auth, unsupported flavor: never again there; any other kind: not for a while
        where = (e.provider or (d.provider if d else ""), e.region or (d.region if d else ""),
                 e.flavor or (d.flavor if d else ""))
        state.unusable[where] = (e.kind, e.ts)


@_on(DestroyRequested)
def _destroy_requested(state: State, e: DestroyRequested) -> None:
    d = _deploy(state, e.worker, e.ts)
    if d is not None:
        d.status, d.destroy_why, d.destroy_reason = "destroying", e.why, e.reason


@_on(DestroyDone)
def _destroy_done(state: State, e: DestroyDone) -> None:
    _charge(state, e.worker, None, e.ts)
    d = _deploy(state, e.worker, e.ts)
    if d is not None:
        d.status, d.end_date = "destroyed", e.ts


@_on(WorkerEvicted)
def _worker_evicted(state: State, e: WorkerEvicted) -> None:
    if e.worker_id in state.workers:
        _worker(state, e.worker_id, e.ts).status = "evicted"


# --- the flavor catalog -----------------------------------------------------------------------
@_on(FlavorCatalogUpdated)
def _flavor_catalog_updated(state: State, e: FlavorCatalogUpdated) -> None:
    for region, name in e.removed:
        if state.flavors.pop((e.provider, region, name), None) is not None:
            state.dirty_flavors.add((e.provider, region, name))
    for row in e.upserted:
        key = (e.provider, row.region, row.name)
        state.flavors[key] = row
        state.dirty_flavors.add(key)
    for region in e.quotas_removed:
        if state.quotas.pop((e.provider, region), None) is not None:
            state.dirty_quotas.add((e.provider, region))
    for q in e.quotas:
        state.quotas[(e.provider, q.region)] = q
        state.dirty_quotas.add((e.provider, q.region))
