"""Provides `Touched`: what a burst of ledger entries changes, so each screen refreshes only that."""

from __future__ import annotations

from dataclasses import dataclass, field

from scitq.errors import BadInput
from scitq.events import batch as eb, task as et, worker as ew
from scitq.events.base import Event
from scitq.events.codec import decode_event
from scitq.tui.source import Entry

__all__ = ["Touched", "FINISH_TYPES"]

FINISHED = (et.TaskSucceeded, et.TaskFailed, et.TaskQuarantined)
FINISH_TYPES = tuple(cls.__struct_config__.tag for cls in FINISHED)
_MEMBERSHIP = (et.TaskSubmitted, et.TaskDeleted, eb.BatchDeleted, eb.BatchCreated)
_WORKER_EVENTS = tuple(cls for name in ew.__all__
                       if isinstance(cls := getattr(ew, name), type) and issubclass(cls, Event))
_WORKER_SET = (ew.WorkerRegistered, ew.WorkerDeleted)


def _decoded(f: dict[str, str]) -> Event | None:
    try:
        return decode_event(f)
    except BadInput:       # a corrupt or unknown entry: only its plain ids are of use
        return None


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
            ev = _decoded(f)
            ids = ev.ids() if ev is not None else f
            task = ids.get("task")
            if task and task.isdigit():
                t.tasks.add(int(task))
            if ids.get("batch"):
                t.batches.add(ids["batch"])
            if ids.get("worker"):
                t.workers.add(ids["worker"])
            if ev is None:
                continue
            if isinstance(ev, _MEMBERSHIP):
                t.membership = True
            if isinstance(ev, _WORKER_EVENTS):
                t.worker_changes.add(ev.worker)
                if isinstance(ev, _WORKER_SET):
                    t.worker_set = True
            ex = getattr(ev, "execution_id", None)
            if isinstance(ex, int):
                t.executions.add(ex)
            if isinstance(ev, et.TaskUpdated) and "batch" in ev.changes:
                t.membership = True
                t.batches.add(str(ev.changes["batch"]))
            if isinstance(ev, FINISHED):
                t.finished.append((ev.ts or int(eid.split("-")[0]) / 1000, ids.get("batch", "")))
        return t
