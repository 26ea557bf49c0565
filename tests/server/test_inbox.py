"""The server's inputs: commands are validated, idempotent, and bad entries are set aside with reasons."""

from __future__ import annotations

import json

import pytest

from helpers import run_cli, wait_for
from scitq import keys
from scitq.errors import BadInput, NotFound
from scitq.inbox import send_command
from scitq.lib import Server


def test_an_invalid_command_is_refused_clearly_and_appends_nothing(procs, r):
    procs.server()
    with pytest.raises(BadInput, match=r"\$\.tasks\[0\]\.retry"):
        send_command(r, "task.submit", {"tasks": [{"command": "x", "retry": "often"}]})
    with pytest.raises(BadInput, match="required task 42 does not exist"):
        send_command(r, "task.submit", {"tasks": [{"command": "x"}, {"command": "y", "required_task_ids": [42]}]})
    with pytest.raises(NotFound):
        send_command(r, "batch.delete", {"batch": "nothing-here"})
    with pytest.raises(BadInput, match="bad batch name"):
        send_command(r, "batch.stop", {"batch": "two words"})
    assert r.xlen(keys.EVENTS) == 0
    assert not r.keys(keys.task_view(1))


def test_a_command_retried_with_the_same_idempotency_key_is_applied_once(procs, r):
    procs.server()
    a = send_command(r, "task.submit", {"tasks": [{"command": "echo once"}]}, idempotency_key="k-1")
    b = send_command(r, "task.submit", {"tasks": [{"command": "echo once"}]}, idempotency_key="k-1")
    assert a == b == {"task_ids": [1]}
    assert Server().tasks() and len(Server().tasks()) == 1


def test_garbage_in_the_inbox_and_a_worker_outbox_is_set_aside_with_its_id_and_reason(procs, r, env):
    procs.server()
    procs.worker("w1")
    wait_for(lambda: Server().workers(), what="the worker")
    bad_inbox = r.xadd(keys.INBOX, {"cmd": "task.submit", "id": "c1", "data": "{not json", "reply": "0"})
    bad_outbox = r.xadd(keys.worker_outbox("w1"), {"f": "finished", "inc": "x", "seq": "1",
                                                  "data": json.dumps({"task_id": 1})})
    unknown = r.xadd(keys.worker_outbox("w1"), {"f": "exploded", "inc": "x", "seq": "2", "data": "{}"})
    wait_for(lambda: r.xlen(keys.REJECTED) >= 3, what="the rejected entries")
    res = run_cli("scitq", "events", "rejected", env=env)
    assert res.returncode == 0
    text = res.stdout
    assert f"entry {bad_inbox}" in text and f"entry {bad_outbox}" in text and f"entry {unknown}" in text
    assert "unknown worker report 'exploded'" in text
    # the server is still alive and working
    assert Server().task_create("echo still fine")["task_id"] == 1


def test_a_report_from_a_superseded_attempt_changes_nothing_and_is_recorded(procs, r):
    procs.server()
    s = Server()
    t = s.task_create("echo hi")
    send_command(r, "worker.register", {"name": "ghost", "concurrency": 1})
    r.xadd(keys.worker_outbox("ghost"), {"f": "finished", "inc": "i", "seq": "1",
                                         "data": json.dumps({"task_id": t["task_id"], "attempt": 3,
                                                             "return_code": 0})})
    wait_for(lambda: any(f["type"] == "report.rejected" for _, f in r.xrange(keys.EVENTS)), what="the rejection")
    assert s.task_get(t["task_id"])["status"] == "pending"


def test_events_history_and_tail_show_who_ran_what(procs, env, r):
    procs.server()
    procs.worker("w-audit")
    s = Server()
    t = s.task_create("echo audited", name="audit-me")
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "succeeded", what="the task")
    res = run_cli("scitq", "events", "history", "--task", str(t["task_id"]), env=env)
    lines = res.stdout.splitlines()
    kinds = [line.split()[2] for line in lines]
    # a task started as soon as it is claimed: one event for the claim and the start, its output implied
    assert kinds == ["task.submitted", "task.dispatched", "execution.started", "execution.finished",
                     "task.succeeded"]
    assert "worker=w-audit" in lines[2] and 'command="echo audited"' in lines[2]
    assert "return_code=0" in lines[3]
    tail = run_cli("scitq", "events", "tail", "--from-start", "--type", "task.succeeded", "--count", "1", env=env)
    assert tail.returncode == 0 and "task.succeeded" in tail.stdout
