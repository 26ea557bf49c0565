"""Provides the watch over a group of transfers: bytes counted, a progress line, a deadline, cancellation."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO, Any

from scitq.io.errors import TransferError

__all__ = ["Watch", "Cancelled"]


class Cancelled(TransferError):
    """The transfer was stopped: its deadline passed or it was cancelled."""


class Watch:
    """Shared by the transfers of one operation: every chunk goes through `advance`, which raises
    Cancelled once `cancel()` was called or the deadline passed. With `stream` set (the CLI on a
    terminal), a progress line is redrawn at most every `every` seconds."""

    def __init__(self, *, deadline: float | None = None, stream: IO[str] | None = None, every: float = 0.2,
                 label: str = "") -> None:
        self.deadline = deadline
        self.stream = stream
        self.every = every
        self.label = label
        self.done = 0
        self.total = 0
        self.files = 0
        self._reason: str | None = None
        self._lock = threading.Lock()
        self._drawn = 0.0
        self._start = time.monotonic()

    @classmethod
    def for_terminal(cls, label: str = "", stream: IO[str] | None = None) -> "Watch":
        """A watch drawing a progress line on stderr when it is a terminal (silent otherwise)."""
        out = stream if stream is not None else sys.stderr
        return cls(stream=out if getattr(out, "isatty", lambda: False)() else None, label=label)

    # --- cancellation ----------------------------------------------------------------------------
    def cancel(self, reason: str = "cancelled") -> None:
        self._reason = reason

    @property
    def cancelled(self) -> bool:
        self._expire()
        return self._reason is not None

    def _expire(self) -> None:
        if self._reason is None and self.deadline is not None and time.monotonic() > self.deadline:
            self._reason = "timed out"

    def check(self) -> None:
        """Raise Cancelled if the transfers must stop."""
        self._expire()
        if self._reason is not None:
            raise Cancelled(self._reason)

    # --- progress --------------------------------------------------------------------------------
    def expect(self, nbytes: int | None) -> None:
        if nbytes:
            with self._lock:
                self.total += nbytes

    def advance(self, nbytes: int) -> None:
        self.check()
        with self._lock:
            self.done += nbytes
        self._draw()

    def file_done(self) -> None:
        with self._lock:
            self.files += 1
        self._draw()

    def _draw(self, final: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not final and now - self._drawn < self.every:
            return
        self._drawn = now
        speed = self.done / max(now - self._start, 1e-6)
        pct = f" {100 * self.done / self.total:5.1f}%" if self.total else ""
        total = f"/{_human(self.total)}" if self.total else ""
        line = f"\r{self.label}{_human(self.done)}{total}{pct} {_human(speed)}/s {self.files} file(s)"
        self.stream.write(line + ("\n" if final else ""))
        self.stream.flush()

    def finish(self) -> None:
        self._draw(final=True)

    def callback(self) -> Any:
        """An fsspec Callback feeding this watch (fsspec is imported only here)."""
        from fsspec.callbacks import Callback

        watch = self

        class _WatchCallback(Callback):
            def __init__(self) -> None:
                super().__init__()
                self._seen = 0
                self._sized = False

            def call(self, *args: Any, **kwargs: Any) -> None:
                if self.size and not self._sized:
                    self._sized = True
                    watch.expect(self.size)
                delta = (self.value or 0) - self._seen
                self._seen = self.value or 0
                watch.advance(max(delta, 0))

        return _WatchCallback()


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
