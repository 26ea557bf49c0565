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
from scitq.errors import BadInput, ScitqError, error_kind
from scitq.events import commands as c
from scitq.projections.state import State
from scitq.projections.store import rebuild, replay
from scitq.server.decide import Decider
from scitq.server.recorder import Recorder
from scitq.server.round import Round, seq_field
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
        self.recorder = Recorder(r)
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
        checkpoint = self.r.get(keys.CHECKPOINT) or "0-0"
        if checkpoint != self.state.last_event_id:
            log.warning("views at %s but ledger at %s: rebuilding views", checkpoint, self.state.last_event_id)
            _, self.state = rebuild(self.r, verify=False)
        self.state.mark_indexed()
        self.decider.reset(self.state)
        stored = self.r.hgetall(keys.SERVER_CURSOR)
        self.cursors = {keys.INBOX: stored.get(keys.INBOX, "0-0")}
        for w in self.state.workers.values():
            self.cursors[keys.worker_outbox(w.name)] = stored.get(keys.worker_outbox(w.name), "0-0")
        prefix = seq_field("")
        for k, v in stored.items():
            if k.startswith(prefix):
                inc, _, seq = v.rpartition(":")
                self.last_seq[k[len(prefix):]] = (inc, int(seq))
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
        """Read the inputs, decide, and hand the round (the unit of commit) to the recorder."""
        if time.monotonic() >= self._next_lock:
            self._refresh_lock()
        resp = self.r.xread(dict(self.cursors), count=BATCH, block=block_ms) or []
        rnd = self.decider.begin(time.time())
        specials: list[tuple[str, str, str]] = []
        n = 0
        for stream, entries in resp:
            if not entries:
                continue
            rnd.applied[stream] = [eid for eid, _ in entries]
            rnd.cursors[stream] = entries[-1][0]
            n += len(entries)
            if stream == keys.INBOX:
                specials += self._inbox(rnd, entries)
            else:
                self._outbox(rnd, stream, entries)
        if time.monotonic() >= self._next_reap:
            self._reap()
        if time.monotonic() >= self._next_unclaimed:
            self._unclaimed()
        self.decider.dispatch(self._alive)
        if rnd:
            self._commit(rnd)
        if self._reload:
            self._reload = False
            rebuild(self.r, verify=False)   # the views may hold what the dropped events did
            self.load()
        for cid, tag, data in specials:
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

    def _inbox(self, rnd: Round, entries) -> list[tuple[str, str, str]]:
        """Decide on the commands; those handled outside the round (a rebuild) are returned."""
        idems = [f.get("idem") or f.get("id") or eid for eid, f in entries]
        known = self.r.mget([keys.idempotency(k) for k in idems]) if idems else []
        seen: dict[str, str] = {}
        specials = []
        for (eid, f), idem, stored in zip(entries, idems, known):
            cid = f.get("id") or eid
            want = f.get("reply") == "1"
            if stored is not None or idem in seen:
                if want:
                    rnd.replies.append((cid, stored if stored is not None else seen[idem]))
                continue
            tag = f.get("cmd")
            if tag == "admin.rebuild":
                specials.append((cid, tag, f.get("data", "{}")))
                continue
            mark = rnd.mark()
            try:
                cmd = c.decode_command(tag, f.get("data"))
                if tag == "worker.register":
                    self._track_outbox(cmd.name)  # type: ignore[attr-defined]
                result = self.decider.command(tag, cmd)
                answer = json.dumps({"ok": True, "result": result})
            except ScitqError as exc:
                self._undo(rnd, mark)
                answer = json.dumps({"ok": False, "error": exc.message, "hint": exc.hint, "kind": error_kind(exc)})
                if isinstance(exc, BadInput) and error_kind(exc) == "bad_input":
                    rnd.rejected.append({"stream": keys.INBOX, "entry": eid, "reason": exc.message, "cmd": str(tag)})
            except Exception as exc:  # a bug: set the command aside rather than loop on it
                log.exception("command %s (%s) crashed the handler", tag, eid)
                self._undo(rnd, mark, force=True)
                answer = json.dumps({"ok": False, "error": f"internal error on {tag}: {exc}", "kind": "error"})
                rnd.rejected.append({"stream": keys.INBOX, "entry": eid, "reason": f"internal error: {exc}",
                                     "cmd": str(tag)})
            seen[idem] = answer
            rnd.idempotency.append((idem, answer))
            if want:
                rnd.replies.append((cid, answer))
        return specials

    def _undo(self, rnd: Round, mark: tuple[int, int], force: bool = False) -> None:
        """Drop what a failed handler emitted; the in-memory state is reloaded after the commit."""
        if rnd.undo(mark) or force:
            self._reload = True

    def _track_outbox(self, name: str) -> None:
        self.cursors.setdefault(keys.worker_outbox(name), "0-0")

    def _outbox(self, rnd: Round, stream: str, entries) -> None:
        name = keys.worker_of_outbox(stream) or stream
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
                rnd.rejected.append({"stream": stream, "entry": eid, "reason": exc.message, "worker": name})
                continue
            mark = rnd.mark()
            try:
                self.decider.fact(name, tag, fact, inc)  # type: ignore[arg-type]
            except Exception as exc:  # a bug: set the report aside rather than loop on it
                log.exception("report %s (%s) from %s crashed the handler", tag, eid, name)
                self._undo(rnd, mark, force=True)
                rnd.rejected.append({"stream": stream, "entry": eid, "reason": f"internal error: {exc}",
                                     "worker": name})
        if inc_seq is not None:
            self.last_seq[name] = inc_seq
            rnd.sequences[name] = f"{inc_seq[0]}:{inc_seq[1]}"

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
        if self.state.recruiters:
            self.decider.recruit()      # the recruiters move idle workers (liveness first: not offline ones)

    def _unclaimed(self) -> None:
        """Queue entries read by a worker that never claimed them (it died): requeue their tasks."""
        self._next_unclaimed = time.monotonic() + max(1.0, self.cfg.unclaimed_after / 4)
        idle_ms = int(self.cfg.unclaimed_after * 1000)
        for name, b in self.state.batches.items():
            if not b.queued:
                continue
            try:
                res = self.r.xautoclaim(keys.queue(name), keys.QUEUE_GROUP, "scitq-reaper", idle_ms, "0-0", count=200)
            except redis.ResponseError:
                continue
            for eid, fields in res[1]:
                if fields:
                    self.decider.requeue_unclaimed(int(fields.get("task", 0)), int(fields.get("attempt", 0)))
                self.decider.effect("ack", name, {"id": eid})

    # --- commit -----------------------------------------------------------------------------------
    def _commit(self, rnd: Round) -> None:
        errors = self.recorder.write(rnd, self.state)
        self.cursors.update(rnd.cursors)
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
            self.decider.reset(self.state)   # rebuild left it indexed
            answer = json.dumps({"ok": True, "result": {"summary": report.summary(), "equal": report.equal,
                                                        "differences": report.differences[:50],
                                                        "events": report.events, "seconds": report.seconds}})
        except ScitqError as exc:
            answer = json.dumps({"ok": False, "error": exc.message, "kind": error_kind(exc)})
        self.recorder.reply(cid, answer)
