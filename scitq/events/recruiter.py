"""Provides the events of the recruiter aggregate (created, updated, deleted) and of its decisions."""

from __future__ import annotations

from typing import Any

from scitq.events.base import Event
from scitq.events.model import Positive, RecruiterFields, derive

__all__ = ["RecruiterCreated", "RecruiterUpdated", "RecruiterDeleted", "WorkerRecruited", "RecruiterDeployWanted"]


class RecruiterEvent(Event, kw_only=True):
    """Base of the recruiter aggregate's events: which recruiter (its batch and its rank)."""
    batch: str
    rank: Positive


RecruiterCreated = derive(
    "RecruiterCreated", RecruiterFields, bases=(RecruiterEvent,), tag="recruiter.created", module=__name__,
    tail=(("replaced", bool, False),))
RecruiterCreated.__doc__ = ("A recruiter was created for (batch, rank) with every field of `RecruiterFields` "
                            "(`replaced`: it took the place of the one of that rank).")

RecruiterUpdated = derive(
    "RecruiterUpdated", RecruiterFields, bases=(RecruiterEvent,), tag="recruiter.updated", module=__name__,
    mode="unset")
RecruiterUpdated.__doc__ = "A user changed some fields of a recruiter; only the fields given are in the event."


class RecruiterDeleted(RecruiterEvent, tag="recruiter.deleted", kw_only=True):
    """A recruiter was deleted (by a user, or with its batch: `reason`)."""
    reason: str = ""


class WorkerRecruited(RecruiterEvent, tag="worker.recruited", kw_only=True):
    """The recruiter (batch, rank) moved an idle worker into its batch, with its concurrency and prefetch.

    `previous_batch` is where the worker came from; `reason` says why the batch needed it;
    `task_properties` (None: unchanged) weigh the tasks it still runs for other batches (v1).
    """
    worker_id: int
    worker: str
    previous_batch: str
    concurrency: int
    prefetch: int
    reason: str = ""
    task_properties: dict[str, Any] | None = None


class RecruiterDeployWanted(RecruiterEvent, tag="recruiter.deploy_wanted", kw_only=True):
    """The recruiter needed `needed` more workers than it could recycle and may deploy (provider and
    region set), but deploying machines is not available on this server: said once per recruiter
    (again after it is changed)."""
    needed: int
    reason: str = ""
