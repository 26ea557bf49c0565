"""Worker restarts and poison tasks: graceful SIGTERM hands back work, a task that kills its agent is quarantined."""

from __future__ import annotations

import signal
import time

import pytest

from helpers import wait_for
from scitq import keys
from scitq.lib import Server
from scitq.projections.check import check_ledger

pytestmark = pytest.mark.xdist_group("chaos-restart")


def test_a_first_sigterm_finishes_running_tasks_and_hands_back_the_prefetched_ones(procs, r, fast_env):
    procs.server()
    w = procs.worker("w-grace", concurrency=1, prefetch=2)
    s = Server()
    first = s.task_create("sleep 2; echo finished", shell=True)
    others = [s.task_create(f"echo other-{i}") for i in range(2)]
    wait_for(lambda: s.task_get(first["task_id"])["status"] == "running" and
             all(s.task_get(o["task_id"])["status"] == "assigned" for o in others), what="1 running + 2 prefetched")
    w.send_signal(signal.SIGTERM)
    assert w.wait(20) == 0
    assert s.task_get(first["task_id"])["status"] == "succeeded"
    assert all(s.task_get(o["task_id"])["status"] == "pending" for o in others)
    reasons = [f for _, f in r.xrange(keys.EVENTS) if f["type"] == "task.requeued"]
    assert len(reasons) == 2 and all("worker stopping" in f["data"] for f in reasons)
    procs.worker("w-next")
    s.join(others, retry=0)
    assert check_ledger(r).ok


def test_a_second_sigterm_hands_back_running_tasks_at_once(procs, r, fast_env):
    procs.server()
    w = procs.worker("w-hurry", concurrency=1)
    s = Server()
    t = s.task_create("sleep 30")
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "running", what="the task to run")
    w.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    started = time.monotonic()
    w.send_signal(signal.SIGTERM)
    assert w.wait(20) == 0
    assert time.monotonic() - started < 15
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "pending", what="the task to be handed back")
    s.task_update(t["task_id"], command="echo quicker")
    procs.worker("w-after")
    s.join([t], retry=0)
    assert s.executions(task_id=t["task_id"])[-1]["output"] == "quicker\n"
    rep = check_ledger(r)
    print(rep.summary())
    assert rep.ok, rep.problems


def test_a_task_that_kills_its_worker_each_time_is_quarantined_not_looped(procs, r, fast_env, monkeypatch):
    fast_env["SCITQ_MAX_DELIVERIES"] = "3"
    procs.env["SCITQ_MAX_DELIVERIES"] = "3"
    procs.server()
    s = Server()
    poison = s.task_create("kill -9 $PPID", shell=True, name="poison")
    fine = s.task_create("echo fine")
    deadline = time.monotonic() + 120
    restarts = 0
    while s.task_get(poison["task_id"])["status"] != "failed":
        assert time.monotonic() < deadline, "the poison task was never quarantined"
        w = procs.worker("w-victim", concurrency=1)
        while w.poll() is None and s.task_get(poison["task_id"])["status"] != "failed":
            time.sleep(0.2)
        restarts += 1
        if w.poll() is None:
            w.terminate()
            w.wait(10)
    entries = [f for _, f in r.xrange(keys.EVENTS) if f.get("task") == str(poison["task_id"])]
    types = [f["type"] for f in entries]
    assert "task.quarantined" in types
    # a claim is `execution.claimed`, or `execution.started` with the attempt (claimed and started at once)
    claims = [f for f in entries if f["type"] == "execution.claimed"
              or (f["type"] == "execution.started" and '"attempt"' in f["data"])]
    assert len(claims) == 3
    procs.worker("w-survivor")
    s.join([fine], retry=0)
    assert s.task_get(fine["task_id"])["status"] == "succeeded"
    rep = check_ledger(r)
    print(rep.summary())
    assert rep.ok, rep.problems
