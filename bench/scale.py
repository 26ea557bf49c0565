#!/usr/bin/env python3
"""Scale benchmark: N tasks through one `scitq server`, sampled as they finish; then restart and history.

    python3 bench/scale.py [--tasks 1000000] [--workers 2] [--concurrency 8] [--archive-every TASKS]
                           [--json FILE] [--charts DIR]

On one private Valkey (127.0.0.1, a free port, a temporary dir) with a real `scitq server`:

1. Dispatch latency at rest: a worker of its own (batch `probe`, idle) and tasks submitted one at a
   time; latency = the worker's claim (wall clock, same machine) minus the submit call's start.
2. Idle cost (with --idle-workers K): K real worker processes (`bench/null_worker.py`, batch `idle`,
   nothing to do) connected; the server's and Valkey's CPU over --idle-seconds, from /proc/<pid>/stat.
3. The drain, with the server's archive policy on (the server restarted with SCITQ_ARCHIVE_SEGMENT and
   SCITQ_ARCHIVE_KEEP set to the ledger entries of --archive-every tasks, at most 100,000: the events
   per task are counted on the probe tasks of step 1): N tasks submitted in batches
   (`task_create_many`, at most --backlog waiting at a time) to batch `scale`, run by --workers null
   workers: real `scitq worker` processes whose native runner starts no process (every attempt
   succeeds at once), so what is measured is the server's and Valkey's cost per task. Every
   N/--samples tasks done: Valkey used_memory and the ledger stream's part of it (`MEMORY USAGE`,
   length), the archived events, server RSS, commit latency (one `task_create` until acknowledged),
   dispatch latency under load (probe tasks to the idle probe worker) and the throughput of the last
   interval. The bench holds nothing per task: its memory does not grow with N.
4. `scitq events archive` (when this version has it), the server's RSS after it, a server restart
   timed until it answers a command, `scitq events history --task` of the first task timed (archived
   by then, when the archive ran), the dashboard's first screen timed (in-process, headless).
5. Charts (with matplotlib: `pip install scitq[bench]`): memory and throughput against tasks done.

Every process started here is stopped at the end (also on Ctrl-C or a failure). `--json FILE` writes
the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from throughput import BenchError, Procs, Valkey, group_cpu, wait_until  # noqa: E402

from scitq import keys  # noqa: E402

NULL_WORKER = HERE / "null_worker.py"
MAX_SEGMENT = 100_000     # ledger entries of one archive segment at most (the server's default)
TARGETS = {"dispatch_p50_ms": 5.0, "dispatch_p99_ms": 50.0, "idle_cpu_pct": 10.0}


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


class Claims:
    """The claim times a null worker writes (task id -> wall clock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.touch()

    def read(self) -> dict[int, float]:
        out = {}
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                out[int(parts[0])] = float(parts[1])
        return out


class Scale:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="scitq-scale-"))
        self.procs = Procs(self.tmp)
        self.valkey = Valkey(self.procs, self.tmp / "valkey")
        self.res: dict[str, Any] = {"args": vars(args), "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_at_start": os.getloadavg()}}
        self.server: subprocess.Popen | None = None
        self.url = ""
        self.env: dict[str, str] = {}
        self.server_env: dict[str, str] = {}

    # --- processes ---------------------------------------------------------------------------------
    def start_server(self) -> float:
        """Start `scitq server`; seconds until it answers a command (a probe task acknowledged)."""
        self.r.delete(keys.SERVER_ALIVE)   # a stopped server's key may outlive it (TTL)
        t0 = time.perf_counter()
        self.server = self.procs.spawn([sys.executable, "-m", "scitq.cli.main", "server", "--redis", self.url],
                                       "scitq-server.log", {**self.env, **self.server_env})
        wait_until(lambda: self.r.exists(keys.SERVER_ALIVE), self.args.timeout * 10, "the scitq server", self.server)
        self.probe_submit(timeout=self.args.timeout)
        return time.perf_counter() - t0

    def start_worker(self, name: str, batch: str, concurrency: int, prefetch: int,
                     claims: Path | None = None) -> subprocess.Popen:
        env = dict(self.env)
        if claims is not None:
            env["SCITQ_BENCH_CLAIMS"] = str(claims)
        return self.procs.spawn([sys.executable, str(NULL_WORKER), "worker", "-n", name, "-b", batch,
                                 "-C", str(concurrency), "-p", str(prefetch)], f"worker-{name}.log", env)

    def wait_registered(self, names: list[str], procs: list[subprocess.Popen]) -> None:
        def ready() -> bool:
            ids = self.r.hmget(keys.WORKERS_BY_NAME, names)
            if any(i is None for i in ids):
                return False
            return all(self.r.hget(keys.worker_view(int(i)), "status") == "running" for i in ids)
        wait_until(ready, self.args.timeout + len(names), f"{len(names)} workers to register", procs[0])

    # --- measurements ------------------------------------------------------------------------------
    def probe_submit(self, timeout: float = 30.0) -> tuple[int, float, float]:
        """One task to the probe batch: (id, wall clock before the call, seconds until acknowledged)."""
        from scitq.api.v1 import Server
        deadline = time.monotonic() + timeout
        while True:
            try:
                api = Server(self.url)
                t_wall, t0 = time.time(), time.perf_counter()
                tid = api.task_create("true", batch="probe")
                dt = time.perf_counter() - t0
            except Exception:  # noqa: BLE001  the server may still be starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            if isinstance(tid, dict) and isinstance(tid.get("task_id"), int):   # v1: the task as a dict
                tid = tid["task_id"]
            if not isinstance(tid, int):
                raise BenchError(f"the server did not acknowledge a submission: {tid!r}")
            return tid, t_wall, dt

    def dispatch(self, count: int, spacing: float) -> dict[str, Any]:
        """`count` probe tasks one at a time to the idle probe worker: commit and dispatch latencies (ms)."""
        sent: dict[int, float] = {}
        commit = []
        for _ in range(count):
            tid, t_wall, dt = self.probe_submit()
            sent[tid] = t_wall
            commit.append(dt * 1000)
            time.sleep(spacing)
        wait_until(lambda: set(sent) <= set(self.claims.read()), self.args.timeout, "the probe tasks to be claimed")
        got = self.claims.read()
        lat = [(got[t] - sent[t]) * 1000 for t in sent]
        return {"n": count, "dispatch_p50_ms": pct(lat, 50), "dispatch_p99_ms": pct(lat, 99),
                "dispatch_max_ms": max(lat), "commit_p50_ms": pct(commit, 50), "commit_p99_ms": pct(commit, 99)}

    def cpu(self) -> dict[str, float]:
        return {"server": group_cpu(self.server.pid), "valkey": group_cpu(self.valkey.proc.pid)}

    def idle(self) -> dict[str, Any]:
        k, secs = self.args.idle_workers, self.args.idle_seconds
        names = [f"idle{i}" for i in range(k)]
        ws = []
        for n in names:
            ws.append(self.start_worker(n, "idle", 1, 0))
        self.wait_registered(names, ws)
        time.sleep(2.0)
        c0, t0 = self.cpu(), time.perf_counter()
        time.sleep(secs)
        c1, dt = self.cpu(), time.perf_counter() - t0
        out = {"workers": k, "seconds": dt, "worker_kind": "real scitq worker processes (bench/null_worker.py)",
               "server_cpu_pct": 100 * (c1["server"] - c0["server"]) / dt,
               "valkey_cpu_pct": 100 * (c1["valkey"] - c0["valkey"]) / dt,
               "load": os.getloadavg()}
        for w in ws:      # all at once: one by one, each idle worker's stop waits for its claim's block
            with_group = getattr(self.procs, "_signal_group")
            with_group(w, signal.SIGTERM)
        for w in ws:
            self.procs.stop(w, timeout=20)
        return out

    def ledger(self) -> dict[str, int]:
        """The live ledger stream (entries, bytes) and the events archived so far."""
        try:
            mem = int(self.r.memory_usage(keys.EVENTS, samples=0) or 0)
        except redis.ResponseError:
            mem = 0
        return {"ledger_events": self.r.xlen(keys.EVENTS), "ledger_memory": mem,
                "archived_events": int(self.r.hget(keys.ARCHIVE, "events") or 0)}

    def archive_policy(self, events_per_task: float) -> dict[str, Any]:
        """The server's archive policy for the drain: a segment of the ledger entries of --archive-every
        tasks (at most MAX_SEGMENT), as many kept live, checked every --archive-interval seconds."""
        a = self.args
        every = a.archive_every if a.archive_every is not None else max(1, a.tasks // 10)
        if every <= 0:
            return {"on": False}
        segment = max(100, min(MAX_SEGMENT, round(every * events_per_task)))
        self.server_env = {"SCITQ_ARCHIVE_INTERVAL": str(a.archive_interval), "SCITQ_ARCHIVE_SEGMENT": str(segment),
                           "SCITQ_ARCHIVE_KEEP": str(segment)}
        return {"on": True, "every_tasks": every, "events_per_task": events_per_task, "segment": segment,
                "keep": segment, "interval_s": a.archive_interval,
                "archived_every_tasks": round(segment / events_per_task)}

    def probes_finished(self) -> bool:
        """Every probe task has ended (so that all its ledger events are written)."""
        counts = self.r.hmget(keys.batch_view("probe"), "succeeded", "pending", "assigned", "accepted", "running")
        return int(counts[0] or 0) > 0 and not any(int(c or 0) for c in counts[1:])

    def done(self) -> int:
        s, f = self.r.hmget(keys.batch_view("scale"), "succeeded", "failed")
        return int(s or 0) + int(f or 0)

    def drain(self) -> dict[str, Any]:
        from scitq.api.v1 import Server
        a = self.args
        n, chunk = a.tasks, a.chunk
        api = Server(self.url)
        submitted = [0]
        stop = threading.Event()      # --submit-seconds ran out: no more submissions, the drain ends with them
        first_id: list[int] = []
        error: list[BaseException] = []

        def submitter() -> None:
            try:
                while submitted[0] < n and not stop.is_set():
                    if submitted[0] - self.done() >= a.backlog:
                        time.sleep(0.05)
                        continue
                    k = min(chunk, n - submitted[0])
                    ids = api.task_create_many([{"command": "true", "batch": "scale"} for _ in range(k)])
                    if not first_id:
                        first_id.append(min(ids))
                    submitted[0] += k
            except BaseException as exc:  # noqa: BLE001
                error.append(exc)

        names = [f"scale{i}" for i in range(a.workers)]
        ws = [self.start_worker(nm, "scale", a.concurrency, a.prefetch) for nm in names]
        self.wait_registered(names, ws)
        step = max(1, n // max(1, a.samples))
        samples = []
        th = threading.Thread(target=submitter, daemon=True)
        t_start = time.perf_counter()
        cpu0 = self.cpu()
        th.start()
        last_t, last_done = t_start, 0
        next_mark = step
        deadline = time.monotonic() + a.drain_timeout
        budget = time.monotonic() + a.submit_seconds if a.submit_seconds else float("inf")
        while True:
            d = self.done()
            if error:
                raise BenchError(f"submission failed: {error[0]}")
            if not stop.is_set() and time.monotonic() > budget:
                stop.set()
                th.join()
                n = submitted[0]
                print(f"  --submit-seconds over: {n:,} tasks submitted, drained to the end", flush=True)
            if d >= next_mark or d >= n:
                now = time.perf_counter()
                memory = {"valkey_used_memory": self.r.info("memory")["used_memory"],
                          "server_rss": rss_bytes(self.server.pid), **self.ledger()}
                probe = self.dispatch(a.probes, 0.01)
                samples.append({
                    "done": d, "seconds": now - t_start,
                    "tasks_per_s": (d - last_done) / max(now - last_t, 1e-9), **memory,
                    "commit_p50_ms": probe["commit_p50_ms"], "dispatch_p50_ms": probe["dispatch_p50_ms"],
                    "dispatch_p99_ms": probe["dispatch_p99_ms"], "load": os.getloadavg()[0]})
                print(f"  {d:>9,} done  {samples[-1]['tasks_per_s']:8.0f} tasks/s  "
                      f"valkey {memory['valkey_used_memory'] / 2**20:8.1f} MiB "
                      f"(ledger {memory['ledger_memory'] / 2**20:6.1f} MiB, {memory['ledger_events']:,} live, "
                      f"{memory['archived_events']:,} archived)  "
                      f"server {memory['server_rss'] / 2**20:7.1f} MiB  commit {probe['commit_p50_ms']:.1f} ms  "
                      f"dispatch p50 {probe['dispatch_p50_ms']:.1f} ms", flush=True)
                last_t, last_done = time.perf_counter(), self.done()   # the probes' time is not counted
                while next_mark <= d:
                    next_mark += step
                if d >= n:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"timed out after {a.drain_timeout:.0f}s with {d:,} of {n:,} tasks done")
            for w in ws:
                if w.poll() is not None:
                    raise BenchError(f"a worker exited with {w.returncode}: see {w.log}")  # type: ignore[attr-defined]
            time.sleep(0.2)
        total = time.perf_counter() - t_start
        cpu1 = self.cpu()
        for w in ws:
            self.procs.stop(w, timeout=20)
        return {"tasks": n, "tasks_asked": a.tasks, "seconds": total, "tasks_per_s": n / total, "first_task": first_id[0],
                "cpu_ms_per_task": {k: 1000 * (cpu1[k] - cpu0[k]) / n for k in cpu1}, "samples": samples}

    def after(self, first_task: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        cli = [sys.executable, "-m", "scitq.cli.main"]
        has_archive = subprocess.run([*cli, "events", "archive", "--help"], env=self.env, capture_output=True,
                                     timeout=60).returncode == 0
        if has_archive:
            t0 = time.perf_counter()
            p = subprocess.run([*cli, "events", "archive"], env=self.env, capture_output=True, text=True,
                               timeout=self.args.timeout * 10)
            out["archive_s"] = time.perf_counter() - t0
            out["archive_rc"] = p.returncode
            out["archive_output"] = (p.stdout + p.stderr).strip()[-500:]
            out["server_rss_after_archive"] = rss_bytes(self.server.pid)
        else:
            out["archive_s"] = None
            out["archive_output"] = "`scitq events archive` does not exist in this version"
        out["valkey_used_memory_before_restart"] = self.r.info("memory")["used_memory"]
        out.update({f"{k}_before_restart": v for k, v in self.ledger().items()})
        out["history_task"] = first_task
        out["history_task_archived"] = self.archived(first_task)
        self.procs.stop(self.server, timeout=30)
        out["server_restart_s"] = self.start_server()
        out["server_rss_after_restart"] = rss_bytes(self.server.pid)
        t0 = time.perf_counter()
        p = subprocess.run([*cli, "events", "history", "--task", str(first_task)], env=self.env,
                           capture_output=True, text=True, timeout=self.args.timeout * 10)
        out["history_task_s"] = time.perf_counter() - t0
        out["history_task_rc"] = p.returncode
        out["history_task_lines"] = len(p.stdout.splitlines())
        try:
            out["dashboard_first_screen_s"] = asyncio.run(self.dashboard())
        except Exception as exc:  # noqa: BLE001
            out["dashboard_first_screen_s"] = None
            out["dashboard_error"] = repr(exc)[:300]
        return out

    def archived(self, task_id: int) -> bool:
        """Whether the first event of `task_id` is in the archive (not in the live ledger any more)."""
        from scitq.projections.ledger import ledger_archive
        arch = ledger_archive(self.r)
        return arch is not None and any(seg.has_task(task_id) for seg in arch.manifest().segments)

    async def dashboard(self) -> float:
        from scitq.tui.app import Dashboard
        t0 = time.perf_counter()
        app = Dashboard(self.url, start="batches")
        async with app.run_test(size=(160, 50)) as pilot:  # noqa: F841
            deadline = time.perf_counter() + self.args.timeout
            while True:
                s = app.screen_of("batches")
                if s is not None and s.table.count >= 1:
                    return time.perf_counter() - t0
                if time.perf_counter() > deadline:
                    raise BenchError("timed out waiting for the dashboard's Batches screen")
                await asyncio.sleep(0.005)

    # --- the whole run -----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        a = self.args
        self.valkey.start()
        self.url = self.valkey.url(0)
        self.r = redis.Redis.from_url(self.url, decode_responses=True)
        self.env = {**os.environ, "SCITQ_HOME": str(self.tmp / "home"), "SCITQ_SERVER": self.url}
        self.res["server_start_s"] = self.start_server()
        self.claims = Claims(self.tmp / "claims.txt")
        probe = self.start_worker("probe", "probe", 1, 0, claims=self.claims.path)
        self.wait_registered(["probe"], [probe])
        wait_until(lambda: self.claims.read(), a.timeout, "the start-up probe task to be claimed", probe)
        time.sleep(0.5)
        print(f"dispatch latency at rest ({a.latency_probes} tasks one at a time)...", flush=True)
        events0 = self.r.xlen(keys.EVENTS)
        self.res["dispatch_at_rest"] = self.dispatch(a.latency_probes, a.latency_spacing)
        wait_until(lambda: self.probes_finished(), a.timeout, "the probe tasks to finish", probe)
        per_task = max(1.0, (self.r.xlen(keys.EVENTS) - events0) / max(1, a.latency_probes))
        self.res["archive_policy"] = self.archive_policy(per_task)
        if self.res["archive_policy"]["on"]:
            p = self.res["archive_policy"]
            print(f"archive policy: {per_task:.1f} ledger events per task, segments of {p['segment']:,} entries, "
                  f"{p['keep']:,} kept live: archived about every {p['archived_every_tasks']:,} tasks", flush=True)
            self.procs.stop(self.server, timeout=30)
            self.start_server()
        if a.idle_workers:
            print(f"{a.idle_workers} idle workers for {a.idle_seconds:.0f}s...", flush=True)
            self.res["idle"] = self.idle()
        print(f"draining {a.tasks:,} tasks...", flush=True)
        self.res["drain"] = self.drain()
        print("archive, restart, history, dashboard...", flush=True)
        self.res["after"] = self.after(self.res["drain"]["first_task"])
        self.res["machine"]["load_at_end"] = os.getloadavg()
        return self.res

    def close(self) -> None:
        self.procs.stop_all()
        import shutil
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def charts(res: dict[str, Any], outdir: Path) -> list[Path]:
    """memory and throughput against tasks done, as PNG files in `outdir` (needs matplotlib)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s = res["drain"]["samples"]
    done = [x["done"] for x in s]
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(done, [x["valkey_used_memory"] / 2**20 for x in s], marker="o", label="Valkey used_memory")
    if all("ledger_memory" in x for x in s):
        ax.plot(done, [x["ledger_memory"] / 2**20 for x in s], marker="^", label="  of which the live ledger stream")
        ax.plot(done, [(x["valkey_used_memory"] - x["ledger_memory"]) / 2**20 for x in s], marker="v",
                label="  of which the rest (views, indexes, queues)")
    ax.plot(done, [x["server_rss"] / 2**20 for x in s], marker="s", label="server RSS")
    ax.set_xlabel("tasks done")
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    pol = res.get("archive_policy") or {}
    arch = (f", ledger archived every ~{pol['archived_every_tasks']:,} tasks" if pol.get("on") else ", no archive")
    ax.set_title(f"scitq: memory against tasks done ({res['drain']['tasks']:,} tasks{arch})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(outdir / "scale-memory.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(done, [x["tasks_per_s"] for x in s], marker="o", label="throughput (tasks/s)")
    ax.set_xlabel("tasks done")
    ax.set_ylabel("tasks/s")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.plot(done, [x["commit_p50_ms"] for x in s], color="tab:red", marker="x", label="commit latency p50 (ms)")
    ax2.plot(done, [x["dispatch_p50_ms"] for x in s], color="tab:green", marker="+",
             label="dispatch latency p50 (ms)")
    ax2.set_ylabel("ms")
    ax2.set_ylim(bottom=0)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="lower left")
    ax.set_title("scitq: throughput and latencies against tasks done")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(outdir / "scale-throughput.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(res: dict[str, Any]) -> str:
    lines = [f"machine: {res['machine']['cpus']} cpus, python {res['machine']['python']}, load at start "
             f"{res['machine']['load_at_start'][0]:.1f}, at end {res['machine'].get('load_at_end', [0])[0]:.1f}"]
    d = res["dispatch_at_rest"]
    lines.append(f"dispatch latency at rest ({d['n']} tasks): p50 {d['dispatch_p50_ms']:.1f} ms "
                 f"[target <= 5: {verdict(d['dispatch_p50_ms'] <= TARGETS['dispatch_p50_ms'])}], "
                 f"p99 {d['dispatch_p99_ms']:.1f} ms [target <= 50: "
                 f"{verdict(d['dispatch_p99_ms'] <= TARGETS['dispatch_p99_ms'])}], max {d['dispatch_max_ms']:.1f} ms;"
                 f" commit p50 {d['commit_p50_ms']:.1f} ms")
    if "idle" in res:
        i = res["idle"]
        lines.append(f"{i['workers']} idle workers over {i['seconds']:.0f}s: server {i['server_cpu_pct']:.1f} % "
                     f"[target <= 10: {verdict(i['server_cpu_pct'] <= 10)}], valkey {i['valkey_cpu_pct']:.1f} % "
                     f"[target <= 10: {verdict(i['valkey_cpu_pct'] <= 10)}]")
    dr = res["drain"]
    pol = res.get("archive_policy") or {}
    if pol.get("on"):
        lines.append(f"archive policy: {pol['events_per_task']:.1f} ledger events per task; segments of "
                     f"{pol['segment']:,} entries, {pol['keep']:,} kept live, checked every {pol['interval_s']:g}s: "
                     f"archived about every {pol['archived_every_tasks']:,} tasks")
    asked = (f" (of {dr['tasks_asked']:,} asked: --submit-seconds ran out)"
             if dr.get("tasks_asked", dr["tasks"]) != dr["tasks"] else "")
    lines.append(f"drain: {dr['tasks']:,} tasks{asked} in {dr['seconds']:.1f}s = {dr['tasks_per_s']:.0f} tasks/s; "
                 "CPU per task: " + ", ".join(f"{k} {v:.3f} ms" for k, v in dr["cpu_ms_per_task"].items()))
    lines.append(f"{'done':>10} {'tasks/s':>8} {'valkey MiB':>11} {'ledger MiB':>11} {'live events':>12} "
                 f"{'archived':>10} {'server MiB':>11} {'commit ms':>10} {'dispatch p50':>13} {'load':>5}")
    for s in dr["samples"]:
        lines.append(f"{s['done']:>10,} {s['tasks_per_s']:>8.0f} {s['valkey_used_memory'] / 2**20:>11.1f} "
                     f"{s.get('ledger_memory', 0) / 2**20:>11.1f} {s['ledger_events']:>12,} "
                     f"{s.get('archived_events', 0):>10,} "
                     f"{s['server_rss'] / 2**20:>11.1f} {s['commit_p50_ms']:>10.1f} {s['dispatch_p50_ms']:>13.1f} "
                     f"{s['load']:>5.1f}")
    af = res["after"]
    arch = (f"{af['archive_s']:.1f}s (server RSS after it {af['server_rss_after_archive'] / 2**20:.1f} MiB)"
            if af.get("archive_s") is not None else af["archive_output"])
    dash = f"{af['dashboard_first_screen_s']:.2f}s" if af.get("dashboard_first_screen_s") is not None \
        else f"failed: {af.get('dashboard_error')}"
    lines.append(f"archive: {arch}; server restart until it answers: {af['server_restart_s']:.2f}s "
                 f"(RSS {af['server_rss_after_restart'] / 2**20:.1f} MiB); `events history --task`: "
                 f"{af['history_task_s']:.2f}s ({af['history_task_lines']} lines, task {af.get('history_task')} "
                 f"{'archived' if af.get('history_task_archived') else 'live'}); dashboard first screen: {dash}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=1_000_000, help="tasks to drain (default 1,000,000)")
    ap.add_argument("--chunk", type=int, default=5000, help="tasks per task_create_many call")
    ap.add_argument("--backlog", type=int, default=20000, help="at most this many submitted and not done")
    ap.add_argument("--workers", type=int, default=2, help="null workers draining the tasks")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--prefetch", type=int, default=16)
    ap.add_argument("--probes", type=int, default=5, help="probe tasks per sample (commit and dispatch latency)")
    ap.add_argument("--samples", type=int, default=10, help="samples over the drain (every N/samples tasks done)")
    ap.add_argument("--archive-every", type=int, default=None,
                    help="the server's archive policy archives the ledger about every this many tasks "
                         "(default N/10; segments of at most 100,000 entries; 0: no archive policy)")
    ap.add_argument("--archive-interval", type=float, default=2.0, help="seconds between the server's policy checks")
    ap.add_argument("--latency-probes", type=int, default=200, help="tasks for the dispatch latency at rest")
    ap.add_argument("--latency-spacing", type=float, default=0.02, help="seconds between them")
    ap.add_argument("--idle-workers", type=int, default=0, help="idle worker processes for the idle cost (0: skip)")
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--timeout", type=float, default=60.0, help="timeout of each wait")
    ap.add_argument("--drain-timeout", type=float, default=3600.0)
    ap.add_argument("--submit-seconds", type=float, default=0.0,
                    help="stop submitting after this many seconds of drain and drain what was submitted "
                         "(0: submit all --tasks)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--charts", metavar="DIR", help="write scale-memory.png and scale-throughput.png there")
    ap.add_argument("--keep", action="store_true", help="keep the temporary dir (logs)")
    args = ap.parse_args(argv)
    bench = Scale(args)

    def on_term(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        res = bench.run()
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        bench.close()
    if args.charts:
        try:
            res["charts"] = [str(p) for p in charts(res, Path(args.charts))]
        except ImportError:
            print("bench: matplotlib is not installed (pip install scitq[bench]): no charts", file=sys.stderr)
    print(report(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
