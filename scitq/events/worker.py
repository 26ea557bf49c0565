"""Provides the events of the worker aggregate (registration, liveness, settings)."""

from __future__ import annotations

from typing import ClassVar, Union

import msgspec
from msgspec import UNSET, UnsetType

from scitq.events.base import Event
from scitq.events.model import WorkerFields, derive

__all__ = [
    "WorkerRegistered", "WorkerOnline", "WorkerOffline", "WorkerLost", "WorkerPaused", "WorkerResumed",
    "WorkerDeleted", "WorkerConcurrencyChanged", "WorkerPrefetchChanged", "WorkerBatchChanged",
    "WorkerSignalled", "WorkerUpdated",
]

# v1's worker-level signals (`worker.signal`): not Unix signals, orders to the worker itself
CLEAN = -1               # remove every work dir no task uses (the kept dirs of failed tasks)
RESTART = -2             # claim nothing more, let held tasks end, then run again with the same arguments
RESET_RESOURCES = -3     # forget the resource cache
WORKER_SIGNALS = {CLEAN: "clean", RESTART: "restart", RESET_RESOURCES: "reset resources"}


class WorkerEvent(Event, kw_only=True):
    """Base of the worker aggregate's events: which worker (its id, and its name at the time)."""
    worker_id: int
    worker: str


WorkerRegistered = derive(
    "WorkerRegistered", WorkerFields, bases=(WorkerEvent,), tag="worker.registered", module=__name__,
    tail=(("status", str, "running"), ("incarnation", str, ""), ("reattached", bool, False)))
WorkerRegistered.__doc__ = "A worker registered (or came back: `reattached`), with every field of `WorkerFields`."


class WorkerOnline(WorkerEvent, tag="worker.online", kw_only=True):
    pass


class WorkerOffline(WorkerEvent, tag="worker.offline", kw_only=True):
    pass


class WorkerLost(WorkerEvent, tag="worker.lost", kw_only=True):
    """Offline for too long (or restarted without its tasks): its attempts are withdrawn."""
    reason: str = ""


class WorkerPaused(WorkerEvent, tag="worker.paused", kw_only=True):
    pass


class WorkerResumed(WorkerEvent, tag="worker.running", kw_only=True):
    pass


class WorkerDeleted(WorkerEvent, tag="worker.deleted", kw_only=True):
    pass


class WorkerConcurrencyChanged(WorkerEvent, tag="worker.concurrency_changed", kw_only=True):
    concurrency: int


class WorkerPrefetchChanged(WorkerEvent, tag="worker.prefetch_changed", kw_only=True):
    prefetch: int


class WorkerBatchChanged(WorkerEvent, tag="worker.batch_changed", kw_only=True):
    batch: str


class WorkerSignalled(WorkerEvent, tag="worker.signalled", kw_only=True):
    """A user asked the worker to clean its unused work dirs (-1), restart (-2) or forget its resources (-3).

    Version 2 names the order (`order`: clean, restart, reset resources) for readers of the ledger;
    version 1 entries are upcast (`scitq.events.upcasters`).
    """
    version: ClassVar[int] = 3     # 2: names its order; 3: the compact entry (events/base.py)
    signal: int
    order: str = ""

    def __post_init__(self) -> None:
        if not self.order and self.signal in WORKER_SIGNALS:
            msgspec.structs.force_setattr(self, "order", WORKER_SIGNALS[self.signal])


WorkerUpdated = derive(
    "WorkerUpdated", WorkerFields, bases=(WorkerEvent,), tag="worker.updated", module=__name__, mode="unset",
    tail=(("name", Union[str, UnsetType], UNSET),))
WorkerUpdated.__doc__ = ("A user edited a worker's description (hostname, flavor, permanent, task_properties, or "
                         "its `name`: a rename); only the fields given are in the event.")
