"""Packed outputs: once the worker's final report is in, an attempt's output chunks become one compressed
value (or an archive file past a size), and every reader sees the same output as before (real server,
real worker, real Valkey)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from helpers import run_cli, wait_for

from scitq import keys
from scitq.api.client import Client
from scitq.lib import Server

SCITQ = [sys.executable, "-m", "scitq.cli.main"]
SCRIPT = "for i in 1 2 3; do echo out $i; echo err $i >&2; sleep 0.6; done; echo end"


def _ran(procs, command: str, batch: str = "pk") -> tuple[Client, int]:
    c = Client()
    (tid,) = c.submit([{"command": f"sh -c {shlex.quote(command)}", "batch": batch}])
    if not any(p.args[-1] == batch for p in procs.procs if isinstance(p.args, list)):
        procs.worker(f"w-{batch}", concurrency=2, batch=batch)
    wait_for(lambda: c.task(tid)["status"] in ("succeeded", "failed"), timeout=60, what="the task ended")
    return c, tid


def test_an_ended_attempts_output_is_packed_and_reads_the_same_everywhere(procs, env, r):
    procs.server()
    c, tid = _ran(procs, SCRIPT)
    stream = c.output_streams([(tid, 1)])[0]     # the live stream the worker wrote
    wait_for(lambda: r.exists(keys.output_packed(tid, 1)) and not r.exists(stream), what="the output packed")
    out, err = c.output_text(tid, 1)
    assert out == "out 1\nout 2\nout 3\nend\n" and err == "err 1\nerr 2\nerr 3\n"

    # chunk reads keep their ids: paging with `since`, tails, and following from any entry
    chunks = c.output(tid, 1)
    assert len(chunks) >= 3 and "".join(t for _e, fd, t in chunks if fd == "stdout") == out
    assert c.output(tid, 1, since=chunks[0][0]) == chunks[1:]
    assert c.output(tid, 1, count=2) == chunks[:2]
    tail = c.output_tails([(tid, 1)], count=2)[0]
    assert [e for e, _f in tail] == [chunks[-1][0], chunks[-2][0]]
    assert [e for e, _f in c.follow_output(tid, 1, chunks[0][0], block_ms=10)] == [e for e, _f, _t in chunks[1:]]
    assert c.follow_output(tid, 1, chunks[-1][0], block_ms=10) == []

    # v1 API: execution_output with positions, task_get's output
    s = Server()
    ex = s.executions(task_id=tid)[0]
    assert s.execution_output(ex["execution_id"])["output"] == out
    assert s.execution_output(ex["execution_id"], output_position=5)["output"] == out[4:]
    assert s.execution_output(ex["execution_id"], error_position=7)["error"] == err[6:]

    # the command lines
    got = run_cli(*SCITQ, "task", "output", "-i", str(tid), env=env)
    assert got.returncode == 0 and "out 3" in got.stdout and "err 2" in got.stdout, got.stdout + got.stderr


def test_late_chunks_after_packing_are_shown_after_the_packed_ones_and_a_chunk_sent_twice_once(procs, r):
    procs.server()
    c, tid = _ran(procs, "echo first")
    wait_for(lambda: r.exists(keys.output_packed(tid, 1)), what="the output packed")
    packed = c.output(tid, 1)
    stream = c.output_streams([(tid, 1)])[0]
    assert not r.exists(stream)
    # a worker whose spool sends again an entry already sent, and a chunk written after the final report
    r.xadd(stream, {"fd": "stdout", "text": "first\n"}, id=packed[-1][0])
    r.xadd(stream, {"fd": "stderr", "text": "late\n"})
    assert c.output_text(tid, 1) == ("first\n", "late\n")
    assert [e for e, _fd, _t in c.output(tid, 1)][:len(packed)] == [e for e, _fd, _t in packed]
    assert c.follow_output(tid, 1, packed[-1][0], block_ms=10)[0][1]["text"] == "late\n"


def test_an_output_larger_than_the_setting_goes_to_the_archive_and_is_read_from_there(procs, env, r):
    procs.env["SCITQ_OUTPUT_ARCHIVE_ABOVE"] = "200"
    procs.server()
    c, tid = _ran(procs, "seq 1 3000")
    wait_for(lambda: r.exists(keys.output_packed(tid, 1)), what="the output packed")
    value = r.execute_command("GET", keys.output_packed(tid, 1), NEVER_DECODE=[])
    assert value[:1] == b"a" and len(value) < 400
    files = list((Path(env["SCITQ_HOME"]) / "archive" / "outputs").iterdir())
    assert len(files) == 1
    assert c.output_text(tid, 1)[0] == "".join(f"{i}\n" for i in range(1, 3001))

    # deleting the task deletes its outputs, the archived file too
    c.delete_tasks([tid])
    wait_for(lambda: not r.exists(keys.output_packed(tid, 1)) and not files[0].exists(), what="outputs deleted")


def test_deleting_a_task_or_a_batch_deletes_the_outputs_of_every_attempt(procs, r):
    procs.server()
    s = Server()
    c, one = _ran(procs, "echo one; exit 1", batch="del")
    s.task_relaunch(one)
    wait_for(lambda: c.task(one)["status"] == "failed" and c.task(one)["attempt"] == 2, what="second attempt ended")
    c2, two = _ran(procs, "echo two", batch="del")
    wait_for(lambda: all(r.exists(keys.output_packed(t, a)) for t, a in ((one, 1), (one, 2), (two, 1))),
             what="outputs packed")
    streams = c.output_streams([(one, 1), (one, 2)])
    r.xadd(streams[1], {"fd": "stdout", "text": "late\n"})     # a live stream left behind is deleted too
    s.task_delete(one)
    wait_for(lambda: not r.exists(keys.output_packed(one, 1), keys.output_packed(one, 2), *streams),
             what="the task's outputs deleted")
    assert r.exists(keys.output_packed(two, 1))
    s.batch_delete("del")
    wait_for(lambda: not r.exists(keys.output_packed(two, 1)), what="the batch's outputs deleted")
