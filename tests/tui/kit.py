"""Helpers of the dashboard tests: a frozen clock, waiting inside a Pilot session, and a fixed data set.

The fixed data set is a real ledger (events with fixed times and ids) folded into real views by the
projection code, with worker heartbeats and output streams beside it: what a server would have
written, minus the clock. Snapshots of it are byte-for-byte stable.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timezone
from typing import Any, Awaitable, Callable

from scitq import keys
from scitq.events import batch as eb
from scitq.events import execution as ee
from scitq.events import task as et
from scitq.events import worker as ew
from scitq.events.codec import event_fields
from scitq.projections.evolve import evolve
from scitq.projections.state import State
from scitq.projections.store import write_dirty
from scitq.tui.format import Clock

FIXED_NOW = 1741964400.0            # 2025-03-14 15:00:00 UTC, the time every snapshot is taken at
T0 = FIXED_NOW - 3600


def frozen_clock() -> Clock:
    return Clock(now=lambda: FIXED_NOW, tz=timezone.utc)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async Pilot scenario from a plain (sync) test."""
    return asyncio.run(scenario())


async def until(pilot: Any, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Let the app run until `predicate()` is true (it may read Redis: it is quick)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def settle(pilot: Any, timeout: float = 15.0) -> None:
    """Wait until no screen has a refresh pending or running and the background loads are done."""
    app = pilot.app
    calm = 0
    deadline = time.monotonic() + timeout
    while calm < 4:
        await pilot.pause(0.05)
        busy = any(s.busy for s in app.live)
        loading = any(w.group in ("exec-index", "task-index", "durations", "history", "events-scan") and not w.is_finished
                      for w in app.workers)
        calm = 0 if (busy or loading) else calm + 1
        if time.monotonic() > deadline:
            raise AssertionError("the dashboard did not settle")
    await pilot.pause(0.1)


# --- the fixed data set ------------------------------------------------------------------------------
def _events() -> list[Any]:
    ev: list[Any] = []
    add = ev.append

    def at(seconds: float) -> float:
        return T0 + seconds

    for i, b in enumerate(("qc", "align", "assemble")):
        add(eb.BatchCreated(batch=b, ts=at(i)))
    for wid, (name, batch, c, p) in enumerate((("node01", "align", 4, 1), ("node02", "align", 2, 0),
                                              ("gpu01", "assemble", 1, 0)), 1):
        add(ew.WorkerRegistered(worker_id=wid, worker=name, hostname=f"{name}.lab", concurrency=c, prefetch=p,
                                batch=batch, status="running", ts=at(10 + wid)))
    specs = [
        (1, "qc", "qc-s1", "fastqc -o /output /input/s1.fq.gz", {}),
        (2, "qc", "qc-s2", "fastqc -o /output /input/s2.fq.gz", {}),
        (3, "qc", "qc-s3", "fastqc -o /output /input/s3.fq.gz", {}),
        (4, "align", "align-s1", "bwa mem -t $CPU /resource/ref.fa /input/s1.fq.gz > /output/s1.sam",
         {"container": "staphb/bwa:0.7.17", "input": "s3://lab/reads/s1.fq.gz", "output": "s3://lab/sam/s1/",
          "resource": "s3://lab/ref/hg38.tgz|untar", "retry": 2}),
        (5, "align", "align-s2", "bwa mem -t $CPU /resource/ref.fa /input/s2.fq.gz > /output/s2.sam", {}),
        (6, "align", "align-s3", "bwa mem -t $CPU /resource/ref.fa /input/s3.fq.gz > /output/s3.sam", {}),
        (7, "align", "align-s4", "bwa mem -t $CPU /resource/ref.fa /input/s4.fq.gz > /output/s4.sam", {}),
        (8, "align", "align-s5", "bwa mem -t $CPU /resource/ref.fa /input/s5.fq.gz > /output/s5.sam", {}),
        (9, "assemble", "megahit-all", "megahit -1 /input/r1.fq.gz -2 /input/r2.fq.gz -o /output/asm", {}),
        (10, "assemble", "quast-all", "quast.py /input/asm/final.contigs.fa -o /output", {}),
    ]
    for tid, batch, name, command, extra in specs:
        add(et.TaskSubmitted(task_id=tid, batch=batch, command=command, name=name, ts=at(20 + tid), **extra))
    # qc: two successes, one failure (node01, node02)
    runs = [(1, 1, "node01", 1, 0), (2, 2, "node02", 2, 0), (3, 3, "node01", 1, 2)]
    for eid, tid, worker, wid, rc in runs:
        base = 100 + 60 * eid
        add(et.TaskDispatched(task_id=tid, batch="qc", attempt=1, ts=at(base)))
        add(ee.ExecutionClaimed(execution_id=eid, task_id=tid, batch="qc", attempt=1, worker=worker,
                                worker_id=wid, ts=at(base + 1)))
        add(ee.ExecutionStarted(execution_id=eid, task_id=tid, batch="qc", worker=worker,
                                command=specs[tid - 1][3], pid=str(4000 + eid), ts=at(base + 2)))
        add(ee.ExecutionOutputOpened(execution_id=eid, task_id=tid, batch="qc", stream=keys.output(tid, 1),
                                     ts=at(base + 2)))
        add(ee.ExecutionFinished(execution_id=eid, task_id=tid, batch="qc", worker=worker, return_code=rc,
                                 ts=at(base + 40 + 7 * eid)))
        if rc == 0:
            add(et.TaskSucceeded(task_id=tid, batch="qc", execution_id=eid, ts=at(base + 40 + 7 * eid)))
        else:
            add(et.TaskFailed(task_id=tid, batch="qc", execution_id=eid, return_code=rc, ts=at(base + 40 + 7 * eid)))
    # align: task 4 running on node01 (edited before it started), task 5 prefetched, 8 paused by its user
    add(et.TaskUpdated(task_id=4, batch="align", changes={"retry": 1}, ts=at(400)))
    add(et.TaskDispatched(task_id=4, batch="align", attempt=1, ts=at(410)))
    add(ee.ExecutionClaimed(execution_id=4, task_id=4, batch="align", attempt=1, worker="node01", worker_id=1,
                            ts=at(411)))
    add(ee.ExecutionAccepted(execution_id=4, task_id=4, batch="align", worker="node01", ts=at(412)))
    add(ee.ExecutionStarted(execution_id=4, task_id=4, batch="align", worker="node01", command=specs[3][3],
                            container="staphb/bwa:0.7.17", input="s3://lab/reads/s1.fq.gz",
                            output="s3://lab/sam/s1/", resource="s3://lab/ref/hg38.tgz|untar", pid="4242",
                            ts=at(430)))
    add(ee.ExecutionOutputOpened(execution_id=4, task_id=4, batch="align", stream=keys.output(4, 1), ts=at(430)))
    add(et.TaskDispatched(task_id=5, batch="align", attempt=1, ts=at(440)))
    add(ee.ExecutionClaimed(execution_id=5, task_id=5, batch="align", attempt=1, worker="node01", worker_id=1,
                            ts=at(441)))
    add(ee.ExecutionAccepted(execution_id=5, task_id=5, batch="align", worker="node01", ts=at(442)))
    add(et.TaskStatusSet(task_id=8, batch="align", status="paused", previous="pending", ts=at(450)))
    add(ew.WorkerPaused(worker_id=2, worker="node02", ts=at(460)))
    add(ew.WorkerOffline(worker_id=3, worker="gpu01", ts=at(470)))
    add(eb.BatchPaused(batch="assemble", ts=at(480)))
    add(et.TaskSignalled(task_id=4, batch="align", signal=18, worker="node01", ts=FIXED_NOW - 30))
    return ev


OUTPUT = {
    (1, 1): [("stdout", "Started analysis of s1.fq.gz\nApprox 50% complete for s1.fq.gz\n"),
             ("stdout", "Analysis complete for s1.fq.gz\n")],
    (2, 1): [("stdout", "Analysis complete for s2.fq.gz\n")],
    (3, 1): [("stdout", "Started analysis of s3.fq.gz\n"),
             ("stderr", "Failed to process file s3.fq.gz\nuk.ac.babraham.FastQC.Sequence.SequenceFormatException: "
                        "ID line didn't start with '@'\n")],
    (4, 1): [("stderr", "[M::bwa_idx_load_from_disk] read 0 ALT contigs\n"),
             ("stderr", "[M::process] read 400000 sequences (40000000 bp)...\n"),
             ("stdout", "@HD\tVN:1.6\tSO:unsorted\n@SQ\tSN:chr1\tLN:248956422\n"),
             ("stderr", "[M::mem_process_seqs] Processed 400000 reads in 152.3 CPU sec, 39.1 real sec\n"),
             ("stderr", "[M::process] read 400000 sequences (40000000 bp)..."),
             ("stderr", ".\n")],
}
STATS = {
    "node01": {"load": "92.5↑ / 1.2", "memory": "61.3", "disk": "47.0", "loadavg": "3.91 3.75 3.60",
               "last_contact": repr(FIXED_NOW - 1.5), "running": "1",
               "disk_read": "1234567", "disk_write": "340112", "disk_read_total": "12345678901",
               "disk_write_total": "4500000000", "net_recv": "52000000", "net_sent": "870",
               "net_recv_total": "1200000000000", "net_sent_total": "301000000000"},
    "node02": {"load": "0.4 / 0.0", "memory": "12.8", "disk": "22.5", "loadavg": "0.02 0.05 0.01",
               "last_contact": repr(FIXED_NOW - 2.2), "running": "0",
               "disk_read": "0", "disk_write": "4096", "disk_read_total": "81920", "disk_write_total": "1048576",
               "net_recv": "1500", "net_sent": "1200", "net_recv_total": "9000000", "net_sent_total": "2000000"},
    # an older worker: no disk or network figures
    "gpu01": {"load": "", "memory": "33.0", "disk": "81.9", "loadavg": "0.10 0.20 0.30",
              "last_contact": repr(FIXED_NOW - 412.0), "running": "0"},
}


def seed(r: Any) -> None:
    """Write the fixed data set into an empty database (ledger, views, heartbeats, output streams)."""
    state = State()
    pipe = r.pipeline(transaction=True)
    seq: dict[int, int] = {}
    for event in _events():
        evolve(state, event)
        ms = int(event.ts * 1000)
        seq[ms] = seq.get(ms, -1) + 1
        eid = f"{ms}-{seq[ms]}"
        state.last_event_id = eid
        pipe.xadd(keys.EVENTS, event_fields(event), id=eid)
    write_dirty(state, pipe)
    for (tid, attempt), chunks in OUTPUT.items():
        start = int((T0 + 100 + 60 * tid + 3) * 1000) if tid < 4 else int((T0 + 431) * 1000)
        for i, (fd, text) in enumerate(chunks):
            pipe.xadd(keys.output(tid, attempt), {"fd": fd, "text": text}, id=f"{start + 1000 * i}-0")
    for name, stats in STATS.items():
        pipe.hset(keys.worker_stats(name), mapping=stats)
    pipe.set(keys.SERVER_ALIVE, "1")
    pipe.execute()


async def cursor_to(pilot: Any, table: Any, key: Any, limit: int = 200) -> None:
    """Move the table's cursor with the arrow keys until it is on the row of `key`."""
    await until(pilot, lambda: any(r.key == key for r in table.rows.values()), what=f"row {key!r} on screen")
    index = next(i for i, r in table.rows.items() if r.key == key)
    for _ in range(limit):
        if table.current_key == key:
            return
        await pilot.press("down" if table.cursor < index else "up")
    raise AssertionError(f"could not put the cursor on {key!r}")


async def to_task(pilot: Any, app: Any, task_id: int) -> None:
    """The Tasks screen, its cursor on this task."""
    await pilot.press("t")
    await cursor_to(pilot, app.screen.table, task_id)


async def open_detail(pilot: Any, app: Any, task_id: int) -> Any:
    """The detail screen of this task, opened from the Tasks screen."""
    await to_task(pilot, app, task_id)
    await pilot.press("enter")
    await until(pilot, lambda: app.screen.__class__.__name__ == "TaskDetail", what="the detail")
    return app.screen


def ledger_types(r: Any, task: int | None = None) -> list[str]:
    """Types of the ledger entries (of one task), oldest first."""
    return [f["type"] for _eid, f in r.xrange(keys.EVENTS) if task is None or f.get("task") == str(task)]


def notifications(app: Any) -> list[str]:
    return [n.message for n in app._notifications]
