"""The ledger archive: old entries go to compressed, checked segments (a local directory here; S3 in
tests/io/test_ledger_archive_s3.py), the live ledger is trimmed, and every reader sees archive + tail as one
ledger (real server, real Valkey, real `scitq events` processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli, wait_for

from scitq import keys
from scitq.api.client import Client
from scitq.events.codec import without_empty_ids
from scitq.projections.archive import Archive, ArchiveCorrupt
from scitq.projections.ledger import whole_ledger
from scitq.projections.store import read_ledger

SCITQ = [sys.executable, "-m", "scitq.cli.main"]


def _cli(env, *args, timeout=120):
    return run_cli(*SCITQ, *args, env=env, timeout=timeout)


def _run_tasks(procs, n: int, batch: str = "arch") -> list[int]:
    c = Client()
    ids = c.submit([{"command": f"echo task {i}", "batch": batch} for i in range(n)])
    procs.worker("w1", concurrency=4, batch=batch)
    wait_for(lambda: len(c.task_ids(status="succeeded", batch=batch)) == n, timeout=60, what="every task succeeded")
    return ids


def _all(r) -> list[tuple[str, dict]]:
    return list(whole_ledger(r))


def _shown(entries) -> list[tuple[str, dict]]:
    """Ledger entries as the client gives them (without the ids an event lacks)."""
    return [(eid, without_empty_ids(f)) for eid, f in entries]


def test_archiving_trims_the_live_ledger_and_history_check_and_rebuild_read_archive_and_tail_as_one(procs, env, r):
    procs.server()
    ids = _run_tasks(procs, 20)
    before = _shown(read_ledger(r))
    history = _cli(env, "events", "history", "--task", str(ids[0]))
    assert history.returncode == 0, history.stderr

    # When the ledger is archived keeping 10 live entries
    done = _cli(env, "events", "archive", "--keep", "10", "--json")
    assert done.returncode == 0, done.stderr
    rep = json.loads(done.stdout)

    # Then the archive holds every older entry, checked, and the live ledger only the tail
    arch = Archive(str(Path(env["SCITQ_HOME"]) / "archive"))
    m = arch.manifest()
    assert rep["events"] == m.events > 0 and m.segments and m.snapshots
    live = list(read_ledger(r))
    assert len(live) < len(before) and live[0][0] == m.last_id          # the last archived entry stays live
    assert r.hget(keys.ARCHIVE, "trimmed_below") == m.last_id
    # and archive + tail read as one ledger: every entry once, in order
    assert [e for e, _ in _all(r)][:len(before)] == [e for e, _ in before]
    assert _cli(env, "events", "history", "--task", str(ids[0])).stdout == history.stdout
    # the dashboard's reads by id range (a task's history from its creation) reach into the archive too
    c = Client()
    assert c.events("-", "+", 5) == before[:5]
    assert c.events(f"({before[2][0]}", before[6][0]) == before[3:7]
    assert c.events(before[3][0], f"({before[6][0]}") == before[3:6]
    # and the dashboard's event list pages back from the live tail into the archive
    newest_first = list(reversed(_shown(_all(r))))
    assert c.events_before(None, len(newest_first)) == newest_first
    assert c.events_before(before[9][0], 4) == [before[8], before[7], before[6], before[5]]
    check = _cli(env, "events", "check")
    assert check.returncode == 0 and "problems=0" in check.stdout, check.stdout + check.stderr
    assert f"events={len(_all(r))} " in check.stdout

    # rebuild --verify from the latest snapshot, and from zero, both find the views equal
    fast = _cli(env, "events", "rebuild", "--verify")
    assert fast.returncode == 0 and "views equal the replay" in fast.stdout and "snapshot" in fast.stdout, fast.stdout
    full = _cli(env, "events", "rebuild", "--verify", "--from-zero")
    assert full.returncode == 0 and "views equal the replay" in full.stdout and "snapshot" not in full.stdout


def test_a_server_restarted_after_archiving_starts_from_the_snapshot_and_goes_on_numbering_tasks(procs, env, r):
    server = procs.server()
    ids = _run_tasks(procs, 10)
    assert _cli(env, "events", "archive", "--keep", "3").returncode == 0
    server.terminate()
    server.wait(15)
    r.delete(keys.SERVER_ALIVE)
    procs.server()
    c = Client()
    more = c.submit([{"command": "echo after", "batch": "arch"}])
    assert more[0] == ids[-1] + 1
    wait_for(lambda: c.task(more[0])["status"] == "succeeded", timeout=60, what="the new task ran")
    assert "views equal the replay" in _cli(env, "events", "rebuild", "--verify", "--from-zero").stdout


def test_a_corrupt_segment_is_named_in_one_line_and_nothing_is_trimmed(procs, env, r):
    procs.server()
    ids = _run_tasks(procs, 6)
    assert _cli(env, "events", "archive", "--keep", "3", "--no-trim").returncode == 0
    length = r.xlen(keys.EVENTS)
    arch = Archive(str(Path(env["SCITQ_HOME"]) / "archive"))
    seg = arch.manifest().segments[0]
    path = Path(env["SCITQ_HOME"]) / "archive" / seg.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    again = _cli(env, "events", "archive", "--keep", "3")
    assert again.returncode != 0
    assert f"archive segment {seg.name} is corrupt" in again.stderr and "Traceback" not in again.stderr
    assert len([line for line in again.stderr.splitlines() if line.startswith("scitq")]) == 1, again.stderr
    assert r.xlen(keys.EVENTS) == length and not r.hget(keys.ARCHIVE, "trimmed_below")

    # readers say so too (one line), rather than show a ledger with a hole
    history = _cli(env, "events", "history", "--task", str(ids[0]))
    assert history.returncode != 0 and "is corrupt" in history.stderr and "Traceback" not in history.stderr


def test_an_archive_killed_mid_run_loses_nothing_and_the_next_run_completes_it(procs, env, r, tmp_path):
    procs.server()
    c = Client()
    c.submit([{"command": "true", "batch": "big"} for _ in range(3000)])
    procs.stop_all()
    r.delete(keys.SERVER_ALIVE, keys.SERVER_LOCK)
    before = [e for e, _ in read_ledger(r)]
    archive_dir = Path(env["SCITQ_HOME"]) / "archive"

    # Given an archive run (no server: the command runs it itself) writing segments of 100 entries
    run_env = {**env, "SCITQ_ARCHIVE_SEGMENT": "100"}
    p = subprocess.Popen([*SCITQ, "events", "archive", "--keep", "10"], env=run_env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # When it is killed (SIGKILL) once a few segments are written
    wait_for(lambda: len(list((archive_dir / "segments").glob("*.jsonl.*"))) >= 3 if (archive_dir / "segments").exists()
             else False, timeout=60, interval=0.01, what="segments written")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()

    # Then archive + live ledger still hold every entry exactly once
    assert [e for e, _ in _all(r)] == before
    # and once the dead run's lock is gone (it expires by itself), the next run completes the archive
    r.delete(keys.ARCHIVE_LOCK)
    done = _cli(run_env, "events", "archive", "--keep", "10")
    assert done.returncode == 0, done.stderr
    assert r.xlen(keys.EVENTS) <= 11
    assert [e for e, _ in _all(r)] == before
    assert "views equal the replay" in _cli(env, "events", "rebuild", "--verify", "--from-zero").stdout


def test_the_server_archives_by_itself_when_the_live_ledger_passes_its_size_policy(procs, env, r):
    procs.env.update({"SCITQ_ARCHIVE_KEEP": "20", "SCITQ_ARCHIVE_SEGMENT": "20", "SCITQ_ARCHIVE_INTERVAL": "0.5"})
    procs.server()
    _run_tasks(procs, 10)
    wait_for(lambda: r.hget(keys.ARCHIVE, "trimmed_below"), timeout=60, what="the server's archive run")
    assert r.xlen(keys.EVENTS) <= 20 + 20 + 5
    check = _cli(env, "events", "check")
    assert "problems=0" in check.stdout, check.stdout


def test_bad_archive_options_are_refused_in_one_line_and_change_nothing(procs, env, r):
    procs.server()
    length = r.xlen(keys.EVENTS)
    bad = _cli(env, "events", "archive", "--keep", "0")
    assert bad.returncode == 2 and "--keep must be at least 1" in bad.stderr and "Traceback" not in bad.stderr
    assert r.xlen(keys.EVENTS) == length and not r.exists(keys.ARCHIVE)


def test_a_missing_segment_is_reported_not_skipped(r, tmp_path):
    """Archive + tail with a segment file gone: the reader stops with ArchiveCorrupt naming it."""
    for i in range(30):
        r.xadd(keys.EVENTS, {"type": "batch.created", "v": "1", "batch": f"b{i}", "data": "{}"})
    r.set(keys.CHECKPOINT, r.xrevrange(keys.EVENTS, count=1)[0][0])
    from scitq.projections.ledger import archive_ledger
    arch = Archive(str(tmp_path / "a"))
    rep = archive_ledger(r, arch, keep=5, segment=10, snapshot=False)
    assert rep.segments == 3 and rep.trimmed > 0
    (tmp_path / "a" / arch.manifest().segments[1].name).unlink()
    with pytest.raises(ArchiveCorrupt, match="is missing"):
        _all(r)


def test_a_reader_in_the_middle_of_the_ledger_while_an_archive_run_trims_it_still_reads_every_entry_once(
        r, tmp_path, monkeypatch):
    """Given a reader that has read part of the live ledger (pages of 4), when an archive run trims what it
    has not read yet, then it goes on from the archive and gives every entry once, in order."""
    from scitq.projections import ledger
    from scitq.projections.ledger import archive_ledger
    monkeypatch.setattr(ledger, "PAGE", 4)
    ids = [r.xadd(keys.EVENTS, {"type": "batch.created", "v": "1", "batch": f"b{i}", "data": "{}"}) for i in range(30)]
    r.set(keys.CHECKPOINT, ids[-1])
    reader = whole_ledger(r)
    got = [next(reader)[0] for _ in range(5)]
    archive_ledger(r, Archive(str(tmp_path / "a")), keep=3, segment=7, snapshot=False)
    assert r.xlen(keys.EVENTS) == 4
    got += [eid for eid, _ in reader]
    assert got == ids


SCALING = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"


def test_the_archive_command_of_the_scaling_doc_works_as_written(procs, env, r, tmp_path):
    import re
    block = dict(re.findall(r"```sh ([\w-]+)\n(.*?)```", SCALING.read_text(), re.S))["archive-now"]
    procs.server()
    Client().submit([{"command": "true", "batch": "doc"} for _ in range(1500)])
    before = [e for e, _ in read_ledger(r)]
    res = subprocess.run(["bash", "-e", "-c", block], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and "archived" in res.stdout, res.stdout + res.stderr
    assert 1000 <= r.xlen(keys.EVENTS) < len(before)
    assert [e for e, _ in _all(r)][:len(before)] == before


def test_an_archive_that_cannot_be_written_is_one_line_and_nothing_is_trimmed(procs, env, r, tmp_path):
    blocked = tmp_path / "arch"
    blocked.mkdir()
    (blocked / "segments").write_text("a file where the segments directory should be")
    procs.env["SCITQ_ARCHIVE"] = str(blocked)
    procs.server()
    Client().submit([{"command": "true", "batch": "x"} for _ in range(20)])
    length = r.xlen(keys.EVENTS)
    res = _cli({**env, "SCITQ_ARCHIVE": str(blocked)}, "events", "archive", "--keep", "2")
    assert res.returncode == 1 and "cannot write archive file" in res.stderr and "Traceback" not in res.stderr
    assert r.xlen(keys.EVENTS) == length and not r.hget(keys.ARCHIVE, "trimmed_below")


def test_a_run_that_lost_its_lock_to_another_stops_and_trims_nothing(r, tmp_path):
    """Given a run whose lock expired and was taken by another run (it was too slow), when it goes on, then
    it stops with a Conflict before its next write and the live ledger is untouched."""
    from scitq.errors import Conflict
    from scitq.projections.ledger import archive_ledger
    for i in range(30):
        r.xadd(keys.EVENTS, {"type": "batch.created", "v": "1", "batch": f"b{i}", "data": "{}"})
    r.set(keys.CHECKPOINT, r.xrevrange(keys.EVENTS, count=1)[0][0])
    with pytest.raises(Conflict, match="lost to another run"):
        archive_ledger(r, Archive(str(tmp_path / "a")), keep=5, segment=10, snapshot=False,
                       on_segment=lambda n: r.set(keys.ARCHIVE_LOCK, "another run"))
    assert r.xlen(keys.EVENTS) == 30 and not r.hget(keys.ARCHIVE, "trimmed_below")
    assert r.get(keys.ARCHIVE_LOCK) == "another run"
