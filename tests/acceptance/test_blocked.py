"""Dependants of a task failed for good are blocked, seen by join(), scitq-manage and the ledger."""

from __future__ import annotations

from helpers import run_cli, wait_for
from scitq import keys
from scitq.lib import Server


def test_join_returns_when_a_required_task_failed_and_reports_the_blocked_ones(procs, capsys):
    procs.server()
    procs.worker("w1", concurrency=2)
    s = Server()
    bad = s.task_create("exit 4", shell=True, name="bad")
    child = s.task_create("echo never", required_task_ids=[bad["task_id"]])
    counts = s.join([bad, child], retry=0)
    assert (counts["failed"], counts["blocked"]) == (1, 1)
    out = capsys.readouterr().out
    assert "All tasks done!" in out and "1 task(s) blocked by a failed required task" in out
    assert s.task_get(child["task_id"])["blocked_by"] == bad["task_id"]


def test_scitq_manage_lists_blocked_tasks_and_counts_them_per_batch(procs, env, r):
    procs.server()
    procs.worker("w1", batch="b")
    s = Server()
    bad = s.task_create("false", batch="b")
    child = s.task_create("true", batch="b", required_task_ids=[bad["task_id"]])
    wait_for(lambda: s.task_status([child["task_id"]]) == ["blocked"], what="the dependant to be blocked")
    listing = run_cli("scitq-manage", "task", "list", "-S", "blocked", env=env)
    assert listing.returncode == 0 and [line.split()[0] for line in listing.stdout.splitlines()[1:]] == [
        str(child["task_id"])]
    batches = run_cli("scitq-manage", "batch", "list", env=env).stdout.splitlines()
    assert batches[0].split()[-1] == "blocked" and batches[1].split()[-1] == "1"
    blocked = [f for _, f in r.xrange(keys.EVENTS) if f["type"] == "task.blocked"]
    assert len(blocked) == 1 and blocked[0]["task"] == str(child["task_id"])


def test_new_requirements_given_through_task_update_replace_the_old_ones_of_a_waiting_task(procs):
    procs.server()
    s = Server()
    never = s.task_create("true", status="paused")
    done = s.task_create("true")
    child = s.task_create("true", required_task_ids=[never["task_id"]])
    procs.worker("w1")
    wait_for(lambda: s.task_status([done["task_id"]]) == ["succeeded"], what="the second parent to succeed")
    assert s.task_status([child["task_id"]]) == ["waiting"]
    s.task_update(child["task_id"], required_task_ids=[done["task_id"]])
    wait_for(lambda: s.task_status([child["task_id"]]) == ["succeeded"], what="the child to run")
