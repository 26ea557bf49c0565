"""Provides the events of the task aggregate (submission, edits, dispatch, outcome)."""

from __future__ import annotations

from typing import Any

from scitq.events.base import Event
from scitq.events.model import TaskFields, derive

__all__ = [
    "TaskSubmitted", "TaskUpdated", "TaskDeleted", "TaskDispatched", "TaskRequeued", "TaskStatusSet",
    "TaskSucceeded", "TaskFailed", "TaskRetried", "TaskTimedOut", "TaskReleased", "TaskQuarantined",
    "TaskSignalled",
]


TaskSubmitted = derive(
    "TaskSubmitted", TaskFields, bases=(Event,), tag="task.submitted", module=__name__,
    head=(("task_id", int), ("batch", str)), tail=(("status", str, "pending"),))
TaskSubmitted.__doc__ = "A task entered the ledger: its id, batch, first status and every field of `TaskFields`."


class TaskUpdated(Event, tag="task.updated", kw_only=True):
    """Fields of a task edited by a user (only the changed ones; status changes use TaskStatusSet)."""
    task_id: int
    batch: str = ""
    changes: dict[str, Any]


class TaskDeleted(Event, tag="task.deleted", kw_only=True):
    task_id: int
    batch: str = ""


class TaskDispatched(Event, tag="task.dispatched", kw_only=True):
    """The task was put in its batch's queue stream as attempt `attempt`."""
    task_id: int
    batch: str = ""
    attempt: int


class TaskRequeued(Event, tag="task.requeued", kw_only=True):
    """A dispatch or a claimed attempt was withdrawn; the task is pending again (retry not consumed)."""
    task_id: int
    batch: str = ""
    attempt: int
    reason: str
    worker: str | None = None


class TaskStatusSet(Event, tag="task.status_set", kw_only=True):
    """A user set the status (relaunch = pending, pause, ...). A running attempt is superseded."""
    task_id: int
    batch: str = ""
    status: str
    previous: str
    retry: int | None = None


class TaskSucceeded(Event, tag="task.succeeded", kw_only=True):
    task_id: int
    batch: str = ""
    execution_id: int


class TaskFailed(Event, tag="task.failed", kw_only=True):
    task_id: int
    batch: str = ""
    execution_id: int | None = None
    return_code: int | None = None
    reason: str = ""


class TaskRetried(Event, tag="task.retried", kw_only=True):
    """An automatic retry: the task is pending again and its `retry` counter drops to `retry`."""
    task_id: int
    batch: str = ""
    retry: int


class TaskTimedOut(Event, tag="task.timed_out", kw_only=True):
    task_id: int
    batch: str = ""
    execution_id: int
    kind: str = "run"


class TaskReleased(Event, tag="task.released", kw_only=True):
    """All required tasks succeeded: waiting -> pending."""
    task_id: int
    batch: str = ""


class TaskQuarantined(Event, tag="task.quarantined", kw_only=True):
    """Dispatched too many times without an outcome: set aside as failed instead of looping."""
    task_id: int
    batch: str = ""
    deliveries: int


class TaskSignalled(Event, tag="task.signalled", kw_only=True):
    """A user sent a Unix signal to the running attempt."""
    task_id: int
    batch: str = ""
    signal: int
    worker: str | None = None
