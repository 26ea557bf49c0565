"""The spool under a full disk and a long backlog: it never wedges a task, and its memory stays bounded."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
import threading
import time

import pytest
import redis

from helpers import wait_for
from scitq.lib import Server
from scitq.worker.spool import Spool


def spawn_worker(procs, name: str) -> tuple[subprocess.Popen, list[str]]:
    """A worker whose log goes to a pipe (a pipe is not limited by RLIMIT_FSIZE, files are)."""
    p = subprocess.Popen([sys.executable, "-m", "scitq.cli.main", "worker", "-n", name, "-C", "1"],
                         env=procs.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         text=True)
    procs.procs.append(p)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(p.stdout.readline, "")), daemon=True).start()
    return p, lines


def test_a_full_disk_neither_wedges_a_task_nor_stops_the_worker_and_says_so_once(procs):
    procs.server()
    worker, log = spawn_worker(procs, "w1")
    s = Server()
    first = s.task_create("echo before")
    wait_for(lambda: s.task_get(first["task_id"])["status"] == "succeeded", what="a first task")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.prlimit(worker.pid, resource.RLIMIT_FSIZE, (0, hard))    # the disk is full for the worker now
    try:
        ids = [s.task_create(f"echo full-{i}")["task_id"] for i in range(4)]
        for i, t in enumerate(ids):
            wait_for(lambda: s.task_get(t)["status"] in ("succeeded", "failed"), timeout=60, what=f"task {t}")
            ex = s.executions(task_id=t)[-1]
            assert (ex["status"], ex["output"]) == ("succeeded", f"full-{i}\n")
        warnings = [line for line in log if "spool: cannot write" in line]
        assert len(warnings) == 1, log
    finally:
        resource.prlimit(worker.pid, resource.RLIMIT_FSIZE, (soft, hard))   # space is back
    time.sleep(1.5)                                                        # past the first back-off
    last = s.task_create("echo after")
    wait_for(lambda: s.task_get(last["task_id"])["status"] == "succeeded", what="a task once space is back")
    wait_for(lambda: any("takes entries again" in line for line in log), what="the spool to say the disk is back")
    assert worker.poll() is None


def test_entries_the_disk_refuses_are_kept_in_memory_and_sent_in_order_after_the_file_ones(tmp_path, r,
                                                                                          monkeypatch):
    """The disk's refusal is simulated (ENOSPC from pwrite) to check the order; the real one is RLIMIT_FSIZE above."""
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, decode_responses=True)
    spool = Spool(tmp_path / "s", dead)
    spool.append("scitq:test:o", {"n": 0})
    real_pwrite = os.pwrite
    full = [True]

    def pwrite(fd, data, pos):
        if fd == spool.fd and full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, pos)

    monkeypatch.setattr(os, "pwrite", pwrite)
    for i in range(1, 4):
        spool.append("scitq:test:o", {"n": i})           # never raises
    assert len(spool.unwritten) == 3 and spool.backlog() == 4
    full[0] = False
    with spool.cond:                                     # the back-off has passed: the shipper tries again
        spool.disk_retry_at = 0
        spool._retry_disk()
    spool.append("scitq:test:o", {"n": 4})
    monkeypatch.undo()
    assert not spool.unwritten, "the entries kept in memory went to the file first, in order"
    spool.stop()
    again = Spool(tmp_path / "s", r)
    again.start()
    assert again.drain(timeout=10)
    again.stop()
    assert [int(f["n"]) for _, f in r.xrange("scitq:test:o")] == [0, 1, 2, 3, 4]


def test_a_long_backlog_waits_on_disk_and_only_a_bounded_window_is_kept_in_memory(tmp_path, r):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, decode_responses=True)
    limit = 64 * 1024
    spool = Spool(tmp_path / "s", dead, memory=limit)
    text = "x" * 200
    for i in range(20_000):                                  # about 5 MB of output while Redis is away
        spool.append("scitq:test:big", {"n": i, "text": text})
    assert spool.backlog() == 20_000
    assert spool.in_memory() <= limit + 1024, spool.in_memory()
    spool.stop()
    again = Spool(tmp_path / "s", r, memory=limit)
    assert again.in_memory() <= limit + 1024 and again.backlog() == 20_000
    again.start()
    peak = 0
    while not again.drain(timeout=0.01):
        peak = max(peak, again.in_memory())
    again.stop()
    assert peak <= limit + 1024
    assert [int(f["n"]) for _, f in r.xrange("scitq:test:big")] == list(range(20_000))


def test_every_fsync_mode_keeps_every_entry_across_a_restart(tmp_path, r):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, decode_responses=True)
    for mode in ("entry", "batch", "none"):
        spool = Spool(tmp_path / mode, dead, fsync=mode)
        for i in range(50):
            spool.append(f"scitq:test:{mode}", {"n": i})
        spool.stop()
        again = Spool(tmp_path / mode, r, fsync=mode)
        again.start()
        assert again.drain(timeout=10)
        again.stop()
        assert r.xlen(f"scitq:test:{mode}") == 50


def test_an_unknown_fsync_mode_is_refused_with_the_accepted_ones_named(tmp_path, r):
    with pytest.raises(ValueError, match="entry, batch, none"):
        Spool(tmp_path / "s", r, fsync="sometimes")
