"""Provides the slot: one attempt held by this worker (claimed, then running, then done) and its task's view."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import redis

from scitq import keys
from scitq.projections.state import task_weight as weight
from scitq.projections.views import TaskView, decode_task
from scitq.worker.runner import RunningProcess
from scitq.io.wire import call

__all__ = ["Slot", "read_task", "run_fields", "task_to_start", "weight"]


@dataclass
class Slot:
    """One attempt held by this worker: claimed (prefetched), then running, then done."""
    task_id: int
    attempt: int
    claimed_at: float
    state: str = "held"            # held | starting | running | done
    proc: RunningProcess | None = None
    workdir: Path | None = None
    cancelled: bool = False
    has_data: bool = False             # the task has inputs or resources to fetch before it starts
    accepted: bool = False             # `accepted` was reported (v1: preparing, or ready and waiting for a slot)
    ended: bool = False                # its end (`finished`) was reported: no longer held
    inputs_done: str | None = None     # the input list already downloaded (prefetch)
    preparing: threading.Thread | None = None
    data_error: Any = None
    batch: str = ""                    # its task's batch, once read at start (weighs per `weight`)
    entry: str = ""                    # its queue entry (id) and the batch whose queue it came from
    queue: str = ""
    claim_reported: bool = True        # False: claimed from the queue, the claim not reported yet
    run: dict | None = None            # the task's run fields as the queue entry carried them (`run_fields`)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def key(self) -> tuple[int, int]:
        return (self.task_id, self.attempt)



def read_task(r: redis.Redis, task_id: int) -> TaskView | None:
    """The task as the server sees it now (typed), or None when it does not exist (any more)."""
    h = r.hgetall(keys.task_view(task_id))
    return decode_task(h, task_id) if h else None


# the fields of the task view read to confirm a start whose run fields came in the queue entry
_CHECKED = ("attempt", "status", "worker", "batch", "modification_date")


def run_fields(entry: dict[str, str]) -> dict | None:
    """The run fields a queue entry carries (`run`, JSON, with `mod`: the task's modification date when it
    was dispatched), or None (an entry of an older server, or unreadable: the view is read instead)."""
    raw = entry.get("run")
    if not raw:
        return None
    try:
        run = json.loads(raw)
    except ValueError:
        return None
    return run if isinstance(run, dict) and isinstance(run.get("command"), str) and "mod" in run else None


def task_to_start(r: redis.Redis, slot: Slot) -> TaskView | None:
    """The task of a held slot as it stands now, to decide its start: when its queue entry carried the run
    fields and the task has not changed since its dispatch (same modification date: no edit, no status
    change), those fields and a read of five fields of its view; otherwise the whole view (`read_task`)."""
    run = slot.run
    if run is None:
        return read_task(r, slot.task_id)
    attempt, status, worker, batch, mod = call(r, "HMGET", keys.task_view(slot.task_id), *_CHECKED)
    try:
        same = attempt is not None and int(attempt) == slot.attempt and float(mod) == float(run["mod"])
    except (TypeError, ValueError):
        same = False
    if not same:
        return read_task(r, slot.task_id)
    fields = {k: v for k, v in run.items() if k != "mod"}
    try:
        return msgspec.convert({**fields, "task_id": slot.task_id, "attempt": slot.attempt, "status": status,
                                "worker": worker, "batch": batch}, TaskView, strict=False)
    except msgspec.ValidationError:
        return read_task(r, slot.task_id)
