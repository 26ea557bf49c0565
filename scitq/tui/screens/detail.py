"""Provides the task detail: the command as submitted and as run, data, every execution, the task's history,
and the live output of an attempt (stream `output:<task>:<attempt>`, followed with XREAD BLOCK)."""

from __future__ import annotations

import os
import time
from typing import Any, Iterable

from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, Static
from textual.worker import get_current_worker

from scitq.errors import ScitqError
from scitq.io.uri import redact
from scitq.tui.actions import SIGNAL_CHOICES
from scitq.tui.download import output_names, save_attempt
from scitq.tui.format import (STATUS_STYLE, duration, entry_key, event_data, event_summary, event_time,
                              status_text)
from scitq.tui.modals import Choose, Confirm, EditCommand
from scitq.tui.output import OutputView
from scitq.tui.screens.base import LiveScreen
from scitq.tui.table import Column, Row, VirtualTable
from scitq.tui.touch import Touched

__all__ = ["TaskDetail"]

EXEC_COLUMNS = [Column("id", "Exec", 5, "right"), Column("attempt", "Att", 3, "right"),
                Column("worker", "Worker", 12), Column("status", "Status", 9), Column("start", "Started", 8),
                Column("runtime", "Runtime", 8, "right"), Column("rc", "Ret", 5, "right"), Column("pid", "Pid", 0)]
HISTORY_COLUMNS = [Column("time", "Time", 12), Column("type", "Event", 22), Column("what", "Details", 0)]
ACTIONS = {"edit", "relaunch", "pause", "delete", "signal"}     # hidden when read-only (saving output is not)
SCAN_CHUNK = 10_000
BACKLOG_CHUNK = 2000


class TaskDetail(LiveScreen):
    """One task in full, following its events and its output."""

    MODE = "detail"
    TITLE_TEXT = "Task detail"
    BINDINGS = [
        Binding("escape,backspace", "back", "Back"),
        Binding("c", "edit", "Edit"),
        Binding("r", "relaunch", "Relaunch"),
        Binding("p", "pause", "Pause"),
        Binding("k", "signal", "Signal"),
        Binding("d,delete", "delete", "Delete", key_display="d"),
        Binding("a", "attempt", "Attempt"),
        Binding("f", "follow", "Follow"),
        Binding("o", "save", "Save output"),
    ]
    KEY_NOTES = [("", "output: stdout in the normal colour, stderr in red with a bar; `f` jumps to the end and follows"),
            ("", "o writes the attempt's stdout and stderr to output-std-<task>-execution-<exec>.txt and "
                 "output-err-… in the current directory (v1's download)")]

    def __init__(self, task_id: int) -> None:
        super().__init__()
        self.task_id = task_id
        self.t: dict[str, Any] | None = None
        self.executions: list[dict[str, Any]] = []
        self.attempt: int | None = None          # the attempt shown; None: the latest
        self.shown_attempt: int | None = -1      # -1: nothing shown yet
        self.generation = 0
        self.history: dict[str, dict[str, str]] = {}
        self.info_rows: list[tuple[str, str]] = []       # what the top panel shows, as plain text
        self.info = Static(id="task-info")
        self.exec_table = VirtualTable(EXEC_COLUMNS, empty="not run yet", id="executions")
        self.history_table = VirtualTable(HISTORY_COLUMNS, empty="reading the ledger…", id="history")
        self.output_title = Label("Output", id="output-title", classes="section")
        self.output = OutputView(id="output")

    def body(self) -> Iterable[Widget]:
        yield self.info
        with Horizontal(id="detail-panes"):
            with Vertical(id="detail-left"):
                yield Label("Executions", classes="section")
                yield self.exec_table
                yield Label("History (ledger entries of this task)", classes="section")
                yield self.history_table
            with Vertical(id="detail-right"):
                yield self.output_title
                yield self.output

    def on_mount(self) -> None:
        super().on_mount()
        self.bar.say(Text(f"task {self.task_id}", style="bold"))
        self.output.focus()
        boundary = self.dash.last_event or "+"
        self.run_worker(lambda: self._scan_history(boundary), thread=True, group="history", exit_on_error=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTIONS and self.dash.read_only:
            return False
        return True

    # --- refresh ---------------------------------------------------------------------------------
    def on_ledger(self, touched: Touched) -> None:
        mine = [(eid, f) for eid, f in touched.entries if f.get("task") == str(self.task_id)]
        if mine:
            for eid, f in mine:
                self.history[eid] = f
            self._draw_history()
        if self.task_id in touched.tasks or touched.everything:
            self.touch(touched)

    def fetch(self, touched: Touched, request: Any) -> Any:
        return self.dash.source.task_detail(self.task_id)

    def apply(self, touched: Touched, request: Any, data: Any) -> None:
        task, executions = data
        self.t, self.executions = task, executions
        self._draw_info()
        now = self.dash.clock.now()
        self.exec_table.set_rows(self._exec_row(e, now) for e in executions)
        if executions:
            self.exec_table.cursor = len(executions) - 1
        want = self.attempt if self.attempt is not None else (executions[-1]["attempt"] if executions else None)
        if want != self.shown_attempt:
            self._follow(want)

    def _draw_info(self) -> None:
        t = self.t
        if t is None:
            self.info_rows = [("", f"no task {self.task_id}: it was deleted")]
            self.info.update(Text(self.info_rows[0][1], style="bold red"))
            return
        clock = self.dash.clock
        head = Text()
        head.append(f"Task {t['task_id']}", style="bold")
        if t.get("name"):
            head.append(f"  {t['name']}", style="bold cyan")
        head.append("  ")
        head.append_text(status_text(t.get("status")))
        head.append(f"  batch {t.get('batch')}")
        if t.get("worker"):
            head.append(f"  on {t['worker']}")
        head.append(f"  attempt {t.get('attempt') or 0}  retries left {t.get('retry') or 0}", style="dim")
        rows: list[tuple[str, Text]] = [("", head), ("Command", Text(redact(t.get("command") or "")))]
        latest = self.executions[-1] if self.executions else None
        frozen = latest.get("command") if latest else None
        if frozen is None:
            rows.append(("At start", Text("(not started yet: an edit applies)", style="dim")))
        elif frozen == t.get("command"):
            rows.append(("At start", Text("same as above", style="dim")))
        else:
            rows.append(("At start", Text(redact(frozen), style="yellow")))
        if t.get("container"):
            rows.append(("Container", Text(f"{t['container']} {t.get('container_options') or ''}".strip())))
        for label, key in (("Input", "input"), ("Output", "output"), ("Resource", "resource")):
            if t.get(key):
                rows.append((label, Text(redact(str(t[key])))))
        if t.get("required_task_ids"):
            rows.append(("Requires", Text(", ".join(str(x) for x in t["required_task_ids"]))))
        times = [f"created {clock.date(t.get('creation_date'))}",
                 f"{t.get('status')} since {clock.date(t.get('status_date'))}"]
        if t.get("run_timeout"):
            times.append(f"run timeout {t['run_timeout']}s")
        if t.get("download_timeout"):
            times.append(f"download timeout {t['download_timeout']}s")
        rows.append(("Dates", Text(" · ".join(times), style="dim")))
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(style="bold", width=11, no_wrap=True)
        grid.add_column(ratio=1)
        for label, text in rows:
            grid.add_row(label, text)
        self.info_rows = [(label, text.plain) for label, text in rows]
        self.info.update(grid)

    def _exec_row(self, e: dict[str, Any], now: float) -> Row:
        start = e.get("start_date")
        ended = e.get("status") in ("succeeded", "failed", "refused")
        runtime = ((e.get("modification_date") if ended else now) or now) - start if start else None
        rc = e.get("return_code")
        return Row(e["attempt"], [
            str(e["execution_id"]), str(e.get("attempt") or ""), e.get("worker") or "",
            Text(e.get("status") or "", style=STATUS_STYLE.get(e.get("status") or "", "")),
            self.dash.clock.time(start), duration(runtime) if start else "",
            Text("" if rc is None else str(rc), style="green" if rc == 0 else "red"), e.get("pid") or "",
        ])

    # --- history: the ledger from the task's creation (a scan), then live ----------------------------
    def _scan_history(self, boundary: str) -> None:
        me = get_current_worker()
        try:
            task, _ = self.dash.source.task_detail(self.task_id)
            after = "-"
            if task and task.get("creation_date"):
                after = f"{max(0, int(task['creation_date'] * 1000) - 5000)}-0"
            found: dict[str, dict[str, str]] = {}
            while not me.is_cancelled:
                chunk = self.dash.source.events_after(after, SCAN_CHUNK)
                if not chunk:
                    break
                for eid, f in chunk:
                    if boundary != "+" and _after(eid, boundary):
                        chunk = []
                        break
                    if f.get("task") == str(self.task_id):
                        found[eid] = f
                if len(chunk) < SCAN_CHUNK:
                    break
                after = chunk[-1][0]
            self._call(self._history_found, found)
        except ScitqError as exc:
            self._call(self._history_found, {}, str(exc))

    def _history_found(self, found: dict[str, dict[str, str]], error: str | None = None) -> None:
        self.history.update(found)
        self.history_table.empty = error or "no event for this task"
        self._draw_history()

    def _draw_history(self) -> None:
        rows = []
        for eid in sorted(self.history, key=entry_key):
            f = self.history[eid]
            data = event_data(f)
            extra = " ".join(f"{k}={f[k]}" for k in ("worker",) if f.get(k))
            what = " ".join(x for x in (extra, event_summary(f, data)) if x)
            rows.append(Row(eid, [self.dash.clock.precise(event_time(eid, data)), f.get("type", "?"), what]))
        self.history_table.set_rows(rows)
        self.history_table.cursor = max(0, len(rows) - 1)

    # --- output: XREAD BLOCK on the attempt's stream ------------------------------------------------
    def _follow(self, attempt: int | None) -> None:
        self.generation += 1
        self.shown_attempt = attempt
        self.output.clear()
        if attempt is None:
            self.output_title.update("Output — the task has not run yet")
            return
        ex = next((e for e in self.executions if e["attempt"] == attempt), None)
        where = f" on {ex['worker']}" if ex and ex.get("worker") else ""
        self.output_title.update(Text.assemble(("Output", "bold"), f" of attempt {attempt}{where} — stdout, ",
                                               ("stderr", "red"), ", following as it is written"))
        gen = self.generation
        self.run_worker(lambda: self._follow_stream(attempt, gen), thread=True, group="output",
                        exclusive=True, exit_on_error=False)

    def _follow_stream(self, attempt: int, gen: int) -> None:
        me = get_current_worker()
        source = self.dash.source
        after = "0-0"
        backlog = True          # first read what is there (in chunks), then block for what comes
        while not me.is_cancelled and gen == self.generation:
            try:
                if backlog:
                    entries = source.output(self.task_id, attempt, after, count=BACKLOG_CHUNK)
                    backlog = len(entries) == BACKLOG_CHUNK
                else:
                    entries = source.follow_output(self.task_id, attempt, after, block_ms=400)
            except ScitqError:
                time.sleep(0.5)
                continue
            if entries:
                after = entries[-1][0]
                self._call(self._show_output, gen, [(f.get("fd", "stdout"), f.get("text", "")) for _e, f in entries])

    def _show_output(self, gen: int, chunks: list[tuple[str, str]]) -> None:
        if gen != self.generation:
            return
        for fd, text in chunks:
            self.output.append(fd, text)

    # --- actions ---------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.generation += 1
        self.app.pop_screen()

    def action_attempt(self) -> None:
        attempts = [e["attempt"] for e in self.executions]
        if not attempts:
            return
        current = self.shown_attempt if self.shown_attempt in attempts else attempts[-1]
        nxt = attempts[(attempts.index(current) + 1) % len(attempts)]
        self.attempt = None if nxt == attempts[-1] else nxt
        self._follow(nxt)

    def action_save(self) -> None:
        ex = next((e for e in self.executions if e["attempt"] == self.shown_attempt), None)
        if ex is None:
            self.notify("nothing to save: the task has not run yet", severity="warning", markup=False)
            return
        tid, eid, attempt = self.task_id, ex["execution_id"], ex["attempt"]

        std, _err = output_names(tid, eid)
        self.dash.act(f"saved {std} and output-err-… in {os.getcwd()}", save_attempt, self.dash.source, tid, eid,
                      attempt)

    def action_follow(self) -> None:
        self.output.follow = True
        self.output.scroll_end(animate=False)

    def action_edit(self) -> None:
        t = self.t
        if t is None:
            return

        def done(command: str | None) -> None:
            if command is not None and command != t.get("command"):
                self.dash.act(f"task {self.task_id}: command changed", self.dash.actions.task_edit,
                              self.task_id, command)
        self.app.push_screen(EditCommand(f"Command of task {self.task_id} ({t.get('status')})",
                                         t.get("command") or ""), done)

    def action_relaunch(self) -> None:
        self.attempt = None
        self.dash.act(f"task {self.task_id} relaunched", self.dash.actions.task_relaunch, self.task_id)

    def action_pause(self) -> None:
        if self.t and self.t.get("status") == "paused":
            self.dash.act(f"task {self.task_id} resumed", self.dash.actions.task_resume, self.task_id)
        else:
            self.dash.act(f"task {self.task_id} paused", self.dash.actions.task_pause, self.task_id)

    def action_signal(self) -> None:
        def done(signal: int | None) -> None:
            if signal is not None:
                self.dash.act(f"signal {signal} sent to task {self.task_id}", self.dash.actions.task_signal,
                              self.task_id, signal)
        self.app.push_screen(Choose(f"Signal to send to task {self.task_id}", SIGNAL_CHOICES), done)

    def action_delete(self) -> None:
        def done(yes: bool | None) -> None:
            if yes:
                self.dash.act(f"task {self.task_id} deleted", self.dash.actions.task_delete, self.task_id)
                self.action_back()
        self.app.push_screen(Confirm(f"Are you sure you want to delete task_{self.task_id}?", yes="Delete"), done)


def _after(eid: str, boundary: str) -> bool:
    return entry_key(eid) > entry_key(boundary)
