"""Provides the events of the worker aggregate (registration, liveness, settings)."""

from __future__ import annotations

from scitq.events.base import Event

__all__ = [
    "WorkerRegistered", "WorkerOnline", "WorkerOffline", "WorkerLost", "WorkerPaused", "WorkerResumed",
    "WorkerDeleted", "WorkerConcurrencyChanged", "WorkerPrefetchChanged", "WorkerBatchChanged",
]


class WorkerRegistered(Event, tag="worker.registered", kw_only=True):
    worker_id: int
    worker: str
    hostname: str = ""
    concurrency: int
    prefetch: int = 0
    batch: str = "Default"
    status: str = "running"
    incarnation: str = ""
    reattached: bool = False


class WorkerOnline(Event, tag="worker.online", kw_only=True):
    worker_id: int
    worker: str


class WorkerOffline(Event, tag="worker.offline", kw_only=True):
    worker_id: int
    worker: str


class WorkerLost(Event, tag="worker.lost", kw_only=True):
    """Offline for too long (or restarted without its tasks): its attempts are withdrawn."""
    worker_id: int
    worker: str
    reason: str = ""


class WorkerPaused(Event, tag="worker.paused", kw_only=True):
    worker_id: int
    worker: str


class WorkerResumed(Event, tag="worker.running", kw_only=True):
    worker_id: int
    worker: str


class WorkerDeleted(Event, tag="worker.deleted", kw_only=True):
    worker_id: int
    worker: str


class WorkerConcurrencyChanged(Event, tag="worker.concurrency_changed", kw_only=True):
    worker_id: int
    worker: str
    concurrency: int


class WorkerPrefetchChanged(Event, tag="worker.prefetch_changed", kw_only=True):
    worker_id: int
    worker: str
    prefetch: int


class WorkerBatchChanged(Event, tag="worker.batch_changed", kw_only=True):
    worker_id: int
    worker: str
    batch: str
