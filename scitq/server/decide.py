"""Provides `Decider`: the pure core of the server, turning commands and worker facts into events.

Each handler checks the request against the current State, then emits events; every emitted event
is folded into the State at once (so later decisions see it). No I/O happens here: the events and the
Redis writes the server must do besides them (`Effect`: queue entries, acks, orders to workers) go
into the current `Round`, which the server hands to its recorder.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

import msgspec

from scitq import keys
from scitq.checks import check_task_fields
from scitq.errors import BadInput, Conflict, NotFound
from scitq.events import base
from scitq.events import batch as eb
from scitq.events import commands as c
from scitq.events import execution as ee
from scitq.events import flavor as ef
from scitq.events import recruiter as er
from scitq.events import task as et
from scitq.events import worker as ew
from scitq.events.model import (
    ACTIVE_EXECUTION_STATUSES, ACTIVE_TASK_STATUSES, FINISHED_EXECUTION_STATUSES, FINISHED_TASK_STATUSES,
    LAUNCH_FIELDS, NOT_EDITABLE_STATUSES, RECRUITER_FIELDS, SUBMIT_STATUSES, TASK_STATUSES, USER_STATUSES,
    USER_WORKER_STATUSES, RecruiterFields, RunFields, TaskFields, TaskPatch, WorkerFields, filled, patch_changes,
)
from scitq.projections.catalog import check_flavor_rule
from scitq.projections.evolve import EDITABLE_FIELDS, evolve
from scitq.projections.state import Execution, State, Task, Worker
from scitq.server import recruit
from scitq.server.decide_cloud import CloudDecisions
from scitq.server.round import Effect, Round
from scitq.settings import DEFAULT_BATCH

__all__ = ["Decider", "Effect", "Round", "SUBMIT_STATUSES", "TASK_SIGNALS", "BATCH_STOP_SIGNALS",
           "BATCH_GO_SIGNALS"]

# Unix signals a user may send: to one running task, to the running tasks of a batch it stops
# (0: none; 19/20 pause them), to the paused tasks of a batch it resumes (18: SIGCONT)
TASK_SIGNALS = (2, 3, 9, 15, 18, 19, 20)
BATCH_STOP_SIGNALS = (0, 3, 9, 15, 19, 20)
BATCH_GO_SIGNALS = (0, 18)


def check_signal(signal: int, allowed: tuple[int, ...], what: str = "signal") -> None:
    if signal not in allowed:
        raise BadInput(f"{what} {signal} is not one of {', '.join(map(str, allowed))}")


def check_batch_name(batch: str) -> str:
    if not batch or "/" in batch or len(batch) > 200 or any(ch.isspace() for ch in batch):
        raise BadInput(f"bad batch name {batch!r}: it must be non-empty, without '/' or spaces")
    return batch


def check_user_status(status: str) -> None:
    if status not in TASK_STATUSES:
        raise BadInput(f"status {status!r} is not one of {', '.join(TASK_STATUSES)}")
    if status not in USER_STATUSES:
        raise BadInput(f"status {status!r} is set by the workers; set one of {', '.join(USER_STATUSES)}")


class Decider(CloudDecisions):
    """Decides on one input at a time; what it decides (events, effects) goes into `round`, the value
    the server commits (`begin` starts the next one). Machine decisions: `CloudDecisions`."""

    def __init__(self, state: State, max_deliveries: int = 5) -> None:
        self.state = state
        self.max_deliveries = max_deliveries
        self.round = Round()
        self.now = 0.0
        self._to_follow: deque[tuple[int, bool]] = deque()   # (task id, itself?) whose dependants to settle
        self._following = False
        self._done_upto: dict[int, int] = {}   # waiting task -> how many of its requirements are known done
        # (worker, task, attempt) the server believes held that the worker's last holding reports left
        # out, and how many times in a row (server memory only: a restart starts the count again)
        self.missing: dict[tuple[str, int, int], int] = {}
        self.told: set[tuple[str, int, int]] = set()   # stale attempts already recorded as such
        self._init_cloud()

    # --- plumbing ---------------------------------------------------------------------------
    def begin(self, now: float) -> Round:
        """Start a new round (the previous one is the caller's, committed or dropped)."""
        self.round = Round()
        self.now = now
        return self.round

    def reset(self, state: State) -> None:
        """Decide from now on against `state` (reloaded from the ledger)."""
        self.state = state
        self._done_upto.clear()

    def emit(self, event: base.Event) -> None:
        event = msgspec.structs.replace(event, ts=self.now)
        evolve(self.state, event)
        self.round.events.append(event)
        follow = _FOLLOWED.get(type(event))
        if follow is not None:
            todo = follow(event)
            if todo:
                self._to_follow.extend((event.task_id, itself) for itself in todo)
                if not self._following:
                    self._settle_dependants()

    @property
    def events(self) -> list[base.Event]:
        """The events decided so far in this round."""
        return self.round.events

    @property
    def effects(self) -> list[Effect]:
        return self.round.effects

    def effect(self, kind: Any, target: str, fields: dict[str, str] | None = None) -> None:
        self.round.effects.append(Effect(kind, target, fields or {}))

    def take(self) -> tuple[list[base.Event], list[Effect]]:
        """The events and effects decided so far (a fresh round starts)."""
        rnd = self.round
        self.round = Round()
        return rnd.events, rnd.effects

    def control(self, worker: str | None, op: str, **fields: Any) -> None:
        if worker:
            self.effect("control", worker, {"op": op, **{k: str(v) for k, v in fields.items()}})

    def _task(self, task_id: int) -> Task:
        t = self.state.tasks.get(task_id)
        if t is None:
            raise NotFound(f"no task {task_id}")
        return t

    def _worker(self, worker_id: int) -> Worker:
        w = self.state.workers.get(worker_id)
        if w is None:
            raise NotFound(f"no worker {worker_id}")
        return w

    def _batch_exists(self, batch: str) -> None:
        if batch not in self.state.batches:
            raise NotFound(f"no batch {batch!r}")

    def _batch_declared(self, batch: str) -> None:
        """A batch named before any of its tasks exists (stop/go) is created empty."""
        if batch not in self.state.batches:
            self.emit(eb.BatchCreated(batch=check_batch_name(batch)))

    # --- commands -----------------------------------------------------------------------------
    def command(self, tag: str, cmd: Any) -> Any:
        handler = getattr(self, "cmd_" + tag.replace(".", "_"), None)
        if handler is None:
            raise BadInput(f"command {tag!r} is not handled here")
        return handler(cmd)

    def cmd_task_submit(self, cmd: c.SubmitTasks) -> dict:
        if not cmd.tasks:
            raise BadInput("no task given")
        prepared = []
        known_new: set[int] = set()
        next_id = self.state.next_task_id
        for i, spec in enumerate(cmd.tasks):
            where = f"task #{i + 1}: " if len(cmd.tasks) > 1 else ""
            batch = check_batch_name(spec.batch or DEFAULT_BATCH) if spec.batch != "" else DEFAULT_BATCH
            values = filled(spec, TaskFields)
            status = spec.status or ("waiting" if values["required_task_ids"] else "pending")
            if status not in SUBMIT_STATUSES:
                raise BadInput(f"{where}status {status!r} is not one of {', '.join(SUBMIT_STATUSES)}")
            for req in values["required_task_ids"]:
                if req not in self.state.tasks and req not in known_new:
                    raise BadInput(f"{where}required task {req} does not exist")
            if values["container_options"] and not values["container"]:
                raise BadInput(f"{where}container_options given without a container")
            check_task_fields(values, where)
            tid = next_id + len(prepared)
            known_new.add(tid)
            prepared.append((tid, batch, status, values))
        for tid, batch, status, values in prepared:
            if batch not in self.state.batches:
                self.emit(eb.BatchCreated(batch=batch))
            if status == "waiting" and all(self._succeeded(r) for r in values["required_task_ids"]):
                status = "pending"
            self.emit(et.TaskSubmitted(task_id=tid, batch=batch, status=status, **values))
        return {"task_ids": [p[0] for p in prepared]}

    def _succeeded(self, task_id: int) -> bool:
        t = self.state.tasks.get(task_id)
        return t is not None and t.status == "succeeded"

    def cmd_task_update(self, cmd: c.UpdateTask) -> dict:
        t = self._task(cmd.task_id)
        try:
            patch = msgspec.convert(cmd.changes, TaskPatch)
        except msgspec.ValidationError as exc:
            raise BadInput(f"bad change to task {t.task_id}: {exc}") from None
        changes = patch_changes(patch, TaskFields)
        status = changes.pop("status", None)
        if status is not None:
            check_user_status(status)
        if "batch" in changes:
            changes["batch"] = check_batch_name(changes["batch"] or DEFAULT_BATCH)
        for req in changes.get("required_task_ids") or []:
            if req not in self.state.tasks:
                raise BadInput(f"required task {req} does not exist")
        if "command" in changes and changes["command"] is None:
            raise BadInput(f"bad change to task {t.task_id}: a task needs a command")
        if changes and t.status in NOT_EDITABLE_STATUSES and status != "pending":
            raise Conflict(f"task {t.task_id} is {t.status}: only a task not yet started or already finished "
                           f"can be edited",
                           hint="relaunch it with the change (status pending) to run it again")
        check_task_fields(changes)
        changes = {k: v for k, v in changes.items() if k in EDITABLE_FIELDS and getattr(t, k) != v}
        if "batch" in changes and changes["batch"] not in self.state.batches:
            self.emit(eb.BatchCreated(batch=changes["batch"]))
        if "batch" in changes:
            self._leave_batch(t, changes["batch"])
        if changes:
            self.emit(et.TaskUpdated(task_id=t.task_id, batch=t.batch, changes=changes))
        if status is not None:
            self._set_status(t, status, None)
        return {"task_id": t.task_id, "changed": sorted(changes) + (["status"] if status else [])}

    def _leave_batch(self, t: Task, batch: str) -> None:
        """`t` moves to `batch`: its entry in the old batch's queue, or its attempt held (not started) by
        a worker of the old batch, is withdrawn; a running attempt goes on where it runs."""
        if t.queued:
            self.emit(et.TaskRequeued(task_id=t.task_id, batch=t.batch, attempt=t.attempt,
                                      reason=f"moved to batch {batch}"))
        elif t.status in ("assigned", "accepted"):
            self._withdraw_held(t, f"moved to batch {batch}")

    def _withdraw_held(self, t: Task, reason: str) -> None:
        """Take back an attempt a worker holds but has not started: the worker is told to drop it."""
        ex = self._live_execution(t)
        if ex is not None:
            self.control(ex.worker, "cancel", task=t.task_id, attempt=ex.attempt)
        self._requeue(t, reason)

    def cmd_task_delete(self, cmd: c.TaskIds) -> dict:
        tasks = [self._task(tid) for tid in cmd.task_ids]
        for t in tasks:
            self._delete_task(t)
        return {"deleted": [t.task_id for t in tasks]}

    def _delete_task(self, t: Task) -> None:
        self._supersede(t, "task deleted")
        if t.attempt:   # every attempt's packed output, and the live streams of the executions known
            streams = [ex.stream for e in self.state.task_executions.get(t.task_id, [])
                       if (ex := self.state.executions.get(e)) is not None and ex.stream]
            self.effect("drop_outputs", t.batch, {"task": str(t.task_id), "attempts": str(t.attempt),
                                                  "streams": "\n".join(streams)})
        self.emit(et.TaskDeleted(task_id=t.task_id, batch=t.batch))

    def _supersede(self, t: Task, reason: str, failed: bool = True) -> None:
        """End the active attempt of `t` (if any): the worker is told to stop it."""
        ex = self.state.current_execution(t)
        if t.status in ACTIVE_TASK_STATUSES and ex is not None and ex.status in ACTIVE_EXECUTION_STATUSES:
            self.control(ex.worker, "cancel", task=t.task_id, attempt=ex.attempt)
            self.emit(ee.ExecutionRefused(execution_id=ex.execution_id, task_id=t.task_id, batch=t.batch,
                                          reason=reason, failed=failed and ex.status == "running"))

    def _live_execution(self, t: Task) -> Execution | None:
        ex = self.state.current_execution(t)
        if t.worker and ex is not None and ex.worker == t.worker and ex.status in ACTIVE_EXECUTION_STATUSES:
            return ex
        return None

    def _pause_task(self, t: Task) -> None:
        """v1 pause: a running task gets SIGTSTP and keeps its worker; a waiting one just waits."""
        ex = self._live_execution(t)
        if ex is not None and ex.status == "running":
            self.control(t.worker, "signal", task=t.task_id, attempt=ex.attempt, signal=20)
        self.emit(et.TaskStatusSet(task_id=t.task_id, batch=t.batch, status="paused", previous=t.status))

    def _resume_task(self, t: Task) -> None:
        ex = self._live_execution(t)
        if ex is None:
            self.emit(et.TaskStatusSet(task_id=t.task_id, batch=t.batch, status="pending", previous=t.status))
            return
        if ex.status == "running":
            self.control(t.worker, "signal", task=t.task_id, attempt=ex.attempt, signal=18)
            status = "running"
        else:
            status = "accepted" if ex.status == "accepted" else "assigned"
        self.emit(et.TaskStatusSet(task_id=t.task_id, batch=t.batch, status=status, previous="paused"))

    def _set_status(self, t: Task, status: str, retry: int | None) -> None:
        if status == "paused":
            if t.status not in ("paused", "succeeded", "failed"):
                self._pause_task(t)
            return
        if t.status == "paused" and status in ("pending", "running") and retry is None:
            self._resume_task(t)
            return
        if status == "failed" and (retry if retry is not None else t.retry) > 0:
            status, retry = "pending", (retry if retry is not None else t.retry) - 1
        if status == t.status and retry is None:
            return
        self._supersede(t, f"status set to {status}")
        self.emit(et.TaskStatusSet(task_id=t.task_id, batch=t.batch, status=status, previous=t.status, retry=retry))

    def cmd_task_relaunch(self, cmd: c.TaskIds) -> dict:
        tasks = [self._task(tid) for tid in cmd.task_ids]
        already = []
        for t in tasks:
            if t.status == "pending":
                already.append(t.task_id)
                continue
            self._set_status(t, "pending", None)
        return {"relaunched": [t.task_id for t in tasks if t.task_id not in already], "already_queued": already}

    def cmd_task_set_status(self, cmd: c.SetStatus) -> dict:
        t = self._task(cmd.task_id)
        check_user_status(cmd.status)
        self._set_status(t, cmd.status, cmd.retry)
        return {"task_id": t.task_id, "status": t.status}

    def cmd_task_signal(self, cmd: c.SignalTask) -> dict:
        t = self._task(cmd.task_id)
        check_signal(cmd.signal, TASK_SIGNALS)
        if t.status != "running":
            raise Conflict(f"task {t.task_id} is {t.status}, not running: no process to signal")
        self.control(t.worker, "signal", task=t.task_id, attempt=t.attempt, signal=cmd.signal)
        self.emit(et.TaskSignalled(task_id=t.task_id, batch=t.batch, signal=cmd.signal, worker=t.worker))
        return {"task_id": t.task_id, "signal": cmd.signal}

    def _signal_batch(self, batch: str, signal: int) -> int:
        n = 0
        if signal:
            for t in self.state.tasks.values():
                if t.batch == batch and t.status == "running":
                    self.control(t.worker, "signal", task=t.task_id, attempt=t.attempt, signal=signal)
                    n += 1
        return n

    def cmd_batch_stop(self, cmd: c.BatchCmd) -> dict:
        check_signal(cmd.signal, BATCH_STOP_SIGNALS)
        self._batch_declared(cmd.batch)   # v1 habit: pause first, then queue; later tasks of it wait
        b = self.state.batches[cmd.batch]
        if not b.paused:
            self.emit(eb.BatchPaused(batch=cmd.batch, signal=cmd.signal))
        withdrawn = self._withdraw_queued(cmd.batch, "batch paused")
        if cmd.signal in (19, 20):   # v1 "complete pause": running tasks are paused too
            running = [t for t in self.state.tasks.values() if t.batch == cmd.batch and t.status == "running"]
            for t in running:
                self._pause_task(t)
            return {"batch": cmd.batch, "signalled": len(running), "withdrawn": withdrawn}
        return {"batch": cmd.batch, "signalled": self._signal_batch(cmd.batch, cmd.signal), "withdrawn": withdrawn}

    def _withdraw_queued(self, batch: str, reason: str) -> int:
        queued = [t for t in self.state.tasks.values() if t.batch == batch and t.queued]
        for t in queued:
            self.emit(et.TaskRequeued(task_id=t.task_id, batch=t.batch, attempt=t.attempt, reason=reason))
        self.effect("purge", batch)
        return len(queued)

    def cmd_batch_go(self, cmd: c.BatchCmd) -> dict:
        check_signal(cmd.signal, BATCH_GO_SIGNALS)
        self._batch_declared(cmd.batch)
        if self.state.batches[cmd.batch].paused:
            self.emit(eb.BatchResumed(batch=cmd.batch, signal=cmd.signal))
        if cmd.signal == 18:
            paused = [t for t in self.state.tasks.values() if t.batch == cmd.batch and t.status == "paused"
                      and self._live_execution(t) is not None]
            for t in paused:
                self._resume_task(t)
        return {"batch": cmd.batch, "signalled": self._signal_batch(cmd.batch, cmd.signal)}

    def cmd_batch_delete(self, cmd: c.BatchCmd) -> dict:
        recruiters = sorted(k for k in self.state.recruiters if k[0] == cmd.batch)
        for batch, rank in recruiters:          # v1: deleting a batch deletes its recruiters
            self.emit(er.RecruiterDeleted(batch=batch, rank=rank, reason="batch deleted"))
        if recruiters and cmd.batch not in self.state.batches:
            return {"batch": cmd.batch, "deleted_tasks": 0}
        self._batch_exists(cmd.batch)
        tasks = [t for t in self.state.tasks.values() if t.batch == cmd.batch]
        for t in tasks:
            self._delete_task(t)
        self.emit(eb.BatchDeleted(batch=cmd.batch))
        self.effect("purge", cmd.batch)
        return {"batch": cmd.batch, "deleted_tasks": len(tasks)}

    def cmd_batch_relaunch_failed(self, cmd: c.BatchCmd) -> dict:
        self._batch_exists(cmd.batch)
        failed = [t for t in self.state.tasks.values() if t.batch == cmd.batch and t.status == "failed"]
        for t in failed:
            self._set_status(t, "pending", None)
        return {"batch": cmd.batch, "relaunched": [t.task_id for t in failed]}

    # --- workers ------------------------------------------------------------------------------
    def cmd_worker_register(self, cmd: c.RegisterWorker) -> dict:
        if cmd.status not in USER_WORKER_STATUSES:
            raise BadInput(f"worker status {cmd.status!r} must be running or paused")
        described = filled(cmd, WorkerFields)
        described["batch"] = check_batch_name(cmd.batch or DEFAULT_BATCH)
        if cmd.name in self.state.deploys and self.state.deploys[cmd.name].status != "destroyed":
            described["permanent"] = False     # a machine scitq deployed: released when idle
        w = self.state.worker_by_name(cmd.name)
        if w is None:
            wid = self.state.next_worker_id
            self.emit(ew.WorkerRegistered(worker_id=wid, worker=cmd.name, status=cmd.status,
                                          incarnation=cmd.incarnation, **described))
            w = self.state.workers[wid]
        else:
            if w.incarnation != cmd.incarnation:
                held = {(t, a) for t, a in cmd.held}
                for tid in sorted(w.held):
                    t = self.state.tasks.get(tid)
                    if t is not None and (tid, t.attempt) not in held:
                        self._requeue(t, "worker restarted without it")
                for tid, attempt in sorted(held):   # re-attached, but superseded meanwhile: stop it
                    t = self.state.tasks.get(tid)
                    if t is None or tid not in w.held or t.attempt != attempt:
                        self.control(w.name, "cancel", task=tid, attempt=attempt)
            # v1: a worker coming back adopts the server's concurrency/prefetch/batch (and what users
            # set: flavor, permanent, task_properties); its hostname is its own
            status = cmd.status if w.status in ("offline", "running", "paused") else w.status
            kept = {name: getattr(w, name) for name in described}
            kept["hostname"] = described["hostname"]
            self.emit(ew.WorkerRegistered(worker_id=w.worker_id, worker=w.name, status=status,
                                          incarnation=cmd.incarnation, reattached=True, **kept))
        return {"worker_id": w.worker_id, "concurrency": w.concurrency, "prefetch": w.prefetch,
                "batch": w.batch, "status": w.status}

    def _requeue(self, t: Task, reason: str) -> None:
        ex = self.state.current_execution(t)
        if ex is not None and ex.status in ACTIVE_EXECUTION_STATUSES:
            self.emit(ee.ExecutionRefused(execution_id=ex.execution_id, task_id=t.task_id, batch=t.batch,
                                          reason=reason, failed=ex.status == "running"))
        self.emit(et.TaskRequeued(task_id=t.task_id, batch=t.batch, attempt=t.attempt, reason=reason,
                                  worker=ex.worker if ex else None))

    def cmd_worker_update(self, cmd: c.UpdateWorker) -> dict:
        w = self._worker(cmd.worker_id)
        if cmd.status == "evicted":          # v1 §4.7: the worker says its spot machine is taken back
            return self.evict(w)
        changes = patch_changes(cmd, WorkerFields, null="unset")
        changes.pop("worker_id")
        status = changes.pop("status", None)
        if status is not None and status not in USER_WORKER_STATUSES:
            raise BadInput(f"worker status {status!r} must be running or paused")
        if "batch" in changes:
            changes["batch"] = check_batch_name(changes["batch"] or DEFAULT_BATCH)
        name = changes.pop("name", None)
        if name is not None and name != w.name:
            if name in self.state.worker_ids:
                raise Conflict(f"there is already a worker named {name!r}")
            if w.status != "offline" or w.held:
                raise Conflict(f"worker {w.name} is {w.status}: a worker is renamed while it is offline "
                               f"and holds no task", hint="its process reports under its name: stop it first")
        else:
            name = None
        concurrency, prefetch, batch = (changes.pop(k, None) for k in ("concurrency", "prefetch", "batch"))
        if concurrency is not None and concurrency != w.concurrency:
            self.emit(ew.WorkerConcurrencyChanged(worker_id=w.worker_id, worker=w.name, concurrency=concurrency))
        if prefetch is not None and prefetch != w.prefetch:
            self.emit(ew.WorkerPrefetchChanged(worker_id=w.worker_id, worker=w.name, prefetch=prefetch))
        if batch is not None and batch != w.batch:
            self.emit(ew.WorkerBatchChanged(worker_id=w.worker_id, worker=w.name, batch=batch))
            for tid in sorted(w.held):     # prefetched for the old batch: another worker of it takes them
                t = self.state.tasks.get(tid)
                if t is not None and t.status in ("assigned", "accepted") and t.batch != batch:
                    self._withdraw_held(t, f"worker {w.name} moved to batch {batch}")
        described = {k: v for k, v in changes.items() if getattr(w, k) != v}
        if described or name is not None:
            self.emit(ew.WorkerUpdated(worker_id=w.worker_id, worker=w.name, **described,
                                       **({"name": name} if name is not None else {})))
        if status == "paused" and w.status != "paused":
            self.emit(ew.WorkerPaused(worker_id=w.worker_id, worker=w.name))
        elif status == "running" and w.status != "running":
            self.emit(ew.WorkerResumed(worker_id=w.worker_id, worker=w.name))
        return {"worker_id": w.worker_id}

    def cmd_worker_delete(self, cmd: c.WorkerId) -> dict:
        w = self._worker(cmd.worker_id)
        for tid in sorted(w.held):
            t = self.state.tasks.get(tid)
            if t is not None:
                self.control(w.name, "cancel", task=t.task_id, attempt=t.attempt)
                self._requeue(t, "worker deleted")
        self.emit(ew.WorkerDeleted(worker_id=w.worker_id, worker=w.name))
        destroying = self.destroy(w.name, "deleted", f"worker {w.name} deleted by a user")
        return {"worker_id": w.worker_id, **({"destroying": True} if destroying else {})}

    def cmd_worker_signal(self, cmd: c.SignalWorker) -> dict:
        w = self._worker(cmd.worker_id)
        if cmd.signal not in ew.WORKER_SIGNALS:
            raise BadInput(f"worker signal {cmd.signal} is not one of -1 (clean), -2 (restart), "
                           f"-3 (reset resources)")
        if w.status == "offline":
            raise Conflict(f"worker {w.name} is offline: it would not see the order")
        self.control(w.name, "worker", signal=cmd.signal)
        self.emit(ew.WorkerSignalled(worker_id=w.worker_id, worker=w.name, signal=cmd.signal))
        return {"worker_id": w.worker_id, "signal": cmd.signal}

    # --- recruiters ----------------------------------------------------------------------------
    def _recruiter_values(self, values: dict[str, Any], where: str) -> dict[str, Any]:
        for name in ("worker_flavor", "worker_region", "worker_provider"):
            v = values.get(name)
            if v is not None and (not v.strip() or any(ch.isspace() for ch in v)):
                raise BadInput(f"recruiter {where}: {name} {v!r} must be a name without spaces")
        check_flavor_rule(values.get("worker_flavor"), f"recruiter {where}: worker_flavor")
        return values

    def cmd_recruiter_create(self, cmd: c.CreateRecruiter) -> dict:
        check_batch_name(cmd.batch)
        where = f"{cmd.batch}/{cmd.rank}"
        values = self._recruiter_values(filled(cmd, RecruiterFields), where)
        replaced = (cmd.batch, cmd.rank) in self.state.recruiters
        self.emit(er.RecruiterCreated(batch=cmd.batch, rank=cmd.rank, replaced=replaced, **values))
        return {"batch": cmd.batch, "rank": cmd.rank, "replaced": replaced}

    def _recruiter(self, batch: str, rank: int) -> Any:
        rec = self.state.recruiters.get((batch, rank))
        if rec is None:
            raise NotFound(f"no recruiter of batch {batch!r} with rank {rank}")
        return rec

    def cmd_recruiter_update(self, cmd: c.UpdateRecruiter) -> dict:
        rec = self._recruiter(cmd.batch, cmd.rank)
        changes = patch_changes(cmd, RecruiterFields, null="default")
        changes = {k: v for k, v in changes.items() if k in RECRUITER_FIELDS}
        for name in ("tasks_per_worker", "worker_flavor", "worker_concurrency"):
            if name in changes and changes[name] is None:
                raise BadInput(f"recruiter {cmd.batch}/{cmd.rank}: {name} cannot be cleared")
        self._recruiter_values(changes, f"{cmd.batch}/{cmd.rank}")
        changes = {k: v for k, v in changes.items() if getattr(rec, k) != v}
        if changes:
            self.emit(er.RecruiterUpdated(batch=cmd.batch, rank=cmd.rank, **changes))
        return {"batch": cmd.batch, "rank": cmd.rank, "changed": sorted(changes)}

    def cmd_recruiter_delete(self, cmd: c.RecruiterKey) -> dict:
        self._recruiter(cmd.batch, cmd.rank)
        self.emit(er.RecruiterDeleted(batch=cmd.batch, rank=cmd.rank))
        return {"batch": cmd.batch, "rank": cmd.rank}

    # --- the flavor catalog ------------------------------------------------------------------------
    def cmd_flavor_update_catalog(self, cmd: c.UpdateFlavorCatalog) -> dict:
        """Record what changed in a provider's catalog (one event, none if nothing changed); the answer
        lists the changes for the updater to print (v1: added, changed with old -> new, removed)."""
        provider = cmd.provider
        regions = set(cmd.regions)
        new: dict[tuple[str, str], Any] = {}
        for row in cmd.flavors:
            if row.provider != provider:
                raise BadInput(f"flavor {row.name} of region {row.region} is of provider {row.provider!r}, "
                               f"not {provider!r}")
            if regions and row.region not in regions:
                raise BadInput(f"flavor {row.name} is in region {row.region!r}, not one of the regions updated")
            if set(row.tags) - set("GMN"):
                raise BadInput(f"flavor {row.name}: tags {row.tags!r} are not letters of GMN")
            new[(row.region, row.name)] = row
        old = {(r, n): row for (p, r, n), row in self.state.flavors.items()
               if p == provider and (not regions or r in regions)}
        added = [new[k] for k in sorted(new) if k not in old]
        changed = [(old[k], new[k]) for k in sorted(new) if k in old and old[k] != new[k]]
        removed = sorted(k for k in old if k not in new)
        new_q = {q.region: q for q in cmd.quotas if q.provider == provider}
        old_q = {r: q for (p, r), q in self.state.quotas.items() if p == provider and (not regions or r in regions)}
        quotas = [q for r, q in sorted(new_q.items()) if old_q.get(r) != q]
        quotas_removed = sorted(r for r in old_q if r not in new_q)
        if added or changed or removed or quotas or quotas_removed:
            self.emit(ef.FlavorCatalogUpdated(provider=provider, upserted=added + [n for _, n in changed],
                                              removed=removed, quotas=quotas, quotas_removed=quotas_removed))

        def diff(a: Any, b: Any) -> dict[str, list[Any]]:
            return {f: [getattr(a, f), getattr(b, f)] for f in a.__struct_fields__ if getattr(a, f) != getattr(b, f)}

        return {"provider": provider, "flavors": len(new),
                "added": [f"{r.region}/{r.name}" for r in added],
                "changed": {f"{b.region}/{b.name}": diff(a, b) for a, b in changed},
                "removed": [f"{r}/{n}" for r, n in removed],
                "quotas": {q.region: q.cpu_limit for q in quotas}, "quotas_removed": quotas_removed}

    def recruit(self) -> int:
        """Run the recruiting policy (`scitq.server.recruit.plan`) and record its decisions; returns the
        number of workers moved."""
        moved = 0
        for d in recruit.plan(self.state, self.now):
            if isinstance(d, recruit.Recycle):
                self.emit(er.WorkerRecruited(batch=d.batch, rank=d.rank, worker_id=d.worker_id, worker=d.worker,
                                             previous_batch=d.previous_batch, concurrency=d.concurrency,
                                             prefetch=d.prefetch, reason=d.reason,
                                             task_properties=d.task_properties))
                moved += 1
            elif isinstance(d, recruit.Deploy):
                self.recruit_deploy(d)
            else:
                self.recruit_wanted(d)
        return moved

    # --- facts from workers -------------------------------------------------------------------
    def fact(self, worker_name: str, tag: str, f: c.Fact | c.Holding, incarnation: str = "",
             delivered: bool = True) -> None:
        """Apply one report of `worker_name`; `delivered`: a claim's queue entry is pending for that worker
        in the consumer group (the control plane asks Valkey; a worker acknowledges nothing itself)."""
        if isinstance(f, c.Holding):
            self.holding(worker_name, f, incarnation)
            return
        if isinstance(f, c.Evicted):
            ev = self.state.worker_by_name(worker_name)
            if ev is not None and ev.status != "evicted" and not (incarnation and ev.incarnation
                                                                  and incarnation != ev.incarnation):
                self.evict(ev)
            return
        w = self.state.worker_by_name(worker_name)
        t = self.state.tasks.get(f.task_id)
        if isinstance(f, (c.Claimed, c.Started)) and f.entry:   # a claim, or a start that is also the claim
            if delivered:   # applied or not, the entry has been dealt with
                self.effect("ack", f.queue, {"id": f.entry})
            elif w is None or t is None or not self._mine(w, t, f):   # (else a duplicate: the entry is gone)
                self.emit(ee.ReportRejected(worker=worker_name, fact=tag, task_id=f.task_id, attempt=f.attempt,
                                            reason=f"queue entry {f.entry} of batch {f.queue} was not given "
                                                   f"to this worker"))
                if w is not None:
                    self.control(worker_name, "cancel", task=f.task_id, attempt=f.attempt)
                return
        reason = None
        if w is None:
            reason = "unknown worker"
        elif t is None:
            reason = "unknown or deleted task"
        elif incarnation and w.incarnation and incarnation != w.incarnation:
            # sent by a previous run of this worker (its spool, replayed after a restart): the
            # current run does not hold that attempt, so it cannot be trusted with it
            if (tag == "claimed" or getattr(f, "entry", "")) and t.queued and t.attempt == f.attempt \
                    and t.status == "pending":
                self.emit(et.TaskRequeued(task_id=t.task_id, batch=t.batch, attempt=t.attempt,
                                          reason="claimed by a previous run of the worker", worker=worker_name))
                return
            self.emit(ee.ReportRejected(worker=worker_name, fact=tag, task_id=f.task_id, attempt=f.attempt,
                                        reason="report from a previous run of the worker"))
            if tag != "finished" and tag != "handback":
                self.control(worker_name, "cancel", task=f.task_id, attempt=f.attempt)
            return
        if reason is None:
            reason = getattr(self, "fact_" + tag)(w, t, f)
        if reason:
            self.emit(ee.ReportRejected(worker=worker_name, fact=tag, task_id=f.task_id, attempt=f.attempt,
                                        reason=reason))
            if tag != "finished" and tag != "handback":
                self.control(worker_name, "cancel", task=f.task_id, attempt=f.attempt)

    # the server requeues an attempt left out of this many holding reports in a row (one would do, as the
    # report follows the claims it covers; the second is a margin of one heartbeat)
    HOLDING_MISSES = 2

    def holding(self, worker_name: str, f: c.Holding, incarnation: str = "") -> None:
        """Reconcile what `worker_name` says it holds with what the server believes it holds: an attempt it
        runs but should not is ordered stopped; one it should hold but does not is requeued."""
        w = self.state.worker_by_name(worker_name)
        if w is None or (incarnation and w.incarnation and incarnation != w.incarnation):
            return                      # a previous run's report: its registration settled what it held
        reported = {(tid, attempt) for tid, attempt in f.held}
        for tid, attempt in sorted(reported):
            t = self.state.tasks.get(tid)
            if t is not None and tid in w.held and t.attempt == attempt:
                continue
            self.control(w.name, "cancel", task=tid, attempt=attempt)
            if (w.name, tid, attempt) not in self.told:
                self.told.add((w.name, tid, attempt))
                self.emit(ee.ReportRejected(worker=w.name, fact="holding", task_id=tid, attempt=attempt,
                                            reason="the worker holds an attempt that is not its own: stop it"))
        for key in [k for k in self.told if k[0] == w.name and (k[1], k[2]) not in reported]:
            self.told.discard(key)
        for tid in sorted(w.held):
            t = self.state.tasks.get(tid)
            if t is None:
                continue
            key = (w.name, tid, t.attempt)
            if (tid, t.attempt) in reported:
                self.missing.pop(key, None)
                continue
            misses = self.missing.get(key, 0) + 1
            if misses < self.HOLDING_MISSES:
                self.missing[key] = misses
                continue
            self.missing.pop(key, None)
            self.control(w.name, "cancel", task=tid, attempt=t.attempt)
            self._requeue(t, "the worker does not hold it (heartbeat)")
        for key in [k for k in self.missing if k[0] == w.name and k[1] not in w.held]:
            del self.missing[key]

    def _mine(self, w: Worker, t: Task, f: c.Fact) -> bool:
        return t.attempt == f.attempt and t.worker == w.name and (t.status in ACTIVE_TASK_STATUSES
                                                                  or t.status == "paused")

    @staticmethod
    def _superseded(t: Task, f: c.Fact) -> str:
        return f"attempt {f.attempt} was superseded (task is {t.status}, attempt {t.attempt})"

    def fact_claimed(self, w: Worker, t: Task, f: c.Claimed) -> str | None:
        if self._mine(w, t, f):
            return None  # duplicate report: already applied
        if not (t.queued and t.attempt == f.attempt and t.status == "pending"):
            return f"attempt {f.attempt} is not on offer (task is {t.status}, attempt {t.attempt})"
        self.emit(ee.ExecutionClaimed(execution_id=self.state.next_execution_id, task_id=t.task_id, batch=t.batch,
                                      attempt=f.attempt, worker=w.name, worker_id=w.worker_id))
        return None

    def fact_accepted(self, w: Worker, t: Task, f: c.Accepted) -> str | None:
        if not self._mine(w, t, f):
            return self._superseded(t, f)
        ex = self.state.current_execution(t)
        if ex is not None and ex.status == "pending":
            self.emit(ee.ExecutionAccepted(execution_id=t.execution_id, task_id=t.task_id, batch=t.batch,
                                           worker=w.name))
        return None

    def fact_started(self, w: Worker, t: Task, f: c.Started) -> str | None:
        launch = {name: getattr(f, name) for name in LAUNCH_FIELDS}
        if f.entry and not self._mine(w, t, f):   # the claim and the start at once: one fact
            if not (t.queued and t.attempt == f.attempt and t.status == "pending"):
                return f"attempt {f.attempt} is not on offer (task is {t.status}, attempt {t.attempt})"
            self.emit(ee.ExecutionStarted(execution_id=self.state.next_execution_id, task_id=t.task_id,
                                          batch=t.batch, worker=w.name, attempt=f.attempt, worker_id=w.worker_id,
                                          **launch))
            return None
        if not self._mine(w, t, f):
            return self._superseded(t, f)
        ex = self.state.current_execution(t)
        if ex is not None and ex.status == "running":
            return None
        if t.status == "paused":   # paused while it was starting: stop it at once
            self.control(w.name, "signal", task=t.task_id, attempt=f.attempt, signal=20)
        # the output stream is implied (execution.started version 3): no execution.output_opened
        self.emit(ee.ExecutionStarted(execution_id=t.execution_id, task_id=t.task_id, batch=t.batch, worker=w.name,
                                      **launch))
        return None

    def _output_of_unstarted(self, w: Worker, t: Task, ex: Any, f: c.Finished) -> None:
        """An attempt that ends without having started (a failed download, a cached result) still wrote its
        output (the error, `Cached from execution N`) in the worker's key: record where."""
        if not ex.stream:
            self.emit(ee.ExecutionOutputOpened(execution_id=ex.execution_id, task_id=t.task_id, batch=t.batch,
                                               stream=keys.worker_output(w.name, t.task_id, f.attempt)))

    def fact_finished(self, w: Worker, t: Task, f: c.Finished) -> str | None:
        ex = self.state.current_execution(t)
        if ex is not None and ex.attempt == f.attempt and ex.worker == w.name and ex.status in FINISHED_EXECUTION_STATUSES \
                and ex.return_code == f.return_code:
            return None  # duplicate
        if ex is not None and f.cached_from is not None and ex.cached_from == f.cached_from \
                and ex.attempt == f.attempt:
            return None  # duplicate of a cached end
        if not self._mine(w, t, f):
            return self._superseded(t, f)
        assert ex is not None
        # the worker sends its last output before this report: the attempt's output can be packed
        self.effect("pack", t.batch, {"task": str(t.task_id), "attempt": str(f.attempt),
                                      "stream": ex.stream or keys.output(t.task_id, f.attempt)})
        if f.cached_from is not None:
            if f.return_code == 0 and t.use_cache:
                self._output_of_unstarted(w, t, ex, f)
                self.emit(ee.ExecutionCached(execution_id=ex.execution_id, task_id=t.task_id, batch=t.batch,
                                             cached_from=f.cached_from, input_hash=f.input_hash,
                                             output_files=f.output_files))
                self.emit(et.TaskSucceeded(task_id=t.task_id, batch=t.batch, execution_id=ex.execution_id))
                return None
            return f"a cached result needs use_cache and a return code of 0 (task {t.task_id})"
        self._output_of_unstarted(w, t, ex, f)
        if f.timed_out:
            self.emit(et.TaskTimedOut(task_id=t.task_id, batch=t.batch, execution_id=ex.execution_id, kind="run"))
        self.emit(ee.ExecutionFinished(execution_id=ex.execution_id, task_id=t.task_id, batch=t.batch,
                                       worker=w.name, return_code=f.return_code, output_files=f.output_files,
                                       input_hash=f.input_hash, output_listing=f.output_listing))
        if f.return_code == 0:
            self.emit(et.TaskSucceeded(task_id=t.task_id, batch=t.batch, execution_id=ex.execution_id))
        elif t.retry > 0:
            self.emit(et.TaskRetried(task_id=t.task_id, batch=t.batch, retry=t.retry - 1))
        else:
            self.emit(et.TaskFailed(task_id=t.task_id, batch=t.batch, execution_id=ex.execution_id,
                                    return_code=f.return_code))
        return None

    def fact_handback(self, w: Worker, t: Task, f: c.HandBack) -> str | None:
        if not self._mine(w, t, f):
            if t.queued and t.attempt == f.attempt:   # handed back before its claim was applied
                self.emit(et.TaskRequeued(task_id=t.task_id, batch=t.batch, attempt=t.attempt,
                                          reason=f.reason or "handed back", worker=w.name))
                return None
            return self._superseded(t, f)
        self._requeue(t, f.reason or "handed back by the worker")
        return None

    # --- dependencies: waiting -> pending | blocked, blocked -> waiting -----------------------------
    def _verdict(self, d: Task, parent: Task | None = None) -> tuple[str, int | None]:
        """Where the waiting or blocked task `d` stands: ("ready", None), ("wait", None) or ("blocked",
        the failed parent). Given `parent` (the required task that just changed), a failure of it decides
        at once; otherwise the requirements are read in order and the scan stops at the first that settles
        the verdict (a gather task with thousands of parents is not rescanned whole at each success)."""
        tasks = self.state.tasks
        if parent is not None and not d.accept_failure and parent.status in ("failed", "blocked"):
            return "blocked", parent.task_id
        # after a success, the requirements known done (a prefix) are not read again; any other change
        # (a parent relaunched, new requirements) reads them all
        resume = parent is not None and parent.status == "succeeded"
        start = self._done_upto.get(d.task_id, 0) if resume else 0
        if not resume:
            self._done_upto.pop(d.task_id, None)
        waiting = False
        reqs = d.required_task_ids
        for i in range(start, len(reqs)):
            r = tasks.get(reqs[i])
            status = r.status if r is not None else "missing"
            if status == "succeeded" or (d.accept_failure and status in FINISHED_TASK_STATUSES):
                continue
            if status in ("failed", "blocked") and not d.accept_failure:
                return "blocked", reqs[i]
            if resume:
                self._done_upto[d.task_id] = i
                return "wait", None       # a failure among the rest was already told to `d` when it failed
            waiting = True
        self._done_upto.pop(d.task_id, None)
        return ("wait", None) if waiting else ("ready", None)

    def _settle_one(self, d: Task, parent: Task | None) -> bool:
        """Move `d` (waiting or blocked) as its requirements say; True when its status changed."""
        if d.status not in ("waiting", "blocked"):
            return False
        if d.status == "blocked" and parent is not None and parent.status in FINISHED_TASK_STATUSES \
                and parent.status != "succeeded":
            return False
        verdict, failed = self._verdict(d, parent if d.status == "waiting" else None)
        if d.status == "blocked":
            if verdict == "blocked":
                if failed == d.blocked_by:
                    return False
                self._block(d, failed)       # still blocked, now by another failed requirement
                return True
            self.emit(et.TaskUnblocked(task_id=d.task_id, batch=d.batch, parent=d.blocked_by))
        if verdict == "ready":
            self.emit(et.TaskReleased(task_id=d.task_id, batch=d.batch))
        elif verdict == "blocked" and d.status == "waiting":
            self._block(d, failed)
        return True

    def _block(self, d: Task, failed: int | None) -> None:
        why = self.state.tasks.get(failed) if failed is not None else None
        self.emit(et.TaskBlocked(task_id=d.task_id, batch=d.batch, parent=failed or 0,
                                 reason=f"required task {failed} {why.status if why else 'failed'}"))

    def _settle_dependants(self) -> None:
        """Settle the dependants of each task queued by `emit` (and the task itself where asked), then
        theirs: blocking and unblocking go down the whole graph, one level at a time (no recursion)."""
        self._following = True
        try:
            while self._to_follow:
                tid, itself = self._to_follow.popleft()
                t = self.state.tasks.get(tid)
                if t is None:
                    continue
                if itself:
                    self._settle_one(t, None)
                    continue
                for dep in sorted(self.state.dependents.get(tid, ())):
                    d = self.state.tasks.get(dep)
                    if d is not None and d.task_id != tid:
                        self._settle_one(d, t)
        finally:
            self._following = False
            self._to_follow.clear()        # left over only when a handler failed (its round is undone)

    # --- timers (reaper) and dispatch -----------------------------------------------------------
    def worker_liveness(self, alive: dict[str, bool], lost_after: float) -> None:
        """Silent workers go offline (paused or not: a paused worker comes back paused), then lost."""
        for w in list(self.state.workers.values()):
            is_alive = alive.get(w.name, False)
            if w.status in ("running", "paused") and not is_alive:
                self.emit(ew.WorkerOffline(worker_id=w.worker_id, worker=w.name))
            elif w.status == "offline" and is_alive:
                self.emit(ew.WorkerOnline(worker_id=w.worker_id, worker=w.name))
            elif w.status == "offline" and w.held and self.now - w.modification_date >= lost_after:
                self.emit(ew.WorkerLost(worker_id=w.worker_id, worker=w.name,
                                        reason=f"offline for {lost_after:.0f}s"))
                for tid in sorted(w.held):
                    t = self.state.tasks.get(tid)
                    if t is not None:    # if it comes back, it reads this order before anything else
                        self.control(w.name, "cancel", task=t.task_id, attempt=t.attempt)
                        self._requeue(t, "worker lost")

    def timeouts(self, grace: float = 30.0) -> None:
        """Backstop for run timeouts the worker could not enforce or report: kill and fail. Only the attempts
        due are looked at (a heap of deadlines); one whose task changed meanwhile is dropped or put back."""
        heap = self.state.deadlines
        later = []
        while heap and heap[0][0] + grace <= self.now:
            entry = heapq.heappop(heap)
            t = self.state.tasks.get(entry[1])
            if t is None or not t.run_timeout or t.execution_id != entry[2]:
                continue
            if t.status == "paused":
                later.append(entry)      # its process is paused: looked at again once it runs
                continue
            if t.status != "running":
                continue
            ex = self.state.current_execution(t)
            if ex is None or ex.start_date is None:
                continue
            if self.now - ex.start_date < t.run_timeout + grace:
                self.state.push_deadline(t, ex)     # its timeout was changed: due later
                continue
            self.control(ex.worker, "cancel", task=t.task_id, attempt=ex.attempt)
            self.emit(et.TaskTimedOut(task_id=t.task_id, batch=t.batch, execution_id=ex.execution_id, kind="run"))
            self.emit(ee.ExecutionRefused(execution_id=ex.execution_id, task_id=t.task_id, batch=t.batch,
                                          reason="run timeout", failed=True))
            if t.retry > 0:
                self.emit(et.TaskRetried(task_id=t.task_id, batch=t.batch, retry=t.retry - 1))
            else:
                self.emit(et.TaskFailed(task_id=t.task_id, batch=t.batch, execution_id=ex.execution_id,
                                        reason="run timeout"))
        for entry in later:
            heapq.heappush(heap, entry)

    def requeue_unclaimed(self, task_id: int, attempt: int) -> None:
        t = self.state.tasks.get(task_id)
        if t is not None and t.queued and t.attempt == attempt:
            self.emit(et.TaskRequeued(task_id=t.task_id, batch=t.batch, attempt=attempt,
                                      reason="delivered but never claimed"))

    def dispatch(self, alive: dict[str, bool] | None = None) -> int:
        """Fill each batch queue up to the free room (concurrency + prefetch - held) of its workers."""
        room: dict[str, int] = {}
        for w in self.state.workers.values():
            if w.status != "running" or (alive is not None and not alive.get(w.name, True)):
                continue
            free = w.concurrency + w.prefetch - len(w.held)
            if free > 0:
                room[w.batch] = room.get(w.batch, 0) + free
        sent = 0
        for batch, free in room.items():
            b = self.state.batches.get(batch)
            if b is None or b.paused:
                continue
            want = free - b.queued
            while want > 0 and b.ready:
                tid = heapq.heappop(b.ready)
                t = self.state.tasks.get(tid)
                if t is None or t.status != "pending" or t.queued or t.batch != batch:
                    continue
                if t.deliveries >= self.max_deliveries:
                    self.emit(et.TaskQuarantined(task_id=tid, batch=batch, deliveries=t.deliveries))
                    continue
                attempt = t.attempt + 1
                self.emit(et.TaskDispatched(task_id=tid, batch=batch, attempt=attempt))
                fields = {"task": str(tid), "attempt": str(attempt)}
                if t.input or t.resource:
                    fields["data"] = "1"     # the worker fetches it while it waits (prefetch)
                fields["run"] = run_entry(t)   # what to run: no view read before the start
                self.effect("queue", batch, fields)
                want -= 1
                sent += 1
        return sent


# the task fields a worker needs to start an attempt, carried in its queue entry: what runs (`RunFields`)
# and how (its timeouts, the cache)
_RUN_ENTRY_FIELDS = (*(f.name for f in msgspec.structs.fields(RunFields)), "run_timeout", "download_timeout",
                     "use_cache")
_RUN_ENCODER = msgspec.json.Encoder()


def run_entry(t: Task) -> str:
    """The `run` field of a queue entry: the task's run fields (those set) and `mod`, its modification date
    at dispatch; the worker starts from them when the task's view still has that date (not edited since)."""
    run: dict[str, Any] = {"mod": t.modification_date}
    for name in _RUN_ENTRY_FIELDS:
        value = getattr(t, name)
        if value is not None and value is not False:
            run[name] = value
    return _RUN_ENCODER.encode(run).decode()


# events after which the server settles dependencies: what to settle, the task itself (True) and/or
# its dependants (False). A status set by a user settles the dependants (relaunched: the blocked ones
# wait again; failed or succeeded: they move on), and, for `waiting`, the task itself (its parents
# may have ended already); new requirements settle the task itself.
_DEPENDANTS, _ITSELF = (False,), (True,)
_FOLLOWED: dict[type, Any] = {
    et.TaskSucceeded: lambda e: _DEPENDANTS,
    et.TaskFailed: lambda e: _DEPENDANTS,
    et.TaskQuarantined: lambda e: _DEPENDANTS,
    et.TaskBlocked: lambda e: _DEPENDANTS,
    et.TaskUnblocked: lambda e: _DEPENDANTS,
    et.TaskStatusSet: lambda e: (True, False) if e.status == "waiting" else _DEPENDANTS,
    et.TaskUpdated: lambda e: _ITSELF if "required_task_ids" in e.changes else (),
    et.TaskSubmitted: lambda e: _ITSELF if e.status == "waiting" else (),
}
