"""Provides the reporter: facts about attempts, numbered in order, written to the worker's outbox through the spool."""

from __future__ import annotations

import threading
from typing import Any

from scitq import keys
from scitq.events.commands import encode
from scitq.worker.spool import Spool

__all__ = ["Reporter"]


class Reporter:
    """Each fact carries the worker's incarnation and a sequence number; the spool keeps their order."""

    def __init__(self, spool: Spool, worker: str, incarnation: str) -> None:
        self.spool = spool
        self.worker = worker
        self.outbox = keys.worker_outbox(worker)
        self.incarnation = incarnation
        self.seq = 0
        self.lock = threading.Lock()

    def report(self, fact: str, task_id: int, attempt: int, **data: Any) -> None:
        payload = encode({"task_id": task_id, "attempt": attempt, **data})
        with self.lock:   # seq order must be the spool order
            self.seq += 1
            self.spool.append(self.outbox, {"f": fact, "inc": self.incarnation, "seq": self.seq, "data": payload})

    def report_evicted(self, reason: str) -> None:
        """The machine is being taken back by its provider (see `scitq.worker.eviction`)."""
        payload = encode({"reason": reason})
        with self.lock:
            self.seq += 1
            self.spool.append(self.outbox, {"f": "evicted", "inc": self.incarnation, "seq": self.seq,
                                            "data": payload})

    def report_holding(self, held: list[tuple[int, int]]) -> None:
        """Every (task, attempt) the worker holds, in order after the reports that changed it."""
        payload = encode({"held": held})
        with self.lock:
            self.seq += 1
            self.spool.append(self.outbox, {"f": "holding", "inc": self.incarnation, "seq": self.seq,
                                            "data": payload})
