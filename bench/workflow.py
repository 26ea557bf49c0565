#!/usr/bin/env python3
"""Workflow benchmark: a scatter/gather DAG in scitq (`scitq.workflow`), RQ (`depends_on`) and Celery (a chord).

    python3 bench/workflow.py [--n 5000] [--concurrency 4] [--repeat 3] [--only scitq,rq,celery]

The DAG: N `true` tasks (step 1), one gather task requiring all of them (step 2), then N `true` tasks
each requiring the gather (step 3): 2N + 1 tasks. Everything runs on one private Valkey started here
(127.0.0.1, a free port), with the same concurrency for every system:

- scitq: a real `scitq server` and one `scitq worker -C C` in the workflow's step batch; the DAG is built
  with `Workflow.step(...)` (the three steps share one step batch, so one worker runs them all, as one
  RQ queue and one Celery queue do) and sent by the workflow's own batching;
- RQ: C `rq worker` processes, jobs enqueued with `Queue.enqueue_many` and `depends_on`;
- Celery: one prefork worker with concurrency C, `chord(header, gather) | group(step 3)`.

Figures, per system and repetition:
- build+submit: from the first `step()` (or job object) to the DAG fully accepted by the queue;
- gather latency: from the end of the last step-1 task to the start of the gather. scitq reads both from
  its ledger (`task.succeeded` of the last parent, `execution.started` of the gather); RQ and Celery
  from the wall-clock stamps their jobs return (same clock, same machine);
- wall: from the first `step()` until every task has finished.

Every process started here is stopped at the end (also on Ctrl-C or failure). `--json FILE` writes
the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from throughput import Bench, BenchError, group_cpu, start_celery, wait_until  # noqa: E402

from scitq import keys  # noqa: E402

SYSTEMS = ("scitq", "rq", "celery")
TARGETS = {"submit_seconds": 2.0, "gather_ms_p50": 100.0}


def p50(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# --- scitq ------------------------------------------------------------------------------------------
def scitq_ledger_times(r: redis.Redis, parents: set[int], gather: int) -> tuple[float, float]:
    """(last parent's task.succeeded ts, gather's first execution.started ts), from the ledger."""
    from scitq.events.codec import decode_event
    last_parent, gather_start = 0.0, None
    for _eid, fields in r.xrange(keys.EVENTS):
        tag = fields.get("type")
        if tag == "task.succeeded" and int(fields.get("task") or -1) in parents:
            last_parent = max(last_parent, decode_event(fields).ts)
        elif tag == "execution.started" and int(fields.get("task") or -1) == gather and gather_start is None:
            gather_start = decode_event(fields).ts
    if gather_start is None:
        raise BenchError("the gather never started (no execution.started in the ledger)")
    return last_parent, gather_start


def bench_scitq(ctx: Bench) -> dict[str, Any]:
    from scitq.api.v1 import Server
    from scitq.workflow import Workflow

    args, procs = ctx.args, ctx.procs
    n, c = args.n, args.concurrency
    url = ctx.valkey.url(0)
    env = {**os.environ, "SCITQ_HOME": str(ctx.tmp / "scitq-home"), "SCITQ_SERVER": url}
    r = redis.Redis.from_url(url, decode_responses=True)
    server = procs.spawn([sys.executable, "-m", "scitq.cli.main", "server", "--redis", url], "scitq-server.log", env)
    wait_until(lambda: r.exists(keys.SERVER_ALIVE), args.timeout, "the scitq server", server)
    runs = []
    api = Server(url, style="object")
    sends: list[int] = []      # tasks in each task_create_many of the workflow (one run)
    create_many = api.task_create_many

    def counted(specs: list[dict[str, Any]]) -> list[int]:
        sends.append(len(specs))
        return create_many(specs)
    api.task_create_many = counted     # type: ignore[method-assign]
    for rep in range(args.repeat):
        sends.clear()
        name = f"wfbench{rep}"
        batch = f"{name}.sg"
        worker = procs.spawn([sys.executable, "-m", "scitq.cli.main", "worker", "-n", f"bench{rep}", "-C", str(c),
                              "-p", str(args.prefetch), "-b", batch], f"scitq-worker{rep}.log", env)

        def worker_ready() -> bool:
            wid = r.hget(keys.WORKERS_BY_NAME, f"bench{rep}")
            return wid is not None and r.hget(keys.worker_view(int(wid)), "status") == "running"
        wait_until(worker_ready, args.timeout, "the scitq worker to register", worker)
        time.sleep(0.5)
        cpu0 = group_cpu(server.pid)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            wf = Workflow(name=name, server=api, flavor="local", max_step_workers=1)
            scatter = [wf.step(batch="sg", command="true", concurrency=c, name=f"scatter {i}") for i in range(n)]
            gather = wf.step(batch="sg", command="true", name="gather", required_tasks=scatter)
            for i in range(n):
                wf.step(batch="sg", command="true", name=f"after {i}", required_tasks=gather)
            wf._send()
            t_submit = time.perf_counter() - t0
        batch_key = keys.batch_view(batch)

        def done() -> bool:
            s, f = r.hmget(batch_key, "succeeded", "failed")
            return int(s or 0) + int(f or 0) >= 2 * n + 1
        wait_until(done, args.timeout, f"{2 * n + 1} scitq tasks to finish", worker, interval=0.05)
        wall = time.perf_counter() - t0
        server_cpu = group_cpu(server.pid) - cpu0
        succeeded, failed = (int(x or 0) for x in r.hmget(batch_key, "succeeded", "failed"))
        last_parent, gather_start = scitq_ledger_times(r, {s.task_id for s in scatter}, gather.task_id)
        procs.stop(worker)
        runs.append({"submit_seconds": t_submit, "sends": sends[:], "gather_ms": (gather_start - last_parent) * 1000,
                     "wall_seconds": wall, "succeeded": succeeded, "failed": failed, "server_cpu": server_cpu})
    # the reference: the same number of independent tasks in one task_create_many, no worker
    t0 = time.perf_counter()
    create_many([{"command": "true", "batch": "wfbench-plain", "name": f"plain {i}"} for i in range(2 * n + 1)])
    plain = time.perf_counter() - t0
    procs.stop(server)
    r.close()
    return {**summarize(runs, n), "plain_submit_seconds": plain}


# --- RQ ---------------------------------------------------------------------------------------------
def bench_rq(ctx: Bench) -> dict[str, Any]:
    from rq import Queue, Worker
    from rq.job import Job
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    import rq_job

    args, procs = ctx.args, ctx.procs
    n, c = args.n, args.concurrency
    url = ctx.valkey.url(1)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    conn = redis.Redis.from_url(url)
    runs = []
    for rep in range(args.repeat):
        qname = f"wfbench{rep}"
        workers = [procs.spawn([sys.executable, "-m", "rq.cli", "worker", "-u", url, "-n", f"wf-rq-{rep}-{i}",
                                "--logging_level", "WARNING", qname], f"rq-worker-{rep}-{i}.log", env, cwd=HERE)
                   for i in range(c)]
        wait_until(lambda: Worker.count(connection=conn) >= c, args.timeout, f"{c} RQ workers", workers[0],
                   interval=0.05)
        time.sleep(0.5)
        q = Queue(qname, connection=conn)
        finished, failed_reg = FinishedJobRegistry(queue=q), FailedJobRegistry(queue=q)
        t0 = time.perf_counter()
        scatter = q.enqueue_many([Queue.prepare_data(rq_job.stamp_true, result_ttl=3600) for _ in range(n)])
        gather = q.enqueue(rq_job.stamp_true, depends_on=scatter, result_ttl=3600)
        q.enqueue_many([Queue.prepare_data(rq_job.stamp_true, result_ttl=3600, depends_on=gather)
                        for _ in range(n)])
        t_submit = time.perf_counter() - t0
        wait_until(lambda: conn.zcard(finished.key) + conn.zcard(failed_reg.key) >= 2 * n + 1, args.timeout,
                   f"{2 * n + 1} RQ jobs to finish", workers[0], interval=0.05)
        wall = time.perf_counter() - t0
        nfailed = conn.zcard(failed_reg.key)
        ends = [j.return_value()[1] for j in Job.fetch_many([j.id for j in scatter], connection=conn) if j]
        g = Job.fetch(gather.id, connection=conn).return_value()
        for w in workers:
            procs.stop(w)
        runs.append({"submit_seconds": t_submit, "gather_ms": (g[0] - max(ends)) * 1000, "wall_seconds": wall,
                     "succeeded": 2 * n + 1 - nfailed, "failed": nfailed})
    conn.close()
    return summarize(runs, n)


# --- Celery -----------------------------------------------------------------------------------------
def bench_celery(ctx: Bench) -> dict[str, Any]:
    args, procs = ctx.args, ctx.procs
    n = args.n
    from celery import chord, group

    worker, celery_job, backend, results_db = start_celery(ctx, "wfbench")
    app = celery_job.app
    runs = []
    stamp = celery_job.stamp_true
    handles: list[Any] = []    # the AsyncResults, dropped while the app is still up
    for _rep in range(args.repeat):
        results_db.flushdb()
        t0 = time.perf_counter()
        ids1 = [str(uuid.uuid4()) for _ in range(n)]
        gid = str(uuid.uuid4())
        ids3 = [str(uuid.uuid4()) for _ in range(n)]
        header = [stamp.si().set(task_id=x) for x in ids1]
        after = group(stamp.si().set(task_id=x) for x in ids3)
        handles.append((chord(header, stamp.si().set(task_id=gid)) | after).apply_async())
        t_submit = time.perf_counter() - t0
        every = ids1 + [gid] + ids3

        def metas() -> list[Any]:
            out = []
            for i in range(0, len(every), 2000):
                out += results_db.mget([f"celery-task-meta-{x}" for x in every[i:i + 2000]])
            return out

        def done() -> bool:
            return results_db.dbsize() >= 2 * n + 1 and all(m is not None for m in metas())
        wait_until(done, args.timeout, f"{2 * n + 1} Celery results", worker, interval=0.1)
        wall = time.perf_counter() - t0
        decoded = [json.loads(m) for m in metas()]
        nfailed = sum(1 for m in decoded if m.get("status") != "SUCCESS")
        ends = [m["result"][1] for m in decoded[:n]]
        g = decoded[n]["result"]
        runs.append({"submit_seconds": t_submit, "gather_ms": (g[0] - max(ends)) * 1000, "wall_seconds": wall,
                     "succeeded": 2 * n + 1 - nfailed, "failed": nfailed})
    procs.stop(worker)
    # An AsyncResult unsubscribes from the backend when collected; at interpreter exit that prints a
    # traceback (the backend's connection is gone). Nothing is pending any more: skip it.
    from celery.result import AsyncResult
    AsyncResult.__del__ = lambda self: None     # type: ignore[method-assign]
    handles.clear()
    try:
        app.close()
    except Exception:
        pass
    results_db.close()
    return summarize(runs, n)


# --- report -----------------------------------------------------------------------------------------
def summarize(runs: list[dict[str, Any]], n: int) -> dict[str, Any]:
    return {"tasks": 2 * n + 1, "runs": runs,
            "submit_seconds_p50": p50([x["submit_seconds"] for x in runs]),
            "gather_ms_p50": p50([x["gather_ms"] for x in runs]),
            "wall_seconds_p50": p50([x["wall_seconds"] for x in runs]),
            "tasks_per_s": (2 * n + 1) / p50([x["wall_seconds"] for x in runs]),
            "failed": sum(x["failed"] for x in runs)}


def ratios(res: dict[str, Any]) -> dict[str, float]:
    out = {}
    if "scitq" in res:
        s = res["scitq"]
        for other in ("rq", "celery"):
            if other in res:
                o = res[other]
                out[f"throughput scitq/{other}"] = s["tasks_per_s"] / o["tasks_per_s"]
                out[f"submit {other}/scitq"] = o["submit_seconds_p50"] / s["submit_seconds_p50"]
                out[f"gather latency {other}/scitq"] = o["gather_ms_p50"] / max(s["gather_ms_p50"], 1e-3)
    return out


def report(res: dict[str, Any], params: dict[str, Any]) -> str:
    lines = [f"scatter/gather: {params['n']} + 1 + {params['n']} `true` tasks, concurrency {params['concurrency']}, "
             f"{params['repeat']} run(s) per system (p50 shown)"]
    lines.append(f"   {'system':<7} {'submit s':>9} {'gather ms':>10} {'wall s':>8} {'tasks/s':>8} {'failed':>6}")
    for name in SYSTEMS:
        if name in res["systems"]:
            row = res["systems"][name]
            lines.append(f"   {name:<7} {row['submit_seconds_p50']:>9.3f} {row['gather_ms_p50']:>10.1f} "
                         f"{row['wall_seconds_p50']:>8.2f} {row['tasks_per_s']:>8.0f} {row['failed']:>6}")
            lines.append("           runs: " + "; ".join(
                f"submit {x['submit_seconds']:.3f}s gather {x['gather_ms']:.1f}ms wall {x['wall_seconds']:.2f}s"
                for x in row["runs"]))
    if res["ratios"]:
        lines.append("   ratios: " + ", ".join(f"{k} = {v:.2f}" for k, v in res["ratios"].items()))
    s = res["systems"].get("scitq")
    if s:
        lines.append(f"   scitq: {2 * params['n'] + 1} independent tasks in one task_create_many (no workflow, no "
                     f"requirement) took {s['plain_submit_seconds']:.3f} s; the workflow sends: "
                     + ", ".join(str(x) for x in s["runs"][0]["sends"]))
        ok = s["submit_seconds_p50"] <= TARGETS["submit_seconds"]
        lines.append(f"   target scitq build+submit <= 2 s: {'meets target' if ok else 'BELOW target'}")
        ok = s["gather_ms_p50"] <= TARGETS["gather_ms_p50"]
        lines.append(f"   target scitq gather start <= 100 ms p50: {'meets target' if ok else 'BELOW target'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000, help="tasks in step 1 and in step 3 (default 5000)")
    ap.add_argument("--concurrency", "-C", type=int, default=4, help="tasks run at once (default 4)")
    ap.add_argument("--prefetch", type=int, default=8, help="scitq worker prefetch (default 8)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per system (default 3)")
    ap.add_argument("--only", default=",".join(SYSTEMS), help="comma list among scitq,rq,celery")
    ap.add_argument("--timeout", type=float, default=900, help="bound of every wait, seconds (default 900)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary dir (logs, Valkey data)")
    args = ap.parse_args(argv)
    args.only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = args.only - set(SYSTEMS)
    if unknown:
        ap.error(f"unknown system(s) in --only: {', '.join(sorted(unknown))}")
    args.py_spy = None

    def on_term(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)

    bench = Bench(args)
    res: dict[str, Any] = {"systems": {}}
    params = {"n": args.n, "concurrency": args.concurrency, "prefetch": args.prefetch, "repeat": args.repeat}
    try:
        bench.valkey.start()
        res["machine"] = bench.machine()
        res["params"] = params
        runners = {"scitq": bench_scitq, "rq": bench_rq, "celery": bench_celery}
        for name in SYSTEMS:
            if name in args.only:
                print(f"bench: {name} ...", file=sys.stderr, flush=True)
                res["systems"][name] = runners[name](bench)
                if args.json:     # after each system, so a long run interrupted keeps what it measured
                    Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    except KeyboardInterrupt:
        print("bench: interrupted, cleaning up", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench: failed: {exc}", file=sys.stderr)
        return 1
    finally:
        bench.close()
    res["ratios"] = ratios(res["systems"])
    print(report(res, params))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    return 1 if any(v["failed"] for v in res["systems"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
