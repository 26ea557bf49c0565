"""Provides the events of the execution aggregate (one attempt of a task on a worker)."""

from __future__ import annotations

from scitq.events.base import Event

__all__ = [
    "ExecutionClaimed", "ExecutionAccepted", "ExecutionStarted", "ExecutionOutputOpened",
    "ExecutionFinished", "ExecutionRefused", "ReportRejected",
]


class ExecutionClaimed(Event, tag="execution.claimed", kw_only=True):
    """Worker `worker` took attempt `attempt` of the task: execution `execution_id` exists (pending)."""
    execution_id: int
    task_id: int
    batch: str = ""
    attempt: int
    worker: str
    worker_id: int


class ExecutionAccepted(Event, tag="execution.accepted", kw_only=True):
    """The worker is preparing the execution (downloading inputs, prefetched)."""
    execution_id: int
    task_id: int
    batch: str = ""
    worker: str = ""


class ExecutionStarted(Event, tag="execution.started", kw_only=True):
    """The process started with this frozen copy of the task."""
    execution_id: int
    task_id: int
    batch: str = ""
    worker: str = ""
    command: str
    container: str | None = None
    container_options: str | None = None
    input: str | None = None
    output: str | None = None
    resource: str | None = None
    pid: str | None = None


class ExecutionOutputOpened(Event, tag="execution.output_opened", kw_only=True):
    execution_id: int
    task_id: int
    batch: str = ""
    stream: str


class ExecutionFinished(Event, tag="execution.finished", kw_only=True):
    execution_id: int
    task_id: int
    batch: str = ""
    worker: str = ""
    return_code: int
    output_files: list[str] = []


class ExecutionRefused(Event, tag="execution.refused", kw_only=True):
    """The attempt ended without running to completion (worker lost, handed back, superseded)."""
    execution_id: int
    task_id: int
    batch: str = ""
    reason: str
    failed: bool = False


class ReportRejected(Event, tag="report.rejected", kw_only=True):
    """A worker report that changes nothing (superseded attempt, unknown task...), kept for audit."""
    worker: str
    fact: str
    task_id: int | None = None
    attempt: int | None = None
    reason: str
