"""v1's asynchronous writes: while the server and its Valkey are away, `scitq.lib.Server` writes return
at once (lazy answers), and are delivered once each, in order, when they are back."""

from __future__ import annotations

import os
import time

import pytest
import redis

from helpers import wait_for
from scitq import keys
from scitq.lib import Server
from scitq.projections.check import check_ledger

OUTAGE = float(os.environ.get("SCITQ_OUTAGE_SECONDS", "60"))


def outage_writes(own_valkey, own_procs, outage: float) -> None:
    server = own_procs.server()
    own_procs.worker("w-a", concurrency=2, batch="e")
    s = Server(own_valkey.url, put_timeout=2)
    s.batch_stop("e")
    first = s.task_create("echo typo", batch="e")
    wait_for(lambda: s.workers(name="w-a"), what="the worker")
    server.terminate()
    server.wait(15)
    own_valkey.stop()
    down = time.monotonic()
    # every write returns while the server and its Valkey are still away (a blocked write never returns)
    fixed = s.task_update(first["task_id"], command="echo one")
    second = s.task_create("echo two", batch="e")
    after = s.task_create("echo three", batch="e", required_task_ids=[second])
    go = s.batch_go("e")
    assert s.queue_size() == 4
    assert not fixed.delivered() and not second.delivered() and not go.delivered()
    assert "waiting for the server" in repr(second)
    time.sleep(max(0.0, outage - (time.monotonic() - down)))
    assert s.queue_size() == 4, "nothing is delivered while Valkey is away"
    own_valkey.start()
    own_procs.server()
    back = time.monotonic()
    task_id = second["task_id"]          # reading the lazy answer waits until it is known
    delivered = time.monotonic() - back
    assert task_id == first["task_id"] + 1 and fixed["command"] == "echo one"
    wait_for(lambda: s.queue_size() == 0, what="the last queued write (batch go)")
    assert go["batch"] == "e"
    assert after["required_task_ids"] == [task_id]
    assert s.join([first, second, after], retry=0)["succeeded"] == 3
    assert [s.executions(task_id=t["task_id"])[-1]["output"] for t in (first, second, after)] == \
        ["one\n", "two\n", "three\n"]
    r = redis.Redis.from_url(own_valkey.url, decode_responses=True)
    kinds = [f["type"] for _, f in r.xrange(keys.EVENTS)
             if f["type"] in ("task.updated", "task.submitted", "batch.resumed")]
    assert kinds == ["task.submitted", "task.updated", "task.submitted", "task.submitted", "batch.resumed"], \
        "in order, once each"
    assert check_ledger(r).ok
    print(f"outage={outage:.0f}s queued_writes=4 delivered_after_server_back={delivered:.1f}s")


@pytest.mark.xdist_group("outage")
def test_v1_writes_during_a_minute_without_server_and_valkey_return_at_once_and_are_delivered_in_order(
        own_valkey, own_procs):
    """Measured here: about 63 s in all for a 60 s outage, so it runs with the rest of the suite
    (SCITQ_OUTAGE_SECONDS shortens it)."""
    outage_writes(own_valkey, own_procs, OUTAGE)
