"""Provides the worker agent: claims tasks of its batch, runs them, streams output, reports facts.

Threads: the main loop (registration, heartbeat, orders, claims), the spool shipper, and one thread
per running execution. A task process never depends on the Redis connection: while Redis is away,
reports and output are spooled on disk and no new task starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from scitq import keys
from scitq.errors import ScitqError
from scitq.events.commands import encode
from scitq.events.worker import CLEAN, RESET_RESOURCES, RESTART
from scitq.inbox import send_command
from scitq.settings import DEFAULT_BATCH, Settings
from scitq.worker.data import TaskDataError, fetch_inputs, fetch_resources, push_outputs
from scitq.worker.identity import NameClaim
from scitq.worker.native_runner import NativeRunner
from scitq.worker.orphans import ProcessRecords
from scitq.worker.runner import ExecSpec, RunningProcess
from scitq.worker.spool import Spool
from scitq.worker.stats import collect_stats

__all__ = ["Agent", "Slot"]

log = logging.getLogger("scitq.worker")

STARTABLE = ("pending", "assigned", "accepted")


@dataclass
class Slot:
    """One attempt held by this worker: claimed (prefetched), then running, then done."""
    task_id: int
    attempt: int
    claimed_at: float
    state: str = "held"            # held | starting | running | done
    proc: RunningProcess | None = None
    workdir: Path | None = None
    cancelled: bool = False
    has_data: bool = False             # the task has inputs or resources to fetch before it starts
    inputs_done: str | None = None     # the input list already downloaded (prefetch)
    preparing: threading.Thread | None = None
    data_error: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class Agent:
    def __init__(self, r: redis.Redis, cfg: Settings, *, name: str | None = None, batch: str | None = None,
                 concurrency: int = 1, prefetch: int = 0, status: str = "running",
                 autoclean: float | None = None, restartable: bool = False) -> None:
        self.r = r
        self.cfg = cfg
        self.name = name or socket.gethostname().split(".")[0]
        self.hostname = socket.gethostname()
        self.batch = batch or DEFAULT_BATCH
        self.concurrency = concurrency
        self.prefetch = prefetch
        self.status = status
        self.incarnation = uuid.uuid4().hex[:12]
        self.worker_id: int | None = None
        self.home = cfg.home / "workers" / self.name
        self.name_claim = NameClaim(r, self.name, self.home, cfg.offline_after)
        self.name_claim.lock_home()      # one live worker per name and home: the spool below is its own
        self.workdir = cfg.workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.spool = Spool(self.home / "spool", r, fsync=cfg.spool_fsync, fsync_interval=cfg.spool_fsync_interval,
                           memory=cfg.spool_memory)
        self.process_records = ProcessRecords(self.home / "procs")
        self.runner = NativeRunner(records=self.process_records)
        self._docker: Any = None
        self.slots: dict[tuple[int, int], Slot] = {}
        self.lock = threading.RLock()
        self.wake = threading.Event()
        self.seq = 0
        self.control_id = "0-0"
        self.batch_paused = False
        self.connected = False
        self.stopping = 0              # 1: graceful (finish running, hand back the rest), 2: now
        self.restartable = restartable  # a process of its own, which may re-execute itself (order -2)
        self.restart_requested = False  # -2 received: claim nothing more, finish what is held, then stop
        self._stop = threading.Event()
        self._next_heartbeat = 0.0
        self._clean_dirs: list[Path] = []
        # executions run on reused threads (starting a thread per task costs more than the task `true`)
        self.pool = ThreadPoolExecutor(max_workers=1024, thread_name_prefix="scitq-task")
        self.autoclean = cfg.autoclean if autoclean is None else autoclean
        self._next_autoclean = time.monotonic() + cfg.autoclean_interval

    # --- reporting ----------------------------------------------------------------------------
    def report(self, fact: str, task_id: int, attempt: int, **data: Any) -> None:
        payload = encode({"task_id": task_id, "attempt": attempt, **data})
        with self.lock:   # seq order must be the spool order
            self.seq += 1
            self.spool.append(keys.worker_outbox(self.name),
                              {"f": fact, "inc": self.incarnation, "seq": self.seq, "data": payload})

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
        try:
            while not self._stop.is_set():
                try:
                    self.tick()
                except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                    if self.connected:
                        log.warning("worker %s: Redis unreachable (%s); running tasks go on", self.name, exc)
                    self.connected = False
                    self.wake.wait(1.0)
                    self.wake.clear()
        finally:
            self.spool.drain(timeout=10)
            self.spool.stop()

    def stop_now(self) -> None:
        self._stop.set()
        self.wake.set()

    def reattach(self) -> None:
        """v1 recovery: containers this worker started before a restart are followed again, not lost."""
        try:
            runner = self._docker_runner()
            containers = runner.running_containers()
        except Exception as exc:  # noqa: BLE001 - no Docker engine here: nothing to re-attach
            log.debug("no container to re-attach (%s)", exc)
            return
        for c in containers:
            try:
                task_id, attempt = int(c["task_id"]), int(c["attempt"])
            except (KeyError, TypeError, ValueError):
                continue
            try:
                view = self.r.hgetall(keys.task_view(task_id))
            except (redis.ConnectionError, redis.TimeoutError):
                view = None
            if view is not None and (int(view.get("attempt", 0) or 0) != attempt
                                     or view.get("worker") != self.name
                                     or view.get("status") not in ("assigned", "accepted", "running", "paused")):
                if c.get("status") in ("running", "paused"):
                    log.info("container %s of superseded task %s attempt %s: killing it", c["id"][:12],
                             task_id, attempt)
                    try:
                        runner.remove(c["id"])
                    except Exception:  # noqa: BLE001
                        pass
                continue
            if c.get("status") not in ("running", "paused") and view is None:
                continue
            slot = Slot(task_id, attempt, time.time(), state="running")
            slot.workdir = self._container_workdir(runner, c["id"])
            stream = keys.output(task_id, attempt)
            since = None
            try:
                last = self.r.xrevrange(stream, count=1)
                if last:
                    since = int(last[0][0].split("-")[0]) / 1000.0
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            with self.lock:
                self.slots[(task_id, attempt)] = slot
            log.info("re-attached to container %s (task %s attempt %s)", c["id"][:12], task_id, attempt)
            threading.Thread(target=self._execute, args=(slot, view or {}),
                             kwargs={"reattach": (runner, c["id"], since)}, daemon=True,
                             name=f"scitq-task-{task_id}").start()

    @staticmethod
    def _container_workdir(runner: Any, container_id: str) -> Path | None:
        try:
            mounts = runner.client.containers.get(container_id).attrs.get("Mounts", [])
        except Exception:  # noqa: BLE001
            return None
        for m in mounts:
            if m.get("Destination") == "/output":
                return Path(m["Source"]).parent
        return None

    def register(self) -> None:
        held = [[s.task_id, s.attempt] for s in self.slots.values() if s.state == "running"]
        self.name_claim.claim(self.incarnation)     # Conflict if the name is live elsewhere
        res = send_command(self.r, "worker.register", {
            "name": self.name, "hostname": self.hostname, "concurrency": self.concurrency,
            "prefetch": self.prefetch, "batch": self.batch, "status": self.status,
            "incarnation": self.incarnation, "held": held}, timeout=15)
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
        try:
            self.r.xgroup_create(keys.queue(self.batch), keys.QUEUE_GROUP, id="0-0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # --- the main loop ------------------------------------------------------------------------
    def tick(self) -> None:
        if self.worker_id is None:
            self.register()
        self.connected = True
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self.heartbeat()
            self._next_heartbeat = now + self.cfg.heartbeat_interval
        self.read_orders()
        if now >= self._next_autoclean:
            self._next_autoclean = now + self.cfg.autoclean_interval
            self.clean_disk()
        if self.stopping:
            self._wind_down()
            return
        self.start_ready()
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
            self.claim(room, block_ms=100)
        else:
            self.wake.wait(0.2)
            self.wake.clear()

    def held_count(self) -> int:
        with self.lock:
            return sum(1 for s in self.slots.values() if s.state != "done")

    def running_count(self) -> int:
        with self.lock:
            return sum(1 for s in self.slots.values() if s.state in ("starting", "running"))

    def heartbeat(self) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.set(keys.worker_alive(self.name), self.name_claim.value(self.incarnation),
                 ex=max(1, int(self.cfg.offline_after)), get=True)
        stats = collect_stats(self.workdir)
        stats.update(last_contact=repr(time.time()), running=self.running_count(), held=self.held_count(),
                     spooled=self.spool.backlog())
        pipe.hset(keys.worker_stats(self.name), mapping={k: str(v) for k, v in stats.items()})
        pipe.hgetall(keys.worker_view(self.worker_id))
        pipe.hget(keys.batch_view(self.batch), "batch_paused")
        previous, _, view, paused = pipe.execute()
        if not self.name_claim.is_ours(previous) and not self.stopping:
            log.error("worker %s: another live worker took this name while this one was unreachable (%s): "
                      "stopping after the running tasks", self.name, previous)
            self.request_stop()
        if not view or view.get("name") != self.name:
            log.warning("worker %s: deleted on the server, registering again (paused)", self.name)
            self.worker_id = None
            self.status = "paused"
            self.incarnation = uuid.uuid4().hex[:12]
            self.register()
            return
        new_batch = view.get("batch", self.batch)
        if new_batch != self.batch:
            self.batch = new_batch
            self._ensure_group()
            paused = self.r.hget(keys.batch_view(self.batch), "batch_paused")
        self.concurrency = int(view.get("concurrency", self.concurrency))
        self.prefetch = int(view.get("prefetch", self.prefetch))
        self.status = view.get("status", self.status)
        if self.status == "offline":      # we are alive: the server will see it at its next check
            self.status = "running"
        self.batch_paused = paused == "1"

    def read_orders(self) -> None:
        resp = self.r.xread({keys.worker_control(self.name): self.control_id}, count=100)
        for _stream, entries in resp or []:
            for eid, f in entries:
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
            ResourceCache(self.workdir / "resources").reset()
        except OSError as exc:
            log.warning("worker %s: resource reset failed: %s", self.name, exc)

    def claim(self, room: int, block_ms: int) -> None:
        resp = self.r.xreadgroup(keys.QUEUE_GROUP, self.name, {keys.queue(self.batch): ">"}, count=room,
                                 block=block_ms)
        got = 0
        for stream, entries in resp or []:
            for eid, f in entries:
                try:
                    task_id, attempt = int(f["task"]), int(f["attempt"])
                except (KeyError, ValueError):
                    log.warning("worker %s: unreadable queue entry %s dropped: %r", self.name, eid, f)
                    self.r.xack(stream, keys.QUEUE_GROUP, eid)
                    self.r.xdel(stream, eid)
                    continue
                slot = Slot(task_id, attempt, time.time(), has_data=f.get("data") == "1")
                with self.lock:
                    self.slots[(task_id, attempt)] = slot
                # the server acknowledges the entry when it applies this claim (not us: if we die
                # before the claim leaves the spool, the entry stays pending and is given again)
                self.report("claimed", task_id, attempt, entry=eid, queue=self.batch)
                got += 1
                if slot.has_data:
                    slot.preparing = threading.Thread(target=self._prefetch, args=(slot,), daemon=True,
                                                      name=f"scitq-prefetch-{task_id}")
                    slot.preparing.start()
        if got:
            self.start_ready()

    def _wind_down(self) -> None:
        with self.lock:
            slots = list(self.slots.values())
        for s in slots:
            with s.lock:
                if s.state == "held":
                    s.state = "done"
                    self.report("handback", s.task_id, s.attempt, reason="worker stopping")
                elif self.stopping >= 2 and s.state in ("starting", "running") and not s.cancelled:
                    s.cancelled = True
                    if s.proc is not None:
                        s.proc.kill()
                    self.report("handback", s.task_id, s.attempt, reason="worker stopped")
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
    def start_ready(self) -> None:
        """Start held tasks while there is a free slot, each confirmed against its current view."""
        while True:
            with self.lock:
                if self.stopping or self.status != "running" or self.batch_paused:
                    return
                if self.running_count() >= self.concurrency:
                    return
                held = [s for s in self.slots.values() if s.state == "held"]
                if not held:
                    return
                slot = min(held, key=lambda s: (s.claimed_at, s.task_id))
                slot.state = "starting"
            try:
                view = self.r.hgetall(keys.task_view(slot.task_id))
            except (redis.ConnectionError, redis.TimeoutError):
                slot.state = "held"   # cannot confirm: do not start
                raise
            verdict = self._startable(slot, view)
            if verdict == "wait":
                slot.state = "held"
                return
            if verdict == "drop":
                slot.state = "done"
                self._forget_done()
                continue
            self.pool.submit(self._execute, slot, view)

    def _startable(self, slot: Slot, view: dict[str, str]) -> str:
        if not view or slot.cancelled:
            return "drop"
        if int(view.get("attempt", 0)) != slot.attempt:
            return "drop"
        status = view.get("status")
        if status == "paused":
            return "wait"
        if status not in STARTABLE:
            return "drop"
        if status != "pending" and view.get("worker") not in (None, self.name):
            return "drop"
        if view.get("batch", self.batch) != self.batch:
            return "drop"
        return "start"

    def _make_workdir(self, slot: Slot) -> Path:
        with self.lock:
            if self._clean_dirs:          # an emptied work dir of a succeeded task: no file system work
                return self._clean_dirs.pop()
        wd = Path(tempfile.mkdtemp(prefix="task-", dir=self.workdir))
        for sub in ("input", "output", "tmp", "resource"):
            (wd / sub).mkdir()
            os.chmod(wd / sub, 0o777)
        return wd

    def _execute(self, slot: Slot, view: dict[str, str], reattach: tuple | None = None) -> None:
        task_id, attempt = slot.task_id, slot.attempt
        stream = keys.output(task_id, attempt)
        buf: list[tuple[str, str]] = []
        buf_lock = threading.Lock()
        last_flush = [time.monotonic()]
        flush_every = self.cfg.output_flush

        def flush() -> None:
            with buf_lock:
                items, buf[:] = list(buf), []
                last_flush[0] = time.monotonic()
            merged: list[list[str]] = []
            for fd, text in items:
                if merged and merged[-1][0] == fd:
                    merged[-1][1] += text
                else:
                    merged.append([fd, text])
            for fd, text in merged:
                self.spool.append(stream, {"fd": fd, "text": text})

        def on_output(fd: str, text: str) -> None:
            with buf_lock:
                buf.append((fd, text))
                due = time.monotonic() - last_flush[0] >= flush_every
            if due:
                flush()

        command = view.get("command", "")
        container = view.get("container") or None
        spec = ExecSpec(task_id=task_id, attempt=attempt, command=command, workdir=Path("."),
                        cpu=max(1, (os.cpu_count() or 1) // max(1, self.concurrency)), container=container,
                        container_options=view.get("container_options") or "")
        rc: int | None = None
        try:
            if reattach is not None:
                runner, cid, since = reattach
                slot.proc = proc = runner.reattach(cid, on_output, since=since)
                if view and view.get("status") != "running":   # its start was never reported
                    self.report("started", task_id, attempt, command=command, container=container,
                                container_options=view.get("container_options"), input=view.get("input"),
                                output=view.get("output"), resource=view.get("resource"), pid=proc.ident)
                rc = self._follow(slot, proc, view, on_output, flush, buf, buf_lock, last_flush)
                return
            if slot.preparing is not None:
                slot.preparing.join()
            if slot.workdir is None:
                slot.workdir = self._make_workdir(slot)
            spec.workdir = slot.workdir
            try:
                self._fetch_data(slot, view)
            except TaskDataError as exc:
                on_output("stderr", f"{exc}\n")
                flush()
                self.report("finished", task_id, attempt, return_code=exc.code)
                rc = exc.code
                return
            runner = self._docker_runner() if container else self.runner
            with slot.lock:
                if slot.cancelled:
                    raise _Cancelled()
                try:
                    slot.proc = proc = runner.start(spec, on_output)
                except (FileNotFoundError, PermissionError, ValueError, ScitqError) as exc:
                    proc = None
                    on_output("stderr", f"{type(exc).__name__}: {exc}\n")
                slot.state = "running"
            self.report("started", task_id, attempt, command=command, container=container,
                        container_options=view.get("container_options"), input=view.get("input"),
                        output=view.get("output"), resource=view.get("resource"),
                        pid=proc.ident if proc else None)
            if proc is None:
                rc = 127
                flush()
                if not slot.cancelled:
                    self.report("finished", task_id, attempt, return_code=rc)
            else:
                rc = self._follow(slot, proc, view, on_output, flush, buf, buf_lock, last_flush)
        except _Cancelled:
            pass
        except Exception as exc:  # the agent itself failed on this task: say so, and give it back
            log.exception("task %s: the worker failed to run it", task_id)
            on_output("stderr", f"scitq worker error: {exc}\n")
            flush()
            self.report("finished", task_id, attempt, return_code=-1002)
            rc = -1002
        finally:
            with slot.lock:
                slot.state = "done"
            if slot.workdir is not None and (rc == 0 or slot.cancelled):
                self._release_workdir(slot.workdir)
            self._forget_done()
            self.wake.set()
            try:
                self.start_ready()
            except (redis.ConnectionError, redis.TimeoutError):
                pass

    def _follow(self, slot: Slot, proc: RunningProcess, view: dict[str, str], on_output, flush, buf, buf_lock,
                last_flush) -> int:
        """Wait for a started (or re-attached) process: output, run timeout, outputs upload, final report."""
        task_id, attempt = slot.task_id, slot.attempt
        flush_every = self.cfg.output_flush
        run_timeout = int(view["run_timeout"]) if view.get("run_timeout") else None
        rc: int | None = None
        timed_out = False
        started = time.monotonic()
        while rc is None:
            step = flush_every
            if run_timeout:
                left = started + run_timeout - time.monotonic()
                if left <= 0 and not timed_out:
                    timed_out = True
                    on_output("stderr", f"scitq: run timeout of {run_timeout}s reached, killing\n")
                    proc.kill()
                    left = 5
                step = min(step, max(left, 0.05))
            rc = proc.wait(step)
            with buf_lock:
                pending = bool(buf)
            if pending and time.monotonic() - last_flush[0] >= flush_every:
                flush()
        output_files: list[str] = []
        if view.get("output") and not slot.cancelled and slot.workdir is not None:
            try:
                output_files = push_outputs(slot.workdir / "output", view["output"])
            except TaskDataError as exc:
                on_output("stderr", f"{exc}\n")
                rc = exc.code
                output_files = exc.uploaded
        flush()
        if not slot.cancelled:
            self.report("finished", task_id, attempt, return_code=rc, timed_out=timed_out,
                        output_files=output_files)
        return rc

    def _prefetch(self, slot: Slot) -> None:
        """Fetch a claimed task's inputs while it waits for a slot (v1: accepted = downloading)."""
        try:
            view = self.r.hgetall(keys.task_view(slot.task_id))
            if not view or int(view.get("attempt", 0)) != slot.attempt or slot.cancelled:
                return
            self.report("accepted", slot.task_id, slot.attempt)
            slot.workdir = self._make_workdir(slot)
            if view.get("input"):
                timeout = float(view["download_timeout"]) if view.get("download_timeout") else None
                fetch_inputs(view["input"], slot.workdir / "input", timeout)
                slot.inputs_done = view["input"]
        except TaskDataError as exc:
            slot.data_error = exc       # reported when the task would start (inputs may be edited meanwhile)
        except (redis.ConnectionError, redis.TimeoutError):
            pass
        except Exception as exc:  # noqa: BLE001 - never kill the agent over one task's data
            log.exception("task %s: prefetch failed", slot.task_id)
            slot.data_error = TaskDataError(-1001, f"input download failed: {exc}")

    def _fetch_data(self, slot: Slot, view: dict[str, str]) -> None:
        """At start: the inputs current now (downloaded again if edited since the prefetch), the resources."""
        wd = slot.workdir
        assert wd is not None
        inputs = view.get("input") or ""
        if inputs and (slot.inputs_done != inputs or slot.data_error is not None):
            if slot.inputs_done is None and slot.data_error is None and not slot.has_data:
                self.report("accepted", slot.task_id, slot.attempt)
            timeout = float(view["download_timeout"]) if view.get("download_timeout") else None
            fetch_inputs(inputs, wd / "input", timeout)
        if view.get("resource"):
            fetch_resources(view["resource"], self.workdir / "resources", wd / "resource")

    def clean_disk(self, threshold: float | None = None) -> list[Path]:
        """v1 autoclean: past the disk threshold, the oldest failed work dirs go (and their kept containers).
        A threshold of 0 removes every work dir no task uses (v1's clean signal)."""
        from scitq.io import autoclean
        with self.lock:
            in_use = {s.workdir for s in self.slots.values() if s.workdir is not None} | set(self._clean_dirs)
            in_use.add(self.workdir / "resources")
        try:
            removed = autoclean(self.workdir, self.autoclean if threshold is None else threshold, in_use)
        except OSError as exc:
            log.warning("autoclean failed: %s", exc)
            return []
        if removed and self._docker is not None:
            gone = {p.resolve() for p in removed}
            try:
                for c in self._docker.running_containers():
                    wd = self._container_workdir(self._docker, c["id"])
                    if c.get("status") not in ("running", "paused") and wd is not None and wd.resolve() in gone:
                        self._docker.remove(c["id"])
            except Exception as exc:  # noqa: BLE001
                log.warning("autoclean: could not remove kept containers: %s", exc)
        return removed

    def _release_workdir(self, wd: Path) -> None:
        """A succeeded task's work dir goes: kept for the next task when it is empty, else removed."""
        try:
            empty = all(not any(os.scandir(wd / sub)) for sub in ("input", "output", "tmp", "resource"))
        except OSError:
            empty = False
        with self.lock:
            if empty and len(self._clean_dirs) < 2 * (self.concurrency + self.prefetch) + 2:
                self._clean_dirs.append(wd)
                return
        _remove_workdir(wd)

    def _docker_runner(self) -> Any:
        if self._docker is None:
            import json

            from scitq.worker.docker_runner import DockerRunner
            try:
                auth = json.loads(self.cfg.docker_auth) if self.cfg.docker_auth else None
            except ValueError:
                log.error("SCITQ_DOCKER_AUTH is not valid JSON: ignored")
                auth = None
            self._docker = DockerRunner(worker=self.name, registry_auth=auth)
        return self._docker


def _remove_workdir(wd: Path) -> None:
    """Remove a work dir: the four empty sub-dirs the cheap way, anything else with rmtree."""
    try:
        for sub in ("input", "output", "tmp", "resource"):
            os.rmdir(wd / sub)
        os.rmdir(wd)
    except OSError:
        shutil.rmtree(wd, ignore_errors=True)


class _Cancelled(Exception):
    pass
