"""Provides the Batches screen: tasks per status with a progress bar, workers, throughput; pause/go, relaunch, delete."""

from __future__ import annotations

from typing import Any, Iterable

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from scitq.tui.actions import GO_CHOICES, PAUSE_CHOICES
from scitq.tui.format import STATUS_STYLE, progress_bar
from scitq.tui.modals import Choose, Confirm
from scitq.tui.screens.base import LiveScreen
from scitq.tui.table import Column, Row, VirtualTable
from scitq.tui.touch import Touched

__all__ = ["BatchesScreen"]

COUNTED = ("waiting", "pending", "assigned", "accepted", "running", "paused", "failed", "succeeded")
_SHORT = {"waiting": "Wait", "pending": "Pend", "assigned": "Asgn", "accepted": "Acc", "running": "Run",
          "paused": "Paus", "failed": "Fail", "succeeded": "Done"}
COLUMNS = [Column("batch", "Batch", 16), Column("state", "State", 8), Column("progress", "Progress", 25)]
COLUMNS += [Column(s, _SHORT[s], 7, "right") for s in COUNTED]
COLUMNS += [Column("total", "Total", 8, "right"), Column("rate", "Done/min", 8, "right"),
            Column("workers", "Workers", 0)]
ACTIONS = {"pause", "go", "relaunch", "delete"}


class BatchesScreen(LiveScreen):
    """One line per batch. A batch exists from its first task to its deletion."""

    MODE = "batches"
    TITLE_TEXT = "Batches"
    BINDINGS = [
        Binding("p", "pause", "Pause"),
        Binding("g", "go", "Go"),
        Binding("r", "relaunch", "Relaunch failed"),
        Binding("d,delete", "delete", "Delete", key_display="d"),
    ]
    KEY_NOTES = [("enter", "the batch's tasks"),
            ("", "Done/min: tasks that ended (succeeded or failed) over the last minute")]

    def __init__(self) -> None:
        super().__init__()
        self.table = VirtualTable(COLUMNS, empty="no batch yet: tasks create them", id="batches")
        self.batches: list[dict[str, Any]] = []
        self.workers_of: dict[str, list[str]] = {}

    def body(self) -> Iterable[Widget]:
        yield self.table

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.set_interval(2.0, self._redraw)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTIONS and self.dash.read_only:
            return False
        return True

    # --- refresh ---------------------------------------------------------------------------------
    def on_ledger(self, touched: Touched) -> None:
        if touched.batches or touched.membership or touched.worker_set or touched.everything:
            self.touch(touched)

    def fetch(self, touched: Touched, request: Any) -> Any:
        workers = None
        if touched.everything or touched.worker_set or touched.worker_changes or not self.workers_of:
            workers = self.dash.source.workers()
        return self.dash.source.batches(), workers

    def apply(self, touched: Touched, request: Any, data: Any) -> None:
        batches, workers = data
        if workers is not None:
            self.workers_of = {}
            for w in sorted(workers, key=lambda w: w["name"]):
                self.workers_of.setdefault(w.get("batch") or "", []).append(w["name"])
        self.batches = batches
        self._redraw()

    def _redraw(self) -> None:
        key = self.table.current_key
        self.table.set_rows(self._row(b) for b in self.batches)
        if key is not None:
            self.table.move_to_key(key)

    def _row(self, b: dict[str, Any]) -> Row:
        name = b["batch"]
        paused = bool(b.get("batch_paused"))
        counts = [Text(f"{b.get(s) or 0:,}" if b.get(s) else "·", style=STATUS_STYLE[s] if b.get(s) else "dim")
                  for s in COUNTED]
        total = sum(int(b.get(s) or 0) for s in COUNTED) + int(b.get("debug") or 0)
        rate = self.dash.throughput(name)
        return Row(name, [
            Text(name, style="bold"),
            Text("paused", style="bold #fdd835") if paused else Text("running", style="#42a5f5"),
            progress_bar(b, 19), *counts, f"{total:,}", f"{rate:,.0f}" if rate else "·",
            ", ".join(self.workers_of.get(name, [])),
        ])

    # --- actions ---------------------------------------------------------------------------------
    def _current(self) -> str | None:
        key = self.table.current_key
        return str(key) if key is not None else None

    def action_pause(self) -> None:
        batch = self._current()
        if batch is None:
            return

        def done(signal: int | None) -> None:
            if signal is not None:
                self.dash.act(f"batch {batch} paused", self.dash.actions.batch_stop, batch, signal)
        self.app.push_screen(Choose(f"Pause batch {batch}", PAUSE_CHOICES), done)

    def action_go(self) -> None:
        batch = self._current()
        if batch is None:
            return

        def done(signal: int | None) -> None:
            if signal is not None:
                self.dash.act(f"batch {batch} goes on", self.dash.actions.batch_go, batch, signal)
        self.app.push_screen(Choose(f"Resume batch {batch}", GO_CHOICES), done)

    def action_relaunch(self) -> None:
        batch = self._current()
        if batch is None:
            return
        failed = next((b.get("failed") or 0 for b in self.batches if b["batch"] == batch), 0)

        def done(yes: bool | None) -> None:
            if yes:
                self.dash.act(f"failed tasks of {batch} relaunched", self.dash.actions.batch_relaunch_failed, batch)
        self.app.push_screen(Confirm(f"Relaunch the {failed} failed task(s) of batch {batch}?", yes="Relaunch"),
                             done)

    def action_delete(self) -> None:
        batch = self._current()
        if batch is None:
            return
        total = next((sum(int(b.get(s) or 0) for s in COUNTED) for b in self.batches if b["batch"] == batch), 0)

        def done(yes: bool | None) -> None:
            if yes:
                self.dash.act(f"batch {batch} deleted", self.dash.actions.batch_delete, batch)
        self.app.push_screen(Confirm(f"Delete batch {batch} and its {total} task(s)? Running ones are stopped.",
                                     yes="Delete"), done)

    async def on_virtual_table_chosen(self, event: VirtualTable.Chosen) -> None:
        if event.key is not None:
            await self.dash.show_tasks(batch=str(event.key), worker=None, status=None)
