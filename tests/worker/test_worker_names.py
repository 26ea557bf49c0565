"""One live worker per name: a second incarnation is refused in one line, a restart after kill -9 is not."""

from __future__ import annotations

import signal

import pytest

from helpers import wait_for
from scitq import keys
from scitq.lib import Server

pytestmark = pytest.mark.xdist_group("worker-names")


def refused(p, log) -> str:
    assert p.wait(60) == 4, "a conflict exits with code 4"
    lines = [line for line in log.read_text().splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in log.read_text(), log.read_text()
    return lines[0]


def runs_a_task(s: Server, worker: str) -> None:
    t = s.task_create("echo hi")
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "succeeded", timeout=60, what="a task to run")
    assert s.executions(task_id=t["task_id"])[-1]["worker_id"] == s.client.worker_id(worker)


def test_a_second_worker_with_a_live_name_on_another_machine_is_refused_and_the_first_goes_on(procs, tmp_path):
    """Another machine is simulated by another SCITQ_HOME (the name's owner is host and home)."""
    procs.server()
    procs.worker("twin")
    s = Server()
    runs_a_task(s, "twin")
    second = procs.spawn("worker", "-n", "twin", log="twin-2.log", extra_env={"SCITQ_HOME": str(tmp_path / "m2")})
    line = refused(second, tmp_path / "twin-2.log")
    assert "worker name 'twin' is in use by a live worker on" in line and "another name (-n)" in line
    runs_a_task(s, "twin")
    assert len(s.client.workers()) == 1


def test_a_second_worker_with_the_same_name_and_home_is_refused_by_the_local_lock(procs, tmp_path):
    procs.server()
    procs.worker("solo")
    s = Server()
    runs_a_task(s, "solo")
    second = procs.spawn("worker", "-n", "solo", log="solo-2.log")
    line = refused(second, tmp_path / "solo-2.log")
    assert "worker 'solo' already runs on this machine (pid" in line
    runs_a_task(s, "solo")


def test_a_worker_restarted_after_kill_9_on_the_same_home_starts_without_waiting_for_its_alive_key(procs, r):
    procs.env["SCITQ_OFFLINE_AFTER"] = "600"       # the dead worker's alive key would outlive this test
    procs.server()
    w = procs.worker("phoenix")
    s = Server()
    runs_a_task(s, "phoenix")
    w.send_signal(signal.SIGKILL)
    w.wait()
    assert r.ttl(keys.worker_alive("phoenix")) > 0, "the killed worker's alive key is still there"
    procs.worker("phoenix")
    runs_a_task(s, "phoenix")


def test_a_killed_workers_name_is_free_for_another_machine_once_its_alive_key_expired(procs, r, tmp_path):
    """The wait for the key's TTL is shortened with PEXPIRE (the key expiring is what the wait is for)."""
    procs.env["SCITQ_OFFLINE_AFTER"] = "600"
    procs.server()
    w = procs.worker("nomad")
    s = Server()
    runs_a_task(s, "nomad")
    w.send_signal(signal.SIGKILL)
    w.wait()
    other = {"SCITQ_HOME": str(tmp_path / "m2")}
    early = procs.spawn("worker", "-n", "nomad", log="nomad-early.log", extra_env=other)
    assert "is in use by a live worker" in refused(early, tmp_path / "nomad-early.log")
    r.pexpire(keys.worker_alive("nomad"), 1)          # the TTL runs out
    wait_for(lambda: not r.exists(keys.worker_alive("nomad")), what="the alive key to expire")
    procs.spawn("worker", "-n", "nomad", log="nomad-2.log", extra_env=other)
    runs_a_task(s, "nomad")
