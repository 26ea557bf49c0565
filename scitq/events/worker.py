"""Provides the events of the worker aggregate (registration, liveness, settings)."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from scitq.events.base import Event

__all__ = [
    "WorkerRegistered", "WorkerOnline", "WorkerOffline", "WorkerLost", "WorkerPaused", "WorkerResumed",
    "WorkerDeleted", "WorkerConcurrencyChanged", "WorkerPrefetchChanged", "WorkerBatchChanged",
    "WorkerSignalled",
]

# v1's worker-level signals (`worker.signal`): not Unix signals, orders to the worker itself
CLEAN = -1               # remove every work dir no task uses (the kept dirs of failed tasks)
RESTART = -2             # claim nothing more, let held tasks end, then run again with the same arguments
RESET_RESOURCES = -3     # forget the resource cache
WORKER_SIGNALS = {CLEAN: "clean", RESTART: "restart", RESET_RESOURCES: "reset resources"}


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


class WorkerSignalled(Event, tag="worker.signalled", kw_only=True):
    """A user asked the worker to clean its unused work dirs (-1), restart (-2) or forget its resources (-3).

    Version 2 names the order (`order`: clean, restart, reset resources) for readers of the ledger;
    version 1 entries are upcast (`scitq.events.upcasters`).
    """
    version: ClassVar[int] = 2
    worker_id: int
    worker: str
    signal: int
    order: str = ""

    def __post_init__(self) -> None:
        if not self.order and self.signal in WORKER_SIGNALS:
            msgspec.structs.force_setattr(self, "order", WORKER_SIGNALS[self.signal])
