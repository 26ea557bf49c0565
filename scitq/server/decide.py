"""Provides `Decider`: the pure core of the server, turning commands and worker facts into events.

Each handler checks the request against the current State, then emits events; every emitted event
is folded into the State at once (so later decisions see it). No I/O happens here: Redis writes the
server must do besides the events (queue entries, orders to workers, replies) are returned as
`effects`.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import msgspec

from scitq import keys
from scitq.container_options import parse_container_options
from scitq.errors import BadInput, Conflict, NotFound
from scitq.events import base
from scitq.events import batch as eb
from scitq.events import commands as c
from scitq.events import execution as ee
from scitq.events import task as et
from scitq.events import worker as ew
from scitq.projections.evolve import EDITABLE_FIELDS, evolve
from scitq.projections.state import ACTIVE_TASK_STATUS, State, Task, Worker
from scitq.settings import DEFAULT_BATCH, TASK_STATUS

__all__ = ["Decider", "Effect", "SUBMIT_STATUSES"]

SUBMIT_STATUSES = ("pending", "waiting", "paused", "debug")
# assigned/accepted/running come from workers' reports; a user sets any other status (v1 allowed any).
USER_STATUSES = ("paused", "waiting", "pending", "failed", "succeeded", "debug")
SIGNALS_ALLOWED = (0, 2, 3, 9, 15, 18, 19, 20)


@dataclass
class Effect:
    """A Redis write besides the ledger: kind in {"queue", "purge", "control", "ack"}."""
    kind: str
    target: str
    fields: dict[str, str] = field(default_factory=dict)


class TaskChanges(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    command: str | None = None
    name: str | None = None
    status: str | None = None
    batch: str | None = None
    input: str | None = None
    output: str | None = None
    container: str | None = None
    container_options: str | None = None
    resource: str | None = None
    required_task_ids: list[int] | None = None
    retry: c.NonNeg | None = None
    download_timeout: c.NonNeg | None = None
    run_timeout: c.NonNeg | None = None
    use_cache: bool | None = None
    uid: c.NonNeg | None = None
    gid: c.NonNeg | None = None


def check_batch_name(batch: str) -> str:
    if not batch or "/" in batch or len(batch) > 200 or any(ch.isspace() for ch in batch):
        raise BadInput(f"bad batch name {batch!r}: it must be non-empty, without '/' or spaces")
    return batch


def check_user_status(status: str) -> None:
    if status not in TASK_STATUS:
        raise BadInput(f"status {status!r} is not one of {', '.join(TASK_STATUS)}")
    if status not in USER_STATUSES:
        raise BadInput(f"status {status!r} is set by the workers; set one of {', '.join(USER_STATUSES)}")


class Decider:
    """Decides on one input at a time; `events` and `effects` accumulate until the caller commits."""

    def __init__(self, state: State, max_deliveries: int = 5) -> None:
        self.state = state
        self.max_deliveries = max_deliveries
        self.events: list[base.Event] = []
        self.effects: list[Effect] = []
        self.now = 0.0

    # --- plumbing ---------------------------------------------------------------------------
    def emit(self, event: base.Event) -> None:
        event = msgspec.structs.replace(event, ts=self.now)
        evolve(self.state, event)
        self.events.append(event)

    def take(self) -> tuple[list[base.Event], list[Effect]]:
        events, effects = self.events, self.effects
        self.events, self.effects = [], []
        return events, effects

    def control(self, worker: str | None, op: str, **fields: Any) -> None:
        if worker:
            self.effects.append(Effect("control", worker, {"op": op, **{k: str(v) for k, v in fields.items()}}))

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
            status = spec.status or ("waiting" if spec.required_task_ids else "pending")
            if status not in SUBMIT_STATUSES:
                raise BadInput(f"{where}status {status!r} is not one of {', '.join(SUBMIT_STATUSES)}")
            for req in spec.required_task_ids:
                if req not in self.state.tasks and req not in known_new:
                    raise BadInput(f"{where}required task {req} does not exist")
            if spec.container_options and not spec.container:
                raise BadInput(f"{where}container_options given without a container")
            if spec.container_options:
                try:
                    parse_container_options(spec.container_options)
                except BadInput as exc:
                    raise BadInput(f"{where}{exc.message}", exc.hint) from None
            if not spec.command.strip():
                raise BadInput(f"{where}empty command")
            tid = next_id + len(prepared)
            known_new.add(tid)
            prepared.append((tid, batch, status, spec))
        for tid, batch, status, spec in prepared:
            if batch not in self.state.batches:
                self.emit(eb.BatchCreated(batch=batch))
            if status == "waiting" and all(self._succeeded(r) for r in spec.required_task_ids):
                status = "pending"
            self.emit(et.TaskSubmitted(
                task_id=tid, batch=batch, command=spec.command, status=status, name=spec.name, input=spec.input,
                output=spec.output, container=spec.container, container_options=spec.container_options,
                resource=spec.resource, required_task_ids=list(spec.required_task_ids), retry=spec.retry or 0,
                download_timeout=spec.download_timeout, run_timeout=spec.run_timeout,
                use_cache=bool(spec.use_cache), uid=spec.uid, gid=spec.gid))
        return {"task_ids": [p[0] for p in prepared]}

    def _succeeded(self, task_id: int) -> bool:
        t = self.state.tasks.get(task_id)
        return t is not None and t.status == "succeeded"

    def cmd_task_update(self, cmd: c.UpdateTask) -> dict:
        t = self._task(cmd.task_id)
        try:
            ch = msgspec.convert(cmd.changes, TaskChanges)
        except msgspec.ValidationError as exc:
            raise BadInput(f"bad change to task {t.task_id}: {exc}") from None
        changes = {k: v for k, v in msgspec.structs.asdict(ch).items() if k in cmd.changes}
        status = changes.pop("status", None)
        if status is not None:
            check_user_status(status)
        if "batch" in changes:
            changes["batch"] = check_batch_name(changes["batch"] or DEFAULT_BATCH)
        for req in changes.get("required_task_ids") or []:
            if req not in self.state.tasks:
                raise BadInput(f"required task {req} does not exist")
        if changes and t.status == "running" and status != "pending":
            raise Conflict(f"task {t.task_id} is running: only a task not yet started or already finished can be edited",
                           hint="relaunch it with the change (status pending) to run it again")
        if changes.get("container_options"):
            parse_container_options(changes["container_options"])
        changes = {k: v for k, v in changes.items() if k in EDITABLE_FIELDS and getattr(t, k) != v}
        if "batch" in changes and changes["batch"] not in self.state.batches:
            self.emit(eb.BatchCreated(batch=changes["batch"]))
        if changes:
            self.emit(et.TaskUpdated(task_id=t.task_id, batch=t.batch, changes=changes))
        if status is not None:
            self._set_status(t, status, None)
        return {"task_id": t.task_id, "changed": sorted(changes) + (["status"] if status else [])}

    def cmd_task_delete(self, cmd: c.TaskIds) -> dict:
        tasks = [self._task(tid) for tid in cmd.task_ids]
        for t in tasks:
            self._delete_task(t)
        return {"deleted": [t.task_id for t in tasks]}

    def _delete_task(self, t: Task) -> None:
        self._supersede(t, "task deleted")
        self.emit(et.TaskDeleted(task_id=t.task_id, batch=t.batch))

    def _supersede(self, t: Task, reason: str, failed: bool = True) -> None:
        """End the active attempt of `t` (if any): the worker is told to stop it."""
        ex = self.state.current_execution(t)
        if t.status in ACTIVE_TASK_STATUS and ex is not None and ex.status in ("pending", "accepted", "running"):
            self.control(ex.worker, "cancel", task=t.task_id, attempt=ex.attempt)
            self.emit(ee.ExecutionRefused(execution_id=ex.execution_id, task_id=t.task_id, batch=t.batch,
                                          reason=reason, failed=failed and ex.status == "running"))

    def _live_execution(self, t: Task):
        ex = self.state.current_execution(t)
        if t.worker and ex is not None and ex.worker == t.worker and ex.status in ("pending", "accepted", "running"):
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
        if cmd.signal not in SIGNALS_ALLOWED or cmd.signal == 0:
            raise BadInput(f"signal {cmd.signal} is not one of 2, 3, 9, 15, 18, 19, 20")
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
        if cmd.signal not in SIGNALS_ALLOWED:
            raise BadInput(f"signal {cmd.signal} is not one of 0, 3, 9, 15, 19, 20")
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
        self.effects.append(Effect("purge", batch))
        return len(queued)

    def cmd_batch_go(self, cmd: c.BatchCmd) -> dict:
        if cmd.signal not in (0, 18):
            raise BadInput(f"signal {cmd.signal} is not one of 0, 18")
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
        self._batch_exists(cmd.batch)
        tasks = [t for t in self.state.tasks.values() if t.batch == cmd.batch]
        for t in tasks:
            self._delete_task(t)
        self.emit(eb.BatchDeleted(batch=cmd.batch))
        self.effects.append(Effect("purge", cmd.batch))
        return {"batch": cmd.batch, "deleted_tasks": len(tasks)}

    def cmd_batch_relaunch_failed(self, cmd: c.BatchCmd) -> dict:
        self._batch_exists(cmd.batch)
        failed = [t for t in self.state.tasks.values() if t.batch == cmd.batch and t.status == "failed"]
        for t in failed:
            self._set_status(t, "pending", None)
        return {"batch": cmd.batch, "relaunched": [t.task_id for t in failed]}

    # --- workers ------------------------------------------------------------------------------
    def cmd_worker_register(self, cmd: c.RegisterWorker) -> dict:
        if cmd.status not in ("running", "paused"):
            raise BadInput(f"worker status {cmd.status!r} must be running or paused")
        batch = check_batch_name(cmd.batch or DEFAULT_BATCH)
        w = self.state.worker_by_name(cmd.name)
        if w is None:
            wid = self.state.next_worker_id
            self.emit(ew.WorkerRegistered(worker_id=wid, worker=cmd.name, hostname=cmd.hostname,
                                          concurrency=cmd.concurrency, prefetch=cmd.prefetch, batch=batch,
                                          status=cmd.status, incarnation=cmd.incarnation))
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
            # v1: a worker coming back adopts the server's concurrency/prefetch/batch
            status = cmd.status if w.status in ("offline", "running", "paused") else w.status
            self.emit(ew.WorkerRegistered(worker_id=w.worker_id, worker=w.name, hostname=cmd.hostname,
                                          concurrency=w.concurrency, prefetch=w.prefetch, batch=w.batch,
                                          status=status, incarnation=cmd.incarnation, reattached=True))
        return {"worker_id": w.worker_id, "concurrency": w.concurrency, "prefetch": w.prefetch,
                "batch": w.batch, "status": w.status}

    def _requeue(self, t: Task, reason: str) -> None:
        ex = self.state.current_execution(t)
        if ex is not None and ex.status in ("pending", "accepted", "running"):
            self.emit(ee.ExecutionRefused(execution_id=ex.execution_id, task_id=t.task_id, batch=t.batch,
                                          reason=reason, failed=ex.status == "running"))
        self.emit(et.TaskRequeued(task_id=t.task_id, batch=t.batch, attempt=t.attempt, reason=reason,
                                  worker=ex.worker if ex else None))

    def cmd_worker_update(self, cmd: c.UpdateWorker) -> dict:
        w = self._worker(cmd.worker_id)
        if cmd.status is not None and cmd.status not in ("running", "paused"):
            raise BadInput(f"worker status {cmd.status!r} must be running or paused")
        if cmd.batch is not None:
            check_batch_name(cmd.batch or DEFAULT_BATCH)
        if cmd.concurrency is not None and cmd.concurrency != w.concurrency:
            self.emit(ew.WorkerConcurrencyChanged(worker_id=w.worker_id, worker=w.name, concurrency=cmd.concurrency))
        if cmd.prefetch is not None and cmd.prefetch != w.prefetch:
            self.emit(ew.WorkerPrefetchChanged(worker_id=w.worker_id, worker=w.name, prefetch=cmd.prefetch))
        if cmd.batch is not None and (cmd.batch or DEFAULT_BATCH) != w.batch:
            self.emit(ew.WorkerBatchChanged(worker_id=w.worker_id, worker=w.name, batch=cmd.batch or DEFAULT_BATCH))
        if cmd.status == "paused" and w.status != "paused":
            self.emit(ew.WorkerPaused(worker_id=w.worker_id, worker=w.name))
        elif cmd.status == "running" and w.status != "running":
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
        return {"worker_id": w.worker_id}

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

    # --- facts from workers -------------------------------------------------------------------
    def fact(self, worker_name: str, tag: str, f: c.Fact, incarnation: str = "") -> None:
        if isinstance(f, c.Claimed) and f.entry:   # applied or not, the entry has been dealt with
            self.effects.append(Effect("ack", f.queue, {"id": f.entry}))
        w = self.state.worker_by_name(worker_name)
        t = self.state.tasks.get(f.task_id)
        reason = None
        if w is None:
            reason = "unknown worker"
        elif t is None:
            reason = "unknown or deleted task"
        elif incarnation and w.incarnation and incarnation != w.incarnation:
            # sent by a previous run of this worker (its spool, replayed after a restart): the
            # current run does not hold that attempt, so it cannot be trusted with it
            if tag == "claimed" and t.queued and t.attempt == f.attempt and t.status == "pending":
                self.emit(et.TaskRequeued(task_id=t.task_id, batch=t.batch, attempt=t.attempt,
                                          reason="claimed by a previous run of the worker", worker=worker_name))
                return
            self.emit(ee.ReportRejected(worker=worker_name, fact=tag, task_id=f.task_id, attempt=f.attempt,
                                        reason="report from a previous run of the worker"))
            return
        if reason is None:
            reason = getattr(self, "fact_" + tag)(w, t, f)
        if reason:
            self.emit(ee.ReportRejected(worker=worker_name, fact=tag, task_id=f.task_id, attempt=f.attempt,
                                        reason=reason))
            if tag != "finished" and tag != "handback":
                self.control(worker_name, "cancel", task=f.task_id, attempt=f.attempt)

    def _mine(self, w: Worker, t: Task, f: c.Fact) -> bool:
        return t.attempt == f.attempt and t.worker == w.name and (t.status in ACTIVE_TASK_STATUS
                                                                  or t.status == "paused")

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
            return f"attempt {f.attempt} was superseded (task is {t.status}, attempt {t.attempt})"
        ex = self.state.current_execution(t)
        if ex is not None and ex.status == "pending":
            self.emit(ee.ExecutionAccepted(execution_id=t.execution_id, task_id=t.task_id, batch=t.batch,
                                           worker=w.name))
        return None

    def fact_started(self, w: Worker, t: Task, f: c.Started) -> str | None:
        if not self._mine(w, t, f):
            return f"attempt {f.attempt} was superseded (task is {t.status}, attempt {t.attempt})"
        ex = self.state.current_execution(t)
        if ex is not None and ex.status == "running":
            return None
        if t.status == "paused":   # paused while it was starting: stop it at once
            self.control(w.name, "signal", task=t.task_id, attempt=f.attempt, signal=20)
        eid = t.execution_id
        self.emit(ee.ExecutionStarted(execution_id=eid, task_id=t.task_id, batch=t.batch, worker=w.name,
                                      command=f.command, container=f.container,
                                      container_options=f.container_options, input=f.input, output=f.output,
                                      resource=f.resource, pid=f.pid))
        self.emit(ee.ExecutionOutputOpened(execution_id=eid, task_id=t.task_id, batch=t.batch,
                                           stream=keys.output(t.task_id, f.attempt)))
        return None

    def fact_finished(self, w: Worker, t: Task, f: c.Finished) -> str | None:
        ex = self.state.current_execution(t)
        if ex is not None and ex.attempt == f.attempt and ex.worker == w.name and ex.status in ("succeeded", "failed") \
                and ex.return_code == f.return_code:
            return None  # duplicate
        if not self._mine(w, t, f):
            return f"attempt {f.attempt} was superseded (task is {t.status}, attempt {t.attempt})"
        assert ex is not None
        if f.timed_out:
            self.emit(et.TaskTimedOut(task_id=t.task_id, batch=t.batch, execution_id=ex.execution_id, kind="run"))
        self.emit(ee.ExecutionFinished(execution_id=ex.execution_id, task_id=t.task_id, batch=t.batch,
                                       worker=w.name, return_code=f.return_code, output_files=f.output_files))
        if f.return_code == 0:
            self.emit(et.TaskSucceeded(task_id=t.task_id, batch=t.batch, execution_id=ex.execution_id))
            self._release_dependents(t.task_id)
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
            return f"attempt {f.attempt} was superseded (task is {t.status}, attempt {t.attempt})"
        self._requeue(t, f.reason or "handed back by the worker")
        return None

    def _release_dependents(self, task_id: int) -> None:
        for dep in sorted(self.state.dependents.get(task_id, ())):
            d = self.state.tasks.get(dep)
            if d is not None and d.status == "waiting" and all(self._succeeded(r) for r in d.required_task_ids):
                self.emit(et.TaskReleased(task_id=d.task_id, batch=d.batch))

    # --- timers (reaper) and dispatch -----------------------------------------------------------
    def worker_liveness(self, alive: dict[str, bool], lost_after: float) -> None:
        for w in list(self.state.workers.values()):
            is_alive = alive.get(w.name, False)
            if w.status == "running" and not is_alive:
                self.emit(ew.WorkerOffline(worker_id=w.worker_id, worker=w.name))
            elif w.status == "offline" and is_alive:
                self.emit(ew.WorkerOnline(worker_id=w.worker_id, worker=w.name))
            elif w.status == "offline" and w.held and self.now - w.modification_date >= lost_after:
                self.emit(ew.WorkerLost(worker_id=w.worker_id, worker=w.name,
                                        reason=f"offline for {lost_after:.0f}s"))
                for tid in sorted(w.held):
                    t = self.state.tasks.get(tid)
                    if t is not None:
                        self._requeue(t, "worker lost")

    def timeouts(self, grace: float = 30.0) -> None:
        """Backstop for run timeouts the worker could not enforce or report: kill and fail."""
        for t in self.state.tasks.values():
            if t.status != "running" or not t.run_timeout:
                continue
            ex = self.state.current_execution(t)
            if ex is None or ex.start_date is None or self.now - ex.start_date < t.run_timeout + grace:
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
                self.effects.append(Effect("queue", batch, fields))
                want -= 1
                sent += 1
        return sent
