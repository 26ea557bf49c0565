"""v1's worker-level signals on real worker processes: clean (-1), restart (-2), reset resources (-3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import run_cli, wait_for
from scitq.api.client import Client
from scitq.errors import BadInput, Conflict, NotFound
from scitq.lib import Server
from scitq.events import event_json


def ended(s: Server, task_id: int, timeout: float = 30) -> dict:
    wait_for(lambda: s.task_get(task_id)["status"] in ("succeeded", "failed"), timeout=timeout,
             what=f"task {task_id} to end")
    return s.executions(task_id=task_id)[-1]


def worker_id(name: str) -> int:
    c = Client()
    wait_for(lambda: name in {w["name"] for w in c.workers()}, what=f"worker {name} to register")
    return c.worker_id(name)


def events_of(kind: str) -> list[dict]:
    return [event_json(f) for _id, f in Client().events() if f.get("type") == kind]


def test_clean_removes_the_kept_work_dirs_of_failed_tasks_but_not_those_in_use(procs):
    procs.server()
    procs.worker("w1", concurrency=2)
    s = Server()
    failed = ended(s, s.task_create("echo $OUTPUT; touch $OUTPUT/partial; exit 2", shell=True)["task_id"])
    kept = Path(failed["output"].strip()).parent
    assert kept.is_dir(), "a failed task's work dir is kept for debugging"
    running = s.task_create("echo $OUTPUT; sleep 2; touch $OUTPUT/result; ls $OUTPUT", shell=True)["task_id"]
    wait_for(lambda: s.task_get(running)["status"] == "running", what="the long task to run")

    s.worker_create_signal(worker_id("w1"), None, -1)

    wait_for(lambda: not kept.exists(), what="the failed task's work dir to go")
    ex = ended(s, running)
    assert ex["status"] == "succeeded" and "result" in ex["output"], "the running task's dir was left alone"
    [ev] = events_of("worker.signalled")
    assert ev["worker"] == "w1" and ev["signal"] == -1


def test_restart_lets_running_tasks_end_then_re_executes_the_same_process(procs):
    procs.server()
    w = procs.worker("w1", concurrency=1)
    s = Server()
    wid = worker_id("w1")
    first = s.task_create("sleep 2; echo first", shell=True)["task_id"]
    wait_for(lambda: s.task_get(first)["status"] == "running", what="the first task to run")
    registered_before = len(events_of("worker.registered"))

    s.worker_create_signal(wid, None, -2)
    second = s.task_create("echo second")["task_id"]

    ex = ended(s, first)
    assert ex["status"] == "succeeded" and ex["output"] == "first\n" and ex["attempt"] == 1
    wait_for(lambda: len(events_of("worker.registered")) > registered_before, what="the worker to register again")
    again = events_of("worker.registered")[-1]
    assert again["worker_id"] == wid and again["reattached"] is True
    assert w.poll() is None, "the restarted worker is the same process (exec, not exit)"
    ex2 = ended(s, second)
    assert ex2["status"] == "succeeded" and ex2["attempt"] == 1, "the task queued meanwhile waited for the restart"
    assert [e["reason"] for e in events_of("task.requeued")] == [], "nothing was withdrawn by the restart"
    log = (procs.tmp / "worker-w1.log").read_text()
    assert "restart ordered" in log and "restarting:" in log


def test_reset_resources_empties_the_cache_and_the_next_task_downloads_again(procs, tmp_path, env):
    procs.server()
    procs.worker("w1")
    s = Server()
    ref = tmp_path / "ref.txt"
    ref.write_text("v1\n")
    t = s.task_create("cat $RESOURCE/ref.txt", shell=True, resource=f"file://{ref}")["task_id"]
    assert ended(s, t)["output"] == "v1\n"
    cache = Path(env["SCITQ_HOME"]) / "work" / "resources" / "files"
    assert any(cache.iterdir())

    s.worker_create_signal(worker_id("w1"), None, -3)

    wait_for(lambda: not any(cache.iterdir()), what="the resource cache to empty")
    t2 = s.task_create("cat $RESOURCE/ref.txt", shell=True, resource=f"file://{ref}")["task_id"]
    assert ended(s, t2)["output"] == "v1\n"


def test_worker_signals_are_checked_before_anything_changes(procs):
    procs.server()
    procs.worker("w1")
    s = Server()
    wid = worker_id("w1")
    with pytest.raises(BadInput, match="worker signal 7 is not one of -1"):
        s.worker_create_signal(wid, None, 7)
    with pytest.raises(NotFound, match="no worker 999"):
        s.worker_create_signal(999, None, -1)
    assert events_of("worker.signalled") == []
    assert s.worker_signals(wid) == []


def test_a_signal_to_an_execution_goes_to_its_task(procs):
    procs.server()
    procs.worker("w1")
    s = Server()
    t = s.task_create("sleep 30")["task_id"]
    wait_for(lambda: s.task_get(t)["status"] == "running", what="the task to run")
    ex = s.executions(task_id=t)[-1]
    s.worker_create_signal(ex["worker_id"], ex["execution_id"], 9)
    done = ended(s, t)
    assert done["status"] == "failed" and done["return_code"] == -9


def test_manage_worker_clean_restart_and_errors(procs, env):
    procs.server()
    procs.worker("w1")
    worker_id("w1")
    res = run_cli("scitq-manage", "worker", "clean", "-n", "w1", env=env)
    assert res.returncode == 0 and "w1: cleaning its unused work dirs" in res.stdout
    res = run_cli("scitq-manage", "worker", "reset-resources", "-n", "w1", env=env)
    assert res.returncode == 0 and "forgetting its cached resources" in res.stdout
    res = run_cli("scitq-manage", "worker", "restart", "-n", "nobody", env=env)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "nobody" in res.stderr
    assert [e["signal"] for e in events_of("worker.signalled")] == [-1, -3]


def test_an_offline_worker_is_not_given_orders_it_would_never_see(procs):
    procs.server()
    w = procs.worker("w1")
    s = Server()
    wid = worker_id("w1")
    w.kill()
    w.wait()
    wait_for(lambda: s.worker_get(wid)["status"] == "offline", what="the worker to go offline")
    with pytest.raises(Conflict, match="worker w1 is offline"):
        s.worker_create_signal(wid, None, -2)
    assert events_of("worker.signalled") == []
