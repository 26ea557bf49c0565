"""Provides the consumer group of the queue streams, created by whoever needs it first (server or worker)."""

from __future__ import annotations

from typing import Any

import redis

from scitq import keys

__all__ = ["ensure_queue_group"]


def ensure_queue_group(r: Any, batch: str) -> None:
    """Create the `keys.QUEUE_GROUP` group (and the stream) of `batch`'s queue unless it exists already."""
    try:
        r.xgroup_create(keys.queue(batch), keys.QUEUE_GROUP, id="0-0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
