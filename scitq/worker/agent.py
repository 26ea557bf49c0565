"""Provides the worker agent: claims tasks of its batch, hands them to the attempt runner, follows orders.

Threads: the main loop (registration, heartbeat, orders, claims), the spool shipper, and one thread
per running execution. A task process never depends on the Redis connection: while Redis is away,
reports and output are spooled on disk and no new task starts.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis

from scitq import keys
from scitq.events.commands import RegisterWorker, encode
from scitq.events.worker import CLEAN, RESET_RESOURCES, RESTART
from scitq.projections.views import TaskView, decode_worker
from scitq.queues import ensure_queue_group
from scitq.settings import DEFAULT_BATCH, Settings
from scitq.worker.attempt import AttemptRunner
from scitq.worker.engines import Engines
from scitq.worker.eviction import IMDS_EVENTS_URL, EvictionWatch
from scitq.worker.identity import NameClaim
from scitq.worker.outage import OutageLog
from scitq.worker.orphans import ProcessRecords
from scitq.worker.recovery import recover_containers
from scitq.worker.registration import register
from scitq.worker.reporter import Reporter
from scitq.worker.slot import Slot, run_fields, task_to_start, weight
from scitq.worker.spool import Spool
from scitq.worker.stats import collect_stats
from scitq.io.wire import call, flat_entries
from scitq.worker.workdirs import WorkDirs

__all__ = ["Agent", "Slot"]

log = logging.getLogger("scitq.worker")

STARTABLE = ("pending", "assigned", "accepted")
READY_GRACE = 0.5   # a task held ready this long without starting is reported `accepted` (v1: prefetched)
CLAIM_GRACE = 0.2   # a task held this long without starting has its claim reported alone; one started sooner
                    # is claimed by its `started` report (one report, one ledger event for both)
HOLDING_BACKLOG = 100   # holding reports are skipped while more entries than this wait in the spool
CLAIM_BLOCK_MS = 100    # how long a claim waits for the queue while the worker holds a task (orders wait as long)
IDLE_CLAIM_BLOCK_MS = 1000   # ... and while it holds none: an idle worker costs Valkey 2 calls a second, not 20
CPUS = os.cpu_count() or 1   # (read once: os.cpu_count reads a file each time)
ORDERS_EVERY = 0.02     # orders are read at most this often (a busy worker ticks once per task that ends)


class Agent:
    """The coordinator: registration, heartbeat, orders, claims; held slots handed to the attempt runner."""

    def __init__(self, r: redis.Redis, cfg: Settings, *, name: str | None = None, batch: str | None = None,
                 concurrency: int = 1, prefetch: int = 0, status: str = "running",
                 autoclean: float | None = None, restartable: bool = False, flavor: str | None = None) -> None:
        self.r = r
        self.cfg = cfg
        self.name = name or socket.gethostname().split(".")[0]
        self.hostname = socket.gethostname()
        self.batch = batch or DEFAULT_BATCH
        self.concurrency = concurrency
        self.prefetch = prefetch
        self.flavor = flavor            # None: the server's default (local), or what it knows already
        self.status = status
        self.task_properties: dict = {}   # v1: {batch: [weight, priority]}, set by the server (recycling)
        self.worker_id: int | None = None
        self.home = cfg.home / "workers" / self.name
        self.name_claim = NameClaim(r, self.name, self.home, cfg.offline_after)
        self.name_claim.lock_home()      # one live worker per name and home: the spool below is its own
        self.spool = Spool(self.home / "spool", r, fsync=cfg.spool_fsync, fsync_interval=cfg.spool_fsync_interval,
                           memory=cfg.spool_memory)
        self.reporter = Reporter(self.spool, self.name, uuid.uuid4().hex[:12])
        self.engines = Engines(self.name, cfg.docker_auth)
        self.process_records = ProcessRecords(self.home / "procs")
        self.engines.native.records = self.process_records    # each native attempt's process group, on disk
        self.workdirs = WorkDirs(cfg.workdir, self.engines)
        self.attempts = AttemptRunner(r, cfg, self.reporter, self.spool, self.workdirs, self.engines,
                                      cpu=lambda: max(1, CPUS // max(1, self.concurrency)),
                                      keep_clean=lambda: 2 * (self.concurrency + self.prefetch) + 2,
                                      on_done=self._attempt_done)
        self.outage = OutageLog(self.name, self.spool.backlog_size, first=cfg.outage_log_first,
                                every=cfg.outage_log_interval)
        self.slots: dict[tuple[int, int], Slot] = {}
        self.lock = threading.RLock()
        self.wake = threading.Event()
        self.control_id = "0-0"
        self.batch_paused = False
        self.stopping = 0              # 1: graceful (finish running, hand back the rest), 2: now
        self.restartable = restartable  # a process of its own, which may re-execute itself (order -2)
        self.restart_requested = False  # -2 received: claim nothing more, finish what is held, then stop
        self._stop = threading.Event()
        self._next_heartbeat = 0.0
        self._next_orders = 0.0
        # executions run on reused threads (starting a thread per task costs more than the task `true`)
        self.pool = ThreadPoolExecutor(max_workers=1024, thread_name_prefix="scitq-task")
        self.autoclean = cfg.autoclean if autoclean is None else autoclean
        self._next_autoclean = time.monotonic() + cfg.autoclean_interval

    @property
    def incarnation(self) -> str:
        return self.reporter.incarnation

    def report(self, fact: str, task_id: int, attempt: int, **data) -> None:
        self.reporter.report(fact, task_id, attempt, **data)

    # --- lifecycle ----------------------------------------------------------------------------
    def request_stop(self) -> None:
        """First call: stop claiming, hand back what has not started, finish what runs. Second: now."""
        self.stopping = min(2, self.stopping + 1)
        log.info("worker %s: %s", self.name, "stopping after running tasks" if self.stopping == 1
                 else "stopping now, handing running tasks back")
        self.wake.set()

    def run(self) -> None:
        self.process_records.kill_leftovers()     # native tasks a killed predecessor left running
        self.spool.start()
        self.reattach()
        watch = self._watch_eviction()
        try:
            while not self._stop.is_set():
                try:
                    self.tick()
                except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                    self.outage.failed(exc)
                    self.wake.wait(1.0)
                    self.wake.clear()
        finally:
            if watch is not None:
                watch.stop()
            self.spool.drain(timeout=10)
            self.spool.stop()

    def _watch_eviction(self) -> EvictionWatch | None:
        """On a spot machine (`SCITQ_EVICTION_WATCH`: `azure` or the scheduled events URL), poll for the
        eviction of this machine; when it is announced, tell the server (it requeues what this worker holds
        without using a retry and destroys the machine) and claim nothing more."""
        where = self.cfg.eviction_watch
        if not where:
            return None
        url = IMDS_EVENTS_URL if where == "azure" else where

        def evicted(event: dict) -> None:
            self.reporter.report_evicted(f"{event.get('EventType', 'Preempt')} announced by the provider, "
                                         f"not before {event.get('NotBefore', 'now')}")
            self.request_stop()

        return EvictionWatch(evicted, url=url).start()   # the service answers for this VM only

    def stop_now(self) -> None:
        self._stop.set()
        self.wake.set()

    def reattach(self) -> None:
        """Follow again the containers an earlier run of this worker started (see `recover_containers`)."""
        for found in recover_containers(self.r, self.engines, self.name):
            slot = found.slot
            with self.lock:
                self.slots[slot.key] = slot
            threading.Thread(target=self._follow,
                             args=(slot, found.view, found.runner, found.container_id, found.since),
                             daemon=True, name=f"scitq-task-{slot.task_id}").start()

    def register(self) -> None:
        held = [[s.task_id, s.attempt] for s in self.slots.values() if s.state == "running"]
        self.name_claim.claim(self.incarnation)     # Conflict if the name is live elsewhere
        res = register(self.r, self.name, encode(RegisterWorker(
            name=self.name, hostname=self.hostname, concurrency=self.concurrency, prefetch=self.prefetch,
            batch=self.batch, status=self.status, flavor=self.flavor, incarnation=self.incarnation, held=held)),
            timeout=15)
        self.worker_id = res["worker_id"]
        self.concurrency, self.prefetch = res["concurrency"], res["prefetch"]
        self.batch, self.status = res["batch"], res["status"]
        last = self.r.xrevrange(keys.worker_control(self.name), count=1)
        if last:
            self.control_id = last[0][0]
        self._ensure_group()
        log.info("worker %s registered (id %s, batch %s, concurrency %d, prefetch %d)", self.name,
                 self.worker_id, self.batch, self.concurrency, self.prefetch)

    def _ensure_group(self) -> None:
        ensure_queue_group(self.r, self.batch)

    # --- the main loop ------------------------------------------------------------------------
    def tick(self) -> None:
        if self.worker_id is None:
            self.register()
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self.heartbeat()
            self.report_holding()
            self._next_heartbeat = now + self.cfg.heartbeat_interval
        if now >= self._next_orders:
            self.read_orders()
            self._next_orders = now + ORDERS_EVERY
        self.outage.recovered()
        if now >= self._next_autoclean:
            self._next_autoclean = now + self.cfg.autoclean_interval
            self.clean_disk()
        if self.stopping:
            self._wind_down()
            return
        self.start_ready()
        self._accept_ready()
        if self.restart_requested:
            self._forget_done()
            if self.held_count() == 0:
                log.info("worker %s: nothing left to run, restarting", self.name)
                self._stop.set()
            else:
                self.wake.wait(0.2)
                self.wake.clear()
            return
        room = self.concurrency + self.prefetch - self.held_count()
        if room > 0 and self.status == "running" and not self.batch_paused:
            # a queued task wakes the claim at once: the block only bounds how late orders are read
            self.claim(room, block_ms=CLAIM_BLOCK_MS if room < self.concurrency + self.prefetch
                       else IDLE_CLAIM_BLOCK_MS)
        else:
            self.wake.wait(0.2)
            self.wake.clear()

    def held_count(self) -> int:
        with self.lock:
            return sum(1 for s in self.slots.values() if s.state != "done")

    def running_count(self) -> int:
        with self.lock:
            return sum(1 for s in self.slots.values() if s.state in ("starting", "running"))

    def running_weight(self) -> float:
        """Running tasks weighted by `task_properties` (v1): those of a batch this worker was recycled out of
        weigh what the recycling said, so that the machine is not overloaded."""
        with self.lock:
            return sum(weight(s.batch, self.batch, self.task_properties) for s in self.slots.values()
                       if s.state in ("starting", "running"))

    def heartbeat(self) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.set(keys.worker_alive(self.name), self.name_claim.value(self.incarnation),
                 ex=max(1, int(self.cfg.offline_after)), get=True)
        stats = collect_stats(self.workdirs.base)
        stats.update(last_contact=repr(time.time()), running=self.running_count(), held=self.held_count(),
                     spooled=self.spool.backlog())
        pipe.hset(keys.worker_stats(self.name), mapping={k: str(v) for k, v in stats.items()})
        pipe.hgetall(keys.worker_view(self.worker_id))
        pipe.hget(keys.batch_view(self.batch), "batch_paused")
        previous, _, h, paused = pipe.execute()
        view = decode_worker(h) if h else None
        if not self.name_claim.is_ours(previous) and not self.stopping:
            log.error("worker %s: another live worker took this name while this one was unreachable (%s): "
                      "stopping after the running tasks", self.name, previous)
            self.request_stop()
        if view is None or view.name != self.name:
            log.warning("worker %s: deleted on the server, registering again (paused)", self.name)
            self.worker_id = None
            self.status = "paused"
            self.reporter.incarnation = uuid.uuid4().hex[:12]
            self.register()
            return
        new_batch = view.batch or self.batch
        if new_batch != self.batch:
            self.batch = new_batch
            self._ensure_group()
            paused = self.r.hget(keys.batch_view(self.batch), "batch_paused")
        self.concurrency = self.concurrency if view.concurrency is None else view.concurrency
        self.prefetch = self.prefetch if view.prefetch is None else view.prefetch
        self.task_properties = view.task_properties or {}
        previous_status = self.status
        self.status = view.status or self.status
        if self.status == "offline":      # we are alive: the server will see it at its next check (and
            self.status = previous_status  # put it back running, or paused if it was paused)
        self.batch_paused = paused == "1"

    def report_holding(self) -> None:
        """The attempts this worker holds, for the server to reconcile with what it believes (the safety
        net behind every other path). Not piled up in the spool while Redis is away."""
        if self.spool.backlog() > HOLDING_BACKLOG:
            return
        with self.lock:
            held = sorted(s.key for s in self.slots.values()     # (a claim not reported yet is not held
                          if s.state != "done" and not s.ended and not s.cancelled and s.claim_reported)  # there)
        self.reporter.report_holding(held)

    # --- orders -------------------------------------------------------------------------------
    def read_orders(self) -> None:
        reply = call(self.r, "XREAD", "COUNT", 100, "STREAMS", keys.worker_control(self.name), self.control_id)
        for eid, f in flat_entries(reply):
            self.control_id = eid
            self.order(f)

    def order(self, f: dict[str, str]) -> None:
        if f.get("op") == "worker":
            self.worker_order(f.get("signal", ""))
            return
        try:
            key = (int(f.get("task", 0)), int(f.get("attempt", 0)))
        except ValueError:
            return
        slot = self.slots.get(key)
        if slot is None:
            return
        op = f.get("op")
        if op == "cancel":
            with slot.lock:
                slot.cancelled = True
                proc = slot.proc
                if slot.state == "held":
                    slot.state = "done"
            if proc is not None:
                proc.kill()
            log.info("task %s attempt %s cancelled by the server", *key)
        elif op == "signal" and slot.proc is not None:
            try:
                slot.proc.send_signal(int(f.get("signal", 0)))
            except (ValueError, OSError) as exc:
                log.warning("task %s: cannot send signal %s: %s", key[0], f.get("signal"), exc)
        self._forget_done()

    def worker_order(self, value: str) -> None:
        """v1's worker-level signals: -1 clean unused work dirs, -2 restart, -3 forget the resource cache."""
        try:
            signal = int(value)
        except ValueError:
            signal = 0
        if signal == CLEAN:
            log.info("worker %s: cleaning every unused work dir (order from the server)", self.name)
            self.pool.submit(self._clean_all)
        elif signal == RESTART:
            if not self.restartable:
                log.warning("worker %s: restart ordered, but this worker runs inside another program: ignored",
                            self.name)
                return
            log.info("worker %s: restart ordered: claiming nothing more, restarting once %d held tasks end",
                     self.name, self.held_count())
            self.restart_requested = True
        elif signal == RESET_RESOURCES:
            log.info("worker %s: forgetting every cached resource (order from the server)", self.name)
            self.pool.submit(self._reset_resources)
        else:
            log.warning("worker %s: unknown worker order %r ignored", self.name, value)

    def _clean_all(self) -> None:
        removed = self.clean_disk(threshold=0.0)
        log.info("worker %s: clean removed %d work dirs", self.name, len(removed))

    def _reset_resources(self) -> None:
        from scitq.io import ResourceCache
        try:
            ResourceCache(self.workdirs.resources).reset()
        except OSError as exc:
            log.warning("worker %s: resource reset failed: %s", self.name, exc)

    def clean_disk(self, threshold: float | None = None) -> list[Path]:
        """v1 autoclean (see `WorkDirs.clean`); threshold 0 removes every work dir no task uses."""
        with self.lock:
            in_use = {s.workdir for s in self.slots.values() if s.workdir is not None}
        return self.workdirs.clean(self.autoclean if threshold is None else threshold, in_use)

    # --- claiming -----------------------------------------------------------------------------
    def claim(self, room: int, block_ms: int) -> None:
        reply = call(self.r, "XREADGROUP", "GROUP", keys.QUEUE_GROUP, self.name, "COUNT", room,
                     "BLOCK", block_ms, "STREAMS", keys.queue(self.batch), ">")
        got = 0
        for eid, f in flat_entries(reply):
            try:
                task_id, attempt = int(f["task"]), int(f["attempt"])
            except (KeyError, ValueError):   # the server takes it back (see ControlPlane._unclaimed)
                log.warning("worker %s: unreadable queue entry %s left to the server: %r", self.name, eid, f)
                continue
            run = run_fields(f)    # None: an entry of an older server, which needs the claim alone
            slot = Slot(task_id, attempt, time.monotonic(), has_data=f.get("data") == "1", entry=eid,
                        queue=self.batch, claim_reported=False, run=run)
            with self.lock:
                self.slots[slot.key] = slot
            # the server acknowledges the entry when it applies this claim (not us: if we die
            # before the claim leaves the spool, the entry stays pending and is given again). A task
            # that starts at once is claimed by its `started` report; the others, a moment later
            # (`_accept_ready`), or now when they have data to fetch first or come from an older server
            got += 1
            if slot.has_data or run is None:
                self.attempts.ensure_claimed(slot)
            if slot.has_data:
                slot.preparing = threading.Thread(target=self.attempts.prefetch, args=(slot,), daemon=True,
                                                  name=f"scitq-prefetch-{task_id}")
                slot.preparing.start()
        if got:
            self.start_ready()

    def _accept_ready(self) -> None:
        """v1: a prefetched task ready to run shows `accepted`. A task with data says so when its download
        starts; one without data once it has waited a moment for a slot (a task started at once never does)."""
        now = time.monotonic()
        with self.lock:   # start_ready changes `held` under this lock: `accepted` is reported before `started`
            for s in self.slots.values():
                if s.state == "held" and not s.claim_reported and now - s.claimed_at >= CLAIM_GRACE:
                    self.attempts.ensure_claimed(s)
                if s.state == "held" and not s.accepted and not s.has_data and now - s.claimed_at >= READY_GRACE:
                    s.accepted = True
                    self.report("accepted", s.task_id, s.attempt)

    def _wind_down(self) -> None:
        with self.lock:
            slots = list(self.slots.values())
        for s in slots:
            reason = None
            with s.lock:
                if s.state == "held":
                    s.state = "done"
                    reason = "worker stopping"
                elif self.stopping >= 2 and s.state in ("starting", "running") and not s.cancelled:
                    s.cancelled = True
                    if s.proc is not None:
                        s.proc.kill()
                    reason = "worker stopped"
            if reason is not None:
                self.attempts.ensure_claimed(s)    # a claim not reported yet goes first
                self.report("handback", s.task_id, s.attempt, reason=reason)
        self._forget_done()
        if self.running_count() == 0:
            self._stop.set()
        else:
            self.wake.wait(0.2)
            self.wake.clear()

    def _forget_done(self) -> None:
        with self.lock:
            for key in [k for k, s in self.slots.items() if s.state == "done"]:
                del self.slots[key]

    # --- starting -------------------------------------------------------------------------------
    def start_ready(self, keep: bool = False) -> tuple[Slot, TaskView] | None:
        """Start held tasks while there is a free slot, each confirmed against its current view. With `keep`
        (the thread of an attempt that just ended), the first one to start is returned for that thread to
        run instead of being handed to another."""
        while True:
            with self.lock:
                if self.stopping or self.status != "running" or self.batch_paused:
                    return None
                if self.running_weight() >= self.concurrency - 1e-9:
                    return None
                held = [s for s in self.slots.values() if s.state == "held"]
                if not held:
                    return None
                slot = min(held, key=lambda s: (s.claimed_at, s.task_id))
                slot.state = "starting"
            try:
                view = task_to_start(self.r, slot)
            except (redis.ConnectionError, redis.TimeoutError):
                slot.state = "held"   # cannot confirm: do not start
                raise
            verdict = self._startable(slot, view)
            if verdict == "wait":
                slot.state = "held"
                return None
            if verdict == "drop":
                unclaimed = not slot.claim_reported
                self.attempts.ensure_claimed(slot)   # the server acknowledges the entry (and refuses the claim)
                if view is not None and view["attempt"] == slot.attempt and not slot.cancelled and (
                        (view["worker"] == self.name and view["status"] in ("assigned", "accepted"))
                        or (unclaimed and view["status"] == "pending")):
                    # still ours on the server, but not to run here (its batch is no longer ours): give it back
                    self.report("handback", slot.task_id, slot.attempt, reason="not startable on this worker")
                slot.state = "done"
                self._forget_done()
                continue
            assert view is not None
            slot.batch = view.batch or self.batch
            if keep:
                return slot, view
            self.pool.submit(self._run, slot, view)

    def _run(self, slot: Slot, view: TaskView) -> None:
        """Run an attempt on this thread, then the next held ones while there are (no hand-off per task)."""
        job: tuple[Slot, TaskView] | None = (slot, view)
        while job is not None:
            self.attempts.run(*job)
            try:
                job = self.start_ready(keep=True)
            except (redis.ConnectionError, redis.TimeoutError):
                return

    def _startable(self, slot: Slot, view: TaskView | None) -> str:
        if view is None or slot.cancelled:
            return "drop"
        if view.attempt != slot.attempt:
            return "drop"
        status = view.status
        if status == "paused":
            return "wait"
        if status not in STARTABLE:
            return "drop"
        if status != "pending" and view.worker not in (None, self.name):
            return "drop"
        if (view.batch or self.batch) != self.batch:
            return "drop"
        return "start"

    def _attempt_done(self, slot: Slot) -> None:
        """An attempt ended (or was given up): its slot is free for the next held task (which the thread of
        the attempt starts, see `_run`; the main loop claims more)."""
        self._forget_done()
        self.wake.set()

    def _follow(self, *args) -> None:
        """Follow a container found at start-up (`reattach`), then start what its slot leaves room for."""
        self.attempts.follow_container(*args)
        try:
            self.start_ready()
        except (redis.ConnectionError, redis.TimeoutError):
            pass
