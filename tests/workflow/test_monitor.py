"""The workflow monitor of `run()` on a terminal, driven with Textual's pilot, on a real server and worker;
and the plain progress lines when stdout is not a terminal."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

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
            assert cell(app, "a", "recruiters") == "1:local ×1 1/w ≤1"   # rank:flavor ×concurrency tasks/w ≤max
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


SCRIPT = """
import warnings, sys
from scitq.workflow import Workflow
warnings.simplefilter("ignore")
wf = Workflow(name="term", flavor="local", max_step_workers=1)
a = wf.step(batch="a", command="true", concurrency=1)
wf.step(batch="b", command="true", concurrency=1, required_tasks=a)
totals = wf.run(refresh=5)
open(sys.argv[1], "w").write(repr(totals))
"""


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_run_on_a_terminal_opens_the_monitor_and_returns_when_the_workflow_is_done(server, procs, env, tmp_path):
    script, result = tmp_path / "wf.py", tmp_path / "result.txt"
    script.write_text(SCRIPT)
    sock = f"scitq-wf-{uuid.uuid4().hex[:10]}"          # one tmux server per test (xdist-safe)

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", sock, *args], env=env, capture_output=True, text=True,
                              timeout=10).stdout

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "wf")

    socket_path = ""
    try:
        tmux("new-session", "-d", "-s", "wf", "-x", "140", "-y", "30",
             f"{sys.executable} {script} {result}; sleep 30")
        socket_path = tmux("display-message", "-p", "#{socket_path}").strip()
        wait_for(lambda: "SCS" in screen() and "term" in screen(), timeout=30, what="the monitor")
        wait_for(lambda: "2 task(s) to finish" in screen(), what="the counts")
        lines = [line.split() for line in screen().splitlines()]
        assert ["a", "·", "·", "1"] in [x[:4] for x in lines], "step a: 1 pending"
        assert ["b", "·", "1"] in [x[:3] for x in lines], "step b: 1 waiting"
        procs.worker("w1", concurrency=1, batch="term.a")
        procs.worker("w2", concurrency=1, batch="term.b")
        wait_for(lambda: result.exists() and result.read_text(), timeout=60, what="run() to return")
        assert result.read_text() == "{'succeeded': 2}"
        wait_for(lambda: "[term] all tasks done: 2 succeeded, 0 failed" in screen(), what="the summary line")
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], env=env, capture_output=True)
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)


def test_the_monitor_draws_one_row_per_step_with_task_and_worker_counts(snap_compare, server):
    wf = two_steps("snap")
    app = WorkflowMonitor(wf, poll_every=0.1)

    async def first_look(pilot) -> None:
        await until(pilot, lambda: app.polls > 0, "the first look")
        await pilot.pause(0.1)
    assert snap_compare(app, terminal_size=(100, 12), run_before=first_look)
