"""Provides `Recorder`: the single place that writes a round (ledger, views, cursors, replies, queues)."""

from __future__ import annotations

import time
from typing import Any

import redis

from scitq import keys
from scitq.events.codec import event_fields
from scitq.projections.state import State
from scitq.projections.store import write_dirty
from scitq.queues import ensure_queue_group
from scitq.server.round import Round, seq_field

__all__ = ["Recorder"]


class Recorder:
    """Writes a `Round` in one MULTI: the events with ids it chooses, the views that changed, the
    checkpoint, the cursors, the deletion of the applied inputs, the replies, the idempotency records,
    the queue entries, the acks, the orders to workers and the rejected entries."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.groups: set[str] = set()

    def _next_event_id(self, state: State) -> str:
        ms_s, _, seq_s = state.last_event_id.partition("-")
        last_ms, last_seq = int(ms_s), int(seq_s or 0)
        now_ms = int(time.time() * 1000)
        return f"{now_ms}-0" if now_ms > last_ms else f"{last_ms}-{last_seq + 1}"

    def _ensure_group(self, batch: str) -> None:
        if batch in self.groups:
            return
        ensure_queue_group(self.r, batch)
        self.groups.add(batch)

    def write(self, rnd: Round, state: State) -> list[Exception]:
        """Commit `rnd` (and the views `state` marks dirty); the failing commands, if any, are returned."""
        for e in rnd.effects:
            if e.kind == "queue":
                self._ensure_group(e.target)
        pipe: Any = self.r.pipeline(transaction=True)
        for ev in rnd.events:
            eid = self._next_event_id(state)
            state.last_event_id = eid
            pipe.xadd(keys.EVENTS, event_fields(ev), id=eid)
        write_dirty(state, pipe)
        cursors = {**rnd.cursors, **{seq_field(w): v for w, v in rnd.sequences.items()}}
        if cursors:
            pipe.hset(keys.SERVER_CURSOR, mapping=cursors)
        for stream, ids in rnd.applied.items():
            pipe.xdel(stream, *ids)
        for cid, answer in rnd.replies:
            pipe.lpush(keys.reply(cid), answer)
            pipe.expire(keys.reply(cid), 600)
        for idem, answer in rnd.idempotency:
            pipe.set(keys.idempotency(idem), answer, ex=86400)
        for e in rnd.effects:
            if e.kind == "queue":
                pipe.xadd(keys.queue(e.target), e.fields)
            elif e.kind == "purge":
                pipe.xtrim(keys.queue(e.target), maxlen=0)
            elif e.kind == "control":
                pipe.xadd(keys.worker_control(e.target), e.fields, maxlen=1000, approximate=True)
            elif e.kind == "ack":
                pipe.xack(keys.queue(e.target), keys.QUEUE_GROUP, e.fields["id"])
                pipe.xdel(keys.queue(e.target), e.fields["id"])
        for rej in rnd.rejected:
            pipe.xadd(keys.REJECTED, rej, maxlen=10000, approximate=True)
        results = pipe.execute(raise_on_error=False)
        return [res for res in results if isinstance(res, Exception)]

    def reply(self, cid: str, answer: str) -> None:
        """Answer a command handled outside a round (a rebuild)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.lpush(keys.reply(cid), answer)
        pipe.expire(keys.reply(cid), 600)
        pipe.execute()
