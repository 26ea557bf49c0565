"""Provides the ledger checker: every task's events form a valid path, one accepted outcome per attempt."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from scitq.events.codec import decode_event
from scitq.projections.ledger import whole_ledger

__all__ = ["LedgerReport", "check_ledger"]

# Which events may follow the task's current status (besides TaskStatusSet, any time, by a user).
_NEXT = {
    "task.dispatched": {"pending"},
    "execution.claimed": {"pending"},          # and execution.started when it is also the claim
    "task.succeeded": {"running", "paused"},
    "task.failed": {"running", "paused", "pending", "assigned", "accepted", "waiting"},
    "task.retried": {"running", "paused"},
    "task.released": {"waiting"},
}


@dataclass
class LedgerReport:
    tasks: int = 0
    events: int = 0
    executions: int = 0
    succeeded: int = 0
    dup_accepted: int = 0
    set_aside: int = 0          # entries that do not decode (unknown type, newer version, corrupt)
    reclaims: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.dup_accepted == 0

    def summary(self, expected_tasks: int | None = None) -> str:
        lost = (expected_tasks - self.succeeded) if expected_tasks is not None else 0
        reclaim_max = max(self.reclaims.values(), default=0)
        return (f"lost={lost} dup_accepted={self.dup_accepted} executions={self.executions} "
                f"reclaim_max={reclaim_max} events={self.events} set_aside={self.set_aside} "
                f"problems={len(self.problems)}")


def check_ledger(r: Any) -> LedgerReport:
    """Walk the whole ledger (archive + live stream) and report every violation of the task state machine."""
    rep = LedgerReport()
    status: dict[int, str] = {}
    attempt: dict[int, int] = {}
    success_per_task: Counter = Counter()
    for eid, fields in whole_ledger(r):
        rep.events += 1
        try:
            e = decode_event(fields)
        except Exception as exc:  # noqa: BLE001 - a corrupt entry is itself a finding
            rep.set_aside += 1
            rep.problems.append(f"{eid}: set aside (replays skip it): {exc}")
            continue
        tag = fields["type"]
        tid = getattr(e, "task_id", None)
        if tid is None:
            continue
        if tag == "task.submitted":
            if tid in status:
                rep.problems.append(f"{eid}: task {tid} submitted twice")
            status[tid] = e.status
            rep.tasks += 1
            continue
        if tid not in status:
            if tag != "report.rejected":
                rep.problems.append(f"{eid}: {tag} for unknown task {tid}")
            continue
        cur = status[tid]
        claim = tag == "execution.claimed" or (tag == "execution.started" and e.attempt is not None)
        allowed = _NEXT["execution.claimed"] if claim else _NEXT.get(tag)
        if allowed is not None and cur not in allowed:
            rep.problems.append(f"{eid}: {tag} while task {tid} is {cur}")
        if tag == "task.dispatched":
            if e.attempt <= attempt.get(tid, 0):
                rep.problems.append(f"{eid}: task {tid} attempt {e.attempt} does not increase")
            attempt[tid] = e.attempt
        elif tag == "execution.claimed":
            rep.executions += 1
            status[tid] = "assigned"
        elif tag == "execution.accepted" and cur != "paused":
            status[tid] = "accepted"
        elif tag == "execution.started":   # version 3 with `attempt`: the claim too
            rep.executions += 1 if claim else 0
            if cur != "paused":
                status[tid] = "running"
        elif tag == "task.succeeded":
            success_per_task[tid] += 1
            status[tid] = "succeeded"
        elif tag in ("task.failed", "task.quarantined"):
            status[tid] = "failed"
        elif tag in ("task.retried", "task.released"):
            status[tid] = "pending"
        elif tag == "task.requeued":
            status[tid] = "pending"
            rep.reclaims[tid] += 1
        elif tag == "task.status_set":
            status[tid] = e.status
        elif tag == "task.deleted":
            del status[tid]
    rep.succeeded = sum(1 for n in success_per_task.values() if n >= 1)
    # a task relaunched by hand may succeed again; without a relaunch, two successes are a duplicate
    relaunched = set()
    for eid, fields in whole_ledger(r):
        if fields.get("type") == "task.status_set" and fields.get("task"):
            relaunched.add(int(fields["task"]))
    rep.dup_accepted = sum(n - 1 for t, n in success_per_task.items() if n > 1 and t not in relaunched)
    return rep
