"""Provides the Tasks screen: 100,000 tasks filtered, sorted and paged; edit, relaunch, pause, delete, signal.

Which ids, in which order, is `scitq.tui.query`; the screen reads the rows of the visible window
(one pipeline) and refreshes the rows that events touch.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Iterable

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label, Select
from textual.worker import get_current_worker

from scitq.errors import ScitqError
from scitq.io.uri import redact
from scitq.settings import TASK_STATUS
from scitq.tui.actions import SIGNAL_CHOICES
from scitq.tui.download import ZIP_NAME, zip_outputs
from scitq.tui.format import duration, status_text
from scitq.tui.index import SORT_KEYS
from scitq.tui.modals import Choose, Confirm, EditCommand
from scitq.tui.query import Plan, Query, make_plan, query_ids
from scitq.tui.screens.base import LiveScreen
from scitq.tui.table import Column, Row, VirtualTable
from scitq.tui.touch import Touched

__all__ = ["TasksScreen", "task_row_cells"]

COLUMNS = [
    Column("id", "Id", 7, "right"), Column("name", "Name", 14), Column("status", "Status", 9),
    Column("batch", "Batch", 12), Column("worker", "Worker", 12), Column("attempt", "Att", 3, "right"),
    Column("start", "Start", 8), Column("runtime", "Runtime", 8, "right"), Column("command", "Command", 0),
    Column("output", "Last output", 28),
]
ACTIONS = {"edit", "relaunch", "pause", "delete", "signal"}
MARGIN = 30          # rows read beyond the visible window, so scrolling a little reads nothing


def task_row_cells(t: dict[str, Any], now: float, clock: Any) -> list[str | Text]:
    ex = t.get("exec") or {}
    start = ex.get("start_date")
    end = ex.get("modification_date") if ex.get("status") in ("succeeded", "failed", "refused") else None
    runtime = (end or now) - start if start else None
    tail = t.get("tail")
    out = Text(tail[1], style="red" if tail[0] == "stderr" else "") if tail else ""
    command = redact(t.get("command") or "").replace("\n", " ⏎ ")
    return [str(t["task_id"]), t.get("name") or "", status_text(t.get("status")), t.get("batch") or "",
            t.get("worker") or "", str(t.get("attempt") or ""), clock.time(start or None),
            duration(runtime) if start else "", command, out]


class TasksScreen(LiveScreen):
    """Every task, paged: only the rows on screen are read."""

    MODE = "tasks"
    TITLE_TEXT = "Tasks"
    BINDINGS = [
        Binding("slash", "search", "Search", key_display="/"),
        Binding("s", "cycle_status", "Status"),
        Binding("o", "sort", "Sort"),
        Binding("O", "reverse", "Reverse", key_display="O"),
        Binding("x", "clear", "Clear"),
        Binding("z", "download", "Zip all"),
        Binding("c", "edit", "Edit"),
        Binding("r", "relaunch", "Relaunch"),
        Binding("p", "pause", "Pause"),
        Binding("k", "signal", "Signal"),
        Binding("d,delete", "delete", "Delete", key_display="d"),
        Binding("escape", "to_table", "Back to list", show=False),
    ]
    KEY_NOTES = [("enter", "the task in detail (live output, executions, history)"),
            ("", "a text filter or a sort other than by id reads every task once, in the background"),
            ("", f"z writes {ZIP_NAME} in the current directory: every execution's stdout and stderr of every "
                 "task the filters select (v1's Download all)")]

    def __init__(self) -> None:
        super().__init__()
        self.query_ = Query()
        self.plan = Plan(Query())
        self.replan = True
        self.want: tuple[int, int] | None = None
        self.raw: dict[int, dict[str, Any]] = {}
        self.batch_select: Select[str] = Select([], prompt="all batches", id="batch", allow_blank=True)
        self.status_select: Select[str] = Select([(s, s) for s in TASK_STATUS], prompt="all statuses",
                                                 id="status", allow_blank=True)
        self.search = Input(placeholder="/ name or command contains…", id="search")
        self.info = Label("", id="tasks-info")
        self.table = VirtualTable(COLUMNS, empty="no task matches", id="tasks")
        self._search_timer: Any = None
        self._syncing = False
        self.zipping: tuple[int, int] | None = None      # (tasks done, tasks) while `z` writes the zip

    def body(self) -> Iterable[Widget]:
        with Horizontal(id="filters"):
            yield self.batch_select
            yield self.status_select
            yield self.search
            yield self.info
        yield self.table

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.set_interval(1.0, self._tick)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTIONS and self.dash.read_only:
            return False
        return True

    # --- filters -----------------------------------------------------------------------------------
    def set_filter(self, **changes: Any) -> None:
        self.query_ = replace(self.query_, **changes)
        self._sync_widgets()
        self._requery()

    def _requery(self) -> None:
        self.replan = True
        self.table.cursor = 0
        self.table.scroll_to(y=0, animate=False, immediate=True)
        self.kick()

    def _sync_widgets(self) -> None:
        self._syncing = True
        try:
            q = self.query_
            if q.batch is not None and q.batch not in self._batch_options:
                self._set_batches(self._batch_options + [q.batch])
            self.batch_select.value = q.batch if q.batch is not None else Select.NULL
            self.status_select.value = q.status if q.status is not None else Select.NULL
            if self.search.value != q.text:
                self.search.value = q.text
        finally:
            self.call_after_refresh(self._end_sync)

    def _end_sync(self) -> None:
        self._syncing = False

    _batch_options: list[str] = []

    def _set_batches(self, names: list[str]) -> None:
        names = sorted(set(names))
        if names == self._batch_options:
            return
        self._batch_options = names
        value = self.batch_select.value
        self._syncing = True
        self.batch_select.set_options([(n, n) for n in names])
        if value in names:
            self.batch_select.value = value
        self.call_after_refresh(self._end_sync)

    def on_select_changed(self, event: Select.Changed) -> None:
        if self._syncing:
            return
        value = None if event.value is Select.NULL else str(event.value)
        if event.select.id == "batch" and self.query_.batch != value:
            self.query_ = replace(self.query_, batch=value)
            self._requery()
        elif event.select.id == "status" and self.query_.status != value:
            self.query_ = replace(self.query_, status=value)
            self._requery()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._syncing or event.input.id != "search":
            return
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(0.3, self._search_now)

    def _search_now(self) -> None:
        self._search_timer = None
        text = self.search.value.strip()
        if text != self.query_.text:
            self.query_ = replace(self.query_, text=text)
            self._requery()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._search_now()
        self.table.focus()

    def action_search(self) -> None:
        self.search.focus()

    def action_to_table(self) -> None:
        self.table.focus()

    def action_cycle_status(self) -> None:
        order = [None, *TASK_STATUS]
        i = order.index(self.query_.status) if self.query_.status in order else 0
        self.set_filter(status=order[(i + 1) % len(order)])

    def action_clear(self) -> None:
        self.query_ = Query(sort=self.query_.sort, desc=self.query_.desc)
        self._sync_widgets()
        self._requery()

    def action_sort(self) -> None:
        i = SORT_KEYS.index(self.query_.sort) if self.query_.sort in SORT_KEYS else 0
        self.set_filter(sort=SORT_KEYS[(i + 1) % len(SORT_KEYS)])

    def action_reverse(self) -> None:
        self.set_filter(desc=not self.query_.desc)

    def on_virtual_table_header_clicked(self, event: VirtualTable.HeaderClicked) -> None:
        if event.column in SORT_KEYS:
            if event.column == self.query_.sort:
                self.set_filter(desc=not self.query_.desc)
            else:
                self.set_filter(sort=event.column)

    # --- refresh -----------------------------------------------------------------------------------
    def on_virtual_table_need_rows(self, event: VirtualTable.NeedRows) -> None:
        self.want = (event.start, event.end)
        self.kick()

    def on_ledger(self, touched: Touched) -> None:
        if touched.tasks or touched.membership or touched.everything:
            self.touch(touched)

    def prepare(self, touched: Touched) -> Any:
        start, end = self.table.visible_range()
        if self.want:
            start, end = min(start, self.want[0]), max(end, self.want[1])
        self.want = None
        replan, self.replan = self.replan, False
        shown = {row.key for i, row in self.table.rows.items() if start <= i < end}
        missing = any(i not in self.table.rows for i in range(start, min(end, self.table.count)))
        return {"query": self.query_, "plan": self.plan, "replan": replan, "window": (start, end),
                "shown": shown, "missing": missing, "height": max(1, self.table.size.height - 1)}

    def fetch(self, touched: Touched, req: Any) -> Any:
        source, index = self.dash.source, self.dash.task_index
        q: Query = req["query"]
        if touched.tasks and (index.loaded or index.loading):
            index.refresh(touched.tasks)
        plan: Plan = req["plan"]
        replan = req["replan"] or touched.everything or plan.indexing is not None or plan.query != q
        if not replan and touched:
            if plan.ranked:
                replan = touched.membership
            else:
                replan = bool(touched.tasks) or touched.membership
        if replan:
            plan = self.make_plan(q)
        batches = source.batch_names() if (touched.everything or touched.membership) else None
        start, end = req["window"]
        if end <= start:
            end = start + req["height"]
        if not (replan or req["missing"] or (touched.tasks & req["shown"])):
            return plan, None, None, batches
        start = max(0, start - MARGIN)
        end = min(plan.count, end + MARGIN)
        ids = plan.ids_between(source, start, end)
        rows = source.task_rows(ids)
        return plan, start, [rows.get(t) or {"task_id": t, "status": "deleted"} for t in ids], batches

    def make_plan(self, q: Query) -> Plan:
        return make_plan(self.dash.source, self.dash.task_index, q)

    def apply(self, touched: Touched, req: Any, data: Any) -> None:
        plan, start, rows, batches = data
        if batches is not None:
            self._set_batches(batches)
        if plan.query != self.query_:       # the filter changed meanwhile: this answer is stale
            self.replan = True
            self.kick()
            return
        changed = plan is not self.plan
        self.plan = plan
        if plan.indexing is not None:
            self._start_index()
            self.table.empty = f"reading every task for this filter/sort… {plan.indexing[0]:,} / {plan.indexing[1]:,}"
            self.table.replace(0, 0, [])
        else:
            self.table.empty = "no task matches"
        if rows is not None:
            for r in rows:
                self.raw[r["task_id"]] = r
            built = [self._row(r) for r in rows]
            if changed:
                key = self.table.current_key
                self.table.replace(plan.count, start, built)
                if key is not None and not self.table.move_to_key(key):
                    self.table.cursor = min(self.table.cursor, max(0, plan.count - 1))
            else:
                self.table.fill(start, built)
        elif changed:
            self.table.replace(plan.count, 0, [])
        self._say()

    def _start_index(self) -> None:
        index = self.dash.task_index
        if index.loading or index.loaded:
            self.set_timer(0.5, self.kick)
            return

        def load() -> None:
            try:
                index.load()
            except Exception:
                pass
            self._call(self.kick)
        self.run_worker(load, thread=True, group="task-index", exit_on_error=False)
        self.set_timer(0.5, self.kick)

    def _say(self) -> None:
        q = self.query_
        parts = [f"{self.plan.count:,} task(s)"]
        if q.worker:
            parts.append(f"worker={q.worker}")
        parts.append(f"sort {q.sort} {'↓' if q.desc else '↑'}")
        if self.zipping is not None:
            parts.append(f"zip {self.zipping[0]:,}/{self.zipping[1]:,}")
        self.info.update(" · ".join(parts))
        self.table.header_marks = {q.sort if q.sort != "id" else "id": " ↓" if q.desc else " ↑"}

    def _row(self, t: dict[str, Any]) -> Row:
        return Row(t["task_id"], task_row_cells(t, self.dash.clock.now(), self.dash.clock))

    def _tick(self) -> None:
        """Running tasks' runtimes move on: redraw those rows (nothing is read)."""
        for i, row in list(self.table.rows.items()):
            t = self.raw.get(int(row.key))  # type: ignore[call-overload]
            if t is not None and t.get("status") == "running":
                self.table.rows[i] = self._row(t)
        self.table.refresh()

    # --- actions -----------------------------------------------------------------------------------
    def current(self) -> dict[str, Any] | None:
        key = self.table.current_key
        return self.raw.get(int(key)) if key is not None else None  # type: ignore[call-overload]

    def action_edit(self) -> None:
        t = self.current()
        if t is None:
            return
        tid = t["task_id"]

        def done(command: str | None) -> None:
            if command is not None and command != t.get("command"):
                self.dash.act(f"task {tid}: command changed", self.dash.actions.task_edit, tid, command)
        self.app.push_screen(EditCommand(f"Command of task {tid} ({t.get('status')})", t.get("command") or ""),
                             done)

    def action_relaunch(self) -> None:
        t = self.current()
        if t is not None:
            self.dash.act(f"task {t['task_id']} relaunched", self.dash.actions.task_relaunch, t["task_id"])

    def action_pause(self) -> None:
        t = self.current()
        if t is None:
            return
        if t.get("status") == "paused":
            self.dash.act(f"task {t['task_id']} resumed", self.dash.actions.task_resume, t["task_id"])
        else:
            self.dash.act(f"task {t['task_id']} paused", self.dash.actions.task_pause, t["task_id"])

    def action_signal(self) -> None:
        t = self.current()
        if t is None:
            return
        tid = t["task_id"]

        def done(signal: int | None) -> None:
            if signal is not None:
                self.dash.act(f"signal {signal} sent to task {tid}", self.dash.actions.task_signal, tid, signal)
        self.app.push_screen(Choose(f"Signal to send to task {tid}", SIGNAL_CHOICES), done)

    def action_delete(self) -> None:
        t = self.current()
        if t is None:
            return
        tid = t["task_id"]

        def done(yes: bool | None) -> None:
            if yes:
                self.dash.act(f"task {tid} deleted", self.dash.actions.task_delete, tid)
        label = f"task_{tid}" + (f" ({t['name']})" if t.get("name") else "")
        self.app.push_screen(Confirm(f"Are you sure you want to delete {label}?", yes="Delete"), done)

    def action_download(self) -> None:
        """Every execution's output of every task the filters select, zipped (v1's Download all)."""
        if self.zipping is not None:
            self.notify(f"{ZIP_NAME} is being written already", severity="warning", markup=False)
            return
        q = self.query_
        path = os.path.join(os.getcwd(), ZIP_NAME)
        self.zipping = (0, self.plan.count)
        self._say()
        self.notify(f"writing {path}…", timeout=3, markup=False)
        self.run_worker(lambda: self._zip_in_thread(q, path), thread=True, group="zip", exit_on_error=False)

    def _zip_in_thread(self, q: Query, path: str) -> None:
        try:
            me = get_current_worker()
            ids = query_ids(self.dash.source, self.dash.task_index, q, cancelled=lambda: me.is_cancelled)
            if me.is_cancelled:
                return
            tasks, executions = zip_outputs(self.dash.source, ids, path,
                                            progress=lambda done, total: self._call(self._zip_progress, done, total))
        except Exception as exc:
            message = str(exc) if isinstance(exc, (ScitqError, OSError)) else f"{type(exc).__name__}: {exc}"
            self._call(self._zip_done, f"{ZIP_NAME} not written: {message}", "error")
            return
        self._call(self._zip_done, f"{path}: the output of {executions:,} execution(s) of {tasks:,} task(s)",
                   "information")

    def _zip_progress(self, done: int, total: int) -> None:
        self.zipping = (done, total)
        self._say()

    def _zip_done(self, message: str, severity: str) -> None:
        self.zipping = None
        self._say()
        self.notify(message, severity=severity, timeout=8, markup=False)  # type: ignore[arg-type]

    def on_virtual_table_chosen(self, event: VirtualTable.Chosen) -> None:
        if event.key is not None:
            from scitq.tui.screens.detail import TaskDetail
            self.app.push_screen(TaskDetail(int(event.key)))  # type: ignore[call-overload]
