"""Provides the projections: the in-memory model folded from the ledger and its Redis views."""

from __future__ import annotations

from scitq.projections.evolve import evolve
from scitq.projections.state import Batch, Execution, State, Task, Worker

__all__ = ["evolve", "State", "Task", "Execution", "Worker", "Batch"]
