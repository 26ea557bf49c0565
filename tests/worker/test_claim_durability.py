"""A worker that dies after reading a queue entry but before its claim reaches the server loses no task."""

from __future__ import annotations

import json

from helpers import wait_for
from scitq import keys
from scitq.lib import Server
from scitq.settings import settings
from scitq.worker.agent import Agent


def test_an_entry_read_by_a_worker_whose_claim_never_arrived_is_given_again(procs, r, monkeypatch):
    """The claim sits in the dead worker's disk spool, which nobody ships (a replacement machine has
    another name): the queue entry must still be pending, so the server's reaper gives the task again."""
    procs.env["SCITQ_UNCLAIMED_AFTER"] = "2"
    procs.server()
    s = Server()
    ghost = Agent(r, settings(), name="ghost", concurrency=1)   # its spool is never started: nothing ships
    ghost.register()
    task = s.task_create("echo done")["task_id"]
    wait_for(lambda: r.xlen(keys.queue("Default")) == 1, what="the task to be queued")

    ghost.claim(room=1, block_ms=5000)

    # the task starts at once: its `started` report, which is also its claim, is only in the ghost's spool
    assert (task, 1) in ghost.slots
    wait_for(lambda: ghost.spool.backlog() >= 1, what="the claim in the ghost's spool")
    first = json.loads(ghost.spool.path.read_text().splitlines()[0])[2]
    assert first["f"] == "started" and json.loads(first["data"])["entry"], "the start carries the claim"
    assert r.xpending(keys.queue("Default"), keys.QUEUE_GROUP)["pending"] == 1, \
        "the entry stays pending until the server applies the claim"
    procs.worker("w1")
    wait_for(lambda: s.task_get(task)["status"] == "succeeded", timeout=60, what="the task to run elsewhere")
    ex = s.executions(task_id=task)[-1]
    assert ex["worker_id"] == s.client.worker_id("w1") and ex["output"] == "done\n"
    assert r.xpending(keys.queue("Default"), keys.QUEUE_GROUP)["pending"] == 0
    requeued = [f for _id, f in r.xrange(keys.EVENTS) if f["type"] == "task.requeued"]
    assert len(requeued) == 1 and "never claimed" in requeued[0]["data"]


def test_a_claim_the_server_applies_acknowledges_its_entry(procs, r):
    procs.server()
    procs.worker("w1", concurrency=2)
    s = Server()
    ids = s.task_create_many([{"command": "true"} for _ in range(20)])
    wait_for(lambda: all(st == "succeeded" for st in s.task_status(ids)), what="the tasks to succeed")
    assert r.xpending(keys.queue("Default"), keys.QUEUE_GROUP)["pending"] == 0
    assert r.xlen(keys.queue("Default")) == 0, "applied entries are deleted from the queue"


def test_a_held_task_is_claimed_by_its_start_and_an_entry_of_an_older_server_is_claimed_at_once(procs, r):
    """Given a worker that holds what it reads without starting it (paused), when it reads an entry
    carrying the run fields, then its claim waits (the start would carry it); when it reads an entry of an
    older server (no `run`), then it reports the claim at once, as that server expects."""
    procs.server()
    s = Server()
    ghost = Agent(r, settings(), name="ghost", concurrency=1, status="paused")  # nothing ships, nothing starts
    ghost.register()
    ghost.status = "paused"
    task = s.task_create("echo done")["task_id"]
    r.xadd(keys.queue("Default"), {"task": str(task), "attempt": "1",
                                   "run": json.dumps({"command": "echo done", "mod": 1.0})})
    ghost.claim(room=1, block_ms=5000)
    assert (task, 1) in ghost.slots and ghost.spool.backlog() == 0, "the claim waits for the start"
    r.xadd(keys.queue("Default"), {"task": str(task), "attempt": "2"})
    ghost.claim(room=1, block_ms=5000)
    assert (task, 2) in ghost.slots and ghost.spool.backlog() == 1
    fact = json.loads(ghost.spool.path.read_text().splitlines()[0])[2]
    assert fact["f"] == "claimed" and json.loads(fact["data"])["attempt"] == 2
