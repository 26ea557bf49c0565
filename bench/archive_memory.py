"""Valkey memory saved per finished task by packing outputs and by archiving (trimming) the ledger.

Runs a private Valkey, a real scitq server and worker, N tasks printing a few lines (so each attempt has an
output stream of several chunks), and measures:

* outputs: MEMORY USAGE of each attempt's output before packing (a copy of the stream is kept aside to
  measure it) and of its packed value after;
* ledger: MEMORY USAGE of `scitq:events` and Valkey's used_memory before and after `scitq events archive
  --keep KEEP`, per finished task.

    python bench/archive_memory.py [--tasks N] [--keep K] [--lines L]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from throughput import Procs, Valkey, wait_until  # noqa: E402

from scitq import keys  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--keep", type=int, default=100)
    ap.add_argument("--lines", type=int, default=3, help="lines each task prints, 0.3 s apart (one chunk each)")
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="scitq-archive-bench-"))
    procs = Procs(tmp)
    try:
        valkey = Valkey(procs, tmp / "valkey")
        valkey.start()
        url = valkey.url(0)
        env = {**os.environ, "SCITQ_HOME": str(tmp / "home"), "SCITQ_SERVER": url, "SCITQ_OUTPUT_FLUSH": "0.2",
               "SCITQ_ARCHIVE_INTERVAL": "0"}
        r = redis.Redis.from_url(url, decode_responses=True)
        scitq = [sys.executable, "-m", "scitq.cli.main"]
        server = procs.spawn([*scitq, "server", "--redis", url], "server.log", env)
        wait_until(lambda: r.exists(keys.SERVER_ALIVE), 60, "the server", server)
        procs.spawn([*scitq, "worker", "-n", "w", "-C", str(args.concurrency)], "worker.log", env)
        script = "; ".join(f"echo line {i} of this task; sleep 0.3" for i in range(args.lines))
        from scitq.api.client import Client
        os.environ.update({"SCITQ_SERVER": url, "SCITQ_HOME": env["SCITQ_HOME"]})
        c = Client(url=url)

        # outputs: a few tasks first, their live streams measured, then the same once packed
        probe = c.submit([{"command": f"sh -c '{script}'", "batch": "Default"} for _ in range(20)])
        unpacked = {}

        def copy_streams() -> bool:   # keep a copy of each stream as the worker writes it
            for t in probe:
                if r.exists(keys.worker_output("w", t, 1)):
                    r.copy(keys.worker_output("w", t, 1), f"bench:copy:{t}", replace=True)
                    unpacked[t] = r.memory_usage(f"bench:copy:{t}", samples=0)
            return all(c.task(t)["status"] == "succeeded" for t in probe)
        wait_until(copy_streams, 120, "the probe tasks", server, interval=0.05)
        wait_until(lambda: all(r.exists(keys.output_packed(t, 1)) for t in probe), 60, "packed outputs")
        packed = {t: r.memory_usage(keys.output_packed(t, 1), samples=0) for t in probe}
        chunks = {t: r.xlen(f"bench:copy:{t}") for t in probe}
        r.delete(*[f"bench:copy:{t}" for t in probe])
        complete = [t for t in probe if chunks[t] >= args.lines]   # copies taken after the last chunk
        out_before = sum(unpacked[t] for t in complete) / max(1, len(complete))
        out_after = sum(packed[t] for t in complete) / max(1, len(complete))

        # ledger: N tasks, then the archive
        t0 = time.perf_counter()
        ids = c.submit([{"command": "true", "batch": "Default"} for _ in range(args.tasks)])
        wait_until(lambda: len(c.task_ids(status="succeeded", batch="Default")) == len(ids) + len(probe), 600,
                   f"{len(ids)} tasks", server, interval=0.5)
        ran = time.perf_counter() - t0
        finished = len(ids) + len(probe)
        time.sleep(1)
        ev_before, used_before, n_before = (r.memory_usage(keys.EVENTS, samples=0), r.info("memory")["used_memory"],
                                            r.xlen(keys.EVENTS))
        t0 = time.perf_counter()
        res = subprocess.run([*scitq, "events", "archive", "--keep", str(args.keep), "--json"], env=env,
                             capture_output=True, text=True, timeout=600)
        took = time.perf_counter() - t0
        if res.returncode:
            print(res.stderr, file=sys.stderr)
            return 1
        rep = json.loads(res.stdout)
        ev_after, used_after = r.memory_usage(keys.EVENTS, samples=0), r.info("memory")["used_memory"]
        hist0 = time.perf_counter()
        subprocess.run([*scitq, "events", "history", "--task", str(ids[0])], env=env, capture_output=True, timeout=120)
        hist = time.perf_counter() - hist0
        archive_bytes = sum(f.stat().st_size for f in (tmp / "home" / "archive").rglob("*") if f.is_file())
        result = {
            "tasks_finished": finished, "tasks_run_seconds": round(ran, 1),
            "output": {"lines_per_task": args.lines, "chunks_per_attempt": round(sum(chunks[t] for t in complete)
                                                                                 / max(1, len(complete)), 1),
                       "stream_bytes": round(out_before), "packed_bytes": round(out_after),
                       "saved_bytes_per_task": round(out_before - out_after)},
            "ledger": {"events": n_before, "events_per_task": round(n_before / finished, 2),
                       "stream_bytes_before": ev_before, "stream_bytes_after": ev_after,
                       "saved_bytes_per_task": round((ev_before - ev_after) / finished),
                       "used_memory_saved_per_task": round((used_before - used_after) / finished),
                       "archived_events": rep["events"], "segments": rep["segments"],
                       "archive_bytes_on_disk": archive_bytes,
                       "archive_bytes_per_task": round(archive_bytes / finished),
                       "archive_seconds": round(took, 2), "history_of_an_archived_task_seconds": round(hist, 2)},
        }
        print(json.dumps(result, indent=1))
        return 0
    finally:
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
