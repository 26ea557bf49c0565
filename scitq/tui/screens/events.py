"""Provides the Events screen: the ledger as it is written, filtered by type, batch, task or worker.

It starts with the last entries of `events` and then shows what the ledger follower brings. A
filter also looks further back in the ledger (in the background, up to SCAN_LIMIT entries).
"""

from __future__ import annotations

from typing import Any, Iterable

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label
from textual.worker import get_current_worker

from scitq.api.client import EventFilter
from scitq.errors import ScitqError
from scitq.tui.format import entry_key, event_data, event_summary, event_time
from scitq.tui.screens.base import LiveScreen
from scitq.tui.source import Entry
from scitq.tui.table import Column, Row, VirtualTable
from scitq.tui.touch import Touched

__all__ = ["EventsScreen", "EventFilter"]

COLUMNS = [Column("time", "Time", 12), Column("type", "Event", 24), Column("task", "Task", 7, "right"),
           Column("batch", "Batch", 12), Column("worker", "Worker", 12), Column("what", "Details", 0)]
START = 1000            # entries read when the screen opens
KEEP = 20_000           # entries kept in memory
SCAN_LIMIT = 200_000    # entries a filter looks back through
WANT = 500              # a filter looks back until it has this many matches
_TYPE_STYLE = {"task": "cyan", "execution": "yellow", "worker": "blue", "batch": "magenta", "report": "red"}


class EventsScreen(LiveScreen):
    """The ledger tail; newest at the bottom, followed while the cursor is on the last line."""

    MODE = "events"
    TITLE_TEXT = "Events"
    BINDINGS = [
        Binding("slash", "search", "Filter", key_display="/"),
        Binding("x", "clear", "Clear"),
        Binding("f", "follow", "Follow"),
        Binding("escape", "to_table", "Back to list", show=False),
    ]
    KEY_NOTES = [("enter", "the task of the event, in detail"),
            ("", "type filter: a prefix (task. or worker.offline); the others: exact values")]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Entry] = []          # oldest first
        self.older: list[Entry] = []            # matches of the current filter found further back
        self.shown: list[Entry] = []
        self.filter = EventFilter()
        self.loaded = False
        self.scanned = 0
        self.inputs = {name: Input(placeholder=f"{name}{' prefix' if name == 'type' else ''}", id=f"ev-{name}")
                       for name in ("type", "batch", "task", "worker")}
        self.info = Label("", id="events-info")
        self.table = VirtualTable(COLUMNS, empty="no event yet", id="events")
        self._timer_filter: Any = None

    def body(self) -> Iterable[Widget]:
        with Horizontal(id="filters"):
            yield from self.inputs.values()
            yield self.info
        yield self.table

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()

    # --- data ----------------------------------------------------------------------------------------
    def on_ledger(self, touched: Touched) -> None:
        if touched.entries:
            self._add(touched.entries)
        if touched.everything:
            self.touch(touched)

    def fetch(self, touched: Touched, request: Any) -> Any:
        if self.loaded:
            return None
        return list(reversed(self.dash.source.events_before(None, START)))

    def apply(self, touched: Touched, request: Any, data: Any) -> None:
        if data is None:
            return
        self.loaded = True
        merged = {eid: f for eid, f in data}
        merged.update({eid: f for eid, f in self.entries})
        self.entries = [(eid, merged[eid]) for eid in sorted(merged, key=entry_key)]
        self._refilter()

    def _add(self, entries: list[Entry]) -> None:
        self.entries.extend(entries)
        if len(self.entries) > KEEP + KEEP // 4:
            self.entries = self.entries[-KEEP:]
            self._refilter()
            return
        new = [e for e in entries if self.filter.match(e[1])]
        if not new:
            return
        at_end = self.table.cursor >= self.table.count - 1
        self.shown.extend(new)
        self.table.count_to(len(self.shown))
        if at_end:
            self.table.cursor = len(self.shown) - 1
        self._say()

    def _refilter(self) -> None:
        self.shown = self.older + [e for e in self.entries if self.filter.match(e[1])]
        self.table.empty = "no event matches this filter" if self.filter else "no event yet"
        self.table.reset(len(self.shown))
        self.table.cursor = max(0, len(self.shown) - 1)
        self._say()

    def _say(self) -> None:
        bits = [f"{len(self.shown):,} shown"]
        if self.filter and self.scanned:
            bits.append(f"{self.scanned:,} older entries searched")
        self.info.update(" · ".join(bits))

    def on_virtual_table_need_rows(self, event: VirtualTable.NeedRows) -> None:
        rows = [self._row(e) for e in self.shown[event.start:event.end]]
        self.table.fill(event.start, rows)

    def _row(self, e: Entry) -> Row:
        eid, f = e
        data = event_data(f)
        kind = f.get("type", "?")
        return Row(eid, [self.dash.clock.precise(event_time(eid, data)),
                         Text(kind, style=_TYPE_STYLE.get(kind.split(".")[0], "")), f.get("task", ""),
                         f.get("batch", ""), f.get("worker", ""), event_summary(f, data)])

    # --- filters -------------------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if self._timer_filter is not None:
            self._timer_filter.stop()
        self._timer_filter = self.set_timer(0.3, self._apply_filter)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._apply_filter()
        self.table.focus()

    def set_filter(self, **values: str) -> None:
        for name, value in values.items():
            self.inputs[name].value = value
        self._apply_filter()

    def _apply_filter(self) -> None:
        self._timer_filter = None
        new = EventFilter(**{name: i.value.strip() for name, i in self.inputs.items()})
        if new == self.filter:
            return
        self.filter = new
        self.older, self.scanned = [], 0
        self._refilter()
        if new and len(self.shown) < WANT and self.entries:
            oldest = self.entries[0][0]
            self.run_worker(lambda: self._look_back(new, oldest), thread=True, group="events-scan",
                            exclusive=True, exit_on_error=False)

    def _look_back(self, flt: EventFilter, before: str) -> None:
        me = get_current_worker()
        found: list[Entry] = []
        scanned = 0
        try:
            while not me.is_cancelled and scanned < SCAN_LIMIT and len(found) < WANT:
                chunk = self.dash.source.events_before(before, 10_000)
                if not chunk:
                    break
                scanned += len(chunk)
                found.extend(e for e in chunk if flt.match(e[1]))
                before = chunk[-1][0]
        except ScitqError:
            pass
        self._call(self._looked_back, flt, list(reversed(found)), scanned)

    def _looked_back(self, flt: EventFilter, found: list[Entry], scanned: int) -> None:
        if flt != self.filter:
            return
        self.older, self.scanned = found, scanned
        self._refilter()

    def action_search(self) -> None:
        self.inputs["type"].focus()

    def action_to_table(self) -> None:
        self.table.focus()

    def action_clear(self) -> None:
        for i in self.inputs.values():
            i.value = ""
        self._apply_filter()

    def action_follow(self) -> None:
        self.table.action_edge(1)

    def on_virtual_table_chosen(self, event: VirtualTable.Chosen) -> None:
        if 0 <= event.index < len(self.shown):
            task = self.shown[event.index][1].get("task")
            if task and task.isdigit():
                from scitq.tui.screens.detail import TaskDetail
                self.app.push_screen(TaskDetail(int(task)))

