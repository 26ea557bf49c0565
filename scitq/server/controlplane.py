"""Provides the control plane loop: inbox and worker outboxes in, ledger + views + queues out, one fenced commit a round."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Union

import msgspec
import redis

from scitq import keys
from scitq.connection import replicas_to_wait
from scitq.errors import BadInput, ScitqError, error_kind
from scitq.events import commands as c
from scitq.events.limits import check_entry_size, check_fields
from scitq.projections.snapshot import NoSnapshot, fold_tail, hydrate, load_live, tasks_of_execution, write_now
from scitq.projections.state import State
from scitq.projections.store import batch_ids, rebuild, status_ids
from scitq.server.archiver import Archiver, drop_outputs, pack_outputs
from scitq.server.decide import Decider
from scitq.server.library import CommitRefused, ensure_library
from scitq.server.lock import LOCK_TTL, AlreadyRunning, ServerLock
from scitq.server.recorder import Recorder
from scitq.server.round import Round, seq_field
from scitq.io.wire import Wire, stream_entries
from scitq.settings import Settings

__all__ = ["ControlPlane", "AlreadyRunning"]

log = logging.getLogger("scitq.server")

BATCH = 1000
_ENTRY_ID = re.compile(r"^[0-9]{1,15}(-[0-9]{1,15})?$")


class _ClaimRef(msgspec.Struct):
    """The queue entry a `claimed` or `started` report names (its other fields are not read here)."""
    entry: Union[str, None] = None
    queue: Union[str, None] = None


_read_claim = msgspec.json.Decoder(_ClaimRef).decode


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _ledger_end(r: redis.Redis) -> str | None:
    """The id of the ledger's last entry ever added (None: no ledger)."""
    if not r.exists(keys.EVENTS):
        return None
    info = r.xinfo_stream(keys.EVENTS)   # a key of another type: the error is the caller's to wait out
    last = info.get("last-generated-id")
    return None if not last or last == "0-0" else str(last)


def _malloc_trim() -> Any:
    try:
        import ctypes
        import ctypes.util
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):   # not glibc: its allocator gives memory back by itself or not at all
        return None


_TRIM = _malloc_trim()


def _release_memory() -> None:
    """Give the C allocator's free memory back to the system. A burst (a submission of thousands of
    tasks, a start-up reading the views) allocates far more for a moment (decoded commands, events, the
    commit's arguments) than the state it leaves behind; glibc keeps those freed pages in the process
    unless asked, and the server's RSS would show the largest burst seen rather than the live tasks."""
    if _TRIM is not None:
        _TRIM(0)


class ControlPlane:
    """The single writer of the ledger. `run()` loops until `stop()`; every round is one fenced commit."""

    def __init__(self, r: redis.Redis, cfg: Settings) -> None:
        self.r = r
        self.cfg = cfg
        self.lock = ServerLock(r, ttl=cfg.lock_ttl)
        self.instance = self.lock.identity
        self.state = State()
        self.decider = Decider(self.state, cfg.max_deliveries)
        self.cursors: dict[str, str] = {}
        self.last_seq: dict[str, tuple[str, int]] = {}
        self.recorder = Recorder(r, replicas_to_wait(r, cfg), cfg.wait_timeout)
        self._stop = False
        self._next_reap = 0.0
        self._next_unclaimed = 0.0
        self._next_lock = 0.0
        self._alive: dict[str, bool] = {}
        self.rounds = 0
        self._reload = False
        self._decided = False     # the in-memory state holds decisions not committed yet
        self._fenced = False
        self.set_aside: dict[str, str] = {}
        self.archiver = Archiver(r, cfg)
        self.decider.name_prefix = cfg.server_name
        self._jobs_conn: Any = None
        self.job_runner: Any = None       # starts the job runner (serve() sets it; None: run `scitq jobs` yourself)
        self._next_sweep = time.monotonic() + cfg.orphan_interval
        self._read_since_trim = 0       # entries read since the memory was last given back

    # --- start / stop -------------------------------------------------------------------------
    def acquire(self, wait: float | None = LOCK_TTL + 2) -> None:
        """Take the server lock, waiting `wait` seconds at most (None: for as long as another server
        holds it, the way a second server waits as a standby)."""
        ensure_library(self.r)
        self.lock.acquire(wait, stopping=lambda: self._stop)
        self.instance = self.lock.value
        self.recorder.lock_value = self.lock.value
        self.recorder.lock_ttl_ms = self.lock.ttl_ms
        self._fenced = False
        self._next_lock = time.monotonic() + 1.0

    def load(self) -> None:
        """Read the live state from the views (a snapshot at their checkpoint) and fold the ledger after
        it; the whole ledger is replayed only when the views hold no snapshot or one ahead of the ledger."""
        t0 = time.perf_counter()
        set_aside: dict[str, str] = {}
        with self.lock.kept():
            self.state, how = self._snapshot(set_aside)
        self._alert(set_aside)
        self._decided = False
        self.decider.reset(self.state)
        stored = self.r.hgetall(keys.SERVER_CURSOR)
        self.last_seq = {}
        self.cursors = {keys.INBOX: stored.get(keys.INBOX, "0-0")}
        for w in self.state.workers.values():
            self.cursors[keys.worker_outbox(w.name)] = stored.get(keys.worker_outbox(w.name), "0-0")
        self._load_announced(stored)
        prefix = seq_field("")
        for k, v in stored.items():
            if k.startswith(prefix):
                inc, _, seq = v.rpartition(":")
                self.last_seq[k[len(prefix):]] = (inc, int(seq))
        _release_memory()
        self._read_since_trim = 0
        log.info("loaded %d live tasks, %d workers (%s, ledger at %s) in %.2fs", len(self.state.tasks),
                 len(self.state.workers), how, self.state.last_event_id, time.perf_counter() - t0)
        self._resume_jobs()

    def _snapshot(self, set_aside: dict[str, str]) -> tuple[State, str]:
        checkpoint = self.r.get(keys.CHECKPOINT)
        last = _ledger_end(self.r)
        if checkpoint and (last is None or _id(last) < _id(checkpoint)):
            log.warning("views at %s but ledger at %s: rebuilding views", checkpoint, last or "0-0")
        else:
            try:
                state = load_live(self.r)
                n = fold_tail(self.r, state, set_aside)
                if n:
                    write_now(self.r, state)
                state.evict()
                return state, f"views at {checkpoint} + {n} ledger entries"
            except NoSnapshot:
                if last is None:
                    return State(), "empty ledger"
                log.warning("no snapshot in the views (checkpoint %s): rebuilding them from the ledger", checkpoint)
        _, state = rebuild(self.r, verify=False, set_aside=set_aside)
        state.evict_all()
        return state, "full replay"

    def _load_announced(self, stored: dict[str, str]) -> None:
        """Read the outboxes of every announced worker name too (`scitq access add worker NAME` announces it):
        a worker whose credential may not use the inbox registers through its outbox."""
        last = "0-0"
        for eid, f in self.r.xrange(keys.WORKER_ANNOUNCE):
            name = self._announced(f)
            if name:
                self.cursors[keys.worker_outbox(name)] = stored.get(keys.worker_outbox(name), "0-0")
            last = eid
        self.cursors[keys.WORKER_ANNOUNCE] = last

    def _announced(self, f: dict[str, str]) -> str:
        """The worker name of an announcement, its outbox read from now on ('' if it names none)."""
        name = f.get("name", "")
        if not name or ":" in name or len(name) > 100:
            return ""
        self._track_outbox(name)
        return name

    def _alert(self, set_aside: dict[str, str]) -> None:
        """Name the ledger entries replays skip (unknown type, newer version, corrupt): in the log, and in
        a hash `scitq events check` and operators read."""
        new = {eid: why for eid, why in set_aside.items() if eid not in self.set_aside}
        self.set_aside.update(set_aside)
        if not new:
            return
        for eid, why in list(new.items())[:20]:
            log.error("ledger entry %s set aside (skipped): %s", eid, why)
        log.error("%d ledger entries set aside; `scitq events check` lists them", len(self.set_aside))
        try:
            self.r.hset(keys.SET_ASIDE, mapping=new)
        except redis.RedisError:
            pass

    def stop(self) -> None:
        self._stop = True

    def run(self) -> None:
        self.run_with(None)

    def run_with(self, ready: Any) -> None:
        """Acquire the lock (waiting while another server holds it), load the ledger and loop until
        `stop()`. Redis outages and Redis errors are waited out with back-off; a server fenced out
        (another took the lock) stops writing and waits for the lock again."""
        try:
            self.acquire(wait=None)
        except AlreadyRunning:
            return
        self._load_retrying()
        if ready is not None:
            ready.set()
        self.archiver.start()
        log.info("scitq server %s ready", self.instance)
        backoff = 0.5
        while not self._stop:
            try:
                if self._fenced:
                    self._standby()
                    continue
                self.round()
                backoff = 0.5
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("Redis unreachable (%s): retrying in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._reconnect()
            except redis.RedisError as exc:
                log.error("Redis refused a command of the round (%s): retrying in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self._recover()
        self.archiver.stop()
        self.lock.release()

    def _load_retrying(self) -> None:
        """Load the ledger, waiting out Redis errors (a key of the wrong type, an outage) with back-off."""
        backoff = 0.5
        while not self._stop:
            try:
                self.load()
                return
            except redis.RedisError as exc:
                log.error("cannot load the ledger (%s): retrying in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _standby(self) -> None:
        """Fenced out: wait for the lock like a second server, then start again from the ledger."""
        log.error("server lock lost to another server: waiting for it to be free again")
        try:
            self.acquire(wait=None)
        except AlreadyRunning:
            return
        self._load_retrying()

    def _recover(self) -> None:
        """After a Redis error: forget what was decided but not written (it is decided again from the inputs)."""
        if not self._decided:
            return
        try:
            self.load()
        except redis.RedisError as exc:
            log.error("reload after a Redis error failed (%s): retrying", exc)

    def _reconnect(self) -> None:
        try:
            self.r.ping()
        except redis.RedisError:
            return
        try:
            if not self.lock.refresh():
                self._fenced = True
                return
            self.load()   # whatever was decided but not committed is decided again from the inputs
        except redis.ResponseError:
            try:
                self.acquire()
                self.load()
            except (redis.RedisError, ScitqError):
                pass
        except redis.RedisError:
            pass

    # --- one round ------------------------------------------------------------------------------
    def round(self, block_ms: int = 500) -> int:
        """Read the inputs, decide, and hand the round (the unit of commit) to the recorder."""
        if time.monotonic() >= self._next_lock:
            self._refresh_lock()
        if self._fenced:
            return 0
        resp = self._read(block_ms)
        self._decided = True
        rnd = self.decider.begin(time.time())
        specials: list[tuple[str, str, str]] = []
        n = 0
        delivered = self._delivered(resp)
        for stream, entries in resp:
            if not entries:
                continue
            rnd.cursors[stream] = entries[-1][0]
            n += len(entries)
            if stream == keys.WORKER_ANNOUNCE:   # kept: read again in full at every start
                for _eid, f in entries:
                    self._announced(f)
                continue
            rnd.applied[stream] = [eid for eid, _ in entries]
            if stream == keys.INBOX:
                specials += self._inbox(rnd, entries)
            else:
                self._outbox(rnd, stream, entries, delivered)
        if time.monotonic() >= self._next_reap:
            self._reap()
        if time.monotonic() >= self._next_unclaimed:
            self._unclaimed()
        self.decider.dispatch(self._alive)
        if rnd:
            self._commit(rnd)
        self._decided = False
        if self._reload:
            self._reload = False
            rebuild(self.r, verify=False)   # the views may hold what the dropped events did
            self.load()
        for cid, tag, data in specials:
            self._special(cid, tag, data)
        self.rounds += 1
        self._read_since_trim += n
        if n == 0 and self._read_since_trim:    # idle after some work: give back what it freed
            _release_memory()
            self._read_since_trim = 0
        return n

    def _read(self, block_ms: int | None) -> list[tuple[str, list[tuple[str, dict[str, str]]]]]:
        """The new entries of the inbox and outboxes (XREAD on the recorder's wire), waiting `block_ms` at most."""
        args: list[Any] = ["XREAD", "COUNT", BATCH]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        args.append("STREAMS")
        args.extend(self.cursors)
        args.extend(self.cursors.values())
        return stream_entries(self.recorder.wire.call(*args))

    def _refresh_lock(self) -> None:
        if not self.lock.refresh():
            self._fenced = True
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
            if tag in ("admin.rebuild", "admin.archive"):
                specials.append((cid, tag, f.get("data", "{}")))
                continue
            mark = rnd.mark()
            try:
                check_entry_size(tag, f.get("data"))
                cmd = c.decode_command(tag, f.get("data"))
                check_fields(cmd)
                if tag == "worker.register":
                    self._track_outbox(cmd.name)  # type: ignore[attr-defined]
                self._hydrate_command(tag, cmd)
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

    def _hydrate_command(self, tag: str, cmd: Any) -> None:
        """Read back from their views the finished tasks a command touches (the server keeps only live ones)."""
        ids: list[int] = []
        if getattr(cmd, "task_id", None) is not None:
            ids.append(cmd.task_id)
        ids += list(getattr(cmd, "task_ids", None) or ())
        if tag == "task.submit":
            ids += [req for spec in cmd.tasks for req in (spec.required_task_ids or ())]
        elif tag == "task.update" and isinstance(cmd.changes, dict):
            reqs = cmd.changes.get("required_task_ids")
            if isinstance(reqs, list):
                ids += [req for req in reqs if isinstance(req, int)]
        elif tag == "batch.delete":
            ids += batch_ids(self.r, cmd.batch)
        elif tag == "batch.relaunch_failed":
            failed = status_ids(self.r, ["failed"])
            ids += [t for t in batch_ids(self.r, cmd.batch) if t in failed]
        if any(isinstance(i, int) and i not in self.state.tasks for i in ids):
            hydrate(self.r, self.state, [i for i in ids if isinstance(i, int)])

    def _hydrate_fact(self, fact: Any) -> None:
        """A late report may be about a finished task: read it back (and the execution it was cached from)."""
        tid = getattr(fact, "task_id", None)
        if tid is not None and tid not in self.state.tasks:
            hydrate(self.r, self.state, [tid])
        cached = getattr(fact, "cached_from", None)
        if cached is not None and cached not in self.state.executions:
            hydrate(self.r, self.state, tasks_of_execution(self.r, self.state, cached))

    def _track_outbox(self, name: str) -> None:
        self.cursors.setdefault(keys.worker_outbox(name), "0-0")

    def _delivered(self, resp) -> set[tuple[str, str, str]]:
        """(batch, entry, worker) of the claims read this round whose queue entry is pending for that worker
        in the consumer group (one pipeline): a worker may claim only what Valkey gave it."""
        asked: list[tuple[str, str, str]] = []
        for stream, entries in resp:
            name = keys.worker_of_outbox(stream)
            if name is None:
                continue
            for _eid, f in entries:
                if f.get("f") not in ("claimed", "started"):   # a start may be the claim too (`entry`)
                    continue
                try:   # only `entry` and `queue` are read (the report is decoded in full when decided)
                    ref = _read_claim(f.get("data") or "{}")
                except msgspec.MsgspecError:
                    continue
                entry, batch = ref.entry, ref.queue
                if isinstance(entry, str) and isinstance(batch, str) and _ENTRY_ID.match(entry):
                    asked.append((batch, entry, name))
        if not asked:
            return set()
        return _pending_for(self.recorder.wire, asked)

    def _register(self, rnd: Round, name: str, eid: str, f: dict[str, str]) -> None:
        """A registration sent through the outbox of `name`: decided like the inbox's `worker.register`, for
        that name only, and answered in the worker's own reply list."""
        cid = f.get("id") or eid
        mark = rnd.mark()
        try:
            check_entry_size("worker.register", f.get("data"))
            cmd = c.decode_command("worker.register", f.get("data"))
            check_fields(cmd)
            if cmd.name != name:  # type: ignore[attr-defined]
                raise BadInput(f"registration names worker {cmd.name!r} but came through the outbox of "  # type: ignore[attr-defined]
                               f"{name!r}")
            answer = json.dumps({"ok": True, "result": self.decider.command("worker.register", cmd)})
        except ScitqError as exc:
            self._undo(rnd, mark)
            answer = json.dumps({"ok": False, "error": exc.message, "hint": exc.hint, "kind": error_kind(exc)})
            rnd.rejected.append({"stream": keys.worker_outbox(name), "entry": eid, "reason": exc.message,
                                 "worker": name})
        except Exception as exc:  # a bug: set the registration aside rather than loop on it
            log.exception("registration (%s) from %s crashed the handler", eid, name)
            self._undo(rnd, mark, force=True)
            answer = json.dumps({"ok": False, "error": f"internal error on worker.register: {exc}", "kind": "error"})
            rnd.rejected.append({"stream": keys.worker_outbox(name), "entry": eid,
                                 "reason": f"internal error: {exc}", "worker": name})
        rnd.worker_replies.append((name, cid, answer))

    def _outbox(self, rnd: Round, stream: str, entries, delivered: set[tuple[str, str, str]]) -> None:
        name = keys.worker_of_outbox(stream) or stream
        inc_seq = self.last_seq.get(name)
        for eid, f in entries:
            if f.get("f") == "register":
                self._register(rnd, name, eid, f)
                continue
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
            self._hydrate_fact(fact)
            mark = rnd.mark()
            given = not isinstance(fact, c.Claimed) or not fact.entry or \
                (fact.queue, fact.entry, name) in delivered
            try:
                self.decider.fact(name, tag, fact, inc, delivered=given)  # type: ignore[arg-type]
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
        if self.state.deploys:
            self.decider.release(self.cfg.idle_timeout, self.cfg.register_timeout)
            if self.cfg.orphan_interval and time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self.cfg.orphan_interval
                self._sweep()

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
                try:
                    task_id, attempt = int(fields.get("task", 0)), int(fields.get("attempt", 0))
                except (AttributeError, ValueError):   # no fields (deleted), or unreadable: only acknowledged
                    task_id = attempt = 0
                if task_id:
                    self.decider.requeue_unclaimed(task_id, attempt)
                self.decider.effect("ack", name, {"id": eid})

    # --- commit -----------------------------------------------------------------------------------
    def _commit(self, rnd: Round) -> None:
        """Write the round, or nothing: refused, the inputs stay unread and are decided again after a
        reload from the ledger (fenced out: after waiting for the lock again)."""
        streams = [e.fields["stream"] for e in rnd.effects if e.kind == "pack"] if self.cfg.output_pack else []
        try:
            live = self.recorder.write(rnd, self.state, probe=streams)
        except CommitRefused as exc:
            self._decided = True
            if exc.reason == "FENCED":
                log.error("commit refused, nothing written: %s", exc)
                self._fenced = True
                return
            log.error("commit refused, nothing written (%s): reloading from the ledger", exc)
            if exc.reason not in ("LEDGER", "BADID", "BADTYPE", "BADOP"):
                _, self.state = rebuild(self.r, verify=False)   # the writes may have stopped half way
            self.load()
            if exc.reason != "LEDGER":   # the same round would be refused again at once: back off
                raise redis.ResponseError(str(exc)) from None
            return
        self.cursors.update(rnd.cursors)
        self._outputs(rnd, live)
        self.state.evict()
        jobs = [e for e in rnd.effects if e.kind == "job"]
        if jobs:
            self._enqueue(jobs)

    def _outputs(self, rnd: Round, live: int | None = None) -> None:
        """After the commit: pack the output of the attempts that ended, delete deleted tasks' outputs.
        `live`: how many of their output streams exist (probed with the commit; 0: nothing to pack, most
        tasks write nothing; None: not known). A failure leaves the outputs as they were (live chunks stay
        readable)."""
        packs = [(int(e.fields["task"]), int(e.fields["attempt"]), e.fields["stream"])
                 for e in rnd.effects if e.kind == "pack"]
        drops = [(int(e.fields["task"]), int(e.fields["attempts"]), e.fields.get("streams", "").split())
                 for e in rnd.effects if e.kind == "drop_outputs"]
        try:
            if drops:
                drop_outputs(self.r, drops)
            gone = {t for t, _n, _s in drops}
            packs = [p for p in packs if p[0] not in gone]
            if packs and self.cfg.output_pack and live != 0:
                above = self.cfg.output_archive_above
                pack_outputs(self.r, packs, self.archiver.archive if above else None, above)
        except (redis.RedisError, ScitqError, OSError) as exc:
            log.warning("outputs of %d attempts not packed or deleted: %s", len(packs) + len(drops), exc)

    # --- deploy and destroy jobs (RQ) ---------------------------------------------------------------
    def _rq(self) -> Any:
        from scitq import jobqueue
        if self._jobs_conn is None:
            self._jobs_conn = jobqueue.connection(self.r)
        return jobqueue

    def _job_kwargs(self, op: str, worker: str, fields: dict[str, str]) -> dict[str, Any]:
        d = self.state.deploys.get(worker)
        if op == "deploy" and d is not None:
            return {"worker": worker, "provider": d.provider, "region": d.region, "flavor": d.flavor,
                    "batch": d.batch, "concurrency": d.concurrency, "prefetch": d.prefetch}
        out: dict[str, Any] = {"worker": worker, **{k: v for k, v in fields.items() if k != "op"}}
        if d is not None:
            out.setdefault("provider", d.provider)
            out.setdefault("region", d.region)
        return out

    def _enqueue(self, effects: list[Any]) -> None:
        """Enqueue the jobs a committed round asked for. A failure here loses nothing: the ledger says the
        machine is wanted (or going), and `_resume_jobs` enqueues again at the next start."""
        try:
            if self.job_runner is not None:
                self.job_runner()
            jq = self._rq()
            for e in effects:
                op = e.fields.get("op", "")
                retries = 0 if op == "sweep" else self.cfg.deploy_retries
                jid = jq.enqueue(self._jobs_conn, op, e.target, self._job_kwargs(op, e.target, e.fields),
                                 retries=retries, interval=self.cfg.deploy_retry_interval,
                                 timeout=self.cfg.deploy_timeout)
                log.info("%s job %s", op, jid or f"{op}-{e.target} already waiting or running")
        except Exception as exc:  # noqa: BLE001 - RQ or Redis refused: said, and resumed at the next start
            log.error("cannot enqueue deploy/destroy jobs (%s): they are enqueued again at the next start", exc)

    def _resume_jobs(self) -> None:
        """After a (re)start: every machine the ledger says is being made or destroyed gets its job again,
        unless that job still waits or runs (a server killed mid-deploy deploys nothing twice)."""
        from scitq.server.round import Effect
        todo = []
        for name, d in self.state.deploys.items():
            if d.status in ("requested", "deploying"):
                todo.append(Effect("job", name, {"op": "deploy"}))
            elif d.status == "destroying":
                todo.append(Effect("job", name, {"op": "destroy", "provider": d.provider, "region": d.region}))
        if todo:
            self._enqueue(todo)

    def _sweep(self) -> None:
        """List the providers in use for machines of ours that no live deploy owns (a sweep job)."""
        from scitq.server.round import Effect
        providers = sorted({d.provider for d in self.state.deploys.values()})
        self._enqueue([Effect("job", p, {"op": "sweep", "provider": p}) for p in providers])

    # --- admin --------------------------------------------------------------------------------------
    def _special(self, cid: str, tag: str, data: str) -> None:
        try:
            cmd = c.decode_command(tag, data)
            if tag == "admin.archive":
                self.archiver.request(cid, cmd)   # answered by the archiver's thread when done
                return
            with self.lock.kept():
                report, state = rebuild(self.r, verify=cmd.verify,  # type: ignore[attr-defined]
                                        from_zero=cmd.from_zero)  # type: ignore[attr-defined]
            state.evict_all()
            self.state = state
            self.decider.reset(self.state)   # rebuild left it indexed
            answer = json.dumps({"ok": True, "result": {"summary": report.summary(), "equal": report.equal,
                                                        "differences": report.differences[:50],
                                                        "events": report.events, "seconds": report.seconds}})
        except ScitqError as exc:
            answer = json.dumps({"ok": False, "error": exc.message, "kind": error_kind(exc)})
        self.recorder.reply(cid, answer)


def _entry_key(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq)


def _pending_for(r: redis.Redis | Wire, asked: list[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """Which of these (batch, entry, worker) are pending for that worker in the queue's consumer group:
    one XPENDING per queue and worker over the range of its entries (pipelined), and one per entry for
    those a range read cut short (more entries pending in the range than it returned) or without a
    sequence number. `r`: the control plane's wire, or a client (a wire of its own is opened)."""
    if not isinstance(r, Wire):
        wire = Wire(r)
        try:
            return _pending_for(wire, asked)
        finally:
            wire.close()
    groups: dict[tuple[str, str], list[str]] = {}
    single: list[tuple[str, str, str]] = []
    for batch, entry, name in asked:
        if "-" in entry:
            groups.setdefault((batch, name), []).append(entry)
        else:
            single.append((batch, entry, name))
    found: set[tuple[str, str, str]] = set()
    ranges = [(batch, name, sorted(set(entries), key=_entry_key)) for (batch, name), entries in groups.items()]
    if ranges:
        counts = [2 * len(entries) + 16 for _b, _n, entries in ranges]
        replies = r.execute([("XPENDING", keys.queue(batch), keys.QUEUE_GROUP, entries[0], entries[-1], count, name)
                             for (batch, name, entries), count in zip(ranges, counts)])
        for (batch, name, entries), count, got in zip(ranges, counts, replies):
            if not isinstance(got, list):
                single.extend((batch, e, name) for e in entries)
                continue
            ids = {g[0].decode() if isinstance(g[0], bytes) else g[0] for g in got}   # [id, consumer, idle, count]
            last = _entry_key(max(ids, key=_entry_key)) if ids and len(got) >= count else None
            for e in entries:
                if e in ids:
                    found.add((batch, e, name))
                elif last is not None and _entry_key(e) > last:   # beyond what a cut-short read returned
                    single.append((batch, e, name))
    if single:
        replies = r.execute([("XPENDING", keys.queue(batch), keys.QUEUE_GROUP, entry, entry, 1, name)
                             for batch, entry, name in single])
        found.update(a for a, got in zip(single, replies) if isinstance(got, list) and got)
    return found
