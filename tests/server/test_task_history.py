"""A task's history (`Client.task_events`, `scitq events history --task`) is read from the task's
submission on, not from the start of the ledger, and is still every event naming the task (real server,
real Valkey)."""

from __future__ import annotations

import sys
import time

import pytest
from helpers import run_cli, wait_for

from scitq import keys
from scitq.api import client as client_module
from scitq.api.client import Client
from scitq.events.codec import without_empty_ids
from scitq.projections.archive import parse_id
from scitq.projections.ledger import whole_ledger

SCITQ = [sys.executable, "-m", "scitq.cli.main"]


class CountingRedis:
    """The test's real Redis connection, counting the ledger entries XRANGE hands back."""

    def __init__(self, r) -> None:
        self._r = r
        self.read = 0

    def xrange(self, *args, **kwargs):
        page = self._r.xrange(*args, **kwargs)
        self.read += len(page)
        return page

    def __getattr__(self, name):
        return getattr(self._r, name)


def _naming(r, task_id: int) -> list[tuple[str, dict]]:
    """The ledger entries naming the task, as readers get them (without the ids an event lacks)."""
    return [(eid, without_empty_ids(f)) for eid, f in whole_ledger(r) if f.get("task") == str(task_id)]


def _three_tasks_one_after_the_other(procs) -> list[int]:
    c = Client()
    procs.worker("w1", concurrency=1, batch="hist")
    ids = []
    for i in range(3):
        ids += c.submit([{"command": f"echo {i}", "batch": "hist"}])
        wait_for(lambda: c.task(ids[-1])["status"] == "succeeded", timeout=60, what=f"task {ids[-1]} to succeed")
        time.sleep(0.01)     # the next task's entries are in a later millisecond
    return ids


def test_a_tasks_history_skips_the_ledger_before_its_submission_and_is_still_every_event_naming_it(
        procs, env, r, monkeypatch):
    procs.server()
    ids = _three_tasks_one_after_the_other(procs)
    monkeypatch.setattr(client_module, "HISTORY_MARGIN_MS", 0)
    c = Client()
    counting = CountingRedis(c.r)
    c.r = counting
    last = c.task_events(ids[-1])
    assert last == _naming(r, ids[-1]) and last[0][1]["type"] == "task.submitted"
    assert {f["type"] for _, f in last} >= {"task.submitted", "task.succeeded"}
    # the entries of the first two tasks were not read
    before = sum(1 for eid, f in whole_ledger(r) if parse_id(eid) < parse_id(last[0][0]))
    assert counting.read <= r.xlen(keys.EVENTS) - before
    assert before > 0


@pytest.mark.parametrize("how", ["deleted", "clock"])
def test_a_tasks_history_is_read_from_the_start_when_its_submission_is_not_where_its_view_says(
        procs, env, r, monkeypatch, how):
    """A deleted task has no view to say when it was submitted; a clock stepped back puts its submission
    before the creation date of its view (played here by a negative margin): both read the whole ledger."""
    procs.server()
    ids = _three_tasks_one_after_the_other(procs)
    c = Client()
    if how == "deleted":
        c.delete_tasks([ids[1]])
        wait_for(lambda: any(f.get("type") == "task.deleted" for _, f in _naming(r, ids[1])),
                 what="the task.deleted event")
    else:
        monkeypatch.setattr(client_module, "HISTORY_MARGIN_MS", -3_600_000)
    events = c.task_events(ids[1])
    assert events == _naming(r, ids[1]) and events[0][1]["type"] == "task.submitted"


def test_events_history_of_a_task_prints_its_events_and_says_so_in_one_line_for_an_unknown_task(procs, env, r):
    procs.server()
    ids = _three_tasks_one_after_the_other(procs)
    shown = run_cli(*SCITQ, "events", "history", "--task", str(ids[0]), env=env)
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout.splitlines()) == len(_naming(r, ids[0]))
    assert "task.submitted" in shown.stdout.splitlines()[0]
    unknown = run_cli(*SCITQ, "events", "history", "--task", "999999", env=env)
    assert unknown.returncode != 0 and "no event for task 999999" in unknown.stderr
    assert "Traceback" not in unknown.stderr
