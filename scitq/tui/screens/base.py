"""Provides `LiveScreen`: a screen that follows the ledger, plus the bar and banner every screen shows.

Events arrive as `Touched` sets. A screen merges them and, after a short pause that coalesces
bursts, runs one refresh in a worker thread (`fetch`, off the UI) and applies it (`apply`, on the
UI). While a refresh runs, new touches wait for the next one. A screen that is not shown only
accumulates, and refreshes when it is shown again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Iterable

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from scitq.errors import ScitqError, Unreachable
from scitq.tui.touch import Touched

if TYPE_CHECKING:
    from scitq.tui.app import Dashboard

__all__ = ["LiveScreen", "TopBar", "Banner"]

log = logging.getLogger(__name__)
SCREENS = (("workers", "w", "Workers"), ("batches", "b", "Batches"), ("workflows", "W", "Workflows"),
           ("tasks", "t", "Tasks"), ("events", "e", "Events"), ("jobs", "j", "Jobs"))


class TopBar(Static):
    """Which screen is shown, the server's state, and what the screen wants to say (counts, filters)."""

    DEFAULT_CSS = "TopBar { height: 1; background: $primary-background; color: $text; }"

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current
        self.info: Text | str = ""

    def on_mount(self) -> None:
        self.watch(self.app, "server_up", lambda _v: self.redraw(), init=False)
        self.redraw()

    def redraw(self) -> None:
        app: Dashboard = self.app  # type: ignore[assignment]
        t = Text()
        t.append(" scitq ", style="bold reverse")
        for mode, key, label in SCREENS:
            style = "bold underline" if mode == self.current else "dim"
            t.append(" ")
            t.append(f"{key}", style="bold cyan")
            t.append(f" {label}", style=style)
        t.append("   ")
        if app.server_up is False:
            t.append("● server down", style="bold red")
        elif app.server_up:
            t.append("● server up", style="green")
        if app.read_only:
            t.append("  read-only", style="bold yellow")
        if self.info:
            t.append("   ")
            t.append_text(self.info if isinstance(self.info, Text) else Text(self.info))
        self.update(t)

    def say(self, info: Text | str) -> None:
        self.info = info
        self.redraw()


class Banner(Static):
    """A red line shown while Redis/Valkey cannot be reached."""

    DEFAULT_CSS = """
    Banner { height: auto; background: $error; color: $text; text-style: bold; display: none; padding: 0 1; }
    Banner.-shown { display: block; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "offline", self._show)

    def _show(self, message: str) -> None:
        self.set_class(bool(message), "-shown")
        self.update(f"⚠ {message} — reconnecting by itself…" if message else "")


class LiveScreen(Screen):
    """Base of the dashboard's screens: a bar, a banner, the body, the footer; refreshes coalesced."""

    MODE: ClassVar[str] = ""
    TITLE_TEXT: ClassVar[str] = ""
    COALESCE: ClassVar[float] = 0.05          # seconds a burst of events may gather before one refresh
    KEY_NOTES: ClassVar[list[tuple[str, str]]] = []   # extra lines for the help dialog

    def __init__(self) -> None:
        super().__init__()
        self.pending = Touched.all()
        self.refreshing = False
        self._timer: Any = None
        self._kicked = False
        self.bar = TopBar(self.MODE)

    @property
    def dash(self) -> "Dashboard":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield self.bar
        yield Banner()
        yield from self.body()
        yield Footer(compact=True)

    def body(self) -> Iterable[Widget]:
        return []

    def on_mount(self) -> None:
        self.dash.live.add(self)
        self.schedule()

    def on_unmount(self) -> None:
        self.dash.live.discard(self)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        self.bar.redraw()
        if self.pending or self._kicked:
            self.schedule(0)

    # --- the refresh loop ------------------------------------------------------------------------
    def touch(self, touched: Touched) -> None:
        self.pending.merge(touched, entries=False)    # screens that list entries take them in on_ledger
        if self.is_current:
            self.schedule()

    def kick(self) -> None:
        """Refresh even though no event touched anything (a filter changed, rows are wanted)."""
        self._kicked = True
        self.schedule(0)

    def schedule(self, delay: float | None = None) -> None:
        if self._timer is None and not self.refreshing:
            # never 0: a Textual timer of interval 0 that starts late divides by zero and never fires
            wait = max(0.01, self.COALESCE if delay is None else delay)
            self._timer = self.set_timer(wait, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if self.refreshing or not (self.pending or self._kicked):
            return
        touched, self.pending, self._kicked = self.pending, Touched(), False
        self.refreshing = True
        request = self.prepare(touched)
        self.run_worker(lambda: self._fetch_in_thread(touched, request), thread=True, exit_on_error=False,
                        group=f"refresh-{self.MODE}")

    def _fetch_in_thread(self, touched: Touched, request: Any) -> None:
        try:
            data = self.fetch(touched, request)
        except Unreachable as exc:
            self._call(self._failed, touched, str(exc))
            return
        except ScitqError as exc:
            self._call(self._failed, touched, None, str(exc))
            return
        except Exception as exc:   # a bug must not take the dashboard down
            log.exception("refresh of %s failed", self.MODE)
            self._call(self._failed, touched, None, f"{type(exc).__name__}: {exc}")
            return
        self._call(self._applied, touched, request, data)

    def _call(self, fn: Any, *args: Any) -> None:
        try:
            self.app.call_from_thread(fn, *args)
        except RuntimeError:    # the app is closing
            pass

    def _applied(self, touched: Touched, request: Any, data: Any) -> None:
        self.refreshing = False
        try:
            self.apply(touched, request, data)
        except Exception as exc:
            log.exception("drawing %s failed", self.MODE)
            self.notify(f"{type(exc).__name__}: {exc}", severity="error", markup=False)
        if (self.pending or self._kicked) and self.is_current:
            self.schedule()

    def _failed(self, touched: Touched, offline: str | None, error: str | None = None) -> None:
        self.refreshing = False
        self.pending.merge(touched)
        self._kicked = True
        if offline:
            self.dash.went_offline(offline)       # the ledger follower brings us back
        elif error:
            self.notify(error, severity="error", markup=False)

    @property
    def busy(self) -> bool:
        return self.refreshing or self._timer is not None

    # --- to override ---------------------------------------------------------------------------
    def prepare(self, touched: Touched) -> Any:
        """What the next `fetch` needs to know of the screen (UI thread, just before it starts)."""
        return None

    def fetch(self, touched: Touched, request: Any) -> Any:
        """Read what `touched` changed (worker thread: Redis only, no widgets)."""
        return None

    def apply(self, touched: Touched, request: Any, data: Any) -> None:
        """Show what `fetch` read (UI thread)."""

    def on_ledger(self, touched: Touched) -> None:
        """New ledger entries: by default, refresh what they touch."""
        self.touch(touched)
