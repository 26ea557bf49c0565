"""The primary Valkey killed with SIGKILL while a server, two workers and a submitter run against a primary,
a replica and three Sentinels: the Sentinels promote the replica, everybody follows it by themselves, and no
acknowledged submission is lost."""

from __future__ import annotations

import collections
import threading
import time

import pytest
import redis

from helpers import wait_for
from scitq import keys
from scitq.connection import connect
from scitq.lib import Server
from scitq.errors import Unreachable
from scitq.projections.check import check_ledger
from scitq.tui.source import Source
from sentinel_cluster import SentinelCluster

pytestmark = pytest.mark.xdist_group("chaos-sentinel")

RESUME_LIMIT = 30.0   # seconds: the server and the workers follow the promoted replica within this


@pytest.fixture
def cluster(tmp_path):
    c = SentinelCluster(tmp_path / "cluster", down_after_ms=1000)
    c.start()
    yield c
    c.stop()


def _ledger_ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def test_killing_the_primary_loses_no_acknowledged_submission_and_everyone_follows_the_promoted_replica(
        cluster, procs, env, monkeypatch):
    for k, v in {"SCITQ_SERVER": cluster.url, "SCITQ_WAIT_TIMEOUT": "1"}.items():
        monkeypatch.setenv(k, v)
        env[k] = v
    r = connect(cluster.url, timeout=5)
    procs.spawn("server", "--redis", cluster.url, log="server.log")
    wait_for(lambda: r.exists(keys.SERVER_ALIVE), timeout=30, what="the server to start")
    workers = ("w-a", "w-b")
    for name in workers:
        procs.worker(name, concurrency=3)

    s = Server(asynchronous=False, put_timeout=2)
    dashboard = Source(cluster.url)   # every read of the dashboard goes through it
    acked: list[int] = []
    stop = threading.Event()

    def submit() -> None:
        i = 0
        while not stop.is_set():
            # answered only once a replica holds it; the client retries with the same idempotency key
            # through the failover and the `not acknowledged` answers while no replica is there
            acked.extend(s.task_create_many([{"command": f"echo out-{i + k}", "shell": True} for k in range(3)]))
            i += 3
            time.sleep(0.05)

    th = threading.Thread(target=submit, daemon=True)
    th.start()
    wait_for(lambda: len(acked) >= 30, timeout=60, what="submissions before the kill")
    wait_for(lambda: all(r.hget(keys.worker_stats(w), "last_contact") for w in workers)
             and {"succeeded"} <= set(s.task_status(acked[:3])), timeout=60, what="the workers to run tasks")
    before = len(acked)
    assert len(dashboard.workers()) == 2   # its connections go to the primary about to die

    killed_at = time.time()
    old = cluster.kill_primary()
    wait_for(lambda: cluster.primary_port() != old, timeout=RESUME_LIMIT, what="the Sentinels to promote the replica")
    promoted_in = time.time() - killed_at

    def server_resumed() -> bool:
        try:   # this reader follows the failover too: right after it, a Sentinel may still say "down"
            last = r.xrevrange(keys.EVENTS, count=1)
        except redis.ConnectionError:
            return False
        return bool(last) and _ledger_ms(last[0][0]) > killed_at * 1000

    def workers_resumed() -> bool:
        try:
            return all(float(r.hget(keys.worker_stats(w), "last_contact") or 0) > killed_at for w in workers)
        except redis.ConnectionError:
            return False

    wait_for(server_resumed, timeout=RESUME_LIMIT, interval=0.05, what="the server to write on the new primary")
    server_in = time.time() - killed_at
    wait_for(workers_resumed, timeout=RESUME_LIMIT, interval=0.05, what="the workers to report to the new primary")
    workers_in = time.time() - killed_at

    def dashboard_resumed() -> bool:
        try:   # the dashboard shows its banner on Unreachable and reads again
            return _ledger_ms(dashboard.last_event_id()) > killed_at * 1000 and len(dashboard.workers()) == 2
        except Unreachable:
            return False

    wait_for(dashboard_resumed, timeout=RESUME_LIMIT, interval=0.05, what="the dashboard to read the new primary")
    dashboard_in = time.time() - killed_at

    # the old primary comes back (as an operator restarts it): a replica of the new one, so writes are
    # acknowledged again
    cluster.restart_node(old, replica_of=cluster.primary_port())
    wait_for(lambda: len(acked) >= before + 30, timeout=60, what="submissions acknowledged after the failover")
    stop.set()
    th.join(60)
    assert not th.is_alive()

    wait_for(lambda: all(st == "succeeded" for st in s.task_status(acked)), timeout=120,
             what="every acknowledged task to succeed")
    in_ledger = {f["task"] for _, f in r.xrange(keys.EVENTS) if f["type"] == "task.submitted"}
    assert {str(i) for i in acked} <= in_ledger, "every acknowledged submission is in the ledger"
    succeeded = collections.Counter(f["task"] for _, f in r.xrange(keys.EVENTS) if f["type"] == "task.succeeded")
    assert all(succeeded[str(i)] == 1 for i in acked), "each acknowledged task succeeded once"
    rep = check_ledger(r)
    assert rep.ok, rep.problems[:10]
    assert max(server_in, workers_in, dashboard_in) < RESUME_LIMIT
    print(f"sentinel failover (kill -9 of the primary): replica promoted in {promoted_in:.1f}s, server "
          f"writing again after {server_in:.1f}s, workers after {workers_in:.1f}s, dashboard reads after "
          f"{dashboard_in:.1f}s; {len(acked)} acknowledged "
          f"tasks ({before} before the kill), {rep.summary(expected_tasks=len(acked))}")
