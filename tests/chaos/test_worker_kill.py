"""Workers killed with SIGKILL mid-task: every task ends succeeded exactly once, nothing is lost."""

from __future__ import annotations

import collections
import os
import random
import signal
import time

import pytest

from helpers import run_cli, wait_for
from scitq import keys
from scitq.lib import Server
from scitq.projections.check import check_ledger

pytestmark = pytest.mark.xdist_group("chaos-kill")


def chaos_run(procs, r, env, kills: int, tasks: int, seed: int) -> None:
    rnd = random.Random(seed)
    # an unlucky task may see several of its workers die: that is not a poison task, so the
    # quarantine threshold is out of the way here (tests/chaos/test_worker_restart.py covers it)
    procs.env["SCITQ_MAX_DELIVERIES"] = "1000"
    procs.server()
    live = {name: procs.worker(name, concurrency=3, prefetch=2) for name in ("w-a", "w-b")}
    s = Server()
    ids = s.task_create_many([{"command": f"sleep 0.{rnd.randint(1, 4)}; echo out-{i}", "shell": True}
                              for i in range(tasks)])
    generation = 0

    def holds_a_task(name: str) -> bool:
        return any(t.get("worker") == name and t["status"] in ("assigned", "accepted", "running")
                   for t in s.client.tasks())

    for k in range(kills):
        time.sleep(rnd.uniform(0.2, 0.6))
        name = rnd.choice(sorted(live))
        # on a loaded machine a worker may need seconds to start: kill it once it holds a task (mid-task
        # is the point), or after a bounded wait when no task is left for it
        deadline = time.monotonic() + 15
        while not holds_a_task(name) and time.monotonic() < deadline and s.client.batch("Default")["succeeded"] < tasks:
            time.sleep(0.05)
        victim = live.pop(name)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        if k % 2 == 0:          # same name again: a new incarnation, its old attempts are withdrawn at once
            live[name] = procs.worker(name, concurrency=3, prefetch=2)
        else:                   # a new machine: the old one is declared lost after SCITQ_LOST_AFTER
            generation += 1
            new = f"w-{generation}"
            live[new] = procs.worker(new, concurrency=3, prefetch=2)
    try:
        counts = wait_for(lambda: (lambda b: b if b["succeeded"] == tasks else None)(s.client.batch("Default")),
                          timeout=240, what="every task to succeed")
    except AssertionError:
        from scitq.cli.events import format_event
        stuck = [t for t in s.client.tasks() if t["status"] != "succeeded"]
        print(f"{len(stuck)} tasks stuck; live workers {sorted(live)}; workers {s.client.workers()}")
        for t in stuck[:5]:
            print({k: t[k] for k in ("task_id", "status", "attempt", "queued", "worker", "execution_id")})
            for eid, f in r.xrange(keys.EVENTS):
                if f.get("task") == str(t["task_id"]):
                    print("   ", format_event(eid, f))
        print(r.xinfo_groups(keys.queue("Default")), r.xpending(keys.queue("Default"), keys.QUEUE_GROUP))
        raise
    assert counts["failed"] == 0
    rep = check_ledger(r)
    succeeded = collections.Counter(f["task"] for _, f in r.xrange(keys.EVENTS) if f["type"] == "task.succeeded")
    print(f"worker kill -9 x{kills}: {rep.summary(expected_tasks=tasks)}")
    assert len(succeeded) == tasks and set(succeeded.values()) == {1}, "dup_accepted must be 0"
    assert rep.ok, rep.problems[:10]
    assert rep.reclaims, "the kills did withdraw some attempts"
    outs = {e["task_id"]: e["output"] for e in s.executions() if e["status"] == "succeeded"}
    assert all(outs[i] == f"out-{i - 1}\n" for i in ids)
    res = run_cli("scitq", "events", "rebuild", "--verify", env=env)
    assert res.returncode == 0, res.stdout


def test_thirty_worker_kills_lose_no_task_and_accept_no_result_twice(procs, r, fast_env):
    chaos_run(procs, r, fast_env, kills=30, tasks=120, seed=int(os.environ.get("SCITQ_CHAOS_SEED", "7")))


@pytest.mark.chaos
def test_a_hundred_worker_kills_lose_no_task_and_accept_no_result_twice(procs, r, fast_env):
    chaos_run(procs, r, fast_env, kills=100, tasks=500, seed=int(os.environ.get("SCITQ_CHAOS_SEED", "11")))
