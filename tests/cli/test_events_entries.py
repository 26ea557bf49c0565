"""Ledger entries with every id field (an id the event lacks written empty) read exactly as the entries
written before, which left such fields out: `scitq events history` / `tail` (text and `--json`), `events
check` and the client's ledger reads (real Valkey, real `scitq` processes)."""

from __future__ import annotations

import sys

from helpers import run_cli

from scitq import keys
from scitq.api.client import Client
from scitq.events import BatchCreated, ExecutionClaimed, TaskSucceeded, WorkerDeleted, event_fields
from scitq.events.codec import without_empty_ids

SCITQ = [sys.executable, "-m", "scitq.cli.main"]

EVENTS = [
    BatchCreated(batch="b1", ts=1764514800.25),
    ExecutionClaimed(execution_id=3, task_id=4, batch="b1", attempt=1, worker="w1", worker_id=7, ts=1764514801.5),
    TaskSucceeded(task_id=4, batch="b1", execution_id=3, ts=1764514802.125),
    WorkerDeleted(worker="w1", worker_id=7, ts=1764514803.0),
]
READS = [("history", "--task", "4"), ("history", "--batch", "b1"), ("history", "--worker", "w1"),
         ("tail", "--from-start", "--count", "4"), ("tail", "--from-start", "--count", "1", "--worker", "w1"),
         ("check",)]


def _ledger(r, shape) -> list[dict[str, str]]:
    r.delete(keys.EVENTS)
    written = [shape(event_fields(ev)) for ev in EVENTS]
    for i, fields in enumerate(written):
        r.xadd(keys.EVENTS, fields, id=f"1764514800000-{i + 1}")
    return written


def _shown(env) -> list[str]:
    out = []
    for args in READS:
        for extra in ([], ["--json"]) if args[0] != "check" else ([],):
            done = run_cli(*SCITQ, "events", *args, *extra, env=env)
            assert done.returncode == 0 or args[0] == "check", (args, done.stderr)   # a task never submitted
            out.append(f"{done.returncode} {done.stdout}")
    return out


def test_entries_with_empty_ids_read_as_entries_without_them_in_the_cli_and_the_client(env, r):
    """Given a ledger of entries as written before (only the ids each event has), and the same entries as
    written today (every id field, empty when the event lacks it), when read by `scitq events history
    --task/--batch/--worker`, `events tail`, `events check` and the client's ledger reads, then the output
    is the same, and no empty id is shown."""
    before = _ledger(r, without_empty_ids)
    assert any("worker" not in f for f in before)
    shown_before = _shown(env)
    today = _ledger(r, dict)
    assert all(list(f)[:5] == ["type", "v", "task", "batch", "worker"] for f in today)
    assert any(f["worker"] == "" for f in today)
    assert _shown(env) == shown_before
    succeeded, as_json = shown_before[0].splitlines()[-1], shown_before[1].splitlines()[-1]    # task.succeeded
    assert "task=4 batch=b1 " in succeeded and "worker" not in succeeded and '"worker"' not in as_json
    assert "unknown task 4" in shown_before[-1]
    c = Client()
    entries = [(f"1764514800000-{i + 1}", f) for i, f in enumerate(before)]
    assert c.events() == entries == list(c.ledger())
    assert c.read_events("0-0", block_ms=None) == entries
    assert c.events_before(None, 10) == entries[::-1]
    assert c.task_events(4) == entries[1:3]
