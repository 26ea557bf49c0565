"""Provides the outage log: what a worker says while Redis is unreachable, the first failure then spaced summaries."""

from __future__ import annotations

import logging
import time
from typing import Callable

__all__ = ["OutageLog"]

log = logging.getLogger("scitq.worker")


class OutageLog:
    """One warning when Redis becomes unreachable, then summaries (how long, how much is spooled) spaced
    from `first` seconds doubling up to `every` seconds, and one line when it is back.

    `spooled()` gives (entries, bytes) waiting in the worker's disk spool.
    """

    def __init__(self, worker: str, spooled: Callable[[], tuple[int, int]], *, first: float, every: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.worker = worker
        self.spooled = spooled
        self.first = first
        self.every = max(every, first)
        self.clock = clock
        self.since: float | None = None     # start of the current outage
        self._next = 0.0
        self._step = first

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> None:
        """A round of the worker failed because Redis could not be reached."""
        now = self.clock()
        if self.since is None:
            self.since, self._step = now, self.first
            self._next = now + self._step
            log.warning("worker %s: Redis unreachable (%s); running tasks go on, their reports and output "
                        "are kept on disk", self.worker, exc)
            return
        if now < self._next:
            return
        self._step = min(self._step * 2, self.every)
        self._next = now + self._step
        entries, size = self.spooled()
        log.warning("worker %s: Redis unreachable for %s (%s); %d entries (%s) spooled on disk", self.worker,
                    _duration(now - self.since), exc, entries, _size(size))

    def recovered(self) -> None:
        """A round of the worker reached Redis."""
        if self.since is None:
            return
        entries, size = self.spooled()
        back = f"worker {self.worker}: Redis is back after {_duration(self.clock() - self.since)}"
        if entries:
            log.info("%s; %d spooled entries (%s) being sent", back, entries, _size(size))
        else:
            log.info("%s", back)
        self.since = None


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000   # type: ignore[assignment]
    return f"{n} B"
