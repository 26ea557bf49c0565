"""End to end through real processes: a server, real worker processes and a real Valkey."""

from __future__ import annotations

import collections
import signal
import time

import pytest

from helpers import run_cli, wait_for
from scitq import keys
from scitq.lib import Server


def ledger(r) -> list[tuple[str, dict]]:
    return r.xrange(keys.EVENTS)


def test_500_tasks_through_the_v1_api_and_two_workers_all_succeed_with_their_outputs(procs, r, capsys):
    procs.server()
    procs.worker("w1", concurrency=4, prefetch=2)
    procs.worker("w2", concurrency=4, prefetch=2)
    s = Server()
    ids = s.task_create_many([{"command": f"echo out-{i}", "name": f"t{i}"} for i in range(500)])
    assert ids == list(range(1, 501))
    counts = s.join([{"task_id": i} for i in ids])
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith("All tasks done!")
    assert counts["succeeded"] == 500 and counts["failed"] == 0
    execs = s.executions(no_output=False)
    by_task = {e["task_id"]: e for e in execs}
    assert len(by_task) == 500
    assert all(by_task[i]["output"] == f"out-{i - 1}\n" and by_task[i]["return_code"] == 0 for i in ids)
    workers = {e["worker_id"] for e in execs}
    assert len(workers) == 2, "both workers took tasks"
    succeeded = collections.Counter(f["task"] for _, f in ledger(r) if f["type"] == "task.succeeded")
    assert set(succeeded.values()) == {1}


def test_join_retries_failed_tasks_and_reports_like_v1(procs, capsys):
    procs.server()
    procs.worker("w1", concurrency=2)
    s = Server(style="object")
    ok = s.task_create("echo fine")
    bad = s.task_create("false", name="always-fails")
    assert ok.task_id == 1 and isinstance(ok.creation_date, type(ok.creation_date))
    with pytest.raises(RuntimeError, match="Could not complete all the tasks"):
        s.join([ok, bad], retry=2, check=True)
    out = capsys.readouterr().out
    assert "Retrying task always-fails [1/2]..." in out and "Retrying task always-fails [2/2]..." in out
    assert "Task always-fails failed too many times giving up" in out
    assert len(s.executions(task_id=bad.task_id)) == 3


def test_seed_quickstart_launch_list_output(procs, env):
    procs.server()
    res = run_cli("scitq-launch", "echo", "hello", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "Task queued with task id: 1"
    listing = run_cli("scitq-manage", "task", "list", env=env)
    assert listing.returncode == 0
    head, row = listing.stdout.splitlines()[:2]
    assert head.split() == ["task_id", "name", "status", "command", "creation_date", "modification_date",
                            "status_date", "batch"]
    assert row.split()[0] == "1" and "echo hello" in row
    procs.worker("w1")
    wait_for(lambda: "succeeded" in run_cli("scitq-manage", "task", "list", "-S", "succeeded", env=env).stdout,
             what="the task to succeed")
    out = run_cli("scitq-manage", "task", "output", "-i", "1", env=env)
    assert out.returncode == 0 and "hello" in out.stdout
    assert run_cli("scitq-manage", "task", "output", "-i", "1", "-o", env=env).stdout == "hello\n"


def test_a_failing_task_is_retried_by_the_server_then_relaunched_by_hand(procs, env, r):
    procs.server()
    procs.worker("w1")
    s = Server()
    t = s.task_create("sh -c 'echo try >&2; exit 4'", retry=1)
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "failed", what="the task to fail twice")
    exs = s.executions(task_id=t["task_id"])
    assert [e["return_code"] for e in exs] == [4, 4] and exs[-1]["error"] == "try\n"
    assert [e["latest"] for e in exs] == [False, True]
    res = run_cli("scitq-manage", "task", "relaunch", "-i", str(t["task_id"]), env=env)
    assert res.returncode == 0
    wait_for(lambda: len(s.executions(task_id=t["task_id"])) == 3, what="a third attempt")
    types = [f["type"] for _, f in ledger(r) if f.get("task") == str(t["task_id"])]
    assert types.count("task.retried") == 1 and "task.status_set" in types


def test_replay_parity_after_a_mixed_workload(procs, env, r):
    procs.server()
    procs.worker("w1", concurrency=3, prefetch=1)
    s = Server()
    ids = s.task_create_many([{"command": f"sh -c 'exit {i % 3}'", "retry": i % 2} for i in range(30)])
    waiting = s.task_create("echo after", required_task_ids=[ids[0]])
    s.task_create("echo other-batch", batch="b2")
    s.task_create("echo to-edit", batch="b2", name="edited")
    s.join([{"task_id": i} for i in ids], retry=0)
    s.task_delete(ids[1])
    s.batch_stop("b2")
    s.batch_go("b2")
    s.task_relaunch(ids[2])
    s.join([waiting], retry=0)
    res = run_cli("scitq", "events", "rebuild", "--verify", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "views equal the replay" in res.stdout


def test_a_server_killed_with_sigkill_mid_run_loses_nothing_and_replays_equal(procs, env, r):
    server = procs.server()
    procs.worker("w1", concurrency=4, prefetch=2)
    procs.worker("w2", concurrency=4, prefetch=2)
    s = Server()
    ids = s.task_create_many([{"command": f"sh -c 'sleep 0.0{i % 5}; echo {i}'"} for i in range(300)])
    wait_for(lambda: int(r.hget(keys.batch_view("Default"), "succeeded") or 0) >= 60, what="some progress")
    server.send_signal(signal.SIGKILL)
    server.wait()
    procs.server()
    counts = s.join([{"task_id": i} for i in ids], retry=0)
    assert counts["succeeded"] == 300
    succeeded = collections.Counter(f["task"] for _, f in ledger(r) if f["type"] == "task.succeeded")
    assert len(succeeded) == 300 and set(succeeded.values()) == {1}
    res = run_cli("scitq", "events", "rebuild", "--verify", env=env)
    assert res.returncode == 0, res.stdout + res.stderr


def test_commands_acknowledged_while_the_server_is_down_are_applied_when_it_returns(procs, env, r):
    server = procs.server()
    server.terminate()
    server.wait(10)
    res = run_cli("scitq-launch", "echo", "queued-while-down", env={**env, "SCITQ_REPLY_TIMEOUT": "2"})
    assert res.returncode == 3 and "did not answer" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    procs.server()
    wait_for(lambda: r.exists(keys.task_view(1)), what="the queued submission to be applied")
    assert Server().task_get(1)["command"] == "echo queued-while-down"
