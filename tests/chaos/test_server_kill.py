"""The server killed with SIGKILL twenty times while workers run and clients submit: after each kill the views
equal a replay of the ledger, and in the end every acknowledged task succeeded exactly once."""

from __future__ import annotations

import collections
import os
import random
import signal
import threading
import time

import pytest

from helpers import run_cli, wait_for
from scitq import keys
from scitq.lib import Server
from scitq.projections.check import check_ledger
from scitq.projections.store import rebuild

pytestmark = pytest.mark.xdist_group("chaos-server-kill")


def server_kills(procs, r, env, kills: int, seed: int) -> str:
    rnd = random.Random(seed)
    server = procs.server()
    for name in ("w-a", "w-b"):
        procs.worker(name, concurrency=3, prefetch=2)
    s = Server()
    acked: list[int] = []
    stop = threading.Event()

    def submit() -> None:
        i = 0
        while not stop.is_set():
            # the client waits for its answer and retries with the same idempotency key across kills
            acked.extend(s.task_create_many([{"command": f"sleep 0.{rnd.randint(1, 3)}; echo out-{i + k}",
                                              "shell": True} for k in range(3)]))
            i += 3
            time.sleep(0.05)

    th = threading.Thread(target=submit, daemon=True)
    th.start()
    parity = 0
    for _ in range(kills):
        time.sleep(rnd.uniform(0.3, 0.9))
        server.send_signal(signal.SIGKILL)
        server.wait()
        report, _ = rebuild(r, verify=True, write=False)     # nothing writes the views while no server runs
        assert report.equal, report.differences[:10]
        parity += 1
        r.delete(keys.SERVER_ALIVE)       # so that the next start is seen when it is up
        server = procs.server()
    stop.set()
    th.join(60)
    assert not th.is_alive()
    wait_for(lambda: all(st == "succeeded" for st in s.task_status(acked)), timeout=180,
             what="every acknowledged task to succeed")
    succeeded = collections.Counter(f["task"] for _, f in r.xrange(keys.EVENTS) if f["type"] == "task.succeeded")
    assert all(succeeded[str(i)] == 1 for i in acked), "each task accepted once"
    rep = check_ledger(r)
    assert rep.ok, rep.problems[:10]
    res = run_cli("scitq", "events", "rebuild", "--verify", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    line = (f"server kill -9 x{kills}: views equal the replay after {parity}/{kills} kills; "
            f"{len(acked)} acknowledged tasks, {rep.summary(expected_tasks=len(acked))}")
    print(line)
    return line


def test_twenty_server_kills_keep_the_views_equal_to_the_ledger_and_lose_no_task(procs, r, fast_env):
    server_kills(procs, r, fast_env, kills=20, seed=int(os.environ.get("SCITQ_CHAOS_SEED", "5")))
