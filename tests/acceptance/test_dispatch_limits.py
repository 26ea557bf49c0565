"""Concurrency and prefetch are respected: never more than C running, never more than C+P held."""

from __future__ import annotations

import threading
import time

from helpers import wait_for
from scitq.lib import Server


def test_a_worker_never_runs_more_than_its_concurrency_nor_holds_more_than_concurrency_plus_prefetch(procs, tmp_path):
    procs.server()
    log = tmp_path / "spans.log"
    procs.worker("w1", concurrency=3, prefetch=2)
    s = Server()
    ids = s.task_create_many([
        {"command": f"echo start $(date +%s.%N) >> {log}; sleep 0.3; echo end $(date +%s.%N) >> {log}",
         "shell": True} for _ in range(24)])
    held_max = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            ts = s.client.tasks(status=["assigned", "accepted", "running"])
            held_max[0] = max(held_max[0], len(ts))
            time.sleep(0.02)

    th = threading.Thread(target=sample)
    th.start()
    try:
        s.join([{"task_id": i} for i in ids], retry=0)
    finally:
        stop.set()
        th.join()
    events = []
    for line in log.read_text().split("\n"):
        if line:
            kind, ts = line.split()
            events.append((float(ts), 1 if kind == "start" else -1))
    running = peak = 0
    for _, delta in sorted(events):
        running += delta
        peak = max(peak, running)
    assert peak <= 3, f"{peak} tasks ran at once on a worker of concurrency 3"
    assert peak >= 2, "the worker used its concurrency"
    assert held_max[0] <= 5


def test_lowering_concurrency_live_never_kills_and_limits_new_starts(procs, tmp_path):
    procs.server()
    procs.worker("w1", concurrency=4)
    s = Server()
    ids = s.task_create_many([{"command": "sleep 1"} for _ in range(8)])
    wait_for(lambda: len(s.client.tasks(status="running")) == 4, what="4 running tasks")
    (w,) = s.workers()
    s.worker_update(w["worker_id"], concurrency=1)
    wait_for(lambda: len(s.client.tasks(status="running")) <= 1 and
             len(s.client.tasks(status="succeeded")) >= 4, timeout=20, what="the lower concurrency")
    s.join([{"task_id": i} for i in ids], retry=0)
    assert all(e["return_code"] == 0 for e in s.executions(no_output=True))
