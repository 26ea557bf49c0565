"""Provides `Recorder`: the single place that writes a round (ledger, views, cursors, replies, queues)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Sequence

import redis

from scitq import keys
from scitq.events.codec import event_fields
from scitq.projections.state import State
from scitq.projections.store import write_dirty
from scitq.queues import ensure_queue_group
from scitq.server.library import CommitRefused, Ops, ensure_library
from scitq.server.round import Round, seq_field
from scitq.io.wire import Wire

__all__ = ["Recorder", "not_acknowledged"]

log = logging.getLogger("scitq.server")


def not_acknowledged(replicas: int, timeout: float) -> str:
    """The answer to a command whose round no replica confirmed in time: applied on the primary, but a
    failover could still lose it, so it is not acknowledged; sent again with its idempotency key, it is
    answered once a replica holds it."""
    return json.dumps({
        "ok": False, "kind": "unreachable",
        "error": f"not acknowledged: written on the primary, but {replicas} replica(s) did not confirm it "
                 f"within {timeout:g}s (WAIT)",
        "hint": "send it again with the same idempotency key (scitq.lib.Server does); check the replicas "
                "(docs/scaling.md, Replica and Sentinel)"})


class Recorder:
    """Writes a `Round` all or nothing with one call of the `scitq_commit` Function (commit.lua): the events
    with ids it chooses, the views that changed, the checkpoint, the cursors, the deletion of the applied
    inputs, the replies, the idempotency records, the queue entries, the acks, the orders to workers and
    the rejected entries. The Function first checks the server lock (`lock_value`, the fence), the type of
    every key but the views, and every entry id, and writes nothing if one check fails (`CommitRefused`).
    The views are written first: one of the wrong type stops the call before anything else is written
    (`CommitRefused` too; the views are then rebuilt from the ledger).

    With `wait_replicas` > 0 (a primary with replicas), a round that answers commands is acknowledged
    only once that many replicas hold it: the commit and a `WAIT` go on one connection, and the replies
    are written after; if WAIT times out, each command is answered `not acknowledged` instead."""

    def __init__(self, r: redis.Redis, wait_replicas: int = 0, wait_timeout: float = 2.0) -> None:
        self.r = r
        self.groups: set[str] = set()
        self.lock_value = ""
        self.lock_ttl_ms = 10_000
        self.wait_replicas = wait_replicas
        self.wait_timeout = wait_timeout
        self.unconfirmed = False   # the last WAIT timed out (said once, until a WAIT succeeds again)
        self.wire = Wire(r)        # the commit's connection (the control plane reads its inputs on it too)

    def _event_ids(self, state: State, n: int) -> list[str]:
        """The ids of the round's `n` events: from now (ms) or, when the ledger is already there, just after
        its last id; `state.last_event_id` becomes the last of them."""
        if not n:
            return []
        ms_s, _, seq_s = state.last_event_id.partition("-")
        last_ms, last_seq = int(ms_s), int(seq_s or 0)
        now_ms = int(time.time() * 1000)
        ms, seq = (now_ms, 0) if now_ms > last_ms else (last_ms, last_seq + 1)
        ids = [f"{ms}-{seq + i}" for i in range(n)]
        state.last_event_id = ids[-1]
        return ids

    def _ensure_group(self, batch: str) -> None:
        if batch in self.groups:
            return
        ensure_queue_group(self.r, batch)
        self.groups.add(batch)

    def write(self, rnd: Round, state: State, probe: Sequence[str] = ()) -> int | None:
        """Commit `rnd` (and the views `state` marks dirty); raises `CommitRefused` if nothing was written.
        With `probe` (keys), returns how many of them exist just after the commit, asked in the same round
        trip (the control plane probes the output streams of the attempts that ended); else None."""
        for e in rnd.effects:
            if e.kind == "queue":
                self._ensure_group(e.target)
        ops = Ops(keys.SERVER_LOCK, keys.EVENTS, keys.SERVER_EPOCH)
        ids = self._event_ids(state, len(rnd.events))
        write_dirty(state, ops)   # the views first (see commit.lua), the checkpoint last of them
        for ev, eid in zip(rnd.events, ids):
            ops.xadd(keys.EVENTS, event_fields(ev), id=eid)
        cursors = {**rnd.cursors, **{seq_field(w): v for w, v in rnd.sequences.items()}}
        if cursors:
            ops.hset(keys.SERVER_CURSOR, mapping=cursors)
        for stream, ids in rnd.applied.items():
            ops.xdel(stream, *ids)
        waiting = bool(self.wait_replicas and rnd.replies)
        for cid, answer in ([] if waiting else rnd.replies):
            ops.lpush(keys.reply(cid), answer)
            ops.expire(keys.reply(cid), 600)
        for worker, cid, answer in rnd.worker_replies:
            ops.lpush(keys.worker_reply(worker, cid), answer)
            ops.expire(keys.worker_reply(worker, cid), 600)
        for idem, answer in rnd.idempotency:
            ops.set(keys.idempotency(idem), answer, ex=86400)
        acks: dict[str, list[str]] = {}
        for e in rnd.effects:
            if e.kind == "queue":
                ops.xadd(keys.queue(e.target), e.fields)
            elif e.kind == "purge":
                ops.xtrim(keys.queue(e.target), maxlen=0)
            elif e.kind == "control":
                ops.xadd(keys.worker_control(e.target), e.fields)
                ops.xtrim(keys.worker_control(e.target), maxlen=1000, approximate=True)
            elif e.kind == "ack":
                acks.setdefault(e.target, []).append(e.fields["id"])
        for batch, entries in acks.items():     # one XACK and one XDEL per queue and round
            for i in range(0, len(entries), 1000):
                ops.xack(keys.queue(batch), keys.QUEUE_GROUP, *entries[i:i + 1000])
            ops.xdel(keys.queue(batch), *entries)
        for rej in rnd.rejected:
            ops.xadd(keys.REJECTED, rej)
        if rnd.rejected:
            ops.xtrim(keys.REJECTED, maxlen=10000, approximate=True)
        call_keys, args = ops.call_args(self.lock_value, self.lock_ttl_ms, keys.VIEW_PREFIX)
        if waiting:
            self._commit_and_wait(call_keys, args, rnd.replies)
            return None
        return self._commit_and_probe(call_keys, args, probe)

    def _commit_and_probe(self, call_keys: list[str], args: list, probe: Sequence[str]) -> int | None:
        """The commit, and `EXISTS probe...` when asked, in one round trip; how many of `probe` exist (None:
        not asked, or EXISTS refused)."""
        found = self._commit(call_keys, args, ("EXISTS", *probe) if probe else None)
        return found if isinstance(found, int) else None

    def _commit(self, call_keys: list[str], args: list, then: tuple[Any, ...] | None = None) -> Any:
        """FCALL scitq_commit on the wire, followed in the same round trip (and on the same connection) by the
        command `then` when given; `then`'s reply (its error as a `redis.ResponseError`). A Valkey that lost
        the library gets it again and the commit is sent once more (as `fcall` does); a refused commit
        raises `CommitRefused`."""
        commands: list[tuple[Any, ...]] = [("FCALL", "scitq_commit", len(call_keys), *call_keys, *args)]
        if then is not None:
            commands.append(then)
        for _ in range(2):
            replies = self.wire.execute(commands)
            committed = replies[0]
            if isinstance(committed, redis.ResponseError) and "function not found" in str(committed).lower():
                ensure_library(self.r, force=True)
                continue
            break
        if isinstance(committed, redis.ResponseError):
            raise CommitRefused(str(committed))
        return replies[1] if then is not None else None

    def _commit_and_wait(self, call_keys: list[str], args: list, replies: list[tuple[str, str]]) -> None:
        """The commit, then WAIT on the same connection (WAIT counts the replicas that hold this
        connection's writes), then the replies: the true ones if the replicas confirmed, else `not
        acknowledged`. A reply lost with the primary is only a command sent again."""
        confirmed = self._commit(call_keys, args, ("WAIT", self.wait_replicas, int(self.wait_timeout * 1000)))
        if isinstance(confirmed, Exception):
            log.error("WAIT refused (%s): the answers say `not acknowledged`", confirmed)
            confirmed = -1
        if confirmed >= self.wait_replicas:
            if self.unconfirmed:
                log.warning("the replicas confirm the writes again (%d of %d)", confirmed, self.wait_replicas)
                self.unconfirmed = False
        else:
            if not self.unconfirmed:
                log.warning("%d of %d replica(s) confirmed the round within %gs: commands are answered "
                            "`not acknowledged` until they do", max(confirmed, 0), self.wait_replicas,
                            self.wait_timeout)
                self.unconfirmed = True
            refusal = not_acknowledged(self.wait_replicas, self.wait_timeout)
            replies = [(cid, refusal) for cid, _ in replies]
        pipe = self.r.pipeline(transaction=True)
        for cid, answer in replies:
            pipe.lpush(keys.reply(cid), answer)
            pipe.expire(keys.reply(cid), 600)
        pipe.execute()

    def reply(self, cid: str, answer: str) -> None:
        """Answer a command handled outside a round (a rebuild)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.lpush(keys.reply(cid), answer)
        pipe.expire(keys.reply(cid), 600)
        pipe.execute()
