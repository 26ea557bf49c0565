"""Provides the Workers screen: every worker with its settings, load and tasks; pause, tune, move, delete."""

from __future__ import annotations

import time
from typing import Any, Iterable

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from scitq.tui.actions import CLEAN, RESTART
from scitq.tui.format import STATUS_STYLE, ago, size, worker_status_text
from scitq.tui.modals import Confirm, Prompt
from scitq.tui.screens.base import LiveScreen
from scitq.tui.table import Column, Row, VirtualTable
from scitq.tui.touch import Touched

__all__ = ["WorkersScreen"]

COLUMNS = [
    Column("sel", " ", 1), Column("name", "Worker", 16), Column("status", "Status", 10),
    Column("batch", "Batch", 14), Column("concurrency", "Conc", 4, "right"), Column("prefetch", "Pref", 4, "right"),
    Column("load", "CPU% / io", 13), Column("memory", "Mem%", 5, "right"), Column("disk", "Disk%", 5, "right"),
    Column("diskio", "Disk R/W", 10, "right"), Column("netio", "Net ↓/↑", 10, "right"),
    Column("loadavg", "Load 1/5/15", 14), Column("accepted", "Acc", 4, "right"),
    Column("running", "Run", 4, "right"), Column("succeeded", "Done", 6, "right"),
    Column("failed", "Fail", 5, "right"), Column("contact", "Last contact", 0),
]
ACTIONS = {"mark", "mark_all", "pause", "concurrency", "prefetch", "move", "delete", "clean", "restart"}
STATS_EVERY = 2.0        # seconds between two reads of the heartbeats (load, memory, disk, last contact)
TOTALS_EVERY = 0.5       # the task totals in the bar follow events at most this often


def _pct(v: Any) -> str:
    return "" if v is None else f"{v:.0f}"


def _pair(a: Any, b: Any) -> str:
    """Two speeds as `1.2M/340k`; blank when the worker does not report them (older workers)."""
    a, b = size(a), size(b)
    return f"{a}/{b}" if a and b else ""


class WorkersScreen(LiveScreen):
    """Workers, sorted by batch then name (v1). Space selects; actions apply to the selection or the cursor."""

    MODE = "workers"
    TITLE_TEXT = "Workers"
    BINDINGS = [
        Binding("space", "mark", "Select"),
        Binding("a", "mark_all", "All"),
        Binding("p", "pause", "Pause/resume"),
        Binding("plus,equals_sign", "concurrency(1)", "Conc+", key_display="+"),
        Binding("minus", "concurrency(-1)", "Conc−", key_display="-"),
        Binding("right_square_bracket", "prefetch(1)", "Pref+", key_display="]"),
        Binding("left_square_bracket", "prefetch(-1)", "Pref−", key_display="["),
        Binding("m", "move", "Move"),
        Binding("d,delete", "delete", "Delete", key_display="d"),
        Binding("C", "clean", "Clean", key_display="C"),
        Binding("R", "restart", "Restart", key_display="R"),
    ]
    KEY_NOTES = [("enter", "this worker's tasks"),
            ("", "load, memory, disk, disk and network speeds and last contact are heartbeats (every few "
                 "seconds), not events"),
            ("", "Disk R/W: bytes read/written per second, whole machine; Net ↓/↑: received/sent per second "
                 "(k, M, G: ×1000); the line under the table gives the cursor's worker's totals")]

    def __init__(self) -> None:
        super().__init__()
        self.table = VirtualTable(COLUMNS, empty="no worker yet: start one with `scitq worker`", id="workers")
        self.detail = Static("", id="worker-detail")
        self.worker_rows: list[dict[str, Any]] = []
        self.counts: dict[str, dict[str, int]] | None = None
        self._totals_at = 0.0
        self._totals_due = False

    def body(self) -> Iterable[Widget]:
        yield self.table
        yield self.detail

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.set_interval(STATS_EVERY, self._tick)
        self.run_worker(self._load_index, thread=True, group="exec-index", exit_on_error=False)

    def _load_index(self) -> None:
        try:
            if self.dash.exec_index.load():
                self._call(self.touch, Touched(heartbeat=True))
        except Exception:
            pass   # offline: counts come with the next load attempt (on reconnection)

    def _tick(self) -> None:
        if self.is_current and not self.dash.offline:
            self.touch(Touched(heartbeat=True))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTIONS and self.dash.read_only:
            return False
        return True

    # --- refresh ---------------------------------------------------------------------------------
    def on_ledger(self, touched: Touched) -> None:
        if touched.executions or touched.worker_changes or touched.everything or touched.tasks:
            self.touch(touched)

    def prepare(self, touched: Touched) -> Any:
        now = time.monotonic()
        totals = bool(touched.everything or self._totals_due and now - self._totals_at > TOTALS_EVERY
                      or touched.tasks and now - self._totals_at > TOTALS_EVERY)
        if totals:
            self._totals_at, self._totals_due = now, False
        elif touched.tasks and not self._totals_due:
            self._totals_due = True                      # read them once the burst is over
            self.set_timer(TOTALS_EVERY, self.kick)
        return {"totals": totals}

    def fetch(self, touched: Touched, request: Any) -> Any:
        index = self.dash.exec_index
        if touched.executions:
            index.refresh(touched.executions)
        if touched.everything and not index.loaded and not index.loading:
            self.run_worker(self._load_index, thread=True, group="exec-index", exit_on_error=False)
        views = (touched.everything or touched.heartbeat or touched.worker_changes or touched.worker_set
                 or not self.worker_rows)
        workers = self.dash.source.workers() if views else None
        totals: dict[str, int] = {}
        if request["totals"]:
            for b in self.dash.source.batches():
                for s in ("pending", "assigned", "accepted", "running", "failed", "succeeded"):
                    totals[s] = totals.get(s, 0) + (b.get(s) or 0)
        names = [w["name"] for w in (workers if workers is not None else self.worker_rows)]
        counts = {n: index.of(n) for n in names} if index.loaded else None
        return workers, counts, totals

    def apply(self, touched: Touched, request: Any, data: Any) -> None:
        workers, counts, totals = data
        if workers is not None:
            workers.sort(key=lambda w: (w.get("batch") or "", w.get("name") or ""))
            self.worker_rows = workers
        self.counts = counts
        self.table.selected &= {w["name"] for w in self.worker_rows}
        self._redraw()
        if totals:
            info = Text()
            for s, style in (("pending", "grey70"), ("assigned", "cyan"), ("accepted", "bright_cyan"),
                             ("running", "yellow"), ("failed", "red"), ("succeeded", "green")):
                info.append(f"{s.capitalize()} ", style=STATUS_STYLE.get(s, style))
                info.append(f"{totals.get(s, 0):,}  ", style="bold")
            self.bar.say(info)

    def _row(self, w: dict[str, Any]) -> Row:
        counts = None if self.counts is None else self.counts.get(w["name"], {})
        def c(status: str) -> str:
            return "…" if counts is None else str(counts.get(status, 0))
        clock = self.dash.clock
        return Row(w["name"], [
            Text("✓", style="bold green") if w["name"] in self.table.selected else "",
            Text(w["name"], style="bold"), worker_status_text(w.get("status")), w.get("batch") or "",
            str(w.get("concurrency", "")), str(w.get("prefetch", "")), w.get("load") or "",
            _pct(w.get("memory")), _pct(w.get("disk")), _pair(w.get("disk_read"), w.get("disk_write")),
            _pair(w.get("net_recv"), w.get("net_sent")), w.get("loadavg") or "",
            c("accepted"), c("running"), Text(c("succeeded"), style=STATUS_STYLE["succeeded"]),
            Text(c("failed"), style=STATUS_STYLE["failed"]),
            ago(clock, w.get("last_contact_date")),
        ])

    def _redraw(self) -> None:
        key = self.table.current_key
        self.table.set_rows(self._row(w) for w in self.worker_rows)
        if key is not None:
            self.table.move_to_key(key)
        self._describe()

    def on_virtual_table_highlighted(self, event: VirtualTable.Highlighted) -> None:
        self._describe()

    def _describe(self) -> None:
        """The line under the table: the cursor's worker's host and its disk and network totals."""
        key = self.table.current_key
        w = next((w for w in self.worker_rows if w["name"] == key), None)
        if w is None:
            self.detail.update("")
            return
        t = Text.assemble((w["name"], "bold"), f" on {w.get('hostname') or '?'}")
        if w.get("disk_read_total") is None and w.get("net_recv_total") is None:
            t.append(" · no disk or network figures from this worker", style="dim")
        else:
            t.append(f" · disk read {size(w.get('disk_read_total')) or '?'}B, "
                     f"written {size(w.get('disk_write_total')) or '?'}B"
                     f" · network received {size(w.get('net_recv_total')) or '?'}B, "
                     f"sent {size(w.get('net_sent_total')) or '?'}B")
            t.append(" (since the worker started)", style="dim")
        self.detail.update(t)

    # --- selection and actions ------------------------------------------------------------------
    def targets(self) -> list[dict[str, Any]]:
        chosen = self.table.selected or ({self.table.current_key} if self.table.current_key else set())
        return [w for w in self.worker_rows if w["name"] in chosen]

    def action_mark(self) -> None:
        key = self.table.current_key
        if key is None:
            return
        self.table.selected ^= {key}
        self._redraw()
        self.table.action_cursor(1)

    def action_mark_all(self) -> None:
        names = {w["name"] for w in self.worker_rows}
        self.table.selected = set() if self.table.selected >= names else names
        self._redraw()

    def action_pause(self) -> None:
        ws = self.targets()
        if not ws:
            return
        status = "running" if all(w.get("status") == "paused" for w in ws) else "paused"
        for w in ws:
            self.dash.act(f"worker {w['name']} {'resumed' if status == 'running' else 'paused'}",
                          self.dash.actions.worker_update, w["worker_id"], status=status)

    def action_concurrency(self, step: int) -> None:
        for w in self.targets():
            value = max(0, int(w.get("concurrency") or 0) + step)
            w.concurrency = value
            self.dash.act("", self.dash.actions.worker_update, w["worker_id"], concurrency=value)
        self._redraw()

    def action_prefetch(self, step: int) -> None:
        for w in self.targets():
            value = max(0, int(w.get("prefetch") or 0) + step)
            w.prefetch = value
            self.dash.act("", self.dash.actions.worker_update, w["worker_id"], prefetch=value)
        self._redraw()

    def action_move(self) -> None:
        ws = self.targets()
        if not ws:
            return
        names = ", ".join(w["name"] for w in ws)
        batches = sorted({w.get("batch") or "" for w in self.worker_rows} | set(self._batch_names()))

        def done(batch: str | None) -> None:
            if batch is None:
                return
            for w in ws:
                self.dash.act(f"worker {w['name']} moved to {batch or 'Default'}",
                              self.dash.actions.worker_update, w["worker_id"], batch=batch)
        self.app.push_screen(Prompt(f"Move {names} to batch:", ws[0].get("batch") or "", batches,
                                    placeholder="batch name (empty: Default)"), done)

    def _batch_names(self) -> list[str]:
        other = self.dash.screen_of("batches")
        return [b["batch"] for b in getattr(other, "batches", [])] if other else []

    def action_delete(self) -> None:
        ws = self.targets()
        if not ws:
            return
        names = ", ".join(w["name"] for w in ws)

        def done(yes: bool | None) -> None:
            if yes:
                for w in ws:
                    self.dash.act(f"worker {w['name']} deleted", self.dash.actions.worker_delete, w["worker_id"])
                self.table.selected -= {w["name"] for w in ws}
        self.app.push_screen(Confirm(f"Delete worker {names}? Its running tasks go back to the queue.",
                                     yes="Delete"), done)

    def action_clean(self) -> None:
        self._order(CLEAN, "cleaned", "Clean {names}? It removes every work directory it does not use "
                                      "(the ones kept after failed tasks).", "Clean")

    def action_restart(self) -> None:
        self._order(RESTART, "restarting", "Restart {names}? It takes no new task, lets its running ones finish, "
                                           "then starts again with the same arguments.", "Restart")

    def _order(self, signal: int, done: str, question: str, yes: str) -> None:
        ws = self.targets()
        if not ws:
            return
        names = ", ".join(w["name"] for w in ws)

        def answer(ok: bool | None) -> None:
            if ok:
                for w in ws:
                    self.dash.act(f"worker {w['name']}: {done}", self.dash.actions.worker_signal, w["worker_id"],
                                  signal)
        self.app.push_screen(Confirm(question.format(names=f"worker {names}" if len(ws) == 1 else
                                                     f"workers {names}"), yes=yes), answer)

    async def action_tasks(self) -> None:
        key = self.table.current_key
        if key is not None:
            await self.dash.show_tasks(worker=str(key), batch=None, status=None)

    async def on_virtual_table_chosen(self, event: VirtualTable.Chosen) -> None:
        await self.action_tasks()
