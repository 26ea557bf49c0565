#!/usr/bin/env python3
"""Memory benchmark: what one finished task costs in Valkey, what a task costs the server, and how long
the server takes to start on a long history.

    python3 bench/memory.py [--n 20000] [--live 20000] [--json FILE]

It runs the server's control plane in this process (`ControlPlane.round()`, the real commit) on a private
Valkey, and plays one worker through the real protocol (a consumer of the batch's queue stream writing
`claimed`, `started` and `finished` reports into its outbox) whose runner does nothing, so what is
measured is the server's and Valkey's share alone:

1. Valkey bytes per finished task (MEMORY USAGE of every key, grouped as ledger, views, indexes, other;
   outputs excluded since nothing runs) after N tasks submitted (batches of 1,000) and drained.
2. Server memory: RSS of this process (the control plane) after the N finished tasks and after LIVE more
   tasks submitted but not run (pending), each above the RSS before.
3. Start-up: a fresh control plane's `load()` on that history (views + cursor + ledger tail).

The steps are functions (`drain`, `valkey_breakdown`, `startup_seconds`, ...) for other benchmarks to reuse.
"""

from __future__ import annotations

import argparse
import gc
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

from throughput import Procs, Valkey  # noqa: E402

from scitq import keys  # noqa: E402
from scitq.events.commands import encode  # noqa: E402
from scitq.server.controlplane import ControlPlane  # noqa: E402
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


def submit(cp: ControlPlane, r: redis.Redis, n: int, per_command: int = 1000, batch: str = BATCH) -> None:
    """Submit `n` trivial tasks through the inbox, `per_command` a command, and apply them."""
    done = 0
    while done < n:
        k = min(per_command, n - done)
        tasks = [{"command": "true", "batch": batch} for _ in range(k)]
        r.xadd(keys.INBOX, {"cmd": "task.submit", "id": uuid.uuid4().hex, "data": json.dumps({"tasks": tasks})})
        done += k
        if r.xlen(keys.INBOX) >= 20:
            settle(cp, r, [])
    settle(cp, r, [])


def register(cp: ControlPlane, r: redis.Redis, concurrency: int = 500, batch: str = BATCH) -> None:
    """Register the benchmark's worker (alive for an hour) and make it a consumer of its batch's queue."""
    r.set(keys.worker_alive(WORKER), "1", ex=3600)
    r.xadd(keys.INBOX, {"cmd": "worker.register", "id": uuid.uuid4().hex,
                        "data": json.dumps({"name": WORKER, "concurrency": concurrency, "prefetch": 0,
                                            "batch": batch, "incarnation": "bench"})})
    settle(cp, r, [])
    try:
        r.xgroup_create(keys.queue(batch), keys.QUEUE_GROUP, id="0", mkstream=True)
    except redis.ResponseError:
        pass


class Runner:
    """The worker protocol with a runner that does nothing: claim, start, finish with 0."""

    def __init__(self, r: redis.Redis, batch: str = BATCH) -> None:
        self.r = r
        self.batch = batch
        self.seq = 0
        self.outbox = keys.worker_outbox(WORKER)

    def _report(self, pipe: Any, fact: str, data: dict[str, Any]) -> None:
        self.seq += 1
        pipe.xadd(self.outbox, {"f": fact, "inc": "bench", "seq": str(self.seq), "data": encode(data)})

    def step(self) -> int:
        """Claim what the queue offers and report every attempt started and finished; the count read."""
        res = self.r.xreadgroup(keys.QUEUE_GROUP, WORKER, {keys.queue(self.batch): ">"}, count=1000) or []
        n = 0
        pipe = self.r.pipeline(transaction=False)
        for _, entries in res:
            for eid, f in entries:
                tid, attempt = int(f["task"]), int(f["attempt"])
                self._report(pipe, "claimed", {"task_id": tid, "attempt": attempt, "entry": eid, "queue": self.batch})
                self._report(pipe, "started", {"task_id": tid, "attempt": attempt, "command": "true"})
                self._report(pipe, "finished", {"task_id": tid, "attempt": attempt, "return_code": 0})
                n += 1
        pipe.execute()
        return n


def drain(cp: ControlPlane, r: redis.Redis, n: int, batch: str = BATCH) -> float:
    """Run the server and the worker until `n` tasks of `batch` succeeded; the seconds it took."""
    runner = Runner(r, batch)
    t0 = time.perf_counter()
    while int(r.hget(keys.batch_view(batch), "succeeded") or 0) < n:
        cp.round(block_ms=None)  # type: ignore[arg-type]
        runner.step()
        cp.round(block_ms=None)  # type: ignore[arg-type]
    return time.perf_counter() - t0


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
    out: dict[str, dict[str, int]] = {}
    names = list(r.scan_iter(count=5000))
    for i in range(0, len(names), 1000):
        chunk = names[i:i + 1000]
        pipe = r.pipeline(transaction=False)
        for k in chunk:
            pipe.memory_usage(k, samples=0)
        for k, size in zip(chunk, pipe.execute()):
            row = out.setdefault(category(k), {"keys": 0, "bytes": 0})
            row["keys"] += 1
            row["bytes"] += size or 0
    return out


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


def run(n: int, live: int, workdir: Path) -> dict[str, Any]:
    procs = Procs(workdir)
    valkey = Valkey(procs, workdir / "valkey")
    valkey.start()
    try:
        r = redis.Redis.from_url(valkey.url(), decode_responses=True)
        gc.collect()
        rss0 = rss_bytes()
        cp = server(r, workdir / "home")
        register(cp, r)
        base = valkey_breakdown(r)
        t0 = time.perf_counter()
        submit(cp, r, n)
        submit_s = time.perf_counter() - t0
        drain_s = drain(cp, r, n)
        gc.collect()
        rss_finished = rss_bytes()
        after = valkey_breakdown(r)
        diff = {cat: {"keys": row["keys"] - base.get(cat, {}).get("keys", 0),
                      "bytes": row["bytes"] - base.get(cat, {}).get("bytes", 0)} for cat, row in after.items()}
        res: dict[str, Any] = {
            "n": n, "submit_seconds": submit_s, "drain_seconds": drain_s, "tasks_per_s": n / drain_s,
            "events_per_task": events_per_task(r, n), "valkey": diff, "valkey_per_task": per_task(diff, n),
            "server_tasks_in_memory_after_drain": len(cp.state.tasks),
            "rss_per_finished_task": (rss_finished - rss0) / n,
        }
        cp.lock.release()
        res["startup_seconds"], res["startup_tasks"] = startup_seconds(r, workdir / "home")
        if live:
            cp = server(r, workdir / "home")
            gc.collect()
            rss1 = rss_bytes()
            submit(cp, r, live, batch="live")
            gc.collect()
            res["live"] = live
            res["rss_per_live_task"] = (rss_bytes() - rss1) / live
            res["server_tasks_in_memory_with_live"] = len(cp.state.tasks)
            cp.lock.release()
        return res
    finally:
        procs.stop_all()


def report(res: dict[str, Any]) -> str:
    lines = [f"tasks: {res['n']} finished (submitted in {res['submit_seconds']:.1f}s, drained in "
             f"{res['drain_seconds']:.1f}s, {res['tasks_per_s']:.0f} tasks/s)",
             f"ledger events per task: {res['events_per_task']:.2f}",
             "Valkey bytes per finished task: " + ", ".join(f"{k} {v:.0f}" for k, v in res["valkey_per_task"].items()),
             f"server RSS per finished task: {res['rss_per_finished_task']:.0f} B "
             f"(tasks kept in memory: {res['server_tasks_in_memory_after_drain']})",
             f"start-up on that history: {res['startup_seconds']:.3f}s ({res['startup_tasks']} tasks loaded)"]
    if "live" in res:
        lines.append(f"server RSS per live task: {res['rss_per_live_task']:.0f} B ({res['live']} pending tasks)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="tasks submitted and drained")
    ap.add_argument("--live", type=int, default=20000, help="tasks then submitted and left pending")
    ap.add_argument("--json", type=Path, help="write the figures there")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scitq-bench-memory-") as tmp:
        res = run(args.n, args.live, Path(tmp))
    print(report(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
