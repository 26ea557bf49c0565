"""Provides `Dashboard`, the Textual app: its screens, global keys, the ledger follower and the action runner."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.worker import get_current_worker

from scitq.errors import ScitqError, Unreachable
from scitq.tui.actions import Actions
from scitq.tui.format import Clock, event_data, event_time
from scitq.tui.index import DurationIndex, ExecutionIndex, TaskIndex
from scitq.tui.modals import Help
from scitq.tui.screens.base import LiveScreen
from scitq.tui.screens.batches import BatchesScreen
from scitq.tui.screens.events import EventsScreen
from scitq.tui.screens.jobs import JobsScreen
from scitq.tui.screens.tasks import TasksScreen
from scitq.tui.screens.workers import WorkersScreen
from scitq.tui.screens.workflows import WorkflowsScreen
from scitq.tui.source import Source
from scitq.tui.touch import FINISH_TYPES, Touched

__all__ = ["Dashboard"]

log = logging.getLogger(__name__)
THROUGHPUT_WINDOW = 60.0
FEED_GATHER = 0.04       # seconds the ledger follower lets a burst of events gather
FEED_COUNT = 5000        # entries handed over at most at once
ACTION_TURN_WAIT = 30.0   # seconds an action waits for the ones given before it


class Dashboard(App[int]):
    """`scitq tui`: workers, batches, tasks (and one task in detail), the ledger — live, over Redis."""

    TITLE = "scitq"
    CSS_PATH = Path(__file__).with_name("dashboard.tcss")
    ENABLE_COMMAND_PALETTE = False
    MODES = {"workers": WorkersScreen, "batches": BatchesScreen, "workflows": WorkflowsScreen, "tasks": TasksScreen,
             "events": EventsScreen, "jobs": JobsScreen}
    BINDINGS = [
        Binding("w", "show('workers')", "Workers"),
        Binding("b", "show('batches')", "Batches"),
        Binding("W", "show('workflows')", "Workflows"),
        Binding("t", "show('tasks')", "Tasks"),
        Binding("e", "show('events')", "Events"),
        Binding("j", "show('jobs')", "Jobs"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    offline: reactive[str] = reactive("")            # why Redis cannot be reached ("" when it can)
    server_up: reactive[bool | None] = reactive(None)

    def __init__(self, url: str, *, read_only: bool = False, clock: Clock | None = None,
                 start: str = "workers", follow: bool = True) -> None:
        super().__init__()
        self.url = url
        self.read_only = read_only
        self.clock = clock or Clock()
        self.start_mode = start
        self.follow = follow
        self.source = Source(url)
        self.actions = Actions(self.source.client, read_only=read_only)
        self.task_index = TaskIndex(self.source)
        self.exec_index = ExecutionIndex(self.source)
        self.durations = DurationIndex(self.source)
        self.live: set[LiveScreen] = set()
        self.finishes: deque[tuple[float, str]] = deque(maxlen=100_000)
        self.last_event: str | None = None
        self.started = time.monotonic()
        self.first_paint: float | None = None
        # actions run in threads of their own but reach the server in the order they were given (`act`)
        self._turn = threading.Condition()
        self._tickets = 0       # actions given
        self._serving = 0       # the ticket whose turn it is

    # --- start --------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.switch_mode(self.start_mode)
        if self.follow:
            self.run_worker(self._follow_ledger, thread=True, group="ledger", exit_on_error=False)
        self.set_interval(2.0, self._check_server)
        self._check_server()

    def screen_of(self, mode: str) -> LiveScreen | None:
        for s in self.live:
            if s.MODE == mode:
                return s
        return None

    # --- following the ledger (worker thread) --------------------------------------------------------
    def _follow_ledger(self) -> None:
        me = get_current_worker()
        delay = 0.25
        connected = False
        while not me.is_cancelled:
            try:
                if self.last_event is None:
                    self.last_event = self.source.last_event_id()
                    self._seed_throughput()
                entries = self.source.read_events(self.last_event, block_ms=400)
                if entries and len(entries) < FEED_COUNT:
                    # gather a burst: one hand-over to the UI per FEED_GATHER seconds at most
                    time.sleep(FEED_GATHER)
                    entries += self.source.read_events(entries[-1][0], block_ms=None, count=FEED_COUNT)
                if not connected:
                    connected, delay = True, 0.25
                    if not self._to_ui(self._online):
                        return
                if entries:
                    self.last_event = entries[-1][0]
                    if not self._to_ui(self._ledger, Touched.from_entries(entries)):
                        return
            except Unreachable as exc:
                connected = False
                if not self._to_ui(self.went_offline, str(exc)):
                    return
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except Exception:   # never let the follower die: log, wait, go on
                log.exception("ledger follower")
                time.sleep(1.0)

    def _to_ui(self, fn: Callable[..., Any], *args: Any) -> bool:
        try:
            self.call_from_thread(fn, *args)
            return True
        except RuntimeError:
            return False

    def _seed_throughput(self) -> None:
        since = self.clock.now() - THROUGHPUT_WINDOW
        for eid, f in reversed(self.source.events_before(None, 5000)):
            if f.get("type") in FINISH_TYPES:
                ts = event_time(eid, event_data(f))
                if ts >= since:
                    self.finishes.append((ts, f.get("batch", "")))

    def _ledger(self, touched: Touched) -> None:
        self.finishes.extend(touched.finished)
        for screen in list(self.live):
            screen.on_ledger(touched)

    def _online(self) -> None:
        was_offline = bool(self.offline)
        self.offline = ""
        if was_offline:
            self.notify("Redis is back: the dashboard is live again", timeout=3)
            for screen in list(self.live):
                screen.touch(Touched.all())

    def went_offline(self, message: str) -> None:
        self.offline = message
        self.server_up = None

    def _check_server(self) -> None:
        def check() -> None:
            try:
                up: bool | None = self.source.server_alive()
            except ScitqError:
                up = None
            self._to_ui(self._set_server, up)
        self.run_worker(check, thread=True, group="server", exclusive=True, exit_on_error=False)

    def _set_server(self, up: bool | None) -> None:
        if not self.offline:
            self.server_up = up

    def throughput(self, batch: str | None = None) -> float:
        """Tasks finished per minute over the last minute (all batches, or one)."""
        since = self.clock.now() - THROUGHPUT_WINDOW
        while self.finishes and self.finishes[0][0] < since - 60:
            self.finishes.popleft()
        return sum(1 for ts, b in self.finishes if ts >= since and (batch is None or b == batch))

    # --- actions --------------------------------------------------------------------------------------
    def act(self, done: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Run one command in a worker thread, after the actions given before it (keys pressed fast, `+ + -`,
        reach the server in their order); the server's refusal becomes a one-line notification."""
        with self._turn:
            ticket = self._tickets
            self._tickets += 1

        def run() -> None:
            error = None
            with self._turn:    # (bounded: an earlier action whose thread never ran does not stop the rest)
                self._turn.wait_for(lambda: self._serving >= ticket, timeout=ACTION_TURN_WAIT)
            try:
                fn(*args, **kw)
            except ScitqError as exc:
                error = str(exc)
            except Exception as exc:
                log.exception("action failed")
                error = f"{type(exc).__name__}: {exc}"
            finally:
                with self._turn:
                    self._serving = max(self._serving, ticket + 1)
                    self._turn.notify_all()
            if error is not None:
                self._to_ui(self._say, error, "error")
            elif done:
                self._to_ui(self._say, done, "information")
        self.run_worker(run, thread=True, group="actions", exit_on_error=False)

    def _say(self, message: str, severity: str) -> None:
        self.notify(message, severity=severity, timeout=8 if severity == "error" else 3,  # type: ignore[arg-type]
                    markup=False)

    # --- navigation -----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("show", "help") and isinstance(self.screen, ModalScreen):
            return False
        return True

    async def action_show(self, mode: str) -> None:
        """Show a screen; pressed again on it, come back to its list (leaving a task's detail)."""
        if self.current_mode != mode:
            await self.switch_mode(mode)
            return
        while len(self.screen_stack) > 1 and getattr(self.screen, "MODE", "") != mode:
            self.pop_screen()

    async def show_tasks(self, **filters: Any) -> None:
        """The task list, filtered (from a worker or a batch)."""
        await self.switch_mode("tasks")
        while len(self.screen_stack) > 1 and not isinstance(self.screen, TasksScreen):
            self.pop_screen()
        screen = self.screen
        if isinstance(screen, TasksScreen):
            screen.set_filter(**filters)

    def action_help(self) -> None:
        screen = self.screen
        mine: list[tuple[str, str]] = []
        everywhere: list[tuple[str, str]] = []
        seen = set()
        for key, active in screen.active_bindings.items():
            b = active.binding
            if not b.show or not b.description or (id(active.node), b.action) in seen:
                continue
            seen.add((id(active.node), b.action))
            row = (b.key_display or self.get_key_display(b), b.description)
            (everywhere if active.node is self else mine).append(row)
        sections = [(getattr(screen, "TITLE_TEXT", "This screen"), mine + list(getattr(screen, "KEY_NOTES", [])))]
        sections.append(("Everywhere", everywhere + [("↑ ↓ PgUp PgDn Home End", "move in a table"),
                                                     ("enter", "open the line under the cursor"),
                                                     ("tab / shift+tab", "next / previous field")]))
        notes = ("Read-only: every action is hidden." if self.read_only else
                 "Actions are commands to the server; its refusal shows as a notification.")
        self.push_screen(Help(sections, notes))
