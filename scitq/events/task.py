"""Provides the events of the task aggregate (submission, edits, dispatch, outcome)."""

from __future__ import annotations

from typing import Any

from scitq.events.base import Event
from scitq.events.model import TaskFields, derive

__all__ = [
    "TaskSubmitted", "TaskUpdated", "TaskDeleted", "TaskDispatched", "TaskRequeued", "TaskStatusSet",
    "TaskSucceeded", "TaskFailed", "TaskRetried", "TaskTimedOut", "TaskReleased", "TaskQuarantined",
    "TaskSignalled", "TaskBlocked", "TaskUnblocked",
]


class TaskEvent(Event, kw_only=True):
    """Base of the task aggregate's events: which task, in which batch (for readers filtering by batch)."""
    task_id: int
    batch: str = ""


TaskSubmitted = derive(
    "TaskSubmitted", TaskFields, bases=(Event,), tag="task.submitted", module=__name__,
    head=(("task_id", int), ("batch", str)), tail=(("status", str, "pending"),))
TaskSubmitted.__doc__ = "A task entered the ledger: its id, batch, first status and every field of `TaskFields`."


class TaskUpdated(TaskEvent, tag="task.updated", kw_only=True):
    """Fields of a task edited by a user (only the changed ones; status changes use TaskStatusSet)."""
    changes: dict[str, Any]


class TaskDeleted(TaskEvent, tag="task.deleted", kw_only=True):
    pass


class TaskDispatched(TaskEvent, tag="task.dispatched", kw_only=True):
    """The task was put in its batch's queue stream as attempt `attempt`."""
    attempt: int


class TaskRequeued(TaskEvent, tag="task.requeued", kw_only=True):
    """A dispatch or a claimed attempt was withdrawn; the task is pending again (retry not consumed)."""
    attempt: int
    reason: str
    worker: str | None = None


class TaskStatusSet(TaskEvent, tag="task.status_set", kw_only=True):
    """A user set the status (relaunch = pending, pause, ...). A running attempt is superseded."""
    status: str
    previous: str
    retry: int | None = None


class TaskSucceeded(TaskEvent, tag="task.succeeded", kw_only=True):
    execution_id: int


class TaskFailed(TaskEvent, tag="task.failed", kw_only=True):
    execution_id: int | None = None
    return_code: int | None = None
    reason: str = ""


class TaskRetried(TaskEvent, tag="task.retried", kw_only=True):
    """An automatic retry: the task is pending again and its `retry` counter drops to `retry`."""
    retry: int


class TaskTimedOut(TaskEvent, tag="task.timed_out", kw_only=True):
    execution_id: int
    kind: str = "run"


class TaskReleased(TaskEvent, tag="task.released", kw_only=True):
    """All required tasks succeeded: waiting -> pending."""


class TaskQuarantined(TaskEvent, tag="task.quarantined", kw_only=True):
    """Dispatched too many times without an outcome: set aside as failed instead of looping."""
    deliveries: int


class TaskSignalled(TaskEvent, tag="task.signalled", kw_only=True):
    """A user sent a Unix signal to the running attempt."""
    signal: int
    worker: str | None = None


class TaskBlocked(TaskEvent, tag="task.blocked", kw_only=True):
    """A required task failed for good (or is itself blocked): waiting -> blocked, a finished status.
    `parent` is the required task that failed (`blocked_by` in the task's view)."""
    parent: int
    reason: str = ""


class TaskUnblocked(TaskEvent, tag="task.unblocked", kw_only=True):
    """The required task that blocked this one was relaunched, fixed or no longer required: blocked -> waiting."""
    parent: int | None = None
