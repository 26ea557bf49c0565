#!/usr/bin/env python3
"""Memory benchmark: what one finished task costs in Valkey, what a task costs the server, and how long
the server takes to start on a long history.

    python3 bench/memory.py [--n 20000] [--live 20000] [--running 0] [--bulk 0] [--command CMD] [--archive]
                            [--batch NAME] [--worker NAME] [--default-config] [--json FILE]

It runs the server's control plane in this process (`ControlPlane.round()`, the real commit) on a private
Valkey, and plays one worker through the real protocol (a consumer of the batch's queue stream writing
a `started` report that carries the claim, then a `finished` report, into its outbox) whose runner does
nothing, so what is
measured is the server's and Valkey's share alone:

1. Server memory per live task: RSS of this process (the control plane) after LIVE tasks submitted to a
   batch no worker serves (they stay pending), above the RSS after a first 1,000 (the fixed base); and
   the RSS the second half of them added, per task (what one more task costs, once the pools a burst
   of submissions leaves are there).
   With RUNNING, the same for tasks a second worker claimed and started and never finishes (each with
   its execution), above 1,000 such tasks first.
2. Valkey bytes per finished task (MEMORY USAGE of every key, grouped as ledger, views, indexes, other;
   outputs excluded since nothing runs) after N tasks submitted (batches of 1,000) and drained, in ten
   parts with the server's RSS sampled after each (flat: finished tasks cost the server nothing); with
   --archive, again after the ledger is archived (`scitq events archive`, keeping one entry). Valkey runs
   with the embedded Valkey's settings (`MEMORY_TUNING`) unless --default-config.
3. Start-up: a fresh control plane's `load()` on that history (views + cursor + ledger tail), then again
   after BULK more finished tasks written straight into the views (`bulk_history`).

The steps are functions (`drain`, `valkey_breakdown`, `startup_seconds`, ...) for other benchmarks to reuse.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from throughput import Procs, Valkey, scitq_memory_breakdown  # noqa: E402

from scitq import keys  # noqa: E402
from scitq.events.commands import encode  # noqa: E402
from scitq.server.controlplane import ControlPlane  # noqa: E402
from scitq.server.embedded import MEMORY_TUNING  # noqa: E402
from scitq.settings import Settings  # noqa: E402

WORKER = "bench-memory"
BATCH = "bench"


def rss_bytes() -> int:
    """Resident set size of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def server(r: redis.Redis, home: Path) -> ControlPlane:
    """A control plane on `r`, holding the server lock, loaded, with its timers far away (no reaper)."""
    cfg = Settings(home=home, reaper_interval=3600.0, unclaimed_after=3600.0)
    cp = ControlPlane(r, cfg)
    cp.acquire()
    cp.load()
    cp._next_reap = cp._next_unclaimed = time.monotonic() + 3600
    return cp


def settle(cp: ControlPlane, r: redis.Redis, streams: list[str]) -> None:
    """Run rounds until the inbox and `streams` have nothing left to apply."""
    while True:
        cp.round(block_ms=None)  # type: ignore[arg-type]
        if all(r.xlen(s) == 0 for s in [keys.INBOX, *streams] if r.exists(s)):
            cp.round(block_ms=None)  # type: ignore[arg-type]
            return


COMMAND = "true"   # the command of every task (--command: a realistic command line is longer)


def submit(cp: ControlPlane, r: redis.Redis, n: int, per_command: int = 1000, batch: str | None = None) -> None:
    """Submit `n` tasks of COMMAND through the inbox, `per_command` a command, and apply them (to BATCH
    unless `batch` is given)."""
    batch = batch or BATCH
    done = 0
    while done < n:
        k = min(per_command, n - done)
        tasks = [{"command": COMMAND, "batch": batch} for _ in range(k)]
        r.xadd(keys.INBOX, {"cmd": "task.submit", "id": uuid.uuid4().hex, "data": json.dumps({"tasks": tasks})})
        done += k
        if r.xlen(keys.INBOX) >= 20:
            settle(cp, r, [])
    settle(cp, r, [])


def register(cp: ControlPlane, r: redis.Redis, concurrency: int = 500, batch: str | None = None,
             worker: str | None = None) -> None:
    """Register the benchmark's worker (WORKER, alive for an hour) and make it a consumer of its batch's queue."""
    batch, worker = batch or BATCH, worker or WORKER
    r.set(keys.worker_alive(worker), "1", ex=3600)
    r.xadd(keys.INBOX, {"cmd": "worker.register", "id": uuid.uuid4().hex,
                        "data": json.dumps({"name": worker, "concurrency": concurrency, "prefetch": 0,
                                            "batch": batch, "incarnation": "bench"})})
    settle(cp, r, [])
    try:
        r.xgroup_create(keys.queue(batch), keys.QUEUE_GROUP, id="0", mkstream=True)
    except redis.ResponseError:
        pass


_SEQ = itertools.count(1)   # the worker's report numbers (the server drops one not above the last)


class Runner:
    """The worker protocol with a runner that does nothing: start (which claims), finish with 0."""

    def __init__(self, r: redis.Redis, batch: str | None = None, worker: str | None = None,
                 finish: bool = True) -> None:
        self.r = r
        self.batch = batch or BATCH
        self.worker = worker or WORKER
        self.finish = finish       # False: the attempts are left running
        self.outbox = keys.worker_outbox(self.worker)

    def _report(self, pipe: Any, fact: str, data: dict[str, Any]) -> None:
        pipe.xadd(self.outbox, {"f": fact, "inc": "bench", "seq": str(next(_SEQ)), "data": encode(data)})

    def step(self) -> int:
        """Claim what the queue offers and report every attempt started and finished; the count read."""
        res = self.r.xreadgroup(keys.QUEUE_GROUP, self.worker, {keys.queue(self.batch): ">"}, count=1000) or []
        n = 0
        pipe = self.r.pipeline(transaction=False)
        for _, entries in res:
            for eid, f in entries:
                tid, attempt = int(f["task"]), int(f["attempt"])
                # one `started` report that carries the claim (`entry`, `queue`), as the real worker sends
                # when an attempt starts as soon as it is claimed (scitq.worker.attempt)
                self._report(pipe, "started", {"task_id": tid, "attempt": attempt, "command": COMMAND,
                                               "pid": str(300000 + tid % 100000),
                                               "entry": eid, "queue": self.batch})
                if self.finish:
                    self._report(pipe, "finished", {"task_id": tid, "attempt": attempt, "return_code": 0})
                n += 1
        pipe.execute()
        return n


def drain(cp: ControlPlane, r: redis.Redis, n: int, batch: str | None = None) -> float:
    """Run the server and the worker until `n` tasks of `batch` (BATCH) succeeded; the seconds it took."""
    batch = batch or BATCH
    runner = Runner(r, batch)
    t0 = time.perf_counter()
    while int(r.hget(keys.batch_view(batch), "succeeded") or 0) < n:
        cp.round(block_ms=None)  # type: ignore[arg-type]
        runner.step()
        cp.round(block_ms=None)  # type: ignore[arg-type]
    return time.perf_counter() - t0


def hold_running(cp: ControlPlane, r: redis.Redis, n: int, batch: str, worker: str) -> None:
    """Submit `n` tasks to `batch` and have a worker of `batch` (concurrency `n`) claim and start them all,
    never finishing: `n` running tasks, each with its execution."""
    register(cp, r, concurrency=n, batch=batch, worker=worker)
    submit(cp, r, n, batch=batch)
    runner = Runner(r, batch, worker=worker, finish=False)
    while int(r.hget(keys.batch_view(batch), "running") or 0) < n:
        cp.round(block_ms=None)  # type: ignore[arg-type]
        runner.step()
        cp.round(block_ms=None)  # type: ignore[arg-type]
    settle(cp, r, [keys.worker_outbox(worker)])


def category(key: str) -> str:
    """ledger, views (one hash per entity), indexes (the other view keys), outputs, other."""
    if key == keys.EVENTS:
        return "ledger"
    if key.startswith(keys.output(0, 0).rsplit(":", 2)[0] + ":"):
        return "outputs"
    if key.startswith(keys.VIEW_PREFIX):
        kind, _, rest = key[len(keys.VIEW_PREFIX):].partition(":")
        if kind in ("task", "execution", "worker") and rest.isdigit() or kind in ("batch", "recruiter"):
            return "views"
        return "indexes"
    return "other"


def valkey_breakdown(r: redis.Redis) -> dict[str, dict[str, int]]:
    """MEMORY USAGE (all samples) and key count of every key, by category (ledger, views, indexes, ...)."""
    return scitq_memory_breakdown(r, group=category)


def per_task(breakdown: dict[str, dict[str, int]], n: int) -> dict[str, float]:
    """Bytes per task by category, and the total without outputs."""
    out = {cat: row["bytes"] / n for cat, row in sorted(breakdown.items())}
    out["total"] = sum(v for k, v in out.items() if k != "outputs")
    return out


def events_per_task(r: redis.Redis, n: int) -> float:
    return r.xlen(keys.EVENTS) / n


def startup_seconds(r: redis.Redis, home: Path) -> tuple[float, int]:
    """Seconds a fresh control plane takes to load (views + cursor + tail), and the tasks it holds."""
    cfg = Settings(home=home)
    cp = ControlPlane(r, cfg)
    cp.lock.acquire(5)
    try:
        t0 = time.perf_counter()
        cp.load()
        return time.perf_counter() - t0, len(cp.state.tasks)
    finally:
        cp.lock.release()


def bulk_history(r: redis.Redis, n: int, batch: str = "bulk") -> None:
    """Write `n` finished tasks straight into the views (task and execution hashes, their indexes, the
    batch counts), as a long history looks to a starting server, without running them (for start-up
    measurements at sizes a drain would take too long to reach). The ledger is not written: the
    server reads only the ledger after the views' checkpoint."""
    first = int(r.hget(keys.SERVER_STATE, "next_task_id") or 1)
    first_ex = int(r.hget(keys.SERVER_STATE, "next_execution_id") or 1)
    now = repr(time.time())
    for start in range(0, n, 5000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(n, start + 5000)):
            tid, eid = first + i, first_ex + i
            pipe.hset(keys.task_view(tid), mapping={
                "command": "true", "batch": batch, "status": "succeeded",
                "creation_date": now, "modification_date": now, "attempt": "1", "execution_id": str(eid)})
            pipe.hset(keys.execution_view(eid), mapping={
                "task_id": str(tid), "worker_id": "1", "worker": WORKER, "attempt": "1",
                "status": "succeeded", "creation_date": now, "return_code": "0"})
            chunk, bit = divmod(tid, keys.BATCH_CHUNK)
            pipe.sadd(keys.tasks_by_batch(batch), chunk)
            pipe.setbit(keys.batch_chunk(batch, chunk), bit, 1)
            pipe.setbit(keys.tasks_by_status("succeeded"), tid, 1)
        pipe.execute()
    r.hset(keys.batch_view(batch), mapping={"batch": batch, "creation_date": now, "batch_paused": "0",
                                            "queued": "0", "succeeded": str(n)})
    r.sadd(keys.BATCHES_ALL, batch)
    r.hset(keys.SERVER_STATE, mapping={"next_task_id": str(first + n), "next_execution_id": str(first_ex + n)})


def rss_samples(cp: ControlPlane, r: redis.Redis, n: int, steps: int = 10) -> list[tuple[int, int]]:
    """Drain `n` tasks in `steps` parts: (tasks finished, RSS) after each."""
    out = []
    done = 0
    for k in range(steps):
        part = n // steps if k < steps - 1 else n - done
        submit(cp, r, part)
        done += part
        drain(cp, r, done)
        gc.collect()
        out.append((done, rss_bytes()))
    return out


def archive_all(r: redis.Redis, workdir: Path) -> None:
    """`scitq events archive` with the smallest tail: every ledger entry before the views' checkpoint goes
    to an archive in `workdir` and leaves the live stream."""
    from scitq.projections.archive import Archive
    from scitq.projections.ledger import archive_ledger
    archive_ledger(r, Archive((workdir / "archive").as_uri()), keep=1)


def run(n: int, live: int, bulk: int, workdir: Path, archive: bool = False, tuning: bool = True,
        running: int = 0) -> dict[str, Any]:
    procs = Procs(workdir)
    valkey = Valkey(procs, workdir / "valkey")
    valkey.start()
    try:
        r = redis.Redis.from_url(valkey.url(), decode_responses=True)
        if tuning:      # the embedded Valkey's settings (scitq.server.embedded.MEMORY_TUNING)
            for line in MEMORY_TUNING:
                r.config_set(*line.split(" ", 1))
        cp = server(r, workdir / "home")
        register(cp, r)
        res: dict[str, Any] = {"n": n}
        if live:            # tasks of a batch no worker serves: they stay pending
            submit(cp, r, 1000, batch="live")        # the code paths warm, the pools allocated
            gc.collect()
            rss1 = rss_bytes()
            submit(cp, r, live // 2, batch="live")
            gc.collect()
            rss_half = rss_bytes()
            submit(cp, r, live - live // 2, batch="live")
            gc.collect()
            res["live"] = live
            res["rss_per_live_task"] = (rss_bytes() - rss1) / live
            res["rss_per_live_task_second_half"] = (rss_bytes() - rss_half) / (live - live // 2)
            res["server_tasks_in_memory_with_live"] = len(cp.state.tasks)
        if running:         # tasks a worker started and never finishes
            hold_running(cp, r, 1000, "running-base", WORKER + "-base")
            gc.collect()
            rss1 = rss_bytes()
            hold_running(cp, r, running // 2, "running", WORKER + "-running")
            gc.collect()
            rss_half = rss_bytes()
            hold_running(cp, r, running - running // 2, "running2", WORKER + "-running2")
            gc.collect()
            res["running"] = running
            res["rss_per_running_task"] = (rss_bytes() - rss1) / running
            res["rss_per_running_task_second_half"] = (rss_bytes() - rss_half) / (running - running // 2)
        base = valkey_breakdown(r)
        events0 = r.xlen(keys.EVENTS)
        t0 = time.perf_counter()
        res["rss_samples"] = rss_samples(cp, r, n)
        res["drain_seconds"] = time.perf_counter() - t0
        res["tasks_per_s"] = n / res["drain_seconds"]
        after = valkey_breakdown(r)
        diff = {cat: {"keys": row["keys"] - base.get(cat, {}).get("keys", 0),
                      "bytes": row["bytes"] - base.get(cat, {}).get("bytes", 0)} for cat, row in after.items()}
        samples = res["rss_samples"]
        res.update({
            "events_per_task": (r.xlen(keys.EVENTS) - events0) / n, "valkey": diff,
            "valkey_per_task": per_task(diff, n),
            "server_tasks_in_memory_after_drain": len(cp.state.tasks),
            "rss_growth_per_finished_task": (samples[-1][1] - samples[1][1]) / max(1, samples[-1][0] - samples[1][0]),
        })
        if archive:
            cp.round(block_ms=None)  # type: ignore[arg-type]
            archive_all(r, workdir)
            archived = valkey_breakdown(r)
            diff = {cat: {"keys": row["keys"] - base.get(cat, {}).get("keys", 0),
                          "bytes": row["bytes"] - base.get(cat, {}).get("bytes", 0)} for cat, row in archived.items()}
            res["valkey_per_task_archived"] = per_task(diff, n)
        cp.lock.release()
        res["startup_seconds"], res["startup_tasks"] = startup_seconds(r, workdir / "home")
        if bulk:
            bulk_history(r, bulk)
            res["bulk"] = bulk
            res["startup_seconds_bulk"], _ = startup_seconds(r, workdir / "home")
            res["valkey_used_memory_mb"] = r.info("memory")["used_memory"] / 1e6
        return res
    finally:
        procs.stop_all()


def report(res: dict[str, Any]) -> str:
    lines = [f"tasks: {res['n']} finished (drained in {res['drain_seconds']:.1f}s, {res['tasks_per_s']:.0f} tasks/s)",
             f"ledger events per task: {res['events_per_task']:.2f}",
             "Valkey bytes per finished task: " + ", ".join(f"{k} {v:.0f}" for k, v in res["valkey_per_task"].items()),
             *(["after `scitq events archive`: " + ", ".join(f"{k} {v:.0f}" for k, v in
                                                              res["valkey_per_task_archived"].items())]
               if "valkey_per_task_archived" in res else []),
             "server RSS while draining (tasks finished: MB): " + ", ".join(
                 f"{d}: {rss / 1e6:.1f}" for d, rss in res["rss_samples"]),
             f"server RSS growth per finished task (2nd sample to last): {res['rss_growth_per_finished_task']:.1f} B "
             f"(tasks kept in memory after the drain: {res['server_tasks_in_memory_after_drain']})"]
    if "live" in res:
        lines.append(f"server RSS per live task: {res['rss_per_live_task']:.0f} B ({res['live']} pending tasks; "
                     f"{res['rss_per_live_task_second_half']:.0f} B each for the second half of them)")
    if "running" in res:
        lines.append(f"server RSS per running task: {res['rss_per_running_task']:.0f} B ({res['running']} running "
                     f"tasks, each with its execution; {res['rss_per_running_task_second_half']:.0f} B each for the "
                     "second half of them)")
    lines.append(f"start-up on that history: {res['startup_seconds']:.3f}s ({res['startup_tasks']} tasks loaded)")
    if "bulk" in res:
        lines.append(f"start-up with {res['bulk']} more finished tasks written in bulk into the views: "
                     f"{res['startup_seconds_bulk']:.3f}s (Valkey used_memory {res['valkey_used_memory_mb']:.0f} MB)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    global COMMAND, BATCH, WORKER
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="tasks submitted and drained")
    ap.add_argument("--live", type=int, default=20000, help="tasks submitted first and left pending")
    ap.add_argument("--running", type=int, default=0, help="tasks then started by a worker and left running")
    ap.add_argument("--bulk", type=int, default=0, help="finished tasks then written in bulk into the views")
    ap.add_argument("--command", default="true", help="the command line of every task (default: true)")
    ap.add_argument("--batch", default=BATCH, help=f"the batch of the drained tasks (default: {BATCH}; "
                                                   "each character of a batch name costs bytes per task)")
    ap.add_argument("--worker", default=WORKER, help=f"the worker that runs them (default: {WORKER})")
    ap.add_argument("--archive", action="store_true",
                    help="then archive the ledger (keep 1 entry) and measure Valkey again")
    ap.add_argument("--default-config", action="store_true",
                    help="leave Valkey at its defaults (not the embedded Valkey's MEMORY_TUNING)")
    ap.add_argument("--json", type=Path, help="write the figures there")
    args = ap.parse_args(argv)
    COMMAND, BATCH, WORKER = args.command, args.batch, args.worker
    with tempfile.TemporaryDirectory(prefix="scitq-bench-memory-") as tmp:
        res = run(args.n, args.live, args.bulk, Path(tmp), archive=args.archive,
                  tuning=not args.default_config, running=args.running)
    print(report(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
