#!/usr/bin/env python3
"""The server's and Valkey's CPU per task at a fixed round size.

    python3 bench/round_cost.py [--n 6000] [--per-round 3] [--json FILE]

In `bench/throughput.py` the server's rounds are as large as what arrived while it was busy, so a faster
server makes smaller rounds and pays its per-round costs more often: its CPU per task mixes the cost of
a round with the number of rounds. Here the number of tasks a round handles is fixed. The control plane
runs in this process (`ControlPlane.round()`, the real commit) on a private Valkey; N tasks are
submitted, then a worker played in this process (no process runs) reads PER_ROUND queue entries and
reports each attempt `started` (with its queue entry: the claim) and `finished` with 0, as the real
worker does for a task it starts at once, and the server runs one round. Printed: the server's CPU per
task (this process, during its rounds only), Valkey's CPU per task (its process), and Valkey's
commands per task (INFO commandstats), with the busiest ones.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from memory import BATCH, WORKER, register, server, submit  # noqa: E402
from throughput import Procs, Valkey, command_delta, command_stats, group_cpu  # noqa: E402

from scitq import keys  # noqa: E402
from scitq.events.commands import encode  # noqa: E402


def run(n: int, per_round: int, workdir: Path) -> dict[str, Any]:
    procs = Procs(workdir)
    valkey = Valkey(procs, workdir / "valkey")
    valkey.start()
    try:
        r = redis.Redis.from_url(valkey.url(), decode_responses=True)
        cp = server(r, workdir / "home")
        register(cp, r, concurrency=per_round)
        submit(cp, r, n)
        outbox, queue, seq = keys.worker_outbox(WORKER), keys.queue(BATCH), itertools.count(1)

        def report(pipe: Any, fact: str, data: dict[str, Any]) -> None:
            pipe.xadd(outbox, {"f": fact, "inc": "bench", "seq": str(next(seq)), "data": encode(data)})

        def worker_step() -> None:
            got = r.xreadgroup(keys.QUEUE_GROUP, WORKER, {queue: ">"}, count=per_round) or []
            pipe = r.pipeline(transaction=False)
            for _, entries in got:
                for eid, f in entries:
                    tid, attempt = int(f["task"]), int(f["attempt"])
                    report(pipe, "started", {"task_id": tid, "attempt": attempt, "entry": eid, "queue": BATCH,
                                             "command": "true"})
                    report(pipe, "finished", {"task_id": tid, "attempt": attempt, "return_code": 0})
            pipe.execute()

        stats0, valkey0, t0 = command_stats(valkey.url()), group_cpu(valkey.proc.pid), time.perf_counter()
        rounds, server_cpu = 0, 0.0
        while int(r.hget(keys.batch_view(BATCH), "succeeded") or 0) < n:
            worker_step()
            c0 = time.process_time()
            cp.round(block_ms=None)  # type: ignore[arg-type]
            server_cpu += time.process_time() - c0
            rounds += 1
        seconds = time.perf_counter() - t0
        valkey_cpu = group_cpu(valkey.proc.pid) - valkey0
        commands = command_delta(stats0, command_stats(valkey.url()), n)
        cp.lock.release()
        return {"n": n, "per_round": per_round, "rounds": rounds, "seconds": seconds,
                "server_ms_per_task": 1e3 * server_cpu / n, "valkey_ms_per_task": 1e3 * valkey_cpu / n,
                "commands": commands}
    finally:
        procs.stop_all()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=6000, help="tasks (default 6000)")
    ap.add_argument("--per-round", type=int, default=3, help="tasks started and finished a round (default 3)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scitq-round-cost-") as tmp:
        res = run(args.n, args.per_round, Path(tmp))
    cmd = res["commands"]
    top = ", ".join(f"{k} {v}" for k, v in list(cmd["top_per_task"].items())[:10])
    print(f"{res['n']} tasks, {res['per_round']} a round ({res['rounds']} rounds, {res['seconds']:.1f}s): "
          f"CPU per task: server {res['server_ms_per_task']:.3f} ms, Valkey {res['valkey_ms_per_task']:.3f} ms; "
          f"Valkey commands per task {cmd['per_task']:.2f} ({top})")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
