"""Provides the recovery of a restarted worker: its containers still running (or ended unseen) to follow again."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import redis

from scitq import keys
from scitq.projections.views import TaskView
from scitq.worker.engines import Engines
from scitq.worker.slot import Slot, read_task

__all__ = ["Recovered", "recover_containers", "HELD_BY_US"]

log = logging.getLogger("scitq.worker")

HELD_BY_US = ("assigned", "accepted", "running", "paused")


@dataclass
class Recovered:
    """A container of an attempt this worker still holds: its slot, its task now, where its output resumes."""
    slot: Slot
    view: TaskView | None    # None: Redis could not be read (the container is followed anyway)
    runner: Any
    container_id: str
    since: float | None


def recover_containers(r: redis.Redis, engines: Engines, worker: str) -> list[Recovered]:
    """v1 recovery: containers this worker started before a restart are followed again, not lost;
    those of superseded attempts are killed."""
    try:
        runner = engines.docker()
        containers = runner.running_containers()
    except Exception as exc:  # noqa: BLE001 - no Docker engine here: nothing to re-attach
        log.debug("no container to re-attach (%s)", exc)
        return []
    found = []
    for c in containers:
        try:
            task_id, attempt = int(c["task_id"]), int(c["attempt"])
        except (KeyError, TypeError, ValueError):
            continue
        try:
            view = read_task(r, task_id)
            known = True
        except (redis.ConnectionError, redis.TimeoutError):
            view, known = None, False
        if known and (view is None or view.attempt != attempt or view.worker != worker
                      or view.status not in HELD_BY_US):
            if c.get("status") in ("running", "paused"):
                log.info("container %s of superseded task %s attempt %s: killing it", c["id"][:12],
                         task_id, attempt)
                try:
                    runner.remove(c["id"])
                except Exception:  # noqa: BLE001
                    pass
            continue
        if c.get("status") not in ("running", "paused") and view is None:
            continue
        slot = Slot(task_id, attempt, time.monotonic(), state="running", accepted=True)
        slot.workdir = engines.container_workdir(c["id"])
        since = None
        try:
            last = r.xrevrange(keys.worker_output(worker, task_id, attempt), count=1)
            if last:
                since = int(last[0][0].split("-")[0]) / 1000.0
        except (redis.ConnectionError, redis.TimeoutError):
            pass
        log.info("re-attached to container %s (task %s attempt %s)", c["id"][:12], task_id, attempt)
        found.append(Recovered(slot, view, runner, c["id"], since))
    return found
