"""Archive runs of the server: in a forked copy of it (its memory stays that of the live tasks), with a
snapshot taken as the archive grows by half, not at every run; a rebuild from an older snapshot is still
the whole ledger (real server, real Valkey, real `scitq events` processes)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from helpers import run_cli, wait_for

from scitq.api.client import Client
from scitq.errors import Conflict
from scitq.projections.archive import Archive, ArchiveCorrupt, ArchiveError, Manifest
from scitq.projections.ledger import fold_snapshot, snapshot_due
from scitq.projections.store import expected_views
from scitq.server.archiver import in_child

SCITQ = [sys.executable, "-m", "scitq.cli.main"]


def _cli(env, *args):
    return run_cli(*SCITQ, *args, env=env, timeout=120)


def _run_tasks(procs, n: int, started: list[bool]) -> None:
    c = Client()
    before = len(c.task_ids(status="succeeded", batch="snap"))
    c.submit([{"command": f"echo task {i}", "batch": "snap"} for i in range(n)])
    if not started:
        procs.worker("w1", concurrency=4, batch="snap")
        started.append(True)
    wait_for(lambda: len(c.task_ids(status="succeeded", batch="snap")) == before + n, timeout=60,
             what="every task succeeded")


def _archive(env) -> Archive:
    return Archive(str(Path(env["SCITQ_HOME"]) / "archive"))


def test_the_snapshot_of_a_server_run_archive_equals_one_folded_here_from_the_segments(procs, env, r):
    procs.server()
    _run_tasks(procs, 12, [])
    done = _cli(env, "events", "archive", "--keep", "5")
    assert done.returncode == 0, done.stderr
    arch = _archive(env)
    m = arch.manifest()
    assert len(m.snapshots) == 1 and m.snapshots[0].id == m.last_id
    # folded again here, from the segments alone
    here = fold_snapshot(arch, Manifest(segments=m.segments))
    assert expected_views(arch.read_snapshot(here)) == expected_views(arch.read_snapshot(m.snapshots[0]))
    assert here.sha256 == m.snapshots[0].sha256


def test_a_new_snapshot_waits_for_the_archive_to_grow_by_half_and_a_rebuild_from_an_older_one_is_whole(
        procs, env, r):
    procs.server()
    started: list[bool] = []
    _run_tasks(procs, 20, started)
    assert _cli(env, "events", "archive", "--keep", "5").returncode == 0
    arch = _archive(env)
    first = arch.manifest()
    assert len(first.snapshots) == 1 and not snapshot_due(first)

    # a little more history archived: no new snapshot
    _run_tasks(procs, 2, started)
    assert _cli(env, "events", "archive", "--keep", "5").returncode == 0
    m = arch.manifest()
    assert len(m.segments) == len(first.segments) + 1 and m.snapshots == first.snapshots
    fast = _cli(env, "events", "rebuild", "--verify")
    assert fast.returncode == 0 and "views equal the replay" in fast.stdout and "snapshot" in fast.stdout, fast.stdout

    # the archive grown by more than half: a new snapshot at its last entry
    _run_tasks(procs, 20, started)
    assert _cli(env, "events", "archive", "--keep", "5").returncode == 0
    m = arch.manifest()
    assert len(m.snapshots) == 2 and m.snapshots[-1].id == m.last_id
    assert "views equal the replay" in _cli(env, "events", "rebuild", "--verify").stdout


def _raise(exc):
    raise exc


def test_the_servers_archive_run_works_in_a_forked_copy_whose_result_and_errors_come_back_as_they_were():
    """`in_child` is what the server's archiver runs `archive_ledger` in (real fork, no Valkey needed)."""
    assert in_child(lambda: {"pid": os.getpid()})["pid"] != os.getpid()
    assert in_child(lambda: [1, "two", None]) == [1, "two", None]
    with pytest.raises(ArchiveCorrupt) as err:
        in_child(lambda: _raise(ArchiveCorrupt("archive segment s is corrupt", hint="h")))
    assert (err.value.message, err.value.hint) == ("archive segment s is corrupt", "h")
    with pytest.raises(Conflict, match="another archive run is in progress"):
        in_child(lambda: _raise(Conflict("another archive run is in progress")))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        in_child(lambda: 1 / 0)


def test_an_archive_run_that_hangs_in_its_forked_copy_is_killed_after_its_timeout_and_said_as_an_error(monkeypatch):
    """A copy that never answers (a lock held by a thread at the fork, a stuck filesystem) used to keep the
    archiver waiting for ever; now it is killed after `timeout` seconds and the run fails with one line."""
    forked = []
    real_fork = os.fork

    def fork():
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    with pytest.raises(ArchiveError, match="did not end within 0.5 s") as err:
        in_child(lambda: time.sleep(60), timeout=0.5)
    assert "SCITQ_ARCHIVE_TIMEOUT" in err.value.message
    with pytest.raises(ChildProcessError):       # the copy is killed and reaped, not left behind
        os.waitpid(forked[0], os.WNOHANG)
    assert in_child(lambda: 42, timeout=30) == 42
