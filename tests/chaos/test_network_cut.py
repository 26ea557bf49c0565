"""A worker cut from Redis: its running task goes on, output and reports wait on its disk, nothing is lost."""

from __future__ import annotations

import os
import time

import pytest

from helpers import CuttableProxy, wait_for
from scitq import keys
from scitq.lib import Server
from scitq.projections.check import check_ledger

OUTAGE = float(os.environ.get("SCITQ_OUTAGE_SECONDS", "60"))


@pytest.mark.xdist_group("outage-cut")
def test_a_worker_cut_from_redis_for_a_minute_keeps_running_and_replays_everything(procs, r, valkey, env):
    proxy = CuttableProxy(valkey.port)
    db = env["SCITQ_SERVER"].rsplit("/", 1)[1]
    via_proxy = f"redis://:{valkey.password}@127.0.0.1:{proxy.port}/{db}"
    try:
        procs.server()
        procs.worker("w-cut", concurrency=2, extra_env={"SCITQ_SERVER": via_proxy, "SCITQ_OFFLINE_AFTER": "2",
                                                       "SCITQ_HEARTBEAT_INTERVAL": "0.5"})
        s = Server()
        lines = int(OUTAGE) + 15
        t = s.task_create(f"for i in $(seq 1 {lines}); do echo line $i; sleep 1; done", shell=True)
        wait_for(lambda: len(r.xrange(keys.worker_output("w-cut", t["task_id"], 1))) >= 2, what="live output")
        proxy.cut()
        wait_for(lambda: s.workers()[0]["status"] == "offline", timeout=20, what="the worker to be seen offline")
        during = s.task_create("echo submitted-during-the-cut")
        time.sleep(OUTAGE)
        assert s.task_get(during["task_id"])["status"] == "pending", "no new task starts without confirmation"
        assert s.task_get(t["task_id"])["status"] == "running", "an offline worker keeps its running task"
        proxy.restore()
        wait_for(lambda: s.workers()[0]["status"] == "running", timeout=20, what="the worker to come back")
        s.join([t, during], retry=0)
        ex = s.executions(task_id=t["task_id"])
        assert len(ex) == 1 and ex[0]["status"] == "succeeded"
        assert ex[0]["output"] == "".join(f"line {i}\n" for i in range(1, lines + 1))
        assert check_ledger(r).ok
        kinds = [f["type"] for _, f in r.xrange(keys.EVENTS) if f.get("worker") == "w-cut"]
        assert "worker.offline" in kinds and "worker.online" in kinds and "worker.lost" not in kinds
    finally:
        proxy.close()
