"""Provides `Touched`: what a burst of ledger entries changes, so each screen refreshes only that."""

from __future__ import annotations

from dataclasses import dataclass, field

from scitq.tui.format import event_data, event_time
from scitq.tui.source import Entry

__all__ = ["Touched", "FINISH_TYPES"]

FINISH_TYPES = ("task.succeeded", "task.failed", "task.quarantined")
_MEMBERSHIP = ("task.submitted", "task.deleted", "batch.deleted", "batch.created")


@dataclass
class Touched:
    """Ids touched by some ledger entries (merged over a burst); `everything` after a reconnection."""

    tasks: set[int] = field(default_factory=set)
    executions: set[int] = field(default_factory=set)
    workers: set[str] = field(default_factory=set)         # named by any entry (executions included)
    worker_changes: set[str] = field(default_factory=set)  # with an event of their own (worker.*)
    batches: set[str] = field(default_factory=set)
    membership: bool = False        # tasks appeared, disappeared or changed batch
    worker_set: bool = False        # a worker appeared or disappeared
    heartbeat: bool = False         # not an event: time to read the workers' load figures again
    finished: list[tuple[float, str]] = field(default_factory=list)   # (time, batch) of ended tasks
    entries: list[Entry] = field(default_factory=list)
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.everything or self.tasks or self.executions or self.workers or self.batches
                    or self.membership or self.entries or self.heartbeat)

    def merge(self, other: "Touched", entries: bool = True) -> None:
        """Add `other` to this set (`entries=False`: only the ids, for screens that do not list entries)."""
        self.tasks |= other.tasks
        self.executions |= other.executions
        self.workers |= other.workers
        self.worker_changes |= other.worker_changes
        self.heartbeat |= other.heartbeat
        self.batches |= other.batches
        self.membership |= other.membership
        self.worker_set |= other.worker_set
        if entries:
            self.finished += other.finished
            self.entries += other.entries
        self.everything |= other.everything

    @classmethod
    def all(cls) -> "Touched":
        return cls(everything=True, membership=True, worker_set=True)

    @classmethod
    def from_entries(cls, entries: list[Entry]) -> "Touched":
        t = cls(entries=list(entries))
        for eid, f in entries:
            kind = f.get("type", "")
            task = f.get("task")
            if task and task.isdigit():
                t.tasks.add(int(task))
            if f.get("batch"):
                t.batches.add(f["batch"])
            if f.get("worker"):
                t.workers.add(f["worker"])
            if kind in _MEMBERSHIP:
                t.membership = True
            if kind.startswith("worker."):
                t.worker_changes.add(f.get("worker", ""))
                if kind in ("worker.registered", "worker.deleted"):
                    t.worker_set = True
            if kind.startswith("execution.") or kind in FINISH_TYPES or kind == "task.updated":
                data = event_data(f)
                ex = data.get("execution_id")
                if isinstance(ex, int):
                    t.executions.add(ex)
                if kind == "task.updated" and "batch" in (data.get("changes") or {}):
                    t.membership = True
                    t.batches.add(str(data["changes"]["batch"]))
                if kind in FINISH_TYPES:
                    t.finished.append((event_time(eid, data), f.get("batch", "")))
        return t
