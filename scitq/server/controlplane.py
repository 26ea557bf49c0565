"""Provides the control plane loop: inbox and worker outboxes in, ledger + views + queues out, one MULTI a round."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from typing import Any

import redis

from scitq import keys
from scitq.errors import BadInput, ScitqError
from scitq.events import commands as c
from scitq.events.codec import event_fields
from scitq.projections.state import State
from scitq.projections.store import rebuild, replay, write_dirty
from scitq.server.decide import Decider, Effect
from scitq.settings import Settings

__all__ = ["ControlPlane", "AlreadyRunning"]

log = logging.getLogger("scitq.server")

LOCK_TTL = 10
BATCH = 1000


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AlreadyRunning(ScitqError):
    exit_code = 4


def _kind(exc: BaseException) -> str:
    from scitq.errors import Conflict, NotFound
    if isinstance(exc, NotFound):
        return "not_found"
    if isinstance(exc, BadInput):
        return "bad_input"
    if isinstance(exc, Conflict):
        return "conflict"
    return "error"


class ControlPlane:
    """The single writer of the ledger. `run()` loops until `stop()`; every round is one MULTI."""

    def __init__(self, r: redis.Redis, cfg: Settings) -> None:
        self.r = r
        self.cfg = cfg
        self.instance = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.state = State()
        self.decider = Decider(self.state, cfg.max_deliveries)
        self.cursors: dict[str, str] = {}
        self.last_seq: dict[str, tuple[str, int]] = {}
        self.groups: set[str] = set()
        self._stop = False
        self._next_reap = 0.0
        self._next_unclaimed = 0.0
        self._next_lock = 0.0
        self._alive: dict[str, bool] = {}
        self.rounds = 0
        self._reload = False

    # --- start / stop -------------------------------------------------------------------------
    def acquire(self, wait: float = LOCK_TTL + 2) -> None:
        deadline = time.monotonic() + wait
        while not self.r.set(keys.SERVER_LOCK, self.instance, nx=True, ex=LOCK_TTL):
            holder = self.r.get(keys.SERVER_LOCK) or ""
            if holder == self.instance:   # our own lock, come back with Redis's data
                self.r.set(keys.SERVER_LOCK, self.instance, ex=LOCK_TTL)
                return
            host, _, rest = holder.partition(":")
            pid = rest.partition(":")[0]
            if host == os.uname().nodename and pid.isdigit() and not _pid_alive(int(pid)):
                log.info("the previous server (%s) is dead: taking over its lock", holder)
                self.r.delete(keys.SERVER_LOCK)
                continue
            if time.monotonic() > deadline:
                holder = self.r.get(keys.SERVER_LOCK)
                raise AlreadyRunning(f"another scitq server is running on this Redis ({holder})")
            time.sleep(0.5)

    def load(self) -> None:
        """Fold the ledger into memory; repair the views if they do not match the ledger's end."""
        t0 = time.perf_counter()
        self.state = replay(self.r)
        self.decider = Decider(self.state, self.cfg.max_deliveries)
        checkpoint = self.r.get(keys.CHECKPOINT) or "0-0"
        if checkpoint != self.state.last_event_id:
            log.warning("views at %s but ledger at %s: rebuilding views", checkpoint, self.state.last_event_id)
            _, self.state = rebuild(self.r, verify=False)
            self.decider = Decider(self.state, self.cfg.max_deliveries)
        self.state.mark_indexed()
        stored = self.r.hgetall(keys.SERVER_CURSOR)
        self.cursors = {keys.INBOX: stored.get(keys.INBOX, "0-0")}
        for w in self.state.workers.values():
            self.cursors[keys.worker_outbox(w.name)] = stored.get(keys.worker_outbox(w.name), "0-0")
        for k, v in stored.items():
            if k.startswith("seq:"):
                inc, _, seq = v.rpartition(":")
                self.last_seq[k[4:]] = (inc, int(seq))
        log.info("loaded %d tasks, %d workers from the ledger (%s) in %.2fs", len(self.state.tasks),
                 len(self.state.workers), self.state.last_event_id, time.perf_counter() - t0)

    def stop(self) -> None:
        self._stop = True

    def run(self) -> None:
        self.run_with(None)

    def run_with(self, ready: Any) -> None:
        """Acquire the lock, load the ledger and loop until `stop()` (Redis outages are waited out)."""
        self.acquire()
        self.load()
        if ready is not None:
            ready.set()
        log.info("scitq server %s ready", self.instance)
        backoff = 0.5
        while not self._stop:
            try:
                self.round()
                backoff = 0.5
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("Redis unreachable (%s): retrying in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._reconnect()
        try:
            if self.r.get(keys.SERVER_LOCK) == self.instance:
                self.r.delete(keys.SERVER_LOCK, keys.SERVER_ALIVE)   # clients queue their writes at once
        except redis.RedisError:
            pass

    def _reconnect(self) -> None:
        try:
            self.r.ping()
        except redis.RedisError:
            return
        try:
            self.acquire()
            self.load()   # whatever was decided but not committed is decided again from the inputs
        except redis.RedisError:
            pass

    # --- one round ------------------------------------------------------------------------------
    def round(self, block_ms: int = 500) -> int:
        now = time.time()
        self.decider.now = now
        if time.monotonic() >= self._next_lock:
            self._refresh_lock()
        streams = dict(self.cursors)
        resp = self.r.xread(streams, count=BATCH, block=block_ms) or []
        self.decider.now = time.time()
        replies: list[tuple[str, str]] = []
        idem_sets: list[tuple[str, str]] = []
        rejected: list[dict[str, str]] = []
        applied: dict[str, list[str]] = {}
        cursor_updates: dict[str, str] = {}
        special: list[tuple[str, str, str]] = []
        n = 0
        for stream, entries in resp:
            if not entries:
                continue
            applied[stream] = [eid for eid, _ in entries]
            cursor_updates[stream] = entries[-1][0]
            n += len(entries)
            if stream == keys.INBOX:
                self._inbox(entries, replies, idem_sets, rejected, special)
            else:
                self._outbox(stream, entries, rejected, cursor_updates)
        if time.monotonic() >= self._next_reap:
            self._reap()
        acks = self._unclaimed() if time.monotonic() >= self._next_unclaimed else []
        self.decider.dispatch(self._alive)
        events, effects = self.decider.take()
        if events or effects or cursor_updates or replies or acks:
            self._commit(events, effects, cursor_updates, applied, replies, idem_sets, rejected, acks)
        if self._reload:
            self._reload = False
            rebuild(self.r, verify=False)   # the views may hold what the dropped events did
            self.load()
        for cid, tag, data in special:
            self._special(cid, tag, data)
        self.rounds += 1
        return n

    def _refresh_lock(self) -> None:
        holder = self.r.get(keys.SERVER_LOCK)
        if holder not in (None, self.instance):
            log.error("another server (%s) took the lock: stopping", holder)
            self._stop = True
            return
        pipe = self.r.pipeline(transaction=False)
        pipe.set(keys.SERVER_LOCK, self.instance, ex=LOCK_TTL)
        pipe.set(keys.SERVER_ALIVE, self.instance, ex=LOCK_TTL)
        pipe.execute()
        self._next_lock = time.monotonic() + 1.0

    def _inbox(self, entries, replies, idem_sets, rejected, special) -> None:
        idems = [f.get("idem") or f.get("id") or eid for eid, f in entries]
        known = self.r.mget([keys.idempotency(k) for k in idems]) if idems else []
        seen: dict[str, str] = {}
        for (eid, f), idem, stored in zip(entries, idems, known):
            cid = f.get("id") or eid
            want = f.get("reply") == "1"
            if stored is not None or idem in seen:
                if want:
                    replies.append((cid, stored if stored is not None else seen[idem]))
                continue
            tag = f.get("cmd")
            if tag == "admin.rebuild":
                special.append((cid, tag, f.get("data", "{}")))
                continue
            mark = (len(self.decider.events), len(self.decider.effects))
            try:
                cmd = c.decode_command(tag, f.get("data"))
                if tag == "worker.register":
                    self._track_outbox(cmd.name)  # type: ignore[attr-defined]
                result = self.decider.command(tag, cmd)
                answer = json.dumps({"ok": True, "result": result})
            except ScitqError as exc:
                self._undo(mark)
                answer = json.dumps({"ok": False, "error": exc.message, "hint": exc.hint, "kind": _kind(exc)})
                if isinstance(exc, BadInput) and _kind(exc) == "bad_input":
                    rejected.append({"stream": keys.INBOX, "entry": eid, "reason": exc.message, "cmd": str(tag)})
            except Exception as exc:  # a bug: set the command aside rather than loop on it
                log.exception("command %s (%s) crashed the handler", tag, eid)
                self._undo(mark, force=True)
                answer = json.dumps({"ok": False, "error": f"internal error on {tag}: {exc}", "kind": "error"})
                rejected.append({"stream": keys.INBOX, "entry": eid, "reason": f"internal error: {exc}",
                                 "cmd": str(tag)})
            seen[idem] = answer
            idem_sets.append((idem, answer))
            if want:
                replies.append((cid, answer))

    def _undo(self, mark: tuple[int, int], force: bool = False) -> None:
        """Drop what a failed handler emitted; the in-memory state is reloaded after the commit."""
        if force or len(self.decider.events) != mark[0]:
            del self.decider.events[mark[0]:]
            del self.decider.effects[mark[1]:]
            self._reload = True

    def _track_outbox(self, name: str) -> None:
        self.cursors.setdefault(keys.worker_outbox(name), "0-0")

    def _outbox(self, stream: str, entries, rejected, cursor_updates) -> None:
        name = stream[len(keys.PREFIX) + len(":worker:"):-len(":outbox")]
        inc_seq = self.last_seq.get(name)
        for eid, f in entries:
            inc, seq = f.get("inc", ""), f.get("seq", "")
            try:
                seq_n = int(seq)
            except ValueError:
                seq_n = -1
            if inc_seq is not None and seq_n >= 0 and inc == inc_seq[0] and seq_n <= inc_seq[1]:
                continue   # a report already applied, sent again
            if seq_n >= 0:
                inc_seq = (inc, seq_n)
            tag = f.get("f")
            try:
                fact = c.decode_fact(tag, f.get("data"))
            except BadInput as exc:
                rejected.append({"stream": stream, "entry": eid, "reason": exc.message, "worker": name})
                continue
            mark = (len(self.decider.events), len(self.decider.effects))
            try:
                self.decider.fact(name, tag, fact, inc)  # type: ignore[arg-type]
            except Exception as exc:  # a bug: set the report aside rather than loop on it
                log.exception("report %s (%s) from %s crashed the handler", tag, eid, name)
                self._undo(mark, force=True)
                rejected.append({"stream": stream, "entry": eid, "reason": f"internal error: {exc}", "worker": name})
        if inc_seq is not None:
            self.last_seq[name] = inc_seq
            cursor_updates[f"seq:{name}"] = f"{inc_seq[0]}:{inc_seq[1]}"

    def _reap(self) -> None:
        self._next_reap = time.monotonic() + self.cfg.reaper_interval
        workers = list(self.state.workers.values())
        if workers:
            pipe = self.r.pipeline(transaction=False)
            for w in workers:
                pipe.exists(keys.worker_alive(w.name))
            self._alive = {w.name: bool(x) for w, x in zip(workers, pipe.execute())}
        self.decider.worker_liveness(self._alive, self.cfg.lost_after)
        self.decider.timeouts()

    def _unclaimed(self) -> list[tuple[str, str]]:
        """Queue entries read by a worker that never claimed them (it died): requeue their tasks."""
        self._next_unclaimed = time.monotonic() + max(1.0, self.cfg.unclaimed_after / 4)
        acks: list[tuple[str, str]] = []
        idle_ms = int(self.cfg.unclaimed_after * 1000)
        for name, b in self.state.batches.items():
            if not b.queued:
                continue
            qkey = keys.queue(name)
            try:
                res = self.r.xautoclaim(qkey, keys.QUEUE_GROUP, "scitq-reaper", idle_ms, "0-0", count=200)
            except redis.ResponseError:
                continue
            for eid, fields in res[1]:
                if fields:
                    self.decider.requeue_unclaimed(int(fields.get("task", 0)), int(fields.get("attempt", 0)))
                acks.append((qkey, eid))
        return acks

    # --- commit -----------------------------------------------------------------------------------
    def _next_event_id(self) -> str:
        ms_s, _, seq_s = self.state.last_event_id.partition("-")
        last_ms, last_seq = int(ms_s), int(seq_s or 0)
        now_ms = int(time.time() * 1000)
        return f"{now_ms}-0" if now_ms > last_ms else f"{last_ms}-{last_seq + 1}"

    def _ensure_group(self, batch: str) -> None:
        if batch in self.groups:
            return
        try:
            self.r.xgroup_create(keys.queue(batch), keys.QUEUE_GROUP, id="0-0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self.groups.add(batch)

    def _commit(self, events, effects: list[Effect], cursor_updates, applied, replies, idem_sets, rejected,
                acks) -> None:
        for e in effects:
            if e.kind == "queue":
                self._ensure_group(e.target)
        pipe = self.r.pipeline(transaction=True)
        for ev in events:
            eid = self._next_event_id()
            self.state.last_event_id = eid
            pipe.xadd(keys.EVENTS, event_fields(ev), id=eid)
        write_dirty(self.state, pipe)
        if cursor_updates:
            pipe.hset(keys.SERVER_CURSOR, mapping=cursor_updates)
        for stream, ids in applied.items():
            pipe.xdel(stream, *ids)
        for cid, answer in replies:
            pipe.lpush(keys.reply(cid), answer)
            pipe.expire(keys.reply(cid), 600)
        for idem, answer in idem_sets:
            pipe.set(keys.idempotency(idem), answer, ex=86400)
        for e in effects:
            if e.kind == "queue":
                pipe.xadd(keys.queue(e.target), e.fields)
            elif e.kind == "purge":
                pipe.xtrim(keys.queue(e.target), maxlen=0)
            elif e.kind == "control":
                pipe.xadd(keys.worker_control(e.target), e.fields, maxlen=1000, approximate=True)
            elif e.kind == "ack":
                pipe.xack(keys.queue(e.target), keys.QUEUE_GROUP, e.fields["id"])
                pipe.xdel(keys.queue(e.target), e.fields["id"])
        for qkey, eid in acks:
            pipe.xack(qkey, keys.QUEUE_GROUP, eid)
            pipe.xdel(qkey, eid)
        for rej in rejected:
            pipe.xadd(keys.REJECTED, rej, maxlen=10000, approximate=True)
        results = pipe.execute(raise_on_error=False)
        errors = [r for r in results if isinstance(r, Exception)]
        for stream, last in cursor_updates.items():
            if not stream.startswith("seq:"):
                self.cursors[stream] = last
        if errors:
            log.error("commit had %d failing commands (first: %s): reloading from the ledger", len(errors), errors[0])
            _, self.state = rebuild(self.r, verify=False)
            self.load()

    # --- admin --------------------------------------------------------------------------------------
    def _special(self, cid: str, tag: str, data: str) -> None:
        try:
            cmd = c.decode_command(tag, data)
            report, state = rebuild(self.r, verify=cmd.verify)  # type: ignore[attr-defined]
            self.state = state
            self.decider = Decider(self.state, self.cfg.max_deliveries)   # rebuild left it indexed
            answer = json.dumps({"ok": True, "result": {"summary": report.summary(), "equal": report.equal,
                                                        "differences": report.differences[:50],
                                                        "events": report.events, "seconds": report.seconds}})
        except ScitqError as exc:
            answer = json.dumps({"ok": False, "error": exc.message, "kind": _kind(exc)})
        pipe = self.r.pipeline(transaction=True)
        pipe.lpush(keys.reply(cid), answer)
        pipe.expire(keys.reply(cid), 600)
        pipe.execute()
