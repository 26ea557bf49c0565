"""Provides the events of the batch aggregate (a batch exists from its first task to its deletion)."""

from __future__ import annotations

from scitq.events.base import Event

__all__ = ["BatchCreated", "BatchPaused", "BatchResumed", "BatchDeleted"]


class BatchCreated(Event, tag="batch.created", kw_only=True):
    batch: str


class BatchPaused(Event, tag="batch.paused", kw_only=True):
    batch: str
    signal: int = 0


class BatchResumed(Event, tag="batch.resumed", kw_only=True):
    batch: str
    signal: int = 0


class BatchDeleted(Event, tag="batch.deleted", kw_only=True):
    batch: str
