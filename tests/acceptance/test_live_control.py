"""Live control, each effective within seconds: pause/go, edit, relaunch, delete, signals, worker settings."""

from __future__ import annotations

import time

from helpers import run_cli, wait_for
from scitq import keys
from scitq.lib import Server


def statuses(s, ids):
    return s.task_status(ids)


def test_a_paused_batch_starts_nothing_new_and_resumes_on_go(procs, env, r):
    procs.server()
    procs.worker("w1", concurrency=2, prefetch=2, batch="b")
    s = Server()
    ids = s.task_create_many([{"command": "sleep 0.5", "batch": "b"} for _ in range(12)])
    wait_for(lambda: "succeeded" in statuses(s, ids), what="a first success")
    assert run_cli("scitq-manage", "batch", "stop", "-n", "b", env=env).returncode == 0
    time.sleep(1.5)                      # what had started finishes; nothing new starts
    frozen = [st for st in statuses(s, ids)]
    assert "running" not in frozen
    time.sleep(1.5)
    assert statuses(s, ids) == frozen
    assert s.batches()[0]["paused"] is True
    assert run_cli("scitq-manage", "batch", "go", "-n", "b", env=env).returncode == 0
    s.join([{"task_id": i} for i in ids], retry=0)
    assert set(statuses(s, ids)) == {"succeeded"}


def test_pause_with_sigtstp_stops_running_processes_and_go_with_sigcont_resumes_them(procs, env, tmp_path):
    procs.server()
    procs.worker("w1", concurrency=2, batch="p")
    s = Server()
    tick = tmp_path / "ticks"
    t = s.task_create(f"for i in $(seq 1 40); do echo $i >> {tick}; sleep 0.1; done", shell=True, batch="p")
    wait_for(lambda: tick.exists() and len(tick.read_text().split()) >= 3, what="the task to tick")
    assert run_cli("scitq-manage", "batch", "stop", "-n", "p", "--pause", env=env).returncode == 0
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "paused", what="the task to be paused")
    time.sleep(0.5)
    n = len(tick.read_text().split())
    time.sleep(1.0)
    assert len(tick.read_text().split()) == n, "a SIGTSTP'd process does not run"
    assert run_cli("scitq-manage", "batch", "go", "-n", "p", "--cont", env=env).returncode == 0
    wait_for(lambda: s.task_get(t["task_id"])["status"] in ("running", "succeeded"), what="the task to resume")
    s.join([t], retry=0)
    assert len(tick.read_text().split()) == 40
    assert len(s.executions(task_id=t["task_id"])) == 1


def test_signals_reach_a_running_task(procs, env):
    procs.server()
    procs.worker("w1")
    s = Server()
    t = s.task_create("sleep 30")
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "running", what="the task to run")
    assert run_cli("scitq-manage", "task", "signal", "-i", str(t["task_id"]), "-N", "15", env=env).returncode == 0
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "failed", what="the task to die of SIGTERM")
    assert s.executions(task_id=t["task_id"])[-1]["return_code"] == -15


def test_per_task_pause_holds_a_queued_task_and_relaunch_of_all_failed(procs, env):
    procs.server()
    s = Server()
    held = s.task_create("echo held")
    bad = [s.task_create("false") for _ in range(3)]
    s.task_update(held["task_id"], status="paused")
    procs.worker("w1", concurrency=2)
    s.join(bad, retry=0)
    assert s.task_get(held["task_id"])["status"] == "paused"
    res = run_cli("scitq-manage", "batch", "relaunch", "-n", "Default", env=env)
    assert res.returncode == 0 and "3 failed task(s) relaunched" in res.stdout
    wait_for(lambda: all(len(s.executions(task_id=b["task_id"])) == 2 for b in bad), what="second attempts")
    s.task_update(held["task_id"], status="pending")
    s.join([held], retry=0)
    assert s.task_get(held["task_id"])["status"] == "succeeded"


def test_deleting_a_worker_requeues_its_unfinished_tasks(procs, env, r):
    procs.server()
    w = procs.worker("w-doomed", concurrency=1)
    s = Server()
    t = s.task_create("sleep 20")
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "running", what="the task to run")
    w.terminate()
    time.sleep(0.5)
    w.send_signal(15)                       # twice: stop it at once, then delete it: its task must come back
    w.wait(20)
    (wk,) = [x for x in s.workers() if x["name"] == "w-doomed"]
    s.worker_delete(wk["worker_id"])
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "pending", what="the task to be requeued")
    s.task_update(t["task_id"], command="echo rescued")
    procs.worker("w-new")
    s.join([t], retry=0)
    assert s.executions(task_id=t["task_id"])[-1]["output"] == "rescued\n"


def test_deleting_a_batch_removes_its_queued_entries_and_tasks(procs, env, r):
    procs.server()
    procs.worker("w1", concurrency=1, prefetch=1, batch="gone")
    s = Server()
    s.task_create_many([{"command": "sleep 0.3", "batch": "gone"} for _ in range(10)])
    wait_for(lambda: s.client.tasks(status="running"), what="a running task")
    assert run_cli("scitq-manage", "batch", "delete", "-n", "gone", env=env).returncode == 0
    assert s.tasks(batch="gone") == []
    assert r.xlen(keys.queue("gone")) == 0
    assert not any(b["batch"] == "gone" for b in s.batches())


def test_bulk_worker_update_by_batch_changes_every_worker_of_it(procs, env):
    procs.server()
    procs.worker("wa", concurrency=1, batch="bulk")
    procs.worker("wb", concurrency=1, batch="bulk")
    s = Server()
    wait_for(lambda: len(s.workers()) == 2, what="two workers")
    res = run_cli("scitq-manage", "worker", "update", "-b", "bulk", "-C", "3", "-p", "2", env=env)
    assert res.returncode == 0 and "2 worker(s) of batch bulk updated" in res.stdout
    assert {(w["concurrency"], w["prefetch"]) for w in s.workers()} == {(3, 2)}
