"""The worker's disk spool: reports wait in order through any outage (a whole day), survive a restart, never duplicate."""

from __future__ import annotations

import time

import redis

from scitq.events import commands as c
from scitq.projections.state import State
from scitq.server.decide import Decider
from scitq.worker.spool import Spool


def test_a_day_without_redis_keeps_every_entry_in_order_across_a_restart(tmp_path, r, monkeypatch):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, decode_responses=True)
    clock = [time.time()]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    spool = Spool(tmp_path / "spool", dead)
    spool.start()
    for i in range(5000):
        clock[0] += 86400 / 5000          # a simulated day passes while entries pile up
        spool.append("scitq:test:out" if i % 2 else "scitq:test:facts", {"n": i})
    assert spool.backlog() == 5000
    deadline = time.monotonic() + 10
    while spool.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not spool.connected, "the shipper noticed Redis is away"
    spool.stop()                            # the worker process is restarted during the outage
    again = Spool(tmp_path / "spool", r)
    assert again.backlog() == 5000
    again.start()
    assert again.drain(timeout=30)
    again.stop()
    facts = [int(f["n"]) for _, f in r.xrange("scitq:test:facts")]
    outs = [int(f["n"]) for _, f in r.xrange("scitq:test:out")]
    assert facts == list(range(0, 5000, 2)) and outs == list(range(1, 5000, 2))
    assert not (tmp_path / "spool" / "spool.jsonl").stat().st_size, "the spool file is emptied once all is sent"


def test_entries_sent_twice_are_refused_by_redis_and_not_duplicated(tmp_path, r):
    spool = Spool(tmp_path / "s", r)
    spool.append("scitq:test:dup", {"n": 1})
    spool.append("scitq:test:dup", {"n": 2})
    spool.window[1] = spool.window[0]       # the same entry queued twice, as after a lost reply
    spool.start()
    assert spool.drain(timeout=10)
    spool.stop()
    assert [f["n"] for _, f in r.xrange("scitq:test:dup")] == ["1"]


def test_a_day_long_outage_of_the_whole_store_does_not_make_the_server_declare_workers_lost():
    state = State()
    d = Decider(state)
    d.now = 1000.0
    d.command("worker.register", c.RegisterWorker(name="w", concurrency=1))
    d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command="sleep 1d")]))
    d.dispatch()
    d.fact("w", "claimed", c.Claimed(task_id=1, attempt=1))
    d.fact("w", "started", c.Started(task_id=1, attempt=1, command="sleep 1d"))
    d.take()
    d.now += 86400                           # the server comes back after a day; the worker heartbeats at once
    d.worker_liveness({"w": True}, lost_after=600)
    d.now += 1
    d.worker_liveness({"w": True}, lost_after=600)
    events, _ = d.take()
    assert not [e for e in events if type(e).__name__ in ("WorkerLost", "TaskRequeued")]
    assert state.tasks[1].status == "running"


def test_an_entry_with_a_lone_surrogate_is_sent_escaped_and_the_entries_after_it_still_go(tmp_path, r):
    """A lone surrogate (an undecodable byte of a file name quoted in an error, decoded with surrogateescape)
    cannot be encoded as UTF-8: it used to kill the shipper, so nothing the worker reported after it reached
    the server. It is sent as its escape, and the entries after it go on, also after a restart of the spool."""
    spool = Spool(tmp_path / "s", r)
    spool.start()
    spool.append("scitq:test:sur", {"n": 1, "error": "cannot open data/\udcffx.fq"})
    spool.append("scitq:test:sur", {"n": 2})
    assert spool.drain(timeout=10)
    spool.stop()
    got = [f for _, f in r.xrange("scitq:test:sur")]
    assert [f["n"] for f in got] == ["1", "2"]
    assert got[0]["error"] == "cannot open data/\\udcffx.fq"
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, decode_responses=True)
    kept = Spool(tmp_path / "k", dead)                  # written to the file while Redis is away
    kept.append("scitq:test:sur2", {"n": 3, "error": "\udcfe"})
    kept.append("scitq:test:sur2", {"n": 4})
    kept.stop()
    again = Spool(tmp_path / "k", r)
    again.start()
    assert again.drain(timeout=10)
    again.stop()
    assert [(f["n"], f.get("error")) for _, f in r.xrange("scitq:test:sur2")] == [("3", "\\udcfe"), ("4", None)]
