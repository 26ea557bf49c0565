"""Provides the in-memory indexes the views do not hold: tasks by text/worker (sorting), executions per
worker, runtimes of the ended tasks per batch.

Both load in chunks from a worker thread after the dashboard is up (never from the ledger), and stay
current by re-reading only the ids a burst of events touched.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from scitq.settings import TASK_STATUS
from scitq.tui.source import Source

__all__ = ["TaskIndex", "ExecutionIndex", "DurationIndex", "Spread", "SORT_KEYS", "CHUNK"]

CHUNK = 2000
SORT_KEYS = ("id", "name", "status", "batch", "worker")
_STATUS_ORDER = {s: i for i, s in enumerate(TASK_STATUS)}
Row = tuple[str, str, str, str, str]     # name, status, batch, worker, command


class _Loaded:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.lock = threading.Lock()
        self.loaded = False
        self.loading = False
        self.done = 0
        self.total = 0
        self._late: set[int] = set()      # touched while loading: re-read at the end

    def _ids(self) -> list[int]:
        raise NotImplementedError

    def _fetch(self, ids: list[int]) -> None:
        raise NotImplementedError

    def load(self, cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Read every entry in chunks (call from a worker thread); False if cancelled."""
        with self.lock:
            if self.loaded or self.loading:
                return self.loaded
            self.loading = True
        try:
            ids = self._ids()
            self.total, self.done = len(ids), 0
            for i in range(0, len(ids), CHUNK):
                if cancelled():
                    return False
                self._fetch(ids[i:i + CHUNK])
                self.done = min(len(ids), i + CHUNK)
            with self.lock:
                self.loaded = True
                late, self._late = sorted(self._late), set()
            for i in range(0, len(late), CHUNK):
                self._fetch(late[i:i + CHUNK])
            return True
        finally:
            self.loading = False

    def refresh(self, ids: set[int]) -> None:
        """Re-read these entries (touched by events); before the load is done, only remember them."""
        if not ids:
            return
        with self.lock:
            if not self.loaded:
                self._late |= ids
                return
        ordered = sorted(ids)
        for i in range(0, len(ordered), CHUNK):
            self._fetch(ordered[i:i + CHUNK])


class TaskIndex(_Loaded):
    """name, status, batch, worker and command of every task: for text filters and sorting by column."""

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.rows: dict[int, Row] = {}

    def _ids(self) -> list[int]:
        return self.source.all_ids()

    def _fetch(self, ids: list[int]) -> None:
        got = self.source.light(ids)
        with self.lock:
            for tid, values in zip(ids, got):
                if values[1] is None:
                    self.rows.pop(tid, None)
                else:
                    self.rows[tid] = tuple(v or "" for v in values)  # type: ignore[assignment]

    def query(self, batch: str | None = None, status: str | None = None, text: str = "",
              worker: str | None = None, sort: str = "id", desc: bool = False) -> list[int]:
        needle = text.lower()
        with self.lock:
            items = list(self.rows.items())
        out = []
        for tid, (name, st, b, w, command) in items:
            if batch is not None and b != batch:
                continue
            if status is not None and st != status:
                continue
            if worker is not None and w != worker:
                continue
            if needle and needle not in name.lower() and needle not in command.lower():
                continue
            out.append((tid, name, st, b, w))
        if sort == "name":
            out.sort(key=lambda r: (r[1], r[0]), reverse=desc)
        elif sort == "status":
            out.sort(key=lambda r: (_STATUS_ORDER.get(r[2], 99), r[0]), reverse=desc)
        elif sort == "batch":
            out.sort(key=lambda r: (r[3], r[0]), reverse=desc)
        elif sort == "worker":
            out.sort(key=lambda r: (r[4], r[0]), reverse=desc)
        else:
            out.sort(key=lambda r: r[0], reverse=desc)
        return [r[0] for r in out]


class ExecutionIndex(_Loaded):
    """worker and status of every execution, counted per worker (v1's Accepted/Running/Successes/Failures)."""

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.rows: dict[int, tuple[str, str]] = {}
        self.counts: dict[str, Counter[str]] = {}

    def _ids(self) -> list[int]:
        return self.source.execution_ids()

    def _fetch(self, ids: list[int]) -> None:
        got = self.source.execution_light(ids)
        with self.lock:
            for eid, (worker, status) in zip(ids, got):
                old = self.rows.pop(eid, None)
                if old is not None:
                    self.counts[old[0]][old[1]] -= 1
                if status is not None:
                    w = worker or ""
                    self.rows[eid] = (w, status)
                    self.counts.setdefault(w, Counter())[status] += 1

    def of(self, worker: str) -> dict[str, int]:
        with self.lock:
            return dict(self.counts.get(worker, {}))


@dataclass(frozen=True)
class Spread:
    """Runtimes of some executions: how many, their average, shortest and longest (seconds)."""
    count: int
    average: float
    low: float
    high: float

    @classmethod
    def of(cls, seconds: list[float]) -> "Spread":
        return cls(len(seconds), sum(seconds) / len(seconds), min(seconds), max(seconds))


class DurationIndex(_Loaded):
    """Runtime of the latest execution of every succeeded or failed task, by batch (v1's average [min - max]).

    Loads the ended tasks (the two status sets, then two pipelines per chunk); afterwards only the
    tasks events touched are read again, and only the batches they are in are summed again.
    """

    def __init__(self, source: Source) -> None:
        super().__init__(source)
        self.rows: dict[int, tuple[str, str, float]] = {}            # task -> (batch, status, seconds)
        self.by_batch: dict[str, dict[int, tuple[str, float]]] = {}   # batch -> task -> (status, seconds)
        self._spreads: dict[str, dict[str, Spread]] = {}
        self._dirty: set[str] = set()

    def _ids(self) -> list[int]:
        return sorted(self.source.status_ids(["succeeded", "failed"]))

    def _fetch(self, ids: list[int]) -> None:
        got = self.source.ended_runtimes(ids)
        with self.lock:
            for tid, row in got.items():
                old = self.rows.pop(tid, None)
                if old is not None:
                    self.by_batch.get(old[0], {}).pop(tid, None)
                    self._dirty.add(old[0])
                if row is not None:
                    self.rows[tid] = row
                    self.by_batch.setdefault(row[0], {})[tid] = (row[1], row[2])
                    self._dirty.add(row[0])

    def spreads(self) -> dict[str, dict[str, Spread]]:
        """batch -> status ("succeeded", "failed") -> Spread, for the batches with ended tasks."""
        with self.lock:
            dirty, self._dirty = self._dirty, set()
            for batch in dirty:
                per: dict[str, list[float]] = {}
                for status, seconds in self.by_batch.get(batch, {}).values():
                    per.setdefault(status, []).append(seconds)
                if per:
                    self._spreads[batch] = {s: Spread.of(v) for s, v in per.items()}
                else:
                    self._spreads.pop(batch, None)
                    self.by_batch.pop(batch, None)
            return dict(self._spreads)
