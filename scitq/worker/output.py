"""Provides the output buffer of one attempt: chunks merged per stream and sent through the spool in time."""

from __future__ import annotations

import threading
import time

from scitq.events.limits import MAX_OUTPUT_CHUNK
from scitq.worker.spool import Spool

__all__ = ["OutputBuffer"]


class OutputBuffer:
    """Output of one attempt, sent at least every `every` seconds while the process writes (v1 latency)."""

    def __init__(self, spool: Spool, stream: str, every: float) -> None:
        self.spool = spool
        self.stream = stream
        self.every = every
        self._items: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._sending = threading.Lock()   # two flushes never interleave their entries
        self._last = time.monotonic()

    def write(self, fd: str, text: str) -> None:
        """The runners' `on_output`: called from a background thread as output arrives."""
        with self._lock:
            self._items.append((fd, text))
            due = time.monotonic() - self._last >= self.every
        if due:
            self.flush()

    def flush_if_due(self) -> None:
        with self._lock:
            due = bool(self._items) and time.monotonic() - self._last >= self.every
        if due:
            self.flush()

    def flush(self) -> None:
        """Send what is buffered now, consecutive chunks of one stream merged into one entry."""
        with self._sending:
            with self._lock:
                items, self._items = self._items, []
                self._last = time.monotonic()
            merged: list[list[str]] = []
            for fd, text in items:
                if merged and merged[-1][0] == fd:
                    merged[-1][1] += text
                else:
                    merged.append([fd, text])
            for fd, text in merged:   # an entry stays below MAX_OUTPUT_CHUNK: long output is split
                for i in range(0, max(len(text), 1), MAX_OUTPUT_CHUNK):
                    self.spool.append(self.stream, {"fd": fd, "text": text[i:i + MAX_OUTPUT_CHUNK]})
