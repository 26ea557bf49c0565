"""Provides `Round` and `Effect`: what one round of the server decided, the unit the recorder commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from scitq.events.base import Event

__all__ = ["Round", "Effect", "EffectKind", "seq_field"]

# queue: an entry in a batch's queue stream; purge: empty that stream; control: an order on a worker's
# control stream; ack: acknowledge (and delete) a queue entry read by a worker; job: enqueue a deploy or
# destroy job (RQ) for the machine of a worker, after the commit (the control plane does it); pack: pack the
# output of an ended attempt (after the commit); drop_outputs: delete a deleted task's outputs (after the commit)
EffectKind = Literal["queue", "purge", "control", "ack", "job", "pack", "drop_outputs"]


@dataclass(slots=True)
class Effect:
    """A Redis write besides the ledger and the views."""
    kind: EffectKind
    target: str                 # the batch (queue, purge, ack) or the worker's name (control, job)
    fields: dict[str, str] = field(default_factory=dict)


def seq_field(worker: str) -> str:
    """The field of the server's cursor hash holding the last report applied from `worker`."""
    return f"seq:{worker}"


@dataclass(slots=True)
class Round:
    """Everything one round changes, written at once by `Recorder.write` (one MULTI).

    The view changes are the State's dirty marks, folded by each event as it is emitted.
    """
    events: list[Event] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    cursors: dict[str, str] = field(default_factory=dict)          # input stream -> last entry read
    applied: dict[str, list[str]] = field(default_factory=dict)    # input stream -> entries to delete
    sequences: dict[str, str] = field(default_factory=dict)        # worker -> "incarnation:seq" applied
    replies: list[tuple[str, str]] = field(default_factory=list)   # (reply id, answer JSON)
    worker_replies: list[tuple[str, str, str]] = field(default_factory=list)  # (worker, reply id, answer JSON)
    idempotency: list[tuple[str, str]] = field(default_factory=list)  # (key, answer JSON)
    rejected: list[dict[str, str]] = field(default_factory=list)   # entries set aside, for audit

    def mark(self) -> tuple[int, int]:
        return len(self.events), len(self.effects)

    def undo(self, mark: tuple[int, int]) -> bool:
        """Drop what was decided since `mark`; True if events were dropped (the State must be reloaded)."""
        dropped = len(self.events) != mark[0]
        del self.events[mark[0]:]
        del self.effects[mark[1]:]
        return dropped

    def __bool__(self) -> bool:
        return bool(self.events or self.effects or self.cursors or self.replies or self.worker_replies
                    or self.rejected)
