"""Provides the events of the execution aggregate (one attempt of a task on a worker)."""

from __future__ import annotations

from typing import Union

from scitq.events.base import Event
from scitq.events.model import CacheFields, LaunchFields, derive

__all__ = [
    "ExecutionClaimed", "ExecutionAccepted", "ExecutionStarted", "ExecutionOutputOpened",
    "ExecutionFinished", "ExecutionCached", "ExecutionRefused", "ReportRejected",
]


class ExecutionEvent(Event, kw_only=True):
    """Base of the execution aggregate's events: which execution, of which task, in which batch."""
    execution_id: int
    task_id: int
    batch: str = ""


class ExecutionClaimed(ExecutionEvent, tag="execution.claimed", kw_only=True):
    """Worker `worker` took attempt `attempt` of the task: execution `execution_id` exists (pending)."""
    attempt: int
    worker: str
    worker_id: int


class ExecutionAccepted(ExecutionEvent, tag="execution.accepted", kw_only=True):
    """The worker is preparing the execution (downloading inputs, prefetched)."""
    worker: str = ""


ExecutionStarted = derive(
    "ExecutionStarted", LaunchFields, bases=(ExecutionEvent,), tag="execution.started", module=__name__,
    head=(("worker", str, ""),), tail=(("attempt", Union[int, None], None), ("worker_id", Union[int, None], None)))
ExecutionStarted.__doc__ = """The process started with this frozen copy of the task (`LaunchFields`).

Version 3: the execution's output is the worker's stream of this attempt
(`keys.worker_output(worker, task, attempt)`), implied here: no `execution.output_opened` follows. With
`attempt` (and `worker_id`), the event is also the claim: worker `worker` took that attempt and started
it at once, and execution `execution_id` is created by this event (no `execution.claimed` before it).
Version 2 entries are read as version 3 without a claim (`scitq.events.upcasters`)."""
ExecutionStarted.version = 3


class ExecutionOutputOpened(ExecutionEvent, tag="execution.output_opened", kw_only=True):
    """Where the output of an execution that never started is (a failed download, a cached result). A
    started execution's output is implied by `execution.started` (version 3; older ledgers have this event
    after each start)."""
    stream: str


ExecutionFinished = derive(
    "ExecutionFinished", CacheFields, bases=(ExecutionEvent,), tag="execution.finished", module=__name__,
    head=(("worker", str, ""), ("return_code", int), ("output_files", list[str], [])))
ExecutionFinished.__doc__ = "The process ended with `return_code`; what it uploaded and, for caching, its `CacheFields`."


class ExecutionCached(ExecutionEvent, tag="execution.cached", kw_only=True):
    """The attempt did not run: the outputs of the succeeded execution `cached_from` (same input hash, its
    outputs still there) stand for it. The execution ends succeeded with no worker."""
    cached_from: int
    input_hash: str | None = None
    output_files: list[str] = []


class ExecutionRefused(ExecutionEvent, tag="execution.refused", kw_only=True):
    """The attempt ended without running to completion (worker lost, handed back, superseded)."""
    reason: str
    failed: bool = False


class ReportRejected(Event, tag="report.rejected", kw_only=True):
    """A worker report that changes nothing (superseded attempt, unknown task...), kept for audit."""
    worker: str
    fact: str
    task_id: int | None = None
    attempt: int | None = None
    reason: str
