"""A worker cut from Redis says so once, then spaced summaries of what it keeps on disk, not a line a second."""

from __future__ import annotations

import logging
import re
import time

import pytest

from helpers import Procs, ValkeyProc, wait_for
from scitq import keys
from scitq.lib import Server
from scitq.worker.outage import OutageLog


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_day_without_redis_logs_a_few_hundred_lines_not_one_a_second(caplog):
    """The worker's loop fails once a second for a day: one warning, summaries spaced from 10 s to
    5 minutes (each with the spool's entries and bytes), then one line when Redis is back."""
    clock = _Clock()
    spooled = [0]
    outage = OutageLog("w1", lambda: (spooled[0], spooled[0] * 120), first=10, every=300, clock=clock)
    caplog.set_level(logging.INFO, logger="scitq.worker")
    for second in range(86_400):
        clock.now = float(second)
        spooled[0] = second // 10
        outage.failed(ConnectionError("Connection refused"))
    clock.now = 86_400.0
    outage.recovered()
    lines = [rec.getMessage() for rec in caplog.records]
    assert sum("running tasks go on" in line for line in lines) == 1
    summaries = [line for line in lines if "unreachable for" in line]
    assert 280 <= len(summaries) <= 300, len(summaries)
    assert "unreachable for 10s" in summaries[0] and "entries (" in summaries[0]
    assert re.search(r"unreachable for 23h5\dm .* 86\d\d entries \(1\.0 MB\) spooled", summaries[-1]), summaries[-1]
    assert lines[-1].startswith("worker w1: Redis is back after 24h00m; 8639 spooled entries")


def test_after_redis_is_back_the_next_outage_is_announced_again(caplog):
    clock = _Clock()
    outage = OutageLog("w1", lambda: (0, 0), first=1, every=2, clock=clock)
    caplog.set_level(logging.INFO, logger="scitq.worker")
    outage.recovered()                      # no outage: nothing to say
    outage.failed(OSError("down"))
    clock.now = 5
    outage.recovered()
    outage.recovered()
    outage.failed(OSError("down again"))
    lines = [rec.getMessage() for rec in caplog.records]
    assert [line.split(";")[0] for line in lines] == [
        "worker w1: Redis unreachable (down)", "worker w1: Redis is back after 5s",
        "worker w1: Redis unreachable (down again)"]


@pytest.fixture
def own_valkey(tmp_path, env, monkeypatch):
    """A Valkey of this test alone, so it can be stopped and started again."""
    v = ValkeyProc(tmp_path / "own-valkey")
    v.start()
    monkeypatch.setenv("SCITQ_SERVER", v.url)
    env["SCITQ_SERVER"] = v.url
    yield v
    v.stop()


@pytest.mark.xdist_group("outage")
def test_a_worker_process_cut_from_redis_warns_once_then_summarises_what_it_spools(own_valkey, env, tmp_path):
    """Given a worker running a task that writes output, when Valkey is stopped for several seconds
    (summaries every 1 then 2 s in this test), then the worker log has one warning, a few summaries
    naming the spooled entries and bytes, one line when Redis is back, and the task ends well."""
    procs = Procs({**env, "SCITQ_OUTAGE_LOG_FIRST": "1", "SCITQ_OUTAGE_LOG_INTERVAL": "2"}, tmp_path)
    try:
        procs.server()
        procs.worker("w-log", concurrency=1)
        s = Server(own_valkey.url)
        t = s.task_create("for i in $(seq 1 40); do echo line $i; sleep 0.25; done", shell=True)["task_id"]
        r = own_valkey_client(own_valkey)
        wait_for(lambda: r.xlen(keys.worker_output("w-log", t, 1)) >= 1, what="some live output")
        own_valkey.stop()
        down = time.monotonic()
        log = tmp_path / "worker-w-log.log"
        wait_for(lambda: log.read_text().count("unreachable for") >= 2, timeout=60, what="two summaries")
        time.sleep(3)
        own_valkey.start()
        outage = time.monotonic() - down
        wait_for(lambda: "Redis is back after" in log.read_text(), timeout=30, what="the worker to reconnect")
        wait_for(lambda: s.task_get(t)["status"] == "succeeded", timeout=60, what="the task to succeed")
        assert s.executions(task_id=t)[-1]["output"] == "".join(f"line {i}\n" for i in range(1, 41))
    finally:
        procs.stop_all()
    text = log.read_text()
    assert text.count("running tasks go on") == 1, text
    summaries = [line for line in text.splitlines() if "unreachable for" in line]
    assert 2 <= len(summaries) <= outage + 1, text
    assert all(re.search(r"; \d+ entries \(\d+(\.\d)? k?B\) spooled on disk$", line) for line in summaries), summaries
    assert text.count("Redis is back after") == 1, text


def own_valkey_client(v: ValkeyProc):
    import redis
    return redis.Redis.from_url(v.url, decode_responses=True)
