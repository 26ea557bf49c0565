"""Provides how the task list is drawn up: which ids a filter selects, in which order, read how.

Sorted by id with at most a batch filter, the list is an index zset itself: its size is one ZCARD
and a page is one ZRANGE. A status filter intersects the status set (one SMEMBERS). A text or worker
filter, or another sort column, asks the in-memory `TaskIndex` (loaded in the background: until it
is, the plan says how far it got).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from scitq.tui.index import TaskIndex
from scitq.tui.source import Source

__all__ = ["Query", "Plan", "make_plan", "query_ids"]


@dataclass(frozen=True)
class Query:
    batch: str | None = None
    status: str | None = None
    text: str = ""
    worker: str | None = None
    sort: str = "id"
    desc: bool = True

    @property
    def needs_index(self) -> bool:
        return bool(self.text or self.worker or self.sort != "id")


@dataclass
class Plan:
    """How to list the tasks of a query: a zset read by rank, or a list of ids, or not yet (indexing)."""
    query: Query
    count: int = 0
    ranked: bool = False                 # read by rank from the index of the query's batch (or of all tasks)
    ids: list[int] | None = None
    indexing: tuple[int, int] | None = None

    def ids_between(self, source: Any, start: int, end: int) -> list[int]:
        if end <= start:
            return []
        if self.ranked:
            return source.task_page(start, end - 1, self.query.desc, self.query.batch)
        return (self.ids or [])[start:end]


def make_plan(source: Source, index: TaskIndex, q: Query) -> Plan:
    """The plan of `q` (call from a worker thread: it may read Redis)."""
    if q.needs_index:
        if not index.loaded:
            return Plan(q, indexing=(index.done, index.total))
        ids = index.query(q.batch, q.status, q.text, q.worker, q.sort, q.desc)
        return Plan(q, count=len(ids), ids=ids)
    if q.status is None:
        return Plan(q, count=source.task_count(q.batch), ranked=True)
    found = source.status_ids([q.status])
    if q.batch is not None:
        found &= set(source.all_ids(q.batch))
    ordered = sorted(found, reverse=q.desc)
    return Plan(q, count=len(ordered), ids=ordered)


def query_ids(source: Source, index: TaskIndex, q: Query, cancelled: Callable[[], bool] = lambda: False) -> list[int]:
    """Every id `q` selects, in its order (worker thread: loads the index first if `q` needs it)."""
    plan = make_plan(source, index, q)
    while plan.indexing is not None:
        if cancelled():
            return []
        if not index.load(cancelled):      # being loaded by the list meanwhile
            time.sleep(0.1)
        plan = make_plan(source, index, q)
    return plan.ids_between(source, 0, plan.count)
