"""Provides the Batches screen: tasks per status with a progress bar, workers, throughput; pause/go, relaunch, delete."""

from __future__ import annotations

from typing import Any, Iterable

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from scitq.tui.actions import GO_CHOICES, PAUSE_CHOICES
from scitq.tui.format import STATUS_STYLE, progress_bar, spread
from scitq.tui.index import Spread
from scitq.tui.modals import Choose, Confirm
from scitq.tui.screens.base import LiveScreen
from scitq.tui.table import Column, Row, VirtualTable
from scitq.tui.touch import Touched

__all__ = ["BatchesScreen"]

COUNTED = ("waiting", "pending", "assigned", "accepted", "running", "paused", "failed", "blocked", "succeeded")
_SHORT = {"waiting": "Wait", "pending": "Pend", "assigned": "Asgn", "accepted": "Acc", "running": "Run",
          "paused": "Paus", "failed": "Fail", "blocked": "Blkd", "succeeded": "Done"}
COLUMNS = [Column("batch", "Batch", 16), Column("state", "State", 8), Column("progress", "Progress", 21)]
COLUMNS += [Column(s, _SHORT[s], 6, "right") for s in COUNTED]
COLUMNS += [Column("total", "Total", 7, "right"), Column("rate", "Done/min", 8, "right"),
            Column("duration", "Duration", 20), Column("cost", "Cost", 8, "right"), Column("workers", "Workers", 0)]
ACTIONS = {"pause", "go", "relaunch", "delete"}
DURATIONS_EVERY = 3.0    # seconds: the runtimes of the tasks that ended are read again at most this often


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
            ("", "Done/min: tasks that ended (succeeded or failed) over the last minute"),
            ("", "Duration: runtime of the succeeded tasks' latest execution, average [min-max]; "
                 "after ✗, the failed ones'"),
            ("", "Cost: what the deployed machines' time in the batch cost (flavor price per hour x hours)")]

    def __init__(self) -> None:
        super().__init__()
        self.table = VirtualTable(COLUMNS, empty="no batch yet: tasks create them", id="batches")
        self.batches: list[dict[str, Any]] = []
        self.workers_of: dict[str, list[str]] = {}
        self.spreads: dict[str, dict[str, Spread]] | None = None     # None: not read yet
        self.costs: dict[str, float] = {}
        self._ended: set[int] = set()         # tasks whose runtime may have changed (read every few seconds)
        self._reading_ended = False

    def body(self) -> Iterable[Widget]:
        yield self.table

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.set_interval(2.0, self._redraw)
        self.set_interval(DURATIONS_EVERY, self._read_durations)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTIONS and self.dash.read_only:
            return False
        return True

    # --- refresh ---------------------------------------------------------------------------------
    def on_ledger(self, touched: Touched) -> None:
        self._ended |= touched.tasks
        if touched.batches or touched.membership or touched.worker_set or touched.everything:
            self.touch(touched)

    def fetch(self, touched: Touched, request: Any) -> Any:
        workers = None
        if touched.everything or touched.worker_set or touched.worker_changes or not self.workers_of:
            workers = self.dash.source.workers()
        self._costs_read = self.dash.source.batch_costs()    # read with the batches, shown by apply
        return self.dash.source.batches(), workers

    def apply(self, touched: Touched, request: Any, data: Any) -> None:
        batches, workers = data
        self.costs = getattr(self, "_costs_read", self.costs)
        durations = self.dash.durations
        if not (durations.loading or durations.loaded or self._reading_ended):
            # once the batches are on screen: the runtimes of every ended task, in the background
            self._reading_ended = True
            self.run_worker(lambda: self._durations_in_thread(set()), thread=True, group="durations",
                            exit_on_error=False)
        if workers is not None:
            self.workers_of = {}
            for w in sorted(workers, key=lambda w: w["name"]):
                self.workers_of.setdefault(w.get("batch") or "", []).append(w["name"])
        self.batches = batches
        self._redraw()

    # --- durations: beside the refresh of the counts, so they never delay it ---------------------
    def _read_durations(self) -> None:
        """Every few seconds while shown: read again the ended tasks that events touched meanwhile."""
        durations = self.dash.durations
        if not self.is_current or self._reading_ended or not durations.loaded or not self._ended:
            return
        ended, self._ended = self._ended, set()
        self._reading_ended = True
        self.run_worker(lambda: self._durations_in_thread(ended), thread=True, group="durations",
                        exit_on_error=False)

    def _durations_in_thread(self, ended: set[int]) -> None:
        durations, spreads = self.dash.durations, None
        try:
            durations.load()
            durations.refresh(ended)
            spreads = durations.spreads()
        except Exception:
            pass                         # offline: these tasks are read with the next ones
        self._call(self._durations_read, spreads, ended)

    def _durations_read(self, spreads: dict[str, dict[str, Spread]] | None, ended: set[int]) -> None:
        self._reading_ended = False
        if spreads is None:
            self._ended |= ended
        else:
            self.spreads = spreads
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
            progress_bar(b, 15), *counts, f"{total:,}", f"{rate:,.0f}" if rate else "·",
            self._duration(b), f"{self.costs[name]:.2f}" if self.costs.get(name) else "·",
            ", ".join(self.workers_of.get(name, [])),
        ])

    def _duration(self, b: dict[str, Any]) -> Text:
        ended = int(b.get("succeeded") or 0) + int(b.get("failed") or 0)
        if self.spreads is None:
            return Text("…" if ended else "", style="dim")
        got = self.spreads.get(b["batch"], {})
        out = Text()
        ok, failed = got.get("succeeded"), got.get("failed")
        if ok is not None:
            out.append(spread(ok.average, ok.low, ok.high))
        if failed is not None:
            out.append(" ✗" if ok is not None else "✗", style="red")
            out.append(spread(failed.average, failed.low, failed.high) if ok is None else
                       spread(failed.average, failed.average, failed.average), style="red")
        return out

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
