"""Native tasks outliving their worker: a worker restarted after `kill -9` of its process group kills them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import wait_for
from scitq.lib import Server
from scitq.worker.orphans import ProcessRecords, boot_ticks

pytestmark = pytest.mark.xdist_group("chaos-restart")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def worker_in_own_group(procs, name: str) -> subprocess.Popen:
    """A worker leading its own process group, as under a service manager, so the test can kill the group."""
    fh = open(procs.tmp / f"worker-{name}.log", "ab")
    p = subprocess.Popen([sys.executable, "-m", "scitq.cli.main", "worker", "-n", name, "-C", "1"], env=procs.env,
                         stdout=fh, stderr=fh, stdin=subprocess.DEVNULL, start_new_session=True)
    procs.procs.append(p)
    return p


def test_a_worker_restarted_after_kill_9_of_its_group_kills_its_orphaned_task_before_attempt_2(procs, tmp_path,
                                                                                               fast_env):
    procs.server()
    w = worker_in_own_group(procs, "w-orphan")
    s = Server()
    pids = tmp_path / "pids"
    t = s.task_create(f"echo $$ >> {pids}; exec sleep 300", shell=True)
    wait_for(lambda: pids.exists() and pids.read_text().strip(), what="attempt 1 to start")
    first = int(pids.read_text().split()[0])
    try:
        os.killpg(w.pid, signal.SIGKILL)
        w.wait()
        assert alive(first), "the task runs in its own session: killing the worker's group leaves it running"
        worker_in_own_group(procs, "w-orphan")
        wait_for(lambda: not alive(first), timeout=30, what="the orphaned attempt to be killed")
        wait_for(lambda: len(pids.read_text().split()) == 2, timeout=60, what="attempt 2 to start")
        assert s.task_get(t["task_id"])["attempt"] == 2
    finally:
        for pid in map(int, pids.read_text().split()):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_recorded_group_that_is_no_longer_ours_is_left_alone(tmp_path):
    records = ProcessRecords(tmp_path / "procs")
    other = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        records.record(7, 1, other.pid)
        data = (tmp_path / "procs" / "7-1.json").read_text()
        (tmp_path / "procs" / "7-1.json").write_text(data.replace('"start": ', '"start": 1'))   # started later
        assert records.kill_leftovers() == []
        assert other.poll() is None and not list((tmp_path / "procs").iterdir())
        records.record(8, 1, other.pid)
        assert records.kill_leftovers() == [(8, 1)]
        assert other.wait(10) == -signal.SIGKILL
    finally:
        other.kill()
        other.wait()


def test_a_group_recorded_by_the_boot_ticks_around_its_start_is_killed_only_if_its_leader_started_within_them(
        tmp_path):
    """The native runner records no /proc read but the interval of boot clock ticks around the start."""
    records = ProcessRecords(tmp_path / "procs")
    before = boot_ticks()
    ours = subprocess.Popen(["sleep", "30"], start_new_session=True)
    after = boot_ticks()
    try:
        records.record(7, 1, ours.pid, started=(after + 1, after + 100))   # a leader started before the interval
        assert records.kill_leftovers() == []
        assert ours.poll() is None and not list((tmp_path / "procs").iterdir())
        records.record(8, 1, ours.pid, started=(before, after))
        assert records.kill_leftovers() == [(8, 1)]
        assert ours.wait(10) == -signal.SIGKILL
    finally:
        ours.kill()
        ours.wait()
