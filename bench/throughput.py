#!/usr/bin/env python3
"""Throughput benchmark: scitq against RQ, Celery and a bare thread pool, on one Valkey started here.

    python3 bench/throughput.py [--n 2000] [--concurrency 4] [--only scitq,rq,celery,floor]

What it measures, in one run, on one private Valkey (127.0.0.1, a free port, a temporary dir):

1. End-to-end throughput of N trivial shell tasks (`true`) at concurrency C, timed from just before
   submission until every task has finished:
   - scitq: a real `scitq server --redis URL` and one `scitq worker -C C -p P` (subprocesses),
     tasks submitted with `Server.task_create_many`, completion read from the batch view;
   - RQ: C `rq worker` processes (db 1), jobs enqueued with `Queue.enqueue_many`;
   - Celery: one prefork worker with concurrency C (broker db 2, results db 3), `delay()` per task;
   - floor: a ThreadPoolExecutor of C threads calling subprocess.run(["true"]) directly.
   Every queue's job runs the same process (`true`); CPU seconds of each component are reported.
2. Submission rate through `Server.task_create` (one by one) and `Server.task_create_many` (batched),
   with the server running and no worker.
3. Ledger replay rate: `scitq.projections.store.replay` over the whole ledger.
4. Valkey memory per finished task (INFO used_memory before submission and after the N tasks),
   with a per-key breakdown (MEMORY USAGE).

Every process started here is stopped at the end (also on Ctrl-C, SIGTERM or failure) and every wait
has a timeout. `--json FILE` writes the figures for later comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scitq import keys  # noqa: E402
from scitq.server.embedded import free_port, valkey_binary  # noqa: E402

SYSTEMS = ("floor", "scitq", "rq", "celery")
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGETS = {
    "scitq_vs_celery": 2.0,          # scitq end-to-end >= 2x Celery
    "scitq_vs_floor": 1 / 3,         # scitq end-to-end >= 1/3 of the bare floor
    "submit_batched": 20_000.0,      # tasks/s through task_create_many
    "replay": 100_000.0,             # events/s
    "bytes_per_task": 1024.0,        # Valkey memory per finished task
}


class BenchError(RuntimeError):
    pass


# --- processes --------------------------------------------------------------------------------------
class Procs:
    """Every subprocess of the benchmark, each in its own process group so it is stopped with its children."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []

    def spawn(self, args: list[str], log: str, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen:
        fh = open(self.logdir / log, "ab")
        try:
            p = subprocess.Popen(args, env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            fh.close()
        p.log = self.logdir / log  # type: ignore[attr-defined]
        self.procs.append(p)
        return p

    @staticmethod
    def _signal_group(p: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(p.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, p: subprocess.Popen, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
        """Ask the process (and its group) to stop, kill the group if it does not within `timeout`."""
        if p.poll() is None:
            self._signal_group(p, sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(p, signal.SIGKILL)
                p.wait(5)
        self._signal_group(p, signal.SIGKILL)   # children left behind by the leader
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self) -> None:
        for p in list(reversed(self.procs)):
            try:
                self.stop(p, timeout=10)
            except Exception as exc:  # keep stopping the others
                print(f"bench: could not stop pid {p.pid}: {exc}", file=sys.stderr)


def group_cpu(pgid: int, own: bool = True, children: bool = True) -> float:
    """CPU seconds (user+system) of every live process in group `pgid`: their own (`own`) and that of
    the children they have waited for (`children`: the tasks' processes, RQ's work horses)."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[2]) == pgid:
            total += (sum(int(x) for x in fields[11:13]) if own else 0) + \
                (sum(int(x) for x in fields[13:15]) if children else 0)
    return total / CLK_TCK


def self_cpu(children: bool = False) -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    total = ru.ru_utime + ru.ru_stime
    if children:
        rc = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += rc.ru_utime + rc.ru_stime
    return total


def command_stats(url: str) -> dict[str, tuple[int, int]]:
    """Valkey's per-command counters (calls, usec) for the whole server (INFO commandstats)."""
    r = redis.Redis.from_url(url, decode_responses=True)
    try:
        return {k.removeprefix("cmdstat_"): (v["calls"], v["usec"]) for k, v in r.info("commandstats").items()}
    finally:
        r.close()


def command_delta(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], n: int) -> dict[str, Any]:
    """Commands Valkey executed between two snapshots, per task: total, and the busiest commands."""
    diff = {k: (c - before.get(k, (0, 0))[0], u - before.get(k, (0, 0))[1]) for k, (c, u) in after.items()}
    diff = {k: v for k, v in diff.items() if v[0] > 0 and k != "info"}
    ranked = sorted(diff.items(), key=lambda kv: -kv[1][0])
    return {"per_task": sum(c for c, _ in diff.values()) / n,
            "valkey_usec_per_task": sum(u for _, u in diff.values()) / n,
            "top_per_task": {k: round(c / n, 3) for k, (c, _) in ranked},
            "usec_per_task": {k: round(u / n, 2) for k, (_, u) in sorted(diff.items(), key=lambda kv: -kv[1][1])}}


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen | None = None,
               interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            log = getattr(proc, "log", None)
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise BenchError(f"{what}: process {proc.args[:4]} exited with {proc.returncode}\n{tail}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Valkey:
    """A private Valkey on 127.0.0.1 (AOF on, fsync every second, no RDB snapshots)."""

    def __init__(self, procs: Procs, workdir: Path) -> None:
        self.procs = procs
        self.dir = workdir
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 20.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "valkey.conf"
        conf.write_text(f"bind 127.0.0.1\nport {self.port}\nrequirepass {self.password}\ndir {self.dir}\n"
                        "appendonly yes\nappendfsync everysec\nsave \"\"\ndatabases 16\n"
                        f"logfile {self.dir / 'valkey.log'}\n")
        self.proc = self.procs.spawn([valkey_binary(), str(conf)], "valkey.out")
        r = redis.Redis.from_url(self.url(), socket_connect_timeout=1)

        def up() -> bool:
            try:
                return bool(r.ping())
            except (redis.ConnectionError, redis.BusyLoadingError):
                return False
        wait_until(up, timeout, "Valkey to start", self.proc, interval=0.05)
        r.close()

    def version(self) -> str:
        r = redis.Redis.from_url(self.url(), decode_responses=True)
        try:
            info = r.info("server")
            return f"{'valkey' if 'valkey_version' in info else 'redis'} {info.get('valkey_version') or info.get('redis_version')}"
        finally:
            r.close()


# --- the systems ------------------------------------------------------------------------------------
def bench_floor(ctx: "Bench") -> dict[str, Any]:
    n, c = ctx.args.n, ctx.args.concurrency
    own0, all0, t0 = self_cpu(), self_cpu(children=True), time.perf_counter()
    with ThreadPoolExecutor(c) as ex:
        codes = list(ex.map(lambda _: subprocess.run(["true"]).returncode, range(n)))
    dt = time.perf_counter() - t0
    own, every = self_cpu() - own0, self_cpu(children=True) - all0
    return {"tasks": n, "failed": sum(1 for x in codes if x), "seconds": dt, "tasks_per_s": n / dt,
            "submit_seconds": None, "cpu": {"threads": own, "tasks": every - own}}


def key_shape(k: str) -> str:
    """A key with its ids replaced: `scitq:view:task:#`, `scitq:idem:<id>`."""
    shape = re.sub(r"(idem|reply):[0-9a-f]{32}(:\d+)?", r"\1:<id>", k)
    return re.sub(r"\d+", "#", shape)


def scitq_memory_breakdown(r: redis.Redis, group: Callable[[str], str] = key_shape) -> dict[str, dict[str, int]]:
    """Bytes (MEMORY USAGE, all samples) and key counts of every key of db 0, grouped by `group(key)` (by
    key shape unless told)."""
    names = list(r.scan_iter(count=2000))
    out: dict[str, dict[str, int]] = {}
    for i in range(0, len(names), 1000):
        chunk = names[i:i + 1000]
        pipe = r.pipeline(transaction=False)
        for k in chunk:
            pipe.memory_usage(k, samples=0)
        for k, size in zip(chunk, pipe.execute()):
            row = out.setdefault(group(k), {"keys": 0, "bytes": 0})
            row["keys"] += 1
            row["bytes"] += size or 0
    return out


def bench_scitq(ctx: "Bench") -> dict[str, Any]:
    from scitq.api.v1 import Server
    from scitq.connection import connect
    from scitq.projections.store import read_ledger, replay

    args, procs = ctx.args, ctx.procs
    n, c = args.n, args.concurrency
    url = ctx.valkey.url(0)
    home = ctx.tmp / "scitq-home"
    env = {**os.environ, "SCITQ_HOME": str(home), "SCITQ_SERVER": url}
    r = redis.Redis.from_url(url, decode_responses=True)
    server = procs.spawn([sys.executable, "-m", "scitq.cli.main", "server", "--redis", url],
                         "scitq-server.log", env)
    wait_until(lambda: r.exists(keys.SERVER_ALIVE), args.timeout, "the scitq server", server)
    worker = procs.spawn([sys.executable, "-m", "scitq.cli.main", "worker", "-n", "bench", "-C", str(c),
                          "-p", str(args.prefetch)], "scitq-worker.log", env)

    def worker_ready() -> bool:
        wid = r.hget(keys.WORKERS_BY_NAME, "bench")
        return wid is not None and r.hget(keys.worker_view(int(wid)), "status") == "running"
    wait_until(worker_ready, args.timeout, "the scitq worker to register", worker)
    time.sleep(0.5)   # let the worker settle into its claim loop

    api = Server(url)
    specs = [{"command": "true"} for _ in range(n)]
    mem_before = r.info("memory")["used_memory"]
    keys_before = scitq_memory_breakdown(r)
    spies = ctx.start_py_spy({"scitq-server-e2e": server.pid, "scitq-worker-e2e": worker.pid})

    def cpu_now() -> dict[str, float]:
        return {"server": group_cpu(server.pid), "worker": group_cpu(worker.pid, children=False),
                "tasks": group_cpu(worker.pid, own=False), "valkey": group_cpu(ctx.valkey.proc.pid),
                "client": self_cpu()}
    cpu0 = cpu_now()
    stats0 = command_stats(url)
    t0 = time.perf_counter()
    ids = api.task_create_many(specs)
    t_submit = time.perf_counter() - t0
    batch_key = keys.batch_view("Default")

    def done() -> bool:
        s, f = r.hmget(batch_key, "succeeded", "failed")
        return int(s or 0) + int(f or 0) >= n
    wait_until(done, args.timeout, f"{n} scitq tasks to finish", worker)
    dt = time.perf_counter() - t0
    cpu = cpu_now()
    commands = command_delta(stats0, command_stats(url), n)
    ctx.stop_py_spy(spies)
    succeeded, failed = (int(x or 0) for x in r.hmget(batch_key, "succeeded", "failed"))
    e2e = {"tasks": len(ids), "succeeded": succeeded, "failed": failed, "seconds": dt, "tasks_per_s": n / dt,
           "submit_seconds": t_submit, "cpu": {k: cpu[k] - cpu0[k] for k in cpu}, "commands": commands}

    # 4. memory: what the finished tasks left in Valkey (no output streams: `true` prints nothing)
    time.sleep(1.0)
    mem_after = r.info("memory")["used_memory"]
    keys_after = scitq_memory_breakdown(r)
    breakdown = {}
    for shape in sorted(set(keys_before) | set(keys_after)):
        b, a = keys_before.get(shape, {"keys": 0, "bytes": 0}), keys_after.get(shape, {"keys": 0, "bytes": 0})
        if a != b:
            breakdown[shape] = {"keys": a["keys"] - b["keys"], "bytes": a["bytes"] - b["bytes"]}
    events_len = r.xlen(keys.EVENTS)
    sample = r.xrange(keys.EVENTS, count=200)
    types: dict[str, int] = {}
    for _eid, f in r.xrange(keys.EVENTS):
        types[f.get("type", "?")] = types.get(f.get("type", "?"), 0) + 1
    first = min(ids)
    memory = {
        "used_memory_before": mem_before, "used_memory_after": mem_after,
        "bytes_per_task": (mem_after - mem_before) / n,
        "key_bytes_per_task": sum(v["bytes"] for v in breakdown.values()) / n,
        "breakdown": breakdown,
        "task_view_hash_bytes": r.memory_usage(keys.task_view(first), samples=0),
        "execution_view_hash_bytes": r.memory_usage(keys.execution_view(1), samples=0),
        "ledger_events": events_len, "ledger_events_per_task": events_len / n,
        "ledger_bytes": r.memory_usage(keys.EVENTS, samples=0),
        "ledger_event_types": types,
        "sample_event": sample[-1][1] if sample else None,
        "sample_event_payload_chars": (sum(len(k) + len(v) for _, f in sample for k, v in f.items()) / len(sample)
                                       if sample else 0),
    }
    ctx.results["memory"] = memory

    # 2. submission rates, with no worker
    procs.stop(worker)
    m1, m2 = args.submit_one, args.submit_many
    spies = ctx.start_py_spy({"scitq-server-submit": server.pid})
    t0 = time.perf_counter()
    for _ in range(m1):
        api.task_create("true", batch="bench-submit-one")
    one = time.perf_counter() - t0
    many_specs = [{"command": "true", "batch": "bench-submit-many"} for _ in range(m2)]
    cpu0 = {"server": group_cpu(server.pid), "client": self_cpu(), "valkey": group_cpu(ctx.valkey.proc.pid)}
    stats0 = command_stats(url)
    t0 = time.perf_counter()
    many_ids = api.task_create_many(many_specs)
    many = time.perf_counter() - t0
    many_commands = command_delta(stats0, command_stats(url), m2)
    cpu_many = {"server": group_cpu(server.pid) - cpu0["server"], "client": self_cpu() - cpu0["client"],
                "valkey": group_cpu(ctx.valkey.proc.pid) - cpu0["valkey"]}
    ctx.stop_py_spy(spies)
    t0 = time.perf_counter()
    [api._spec(**s) for s in many_specs]   # client-side validation alone, for the record
    spec_only = time.perf_counter() - t0
    if len(many_ids) != m2:
        raise BenchError(f"task_create_many returned {len(many_ids)} ids for {m2} tasks")
    ctx.results["submission"] = {
        "one_by_one": {"tasks": m1, "seconds": one, "tasks_per_s": m1 / one},
        "batched": {"tasks": m2, "seconds": many, "tasks_per_s": m2 / many, "cpu": cpu_many,
                    "client_spec_seconds": spec_only, "commands": many_commands},
    }

    # 3. ledger replay, over everything above
    rr = connect(url)
    total_events = rr.xlen(keys.EVENTS)
    t0 = time.perf_counter()
    read = sum(1 for _ in read_ledger(rr))
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    state = replay(rr)
    t_replay = time.perf_counter() - t0
    if read < total_events or len(state.tasks) != n + m1 + m2:   # the server may append meanwhile
        raise BenchError(f"replay saw {read} events / {len(state.tasks)} tasks, expected {total_events} / "
                         f"{n + m1 + m2}")
    ctx.results["replay"] = {"events": total_events, "tasks": len(state.tasks), "seconds": t_replay,
                             "events_per_s": total_events / t_replay, "read_only_seconds": t_read,
                             "read_only_events_per_s": total_events / t_read}
    rr.close()
    procs.stop(server)
    r.close()
    return e2e


def bench_rq(ctx: "Bench") -> dict[str, Any]:
    from rq import Queue, Worker
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    import rq_job

    args, procs = ctx.args, ctx.procs
    n, c = args.n, args.concurrency
    url = ctx.valkey.url(1)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    conn = redis.Redis.from_url(url)
    workers = [procs.spawn([sys.executable, "-m", "rq.cli", "worker", "-u", url, "-n", f"bench-rq-{i}",
                            "--logging_level", "WARNING", "bench"], f"rq-worker-{i}.log", env, cwd=HERE)
               for i in range(c)]
    wait_until(lambda: Worker.count(connection=conn) >= c, args.timeout, f"{c} RQ workers", workers[0],
               interval=0.05)
    time.sleep(0.5)
    q = Queue("bench", connection=conn)
    finished, failed_reg = FinishedJobRegistry(queue=q), FailedJobRegistry(queue=q)
    def cpu_now() -> dict[str, float]:
        return {"workers": sum(group_cpu(w.pid, children=False) for w in workers),
                "horses+tasks": sum(group_cpu(w.pid, own=False) for w in workers),
                "valkey": group_cpu(ctx.valkey.proc.pid), "client": self_cpu()}
    cpu0 = cpu_now()
    stats0 = command_stats(url)
    t0 = time.perf_counter()
    jobs = q.enqueue_many([Queue.prepare_data(rq_job.run_true, result_ttl=3600) for _ in range(n)])
    t_submit = time.perf_counter() - t0
    wait_until(lambda: conn.zcard(finished.key) + conn.zcard(failed_reg.key) >= n, args.timeout,
               f"{n} RQ jobs to finish", workers[0])
    dt = time.perf_counter() - t0
    cpu = cpu_now()
    commands = command_delta(stats0, command_stats(url), n)
    nfailed = conn.zcard(failed_reg.key)
    for w in workers:
        procs.stop(w)
    conn.close()
    return {"tasks": len(jobs), "failed": nfailed, "seconds": dt, "tasks_per_s": n / dt,
            "submit_seconds": t_submit, "cpu": {k: cpu[k] - cpu0[k] for k in cpu},
            "commands": commands}


def start_celery(ctx: "Bench", node: str) -> tuple[Any, Any, str, redis.Redis]:
    """A Celery worker (prefork, the bench's concurrency) on the bench's Valkey, answering pings:
    (its process, the celery_job module, the backend URL, a client of the results database)."""
    broker, backend = ctx.valkey.url(2), ctx.valkey.url(3)
    os.environ["BENCH_CELERY_BROKER"], os.environ["BENCH_CELERY_BACKEND"] = broker, backend
    import celery_job

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    worker = ctx.procs.spawn([sys.executable, "-m", "celery", "-A", "celery_job", "worker", "-P", "prefork",
                              "-c", str(ctx.args.concurrency), "--loglevel", "WARNING", "-n", f"{node}@localhost"],
                             "celery-worker.log", env, cwd=HERE)
    app = celery_job.app
    wait_until(lambda: app.control.ping(timeout=0.5), ctx.args.timeout, "the Celery worker", worker, interval=0.1)
    time.sleep(0.5)
    return worker, celery_job, backend, redis.Redis.from_url(backend)


def bench_celery(ctx: "Bench") -> dict[str, Any]:
    args, procs = ctx.args, ctx.procs
    n = args.n
    worker, celery_job, backend, results_db = start_celery(ctx, "bench")
    app = celery_job.app
    def cpu_now() -> dict[str, float]:
        return {"worker+pool": group_cpu(worker.pid, children=False), "tasks": group_cpu(worker.pid, own=False),
                "valkey": group_cpu(ctx.valkey.proc.pid), "client": self_cpu()}
    cpu0 = cpu_now()
    stats0 = command_stats(backend)
    t0 = time.perf_counter()
    results = [celery_job.run_true.delay() for _ in range(n)]
    t_submit = time.perf_counter() - t0
    wait_until(lambda: results_db.dbsize() >= n, args.timeout, f"{n} Celery results", worker)
    dt = time.perf_counter() - t0
    cpu = cpu_now()
    commands = command_delta(stats0, command_stats(backend), n)
    metas = []
    ids = [res.id for res in results]
    for i in range(0, n, 1000):
        metas += results_db.mget([f"celery-task-meta-{x}" for x in ids[i:i + 1000]])
    nfailed = sum(1 for m in metas if m is None or json.loads(m).get("status") != "SUCCESS")
    procs.stop(worker)
    try:
        app.close()
    except Exception:
        pass
    results_db.close()
    return {"tasks": n, "failed": nfailed, "seconds": dt, "tasks_per_s": n / dt, "submit_seconds": t_submit,
            "cpu": {k: cpu[k] - cpu0[k] for k in cpu}, "commands": commands}


# --- driver -------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="scitq-bench-"))
        self.procs = Procs(self.tmp)
        self.valkey = Valkey(self.procs, self.tmp / "valkey")
        self.results: dict[str, Any] = {}

    def start_py_spy(self, targets: dict[str, int]) -> list[subprocess.Popen]:
        if not self.args.py_spy:
            return []
        out = Path(self.args.py_spy)
        out.mkdir(parents=True, exist_ok=True)
        exe = shutil.which("py-spy")
        if exe is None:
            raise BenchError("--py-spy needs py-spy on PATH (pip install py-spy)")
        spies = [self.procs.spawn([exe, "record", "-p", str(pid), "-r", "250", "--format", "raw", "-o",
                                   str(out / f"{name}.txt")], f"py-spy-{name}.log") for name, pid in targets.items()]
        time.sleep(1.0)   # let py-spy attach
        return spies

    def stop_py_spy(self, spies: list[subprocess.Popen]) -> None:
        for p in spies:
            self.procs.stop(p, timeout=20, sig=signal.SIGINT)

    def machine(self) -> dict[str, Any]:
        mem_kb = 0
        try:
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemTotal:"):
                        mem_kb = int(line.split()[1])
        except OSError:
            pass
        cpu_model = ""
        try:
            with open("/proc/cpuinfo") as fh:
                for line in fh:
                    if line.startswith("model name"):
                        cpu_model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        versions = {}
        for mod in ("redis", "rq", "celery", "kombu"):
            try:
                versions[mod] = __import__(mod).__version__
            except Exception:
                versions[mod] = None
        return {"nproc": os.cpu_count(), "memory_gb": round(mem_kb / 1024 / 1024, 1), "cpu": cpu_model,
                "python": platform.python_version(), "os": platform.platform(), "valkey": self.valkey.version(),
                **versions}

    def run(self) -> dict[str, Any]:
        self.valkey.start()
        self.results["machine"] = self.machine()
        self.results["params"] = {"n": self.args.n, "concurrency": self.args.concurrency,
                                  "prefetch": self.args.prefetch, "submit_one": self.args.submit_one,
                                  "submit_many": self.args.submit_many}
        e2e: dict[str, Any] = {}
        self.results["e2e"] = e2e
        runners = {"floor": bench_floor, "scitq": bench_scitq, "rq": bench_rq, "celery": bench_celery}
        for name in SYSTEMS:
            if name in self.args.only:
                print(f"bench: {name} ...", file=sys.stderr, flush=True)
                e2e[name] = runners[name](self)
                if e2e[name].get("failed"):
                    print(f"bench: WARNING {name}: {e2e[name]['failed']} tasks failed", file=sys.stderr)
        return self.results

    def close(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):   # a second Ctrl-C must not cut the cleanup
            signal.signal(sig, signal.SIG_IGN)
        self.procs.stop_all()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print(f"bench: kept {self.tmp}", file=sys.stderr)


def ratios(e2e: dict[str, Any]) -> dict[str, float]:
    out = {}
    if "scitq" in e2e:
        for other in ("celery", "rq", "floor"):
            if other in e2e:
                out[f"scitq/{other}"] = e2e["scitq"]["tasks_per_s"] / e2e[other]["tasks_per_s"]
    return out


def verdict(ok: bool) -> str:
    return "meets target" if ok else "BELOW target"


def report(res: dict[str, Any]) -> str:
    lines = []
    m, p = res["machine"], res["params"]
    lines.append(f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}, "
                 f"{m['valkey']}, rq {m['rq']}, celery {m['celery']}")
    e2e = res["e2e"]
    if e2e:
        lines.append("")
        lines.append(f"1. end-to-end: {p['n']} tasks `true`, concurrency {p['concurrency']}"
                     f" (scitq worker prefetch {p['prefetch']})")
        lines.append(f"   {'system':<8} {'tasks/s':>9} {'wall s':>8} {'submit s':>9} {'failed':>6}  CPU s by component")
        for name in SYSTEMS:
            if name not in e2e:
                continue
            row = e2e[name]
            sub = f"{row['submit_seconds']:.3f}" if row.get("submit_seconds") is not None else "-"
            cpu = ", ".join(f"{k} {v:.2f}" for k, v in row["cpu"].items())
            lines.append(f"   {name:<8} {row['tasks_per_s']:>9.0f} {row['seconds']:>8.2f} {sub:>9} "
                         f"{row.get('failed', 0):>6}  {cpu}")
        lines.append("   Valkey commands per task (all clients) and the busiest ones:")
        for name in SYSTEMS:
            cmd = e2e.get(name, {}).get("commands")
            if cmd:
                top = ", ".join(f"{k} {v}" for k, v in list(cmd["top_per_task"].items())[:8])
                execs = cmd["top_per_task"].get("exec", 0)
                lines.append(f"   {name:<8} {cmd['per_task']:>6.1f} cmds ({execs:.2f} MULTI/EXEC), "
                             f"{cmd['valkey_usec_per_task']:>4.0f} us in Valkey; {top}")
        rat = ratios(e2e)
        if rat:
            lines.append("   ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in rat.items()))
            if "scitq/celery" in rat:
                lines.append(f"   target scitq >= 2x Celery: {verdict(rat['scitq/celery'] >= TARGETS['scitq_vs_celery'])}")
            if "scitq/floor" in rat:
                lines.append(f"   target scitq >= 1/3 floor: {verdict(rat['scitq/floor'] >= TARGETS['scitq_vs_floor'])}")
    if "submission" in res:
        s = res["submission"]
        lines.append("")
        lines.append("2. submission (server running, no worker)")
        lines.append(f"   task_create one by one : {s['one_by_one']['tasks_per_s']:>9.0f} tasks/s "
                     f"({s['one_by_one']['tasks']} in {s['one_by_one']['seconds']:.2f}s)")
        b = s["batched"]
        lines.append(f"   task_create_many       : {b['tasks_per_s']:>9.0f} tasks/s ({b['tasks']} in {b['seconds']:.2f}s;"
                     f" CPU s: " + ", ".join(f"{k} {v:.2f}" for k, v in b["cpu"].items())
                     + f"; client-side spec building alone {b['client_spec_seconds']:.2f}s)")
        top = ", ".join(f"{k} {v}" for k, v in list(b["commands"]["top_per_task"].items())[:8])
        lines.append(f"   batched: {b['commands']['per_task']:.1f} Valkey commands per task: {top}")
        lines.append(f"   target >= 20,000/s batched: {verdict(b['tasks_per_s'] >= TARGETS['submit_batched'])}")
    if "replay" in res:
        rp = res["replay"]
        lines.append("")
        lines.append(f"3. ledger replay: {rp['events']} events ({rp['tasks']} tasks) in {rp['seconds']:.2f}s = "
                     f"{rp['events_per_s']:,.0f} events/s (reading the stream alone: {rp['read_only_events_per_s']:,.0f}/s)")
        lines.append(f"   target >= 100,000 events/s: {verdict(rp['events_per_s'] >= TARGETS['replay'])}")
    if "memory" in res:
        mm = res["memory"]
        lines.append("")
        lines.append(f"4. Valkey memory: used_memory {mm['used_memory_before']:,} -> {mm['used_memory_after']:,} B = "
                     f"{mm['bytes_per_task']:,.0f} B per finished task (sum of MEMORY USAGE of changed keys: "
                     f"{mm['key_bytes_per_task']:,.0f} B/task)")
        lines.append(f"   one task view hash {mm['task_view_hash_bytes']} B, one execution view hash "
                     f"{mm['execution_view_hash_bytes']} B; ledger {mm['ledger_events']} events "
                     f"({mm['ledger_events_per_task']:.1f}/task), {mm['ledger_bytes']:,} B")
        top = sorted(mm["breakdown"].items(), key=lambda kv: -kv[1]["bytes"])[:10]
        for shape, v in top:
            lines.append(f"     {shape:<40} {v['keys']:>6} keys {v['bytes'] / max(1, p['n']):>8.0f} B/task")
        lines.append(f"   target <= 1 KB/task: {verdict(mm['bytes_per_task'] <= TARGETS['bytes_per_task'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="tasks in the end-to-end runs (default 2000)")
    ap.add_argument("--concurrency", "-C", type=int, default=4, help="tasks run at once (default 4)")
    ap.add_argument("--prefetch", type=int, default=8, help="scitq worker prefetch (default 8)")
    ap.add_argument("--only", default=",".join(SYSTEMS),
                    help="comma list among scitq,rq,celery,floor (scitq includes submission, replay, memory)")
    ap.add_argument("--submit-one", type=int, default=1000, help="tasks submitted one by one (default 1000)")
    ap.add_argument("--submit-many", type=int, default=20000, help="tasks in one task_create_many (default 20000)")
    ap.add_argument("--timeout", type=float, default=600, help="bound of every wait, seconds (default 600)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--py-spy", metavar="DIR", help="record the scitq server/worker with py-spy (raw stacks) in DIR")
    ap.add_argument("--keep", action="store_true", help="keep the temporary dir (logs, Valkey data)")
    args = ap.parse_args(argv)
    args.only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = args.only - set(SYSTEMS)
    if unknown:
        ap.error(f"unknown system(s) in --only: {', '.join(sorted(unknown))}")

    def on_term(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    bench = Bench(args)
    try:
        res = bench.run()
    except KeyboardInterrupt:
        print("bench: interrupted, cleaning up", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench: failed: {exc}", file=sys.stderr)
        return 1
    finally:
        bench.close()
    res["ratios"] = ratios(res["e2e"])
    print(report(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    failed = sum(int(v.get("failed") or 0) for v in res["e2e"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
