"""v1 `worker_update` honours every argument, and the server checks what enters it whatever the client."""

from __future__ import annotations

import json

import pytest
from helpers import wait_for

from scitq import keys
from scitq.api.v1 import Server
from scitq.errors import BadInput, Conflict


def test_worker_update_sets_hostname_flavor_permanent_and_task_properties(procs):
    """Given a registered worker, when v1 `worker_update` gives every field, then the worker shows each."""
    procs.server()
    s = Server()
    s.client.command("worker.register", {"name": "w1", "hostname": "h1", "concurrency": 1})
    w = s.workers()[0]
    assert (w["flavor"], w["permanent"], w["task_properties"]) == ("local", True, {})
    s.worker_update(w["worker_id"], hostname="h2", flavor="b2-15", permanent=False,
                    task_properties='{"b1": [1, 2]}', concurrency=3, prefetch=1, batch="b1")
    w = s.worker_get(w["worker_id"])
    assert (w["hostname"], w["flavor"], w["permanent"], w["task_properties"]) == ("h2", "b2-15", False, {"b1": [1, 2]})
    assert (w["concurrency"], w["prefetch"], w["batch"]) == (3, 1, "b1")


def test_worker_update_renames_an_offline_worker_and_refuses_to_rename_a_live_one(procs, r):
    procs.server()
    s = Server()
    r.set(keys.worker_alive("w1"), "x")         # alive before it registers: never seen offline
    wid = s.client.command("worker.register", {"name": "w1", "concurrency": 1})["worker_id"]
    with pytest.raises(Conflict, match="renamed while it is offline"):
        s.worker_update(wid, name="w2")
    r.delete(keys.worker_alive("w1"))
    wait_for(lambda: s.worker_get(wid)["status"] == "offline", what="the worker offline")
    s.worker_update(wid, name="w2")
    assert s.worker_get(wid)["name"] == "w2"
    assert r.hgetall(keys.WORKERS_BY_NAME) == {"w2": str(wid)}


def test_worker_update_refuses_task_properties_that_are_not_json(procs):
    procs.server()
    s = Server()
    wid = s.client.command("worker.register", {"name": "w1", "concurrency": 1})["worker_id"]
    with pytest.raises(BadInput, match="task_properties is not JSON"):
        s.worker_update(wid, task_properties="{b1:")


def test_the_server_refuses_a_bad_uri_sent_straight_to_the_inbox(procs, r):
    """Given a client that skips the checks, when it submits a malformed URI, then the server refuses it."""
    procs.server()
    s = Server()
    with pytest.raises(BadInput, match="Defect in input"):
        s.client.command("task.submit", {"tasks": [{"command": "true", "input": "s3:/bucket/x"}]})
    with pytest.raises(BadInput, match="container option --bogus"):
        s.client.command("task.submit", {"tasks": [{"command": "true", "container": "alpine",
                                                    "container_options": "--bogus"}]})
    assert s.tasks() == []
    rejected = r.xrange(keys.REJECTED)
    assert any("Defect in input" in f["reason"] for _, f in rejected), json.dumps(rejected)
