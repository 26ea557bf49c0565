"""The workflow monitor of `run()` on a terminal, driven with Textual's pilot, on a real server and worker;
and the plain progress lines when stdout is not a terminal."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from textual.widgets import DataTable

from helpers import wait_for
from scitq.lib import Server
from scitq.tui.workflow_monitor import WorkflowMonitor, run_monitor
from scitq.workflow import Workflow


def paused_batches(s: Server) -> set[str]:
    return {b["batch"] for b in s.batches() if b["paused"]}


def cell(app: WorkflowMonitor, step: str, column: str) -> str:
    return str(app.query_one("#steps", DataTable).get_cell(step, column))


async def until(pilot, predicate, what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def two_steps(name: str) -> Workflow:
    warnings.simplefilter("ignore")
    wf = Workflow(name=name, flavor="local", max_step_workers=1)
    a = wf.step(batch="a", command="true", concurrency=1)
    wf.step(batch="b", command="true", concurrency=1, required_tasks=a)
    wf._send()
    return wf


def test_the_monitor_shows_one_row_per_step_and_exits_with_the_totals_when_every_task_is_done(server, procs):
    wf = two_steps("mon")
    s = Server()

    async def drive():
        app = WorkflowMonitor(wf, poll_every=0.1)
        async with app.run_test(size=(120, 20)) as pilot:
            await until(pilot, lambda: app.polls > 0, "the first look")
            assert cell(app, "a", "pending") == "1" and cell(app, "b", "waiting") == "1"
            assert cell(app, "a", "succeeded") == "·"
            procs.worker("w1", concurrency=1, batch="mon.a")
            procs.worker("w2", concurrency=1, batch="mon.b")
            await until(pilot, lambda: app.over, "the workflow over")
        return app
    app = asyncio.run(drive())
    assert app.return_value == {"succeeded": 2}
    assert app.ended_by is None
    assert s.task_status([st._task_id for st in wf._steps]) == ["succeeded", "succeeded"]


def test_pause_suspend_and_unpause_keys_act_on_every_step_batch(server):
    wf = two_steps("keys")
    s = Server()

    async def drive():
        app = WorkflowMonitor(wf, poll_every=0.1)
        async with app.run_test(size=(120, 20)) as pilot:
            await until(pilot, lambda: app.polls > 0, "the first look")
            await pilot.press("p")
            await until(pilot, lambda: app.message == "pause: done", "pause done")
            assert paused_batches(s) == {"keys.a", "keys.b"}
            await pilot.press("u")
            await until(pilot, lambda: app.message == "unpause: done", "unpause done")
            assert paused_batches(s) == set()
            await pilot.press("s")
            await until(pilot, lambda: app.message == "suspend all: done", "suspend done")
            assert paused_batches(s) == {"keys.a", "keys.b"} and wf._paused
            await pilot.press("u")
            await until(pilot, lambda: app.message == "unpause: done", "unpause done")
            assert paused_batches(s) == set() and not wf._paused
            await pilot.press("q")
            await pilot.press("y")
        return app
    app = asyncio.run(drive())
    assert app.ended_by == "quit" and app.return_value is None


def test_destroy_asks_first_then_deletes_every_step_batch(server):
    wf = two_steps("gone")
    s = Server()

    async def drive():
        app = WorkflowMonitor(wf, poll_every=0.1)
        async with app.run_test(size=(120, 20)) as pilot:
            await until(pilot, lambda: app.polls > 0, "the first look")
            await pilot.press("d")
            await pilot.press("n")
            await pilot.pause(0.2)
            assert {"gone.a", "gone.b"} <= {b["batch"] for b in s.batches()}, "no: nothing deleted"
            await pilot.press("d")
            await pilot.press("y")
            await until(pilot, lambda: app.ended_by == "destroy", "destroyed")
        return app
    app = asyncio.run(drive())
    assert app.return_value is None
    wait_for(lambda: not {"gone.a", "gone.b"} & {b["batch"] for b in s.batches()}, what="the batches deleted")


def test_quitting_the_monitor_raises_runtime_error_as_in_v1(server, monkeypatch):
    wf = two_steps("rt")

    def quit_at_once(self):
        self.ended_by = "quit"
        return None
    monkeypatch.setattr(WorkflowMonitor, "run", quit_at_once)
    with pytest.raises(RuntimeError, match="workflow rt: quit from the monitor"):
        run_monitor(wf)


def test_run_prints_plain_progress_lines_when_stdout_is_not_a_terminal(server, procs, capsys):
    wf = two_steps("plain")
    procs.worker("w1", concurrency=1, batch="plain.a")
    procs.worker("w2", concurrency=1, batch="plain.b")
    assert wf.run(refresh=5) == {"succeeded": 2}
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[plain] a: ") and " | b: " in out[0]
    assert out[-1] == "[plain] all tasks done: 2 succeeded, 0 failed"
