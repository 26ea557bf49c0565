"""Provides the slot: one attempt held by this worker (claimed, then running, then done) and its task's view."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from scitq import keys
from scitq.projections.state import task_weight as weight
from scitq.projections.views import TaskView, decode_task
from scitq.worker.runner import RunningProcess

__all__ = ["Slot", "read_task", "weight"]


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
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def key(self) -> tuple[int, int]:
        return (self.task_id, self.attempt)



def read_task(r: redis.Redis, task_id: int) -> TaskView | None:
    """The task as the server sees it now (typed), or None when it does not exist (any more)."""
    h = r.hgetall(keys.task_view(task_id))
    return decode_task(h) if h else None
