"""`Client`, the one door: typed commands checked on the way in, decoded views on the way out (real server)."""

from __future__ import annotations

import pytest

from scitq import keys
from scitq.api import client as client_module
from scitq.api.client import Client
from scitq.errors import BadInput, Conflict, NotFound
from scitq.events.commands import TaskSpec
from scitq.events.worker import CLEAN


def test_typed_task_commands_change_the_tasks_and_reads_give_them_back_decoded(procs):
    procs.server()
    c = Client()
    first, second = c.submit([TaskSpec(command="echo one", name="one", batch="tb", retry=2),
                              {"command": "echo two", "batch": "tb", "use_cache": True}])
    assert second == first + 1
    t = c.task(first)
    assert (t["task_id"], t["name"], t["status"], t["batch"], t["retry"]) == (first, "one", "pending", "tb", 2)
    assert isinstance(t["creation_date"], float) and c.task(second)["use_cache"] is True

    # Given a pending task, When its command is edited and it is paused, Then the view says so
    assert c.update_task(first, command="echo edited", run_timeout=5)["changed"] == ["command", "run_timeout"]
    c.set_task_status(first, "paused")
    t = c.task(first)
    assert (t["command"], t["run_timeout"], t["status"]) == ("echo edited", 5, "paused")
    c.set_task_status(first, "pending")

    # the reads the dashboard makes: some fields only, the index by rank, the count
    rows = c.task_fields([first, second, 999], ("name", "status", "attempt"))
    assert rows[0]["name"] == "one" and rows[0]["status"] == "pending" and rows[2] is None
    assert c.task_count("tb") == 2 and c.task_page(0, 0, desc=True, batch="tb") == [second]
    assert c.task_ids(status=["pending", "paused"], batch="tb") == [first, second]

    # batch pause and go, then deletion
    c.stop_batch("tb")
    assert c.batch("tb")["batch_paused"] is True
    c.go_batch("tb")
    assert c.batch("tb")["batch_paused"] is False
    assert c.delete_tasks([second])["deleted"] == [second]
    with pytest.raises(NotFound, match=f"no task {second}"):
        c.task(second)
    c.delete_batch("tb")
    with pytest.raises(NotFound):
        c.task(first)

    # every command left its event in the ledger, read through the client too
    last = c.last_event_id()
    assert c.read_events("0-0", block_ms=None, count=1000)[-1][0] == last
    assert c.events_before(None, 1)[0][0] == last


def test_typed_worker_commands_change_the_worker_view_and_refusals_come_back_as_their_error(procs):
    procs.server()
    c = Client()
    wid = c.register_worker("w-typed", 1, batch="wb")["worker_id"]
    assert c.worker_id("w-typed") == wid
    c.update_worker(wid, concurrency=3, prefetch=2)
    (w,) = [w for w in c.workers() if w["worker_id"] == wid]
    assert (w["name"], w["concurrency"], w["prefetch"], w["batch"]) == ("w-typed", 3, 2, "wb")
    with pytest.raises(Conflict, match="offline"):      # registered here, but no process sends heartbeats
        c.signal_worker(wid, CLEAN)
    c.delete_worker(wid)
    with pytest.raises(NotFound):
        c.delete_worker(wid)


def test_a_malformed_command_is_refused_by_the_client_naming_the_field_and_nothing_is_sent(redis_url, r):
    """No server runs here: the answers come from the client's own check, with the server's code and words."""
    c = Client(url=redis_url, timeout=2)
    with pytest.raises(BadInput, match=r"bad command task.submit: .*\$\.tasks\[1\]\.retry"):
        c.submit([{"command": "ok"}, {"command": "x", "retry": "often"}])
    with pytest.raises(BadInput, match=r"bad command worker.update: .*\$\.concurrency"):
        c.update_worker(1, concurrency=-1)
    with pytest.raises(BadInput, match="unknown field `colour`"):
        c.update_worker(1, colour="red")
    with pytest.raises(BadInput, match="unknown command"):
        c.command("task.explode", {})
    with pytest.raises(BadInput, match="no task given"):
        c.submit([])
    assert r.xlen(keys.INBOX) == 0


def test_a_submission_in_many_chunks_gives_every_id_in_order_and_a_retry_applies_it_once(procs, monkeypatch):
    procs.server()
    monkeypatch.setattr(client_module, "SUBMIT_CHUNK", 3)
    c = Client()
    specs = [{"command": f"echo {i}", "name": f"n{i}"} for i in range(10)]
    ids = c.submit(specs, idempotency_key="chunked")
    assert ids == list(range(ids[0], ids[0] + 10))
    assert [t["name"] for t in c.tasks(task_id=ids)] == [f"n{i}" for i in range(10)]
    assert c.submit(specs, idempotency_key="chunked") == ids      # the same key: applied once
    assert len(c.task_ids()) == 10
