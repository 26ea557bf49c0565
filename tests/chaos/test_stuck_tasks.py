"""No task ever stuck, none run twice unknowingly: paused workers that die, batch moves, retries against the
quarantine, stale attempts, and the heartbeat's holding report that reconciles worker and server."""

from __future__ import annotations

import os
import signal
from contextlib import suppress

import pytest

from helpers import wait_for
from scitq import keys
from scitq.api.client import Client
from scitq.events.commands import encode
from scitq.lib import Server
from scitq.events import event_json

pytestmark = pytest.mark.xdist_group("stuck-tasks")


def second_run(marker) -> str:
    """A command whose first run hangs and whose next run prints `second`."""
    return f"if [ -e {marker} ]; then echo second; else touch {marker}; sleep 60; fi"


def worker_id(name: str) -> int:
    c = Client()
    wait_for(lambda: name in {w["name"] for w in c.workers()}, what=f"worker {name} to register")
    return c.worker_id(name)


def worker_view(r, name: str) -> dict:
    return r.hgetall(keys.worker_view(Client().worker_id(name)))


def events_of(r, kind: str) -> list[dict]:
    return [event_json(f) for _id, f in r.xrange(keys.EVENTS) if f.get("type") == kind]


def status(s: Server, task_id: int) -> str:
    return s.task_get(task_id)["status"]


def view(task_id: int) -> dict:
    return Client().task(task_id)


def succeeded_on(r, task_id: int) -> list[str]:
    """The workers whose attempt of `task_id` succeeded, from the ledger."""
    return [e["worker"] for e in events_of(r, "execution.finished")
            if e["task_id"] == task_id and e["return_code"] == 0]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def kill_group(pid: int) -> None:
    with suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def test_a_paused_worker_killed_goes_offline_then_lost_and_its_task_runs_elsewhere(procs, r, fast_env, tmp_path):
    procs.server()
    w1 = procs.worker("w-paused", concurrency=1)
    s = Server(asynchronous=False)
    t = s.task_create(second_run(tmp_path / "marker"), shell=True)["task_id"]
    wait_for(lambda: status(s, t) == "running", what="the task to run")
    pid = int(s.executions(task_id=t)[-1]["pid"])
    s.worker_update(worker_id("w-paused"), status="paused", asynchronous=False)
    wait_for(lambda: worker_view(r, "w-paused")["status"] == "paused", what="the worker to be paused")
    try:
        w1.send_signal(signal.SIGKILL)
        w1.wait()
        wait_for(lambda: worker_view(r, "w-paused")["status"] == "offline", what="the paused worker to go offline")
        wait_for(lambda: events_of(r, "worker.lost"), what="the paused worker to be declared lost")
        procs.worker("w-other", concurrency=1)
        wait_for(lambda: status(s, t) == "succeeded", what="the task to run again elsewhere")
        assert succeeded_on(r, t) == ["w-other"] and s.executions(task_id=t)[-1]["output"] == "second\n"
    finally:
        kill_group(pid)      # the first attempt, orphaned by the kill -9


def test_a_paused_worker_back_from_offline_is_still_paused(procs, r, fast_env):
    procs.server()
    w1 = procs.worker("w-nap", concurrency=1)
    s = Server(asynchronous=False)
    s.worker_update(worker_id("w-nap"), status="paused", asynchronous=False)
    wait_for(lambda: worker_view(r, "w-nap")["status"] == "paused", what="the worker to be paused")
    w1.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: worker_view(r, "w-nap")["status"] == "offline", what="the silent worker to go offline")
    finally:
        w1.send_signal(signal.SIGCONT)
    wait_for(lambda: worker_view(r, "w-nap")["status"] != "offline", what="the worker to come back")
    assert worker_view(r, "w-nap")["status"] == "paused"
    t = s.task_create("echo not now")["task_id"]
    wait_for(lambda: events_of(r, "worker.online"), what="the worker back online")
    assert status(s, t) == "pending", "a paused worker takes nothing"


def test_a_queued_task_moved_to_another_batch_runs_there_and_the_old_queue_entry_is_refused(procs, r, env):
    procs.server()
    old = procs.worker("w-old", concurrency=1, prefetch=1, batch="a")
    worker_id("w-old")
    s = Server(asynchronous=False)
    old.send_signal(signal.SIGSTOP)
    try:
        t = s.task_create("echo moved", batch="a")["task_id"]
        wait_for(lambda: view(t)["queued"], what="the task to be in batch a's queue")
        s.task_update(t, batch="b")
    finally:
        old.send_signal(signal.SIGCONT)
    procs.worker("w-new", concurrency=1, batch="b")
    wait_for(lambda: status(s, t) == "succeeded", what="the moved task to run in batch b")
    assert succeeded_on(r, t) == ["w-new"]


def test_a_worker_moved_to_another_batch_gives_back_its_prefetched_task(procs, r, env):
    procs.server()
    procs.worker("w-move", concurrency=1, prefetch=1, batch="a")
    s = Server(asynchronous=False)
    first = s.task_create("sleep 3", shell=True, batch="a")["task_id"]
    held = s.task_create("echo prefetched", batch="a")["task_id"]
    wait_for(lambda: status(s, first) == "running" and status(s, held) in ("assigned", "accepted"),
             what="one task running, one prefetched")
    s.worker_update(worker_id("w-move"), batch="b", asynchronous=False)
    wait_for(lambda: (lambda v: v["status"] == "pending" and v["worker"] is None)(view(held)),
             what="the prefetched task to go back to its queue")
    assert status(s, first) == "running", "the running task goes on"
    procs.worker("w-a", concurrency=1, batch="a")
    wait_for(lambda: status(s, held) == "succeeded", what="the prefetched task to run on a worker of batch a")
    assert succeeded_on(r, held) == ["w-a"]


def test_a_failing_task_with_ten_retries_runs_eleven_times_and_is_not_quarantined(procs, r, env):
    procs.server()
    procs.worker("w-retry", concurrency=1)
    s = Server(asynchronous=False)
    t = s.task_create("false", retry=10)["task_id"]
    wait_for(lambda: status(s, t) == "failed", timeout=60, what="the task to fail for good")
    assert len(s.executions(task_id=t)) == 11
    assert not events_of(r, "task.quarantined")


def test_a_lost_worker_that_comes_back_is_told_to_stop_its_superseded_attempt(procs, r, fast_env, tmp_path):
    procs.server()
    w1 = procs.worker("w-gone", concurrency=1)
    s = Server(asynchronous=False)
    t = s.task_create(second_run(tmp_path / "marker"), shell=True)["task_id"]
    wait_for(lambda: status(s, t) == "running", what="the task to run")
    pid = int(s.executions(task_id=t)[-1]["pid"])
    w1.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: events_of(r, "worker.lost"), what="the silent worker to be declared lost")
        procs.worker("w-next", concurrency=1)
        wait_for(lambda: status(s, t) == "succeeded", what="attempt 2 on another worker")
        assert not gone(pid), "attempt 1 still runs on the frozen worker"
        w1.send_signal(signal.SIGCONT)
        wait_for(lambda: gone(pid), timeout=15, what="the worker back to stop the superseded attempt 1")
    finally:
        w1.send_signal(signal.SIGCONT)
        kill_group(pid)
    assert s.executions(task_id=t)[-1]["output"] == "second\n"


def test_an_attempt_a_worker_runs_but_should_not_is_stopped_by_the_holding_report(procs, r, env, tmp_path):
    """Desynchronised on purpose: the order to stop attempt 1 is deleted before the worker reads it."""
    procs.server()
    w1 = procs.worker("w-desync", concurrency=1)
    s = Server(asynchronous=False)
    t = s.task_create(second_run(tmp_path / "marker"), shell=True)["task_id"]
    wait_for(lambda: status(s, t) == "running", what="the task to run")
    pid = int(s.executions(task_id=t)[-1]["pid"])
    w1.send_signal(signal.SIGSTOP)
    try:
        s.task_update(t, status="pending")      # a relaunch: attempt 1 is superseded, its worker told to stop it
        wait_for(lambda: r.xlen(keys.worker_control("w-desync")), what="the order to stop attempt 1")
        r.delete(keys.worker_control("w-desync"))     # ... which the worker never reads
    finally:
        w1.send_signal(signal.SIGCONT)
    try:
        wait_for(lambda: gone(pid), timeout=20, what="attempt 1 to be stopped")
        wait_for(lambda: status(s, t) == "succeeded", what="attempt 2 to run")
    finally:
        kill_group(pid)
    assert s.executions(task_id=t)[-1]["output"] == "second\n"
    stale = [e for e in events_of(r, "report.rejected") if e["fact"] == "holding"]
    assert stale and stale[0]["task_id"] == t and stale[0]["attempt"] == 1


def test_an_attempt_the_server_believes_a_worker_holds_but_it_does_not_is_requeued(procs, r, env):
    """Desynchronised on purpose: the task's queue entry is read under the worker's consumer name (as its
    process would) and a claim of it that the process never made is written to its outbox."""
    procs.server()
    procs.worker("w-holder", concurrency=1, prefetch=1)
    bait = procs.worker("w-bait", concurrency=1, batch="x")
    worker_id("w-bait")
    worker_id("w-holder")
    holder_inc = worker_view(r, "w-holder")["incarnation"]
    s = Server(asynchronous=False)
    bait.send_signal(signal.SIGSTOP)
    try:
        t = s.task_create("echo finally", batch="x")["task_id"]
        wait_for(lambda: next((eid for eid, f in r.xrange(keys.queue("x")) if f.get("task") == str(t)), None),
                 what="the task's queue entry")
        got = r.xreadgroup(keys.QUEUE_GROUP, "w-holder", {keys.queue("x"): ">"}, count=1)
        if got:
            entry = got[0][1][0][0]
        else:   # the stopped bait's blocking read, made before the stop, was given it: move it to w-holder
            entry = r.xpending_range(keys.queue("x"), keys.QUEUE_GROUP, min="-", max="+", count=1)[0]["message_id"]
            r.xclaim(keys.queue("x"), keys.QUEUE_GROUP, "w-holder", 0, [entry])
        r.xadd(keys.worker_outbox("w-holder"), {"f": "claimed", "inc": holder_inc, "data": encode(
            {"task_id": t, "attempt": 1, "entry": entry, "queue": "x"})})
        wait_for(lambda: view(t)["worker"] == "w-holder", what="the server to believe w-holder holds it")
    finally:
        bait.send_signal(signal.SIGCONT)
    wait_for(lambda: status(s, t) == "succeeded", what="the task to be requeued and run")
    assert succeeded_on(r, t) == ["w-bait"]
    reasons = [e["reason"] for e in events_of(r, "task.requeued") if e["task_id"] == t]
    assert any("does not hold it" in reason for reason in reasons), reasons
