"""Provides `Recorder`: the single place that writes a round (ledger, views, cursors, replies, queues)."""

from __future__ import annotations

import time

import redis

from scitq import keys
from scitq.events.codec import event_fields
from scitq.projections.state import State
from scitq.projections.store import write_dirty
from scitq.queues import ensure_queue_group
from scitq.server.library import CommitRefused, Ops, fcall
from scitq.server.round import Round, seq_field

__all__ = ["Recorder"]


class Recorder:
    """Writes a `Round` all or nothing with one call of the `scitq_commit` Function (commit.lua): the events
    with ids it chooses, the views that changed, the checkpoint, the cursors, the deletion of the applied
    inputs, the replies, the idempotency records, the queue entries, the acks, the orders to workers and
    the rejected entries. The Function first checks the server lock (`lock_value`, the fence), the type of
    every key but the views, and every entry id, and writes nothing if one check fails (`CommitRefused`).
    The views are written first: one of the wrong type stops the call before anything else is written
    (`CommitRefused` too; the views are then rebuilt from the ledger)."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self.groups: set[str] = set()
        self.lock_value = ""
        self.lock_ttl_ms = 10_000

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

    def write(self, rnd: Round, state: State) -> None:
        """Commit `rnd` (and the views `state` marks dirty); raises `CommitRefused` if nothing was written."""
        for e in rnd.effects:
            if e.kind == "queue":
                self._ensure_group(e.target)
        ops = Ops(keys.SERVER_LOCK, keys.EVENTS, keys.SERVER_EPOCH)
        ids = []
        for _ in rnd.events:
            ids.append(self._next_event_id(state))
            state.last_event_id = ids[-1]
        write_dirty(state, ops)   # the views first (see commit.lua), the checkpoint last of them
        for ev, eid in zip(rnd.events, ids):
            ops.xadd(keys.EVENTS, event_fields(ev), id=eid)
        cursors = {**rnd.cursors, **{seq_field(w): v for w, v in rnd.sequences.items()}}
        if cursors:
            ops.hset(keys.SERVER_CURSOR, mapping=cursors)
        for stream, ids in rnd.applied.items():
            ops.xdel(stream, *ids)
        for cid, answer in rnd.replies:
            ops.lpush(keys.reply(cid), answer)
            ops.expire(keys.reply(cid), 600)
        for worker, cid, answer in rnd.worker_replies:
            ops.lpush(keys.worker_reply(worker, cid), answer)
            ops.expire(keys.worker_reply(worker, cid), 600)
        for idem, answer in rnd.idempotency:
            ops.set(keys.idempotency(idem), answer, ex=86400)
        for e in rnd.effects:
            if e.kind == "queue":
                ops.xadd(keys.queue(e.target), e.fields)
            elif e.kind == "purge":
                ops.xtrim(keys.queue(e.target), maxlen=0)
            elif e.kind == "control":
                ops.xadd(keys.worker_control(e.target), e.fields)
                ops.xtrim(keys.worker_control(e.target), maxlen=1000, approximate=True)
            elif e.kind == "ack":
                ops.xack(keys.queue(e.target), keys.QUEUE_GROUP, e.fields["id"])
                ops.xdel(keys.queue(e.target), e.fields["id"])
        for rej in rnd.rejected:
            ops.xadd(keys.REJECTED, rej)
        if rnd.rejected:
            ops.xtrim(keys.REJECTED, maxlen=10000, approximate=True)
        call_keys, args = ops.call_args(self.lock_value, self.lock_ttl_ms, keys.VIEW_PREFIX)
        try:
            fcall(self.r, "scitq_commit", call_keys, args)
        except redis.ResponseError as exc:
            raise CommitRefused(str(exc)) from None

    def reply(self, cid: str, answer: str) -> None:
        """Answer a command handled outside a round (a rebuild)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.lpush(keys.reply(cid), answer)
        pipe.expire(keys.reply(cid), 600)
        pipe.execute()
