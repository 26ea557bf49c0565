"""Provides the events of the deploy aggregate: a machine asked for, made, failed, destroyed, and what it cost.

Every step of a machine's life is one event keyed by its worker's name (`worker`) and the batch it was made
for (`batch`), so `scitq events history --worker W` or `--batch B` tells why each machine was started, on
which flavor and at which price, and when and why it was stopped.
"""

from __future__ import annotations

from scitq.events.base import Event
from scitq.events.model import DeployFields, Positive, derive

__all__ = ["DeployRequested", "DeployStarted", "DeploySucceeded", "DeployFailed", "DestroyRequested", "DestroyDone",
           "WorkerEvicted"]


class DeployEvent(Event, kw_only=True):
    """Base of the deploy aggregate's events: which machine (its worker's name) and for which batch."""
    worker: str
    batch: str = ""


DeployRequested = derive(
    "DeployRequested", DeployFields, bases=(DeployEvent,), tag="deploy.requested", module=__name__,
    skip=("batch",),
    tail=(("why", str, "user"), ("rank", int, 0), ("reason", str, "")))
DeployRequested.__doc__ = ("A machine was asked for (`why`: recruiter (batch, `rank`) or user), with every field of "
                           "`DeployFields`: its flavor, region, provider and price per hour; `reason` in words.")


class DeployStarted(DeployEvent, tag="deploy.started", kw_only=True):
    """The deploy job began its `attempt`-th try (1, then each retry)."""
    attempt: Positive = 1


class DeploySucceeded(DeployEvent, tag="deploy.succeeded", kw_only=True):
    """The provider runs the machine (`instance`: its own id, `ipv4`); its cost counts from now."""
    instance: str = ""
    ipv4: str = ""


class DeployFailed(DeployEvent, tag="deploy.failed", kw_only=True):
    """A try failed (`kind`: auth, quota, capacity, unsupported_flavor, transient, error); `final`: no retry is
    left (or none would help) and the deploy is over."""
    kind: str = "error"
    message: str = ""
    attempt: int = 1
    final: bool = True
    flavor: str = ""
    region: str = ""
    provider: str = ""


class DestroyRequested(DeployEvent, tag="destroy.requested", kw_only=True):
    """The machine is to be destroyed (`why`: idle, deleted, evicted, orphan, never registered, deploy failed;
    `reason` in words, e.g. "idle for 300s")."""
    why: str
    reason: str = ""


class DestroyDone(DeployEvent, tag="destroy.done", kw_only=True):
    """The machine is gone (its credential revoked). It ran `seconds` and cost `cost` (price x lifetime);
    `error` says why the provider's delete failed, if it did (the machine may then be an orphan)."""
    seconds: float = 0.0
    cost: float = 0.0
    error: str = ""


class WorkerEvicted(Event, tag="worker.evicted", kw_only=True):
    """The provider took the worker's machine back (a spot eviction): its tasks went back to the queue without
    using a retry, and its machine is destroyed."""
    worker_id: int
    worker: str
