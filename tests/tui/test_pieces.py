"""The dashboard's pieces on their own: output assembly, what events touch, the task index, formats, the surface."""

from __future__ import annotations

import subprocess
import sys

from rich.text import Text
from textual.app import App

from scitq import keys
from scitq.events import execution as ee, task as et, worker as ew
from scitq.events.codec import event_fields
from scitq.tui.format import duration, progress_bar, spread
from scitq.tui.index import DurationIndex, ExecutionIndex, Spread, TaskIndex
from scitq.tui.output import OutputView
from scitq.tui.source import Source
from scitq.tui.touch import Touched
from tui.kit import run


class _OneView(App):
    def compose(self):
        yield OutputView()


def test_output_chunks_cut_anywhere_become_lines_per_stream():
    async def scenario():
        app = _OneView()
        async with app.run_test(size=(60, 10)) as pilot:
            view = app.query_one(OutputView)
            for fd, chunk in [("stdout", "hel"), ("stderr", "warn"), ("stdout", "lo\nwor"), ("stderr", "ing\n"),
                              ("stdout", "ld\n"), ("stdout", "10%\r50%\r100%\n"), ("stdout", "\x1b[31mred\x1b[0m\n")]:
                view.append(fd, chunk)
            await pilot.pause()
            assert view.lines == [("stdout", "hello"), ("stderr", "warning"), ("stdout", "world"),
                                  ("stdout", "10%\r50%\r100%"), ("stdout", "red")]
            assert "100%" in str(view.render_line(3).text) and "50%" not in str(view.render_line(3).text)
            assert str(view.render_line(1).text).startswith("▌")          # stderr carries a mark
            view.append("stdout", "x" * 130 + "\n")                         # wrapped to the width
            await pilot.pause()
            assert len(view.wrapped) > len(view.lines)
    run(scenario)


def test_touched_names_the_ids_each_event_concerns_and_only_the_plain_ids_of_a_corrupt_entry():
    events = [et.TaskSubmitted(task_id=7, batch="b", command="x"),
              ee.ExecutionClaimed(execution_id=3, task_id=7, batch="b", attempt=1, worker="w", worker_id=1, ts=5.0),
              et.TaskSucceeded(task_id=7, batch="b", execution_id=3, ts=9.0),
              et.TaskUpdated(task_id=8, batch="b", changes={"batch": "c"}),
              ew.WorkerRegistered(worker_id=2, worker="x", concurrency=1, batch="b")]
    entries = [(f"{i + 1}-0", event_fields(ev)) for i, ev in enumerate(events)]
    entries.append(("9-0", {"type": "task.succeeded", "task": "9", "batch": "d", "data": "{not json"}))
    t = Touched.from_entries(entries)
    assert t.tasks == {7, 8, 9} and t.executions == {3} and t.workers == {"w", "x"} and t.batches == {"b", "c", "d"}
    assert t.membership and t.worker_set and t.worker_changes == {"x"} and t.finished == [(9.0, "b")]
    quiet = Touched()
    quiet.merge(t, entries=False)
    assert quiet.tasks == {7, 8, 9} and quiet.entries == [] and quiet.finished == []


def test_the_task_index_filters_by_text_and_worker_and_sorts_by_column(seeded):
    index = TaskIndex(Source(seeded))
    assert index.load()
    assert index.query(text="FASTQC", sort="name", desc=False) == [1, 2, 3]
    assert index.query(worker="node01", desc=True) == [5, 4]
    assert index.query(batch="align", status="pending", sort="id", desc=False) == [6, 7]
    assert index.query(sort="status", desc=False)[0] == 8                    # paused comes first
    executions = ExecutionIndex(Source(seeded))
    assert executions.load()
    assert executions.of("node01") == {"succeeded": 1, "failed": 1, "running": 1, "accepted": 1}


def test_the_duration_index_sums_the_latest_runtimes_per_batch_and_status(seeded, r):
    durations = DurationIndex(Source(seeded))
    assert durations.load()
    # qc: tasks 1 and 2 ran 45 s and 52 s, task 3 failed after 59 s; nothing else ended
    assert durations.spreads() == {"qc": {"succeeded": Spread(2, 48.5, 45.0, 52.0),
                                          "failed": Spread(1, 59.0, 59.0, 59.0)}}
    # When task 3 is pending again (relaunched) and read again, Then it no longer counts
    r.hset(keys.task_view(3), "status", "pending")
    durations.refresh({3})
    assert durations.spreads() == {"qc": {"succeeded": Spread(2, 48.5, 45.0, 52.0)}}


def test_formats():
    assert [duration(x) for x in (5, 90, 5400, 172800)] == ["5s", "1.5min", "1.5h", "2.0d"]
    assert spread(48.5, 45, 52) == "48s [45-52]" and spread(126, 18, 300) == "2.1m [0.3-5.0]"
    assert spread(45000, 360, 144000) == "12.5h [0.1-40.0]" and spread(3, 3, 3) == "3s"
    bar = progress_bar({"succeeded": 5, "failed": 5, "pending": 10}, width=20)
    assert isinstance(bar, Text) and bar.plain.endswith(" 50%") and bar.plain.count("█") == 10


def test_the_package_exports_run_tui_and_loads_textual_only_to_run():
    import scitq.tui
    assert scitq.tui.__all__ == ["run_tui"]
    code = "import sys, scitq.tui; assert 'textual' not in sys.modules, 'textual imported too early'"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_scitq_tui_without_a_server_says_so_in_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SCITQ_HOME": str(tmp_path), "HOME": str(tmp_path)}
    res = subprocess.run([sys.executable, "-m", "scitq.cli.main", "tui"], capture_output=True, text=True, env=env,
                         timeout=30)
    assert res.returncode == 3
    assert len(res.stderr.strip().splitlines()) <= 2 and "Traceback" not in res.stderr
