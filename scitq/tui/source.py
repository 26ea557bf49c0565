"""Provides `Source`: every read the dashboard makes (views, index keys, ledger, output streams), through `Client`.

Nothing here imports textual: the screens call these methods from worker threads. A lost connection
raises `Unreachable` (the dashboard shows its banner and carries on).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import redis

from scitq.api.client import Client, Entry
from scitq.connection import describe
from scitq.errors import NotFound, Refused, ScitqError, Unreachable
from scitq.projections.views import decode_execution

__all__ = ["Source", "Entry", "TASK_ROW_FIELDS", "EXEC_ROW_FIELDS"]

F = TypeVar("F", bound=Callable[..., Any])

TASK_ROW_FIELDS = ("task_id", "name", "status", "batch", "worker", "attempt", "execution_id", "command",
                   "status_date", "creation_date")
EXEC_ROW_FIELDS = ("status", "creation_date", "start_date", "modification_date", "return_code")
LIGHT_FIELDS = ("name", "status", "batch", "worker", "command")
ACTION_TIMEOUT = 15.0
ENDED = ("succeeded", "failed")


def _reads(fn: F) -> F:
    @functools.wraps(fn)
    def inner(self: "Source", *a: Any, **kw: Any) -> Any:
        try:
            return fn(self, *a, **kw)
        except ScitqError:
            raise
        except redis.AuthenticationError as exc:
            raise Refused(f"Redis at {self.where} refused us: {exc}") from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise Unreachable(f"cannot reach Redis at {self.where}: {exc}") from None
    return inner  # type: ignore[return-value]


class Source:
    """Reads for the dashboard, all through one `Client` (thread-safe: redis-py pools connections)."""

    def __init__(self, url: str, timeout: float = ACTION_TIMEOUT) -> None:
        self.url = url
        self.where = describe(url)
        self.client = Client(url=url, timeout=timeout)

    # --- liveness --------------------------------------------------------------------------------
    @_reads
    def server_alive(self) -> bool:
        return self.client.server_alive()

    # --- the ledger ------------------------------------------------------------------------------
    @_reads
    def last_event_id(self) -> str:
        return self.client.last_event_id()

    @_reads
    def read_events(self, after: str, block_ms: int | None = 500, count: int = 2000) -> list[Entry]:
        """Entries after `after`; waits up to `block_ms` for the first one (None: does not wait)."""
        return self.client.read_events(after, block_ms, count)

    @_reads
    def events_before(self, before: str | None, count: int) -> list[Entry]:
        """Up to `count` entries older than `before` (newest first); `before=None` starts at the end."""
        return self.client.events_before(before, count)

    @_reads
    def events_after(self, after: str, count: int) -> list[Entry]:
        return self.client.events("-" if after in ("-", "0-0") else f"({after}", "+", count)

    # --- workers and batches ---------------------------------------------------------------------
    @_reads
    def workers(self) -> list[dict[str, Any]]:
        return self.client.workers()

    @_reads
    def batches(self) -> list[dict[str, Any]]:
        return self.client.batches()

    @_reads
    def batch_costs(self) -> dict[str, float]:
        """What the deployed machines' time in each batch cost so far."""
        return self.client.batch_costs()

    @_reads
    def deploys(self) -> list[Any]:
        return self.client.deploys()

    @_reads
    def jobs(self) -> list[Any]:
        """The deploy and destroy jobs (RQ), newest first."""
        from scitq import jobqueue
        return jobqueue.jobs(self._jobs_conn())

    def _jobs_conn(self) -> Any:
        from scitq import jobqueue
        if getattr(self, "_rq", None) is None:
            self._rq = jobqueue.connection(self.client.r)
        return self._rq

    @_reads
    def batch_names(self) -> list[str]:
        return self.client.batch_names()

    @_reads
    def recruiters(self, batches: list[str]) -> list[Any]:
        """The recruiters of these batches, in (batch, rank) order."""
        return self.client.recruiters(batches)

    @_reads
    def step_needs(self, batches: list[str]) -> dict[str, list[str]]:
        """The batches each batch's tasks require tasks of, read from its first and last task (the
        tasks of a workflow step share their requirements' steps)."""
        client = self.client
        samples = {b: sorted(set(client.task_page(0, 0, batch=b) + client.task_page(0, 0, desc=True, batch=b)))
                   for b in batches}
        asked = [(b, t) for b, ids in samples.items() for t in ids]
        rows = client.task_fields([t for _b, t in asked], ["required_task_ids"]) if asked else []
        required: dict[str, set[int]] = {b: set() for b in batches}
        for (b, _t), row in zip(asked, rows):
            if row:
                required[b] |= set(row.get("required_task_ids") or [])
        parents = sorted({t for ids in required.values() for t in ids})
        batch_of = {t: (row or {}).get("batch") for t, row in
                    zip(parents, client.task_fields(parents, ["batch"]) if parents else [])}
        return {b: sorted({batch_of[t] for t in ids if batch_of.get(t)}) for b, ids in required.items()}

    # --- task ids from the index keys ------------------------------------------------------------
    @_reads
    def task_count(self, batch: str | None = None) -> int:
        return self.client.task_count(batch)

    @_reads
    def task_page(self, start: int, stop: int, desc: bool, batch: str | None = None) -> list[int]:
        return self.client.task_page(start, stop, desc, batch)

    @_reads
    def all_ids(self, batch: str | None = None) -> list[int]:
        return self.client.task_ids(batch=batch)

    @_reads
    def status_ids(self, statuses: list[str]) -> set[int]:
        return set(self.client.task_ids(status=statuses))

    # --- task rows ---------------------------------------------------------------------------------
    @_reads
    def task_rows(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """The row of each task: task fields, its current execution's dates, the tail of its output."""
        rows = {t: row.to_dict() for t, row in zip(ids, self.client.task_fields(ids, TASK_ROW_FIELDS))
                if row is not None}
        current = [(t, row) for t, row in rows.items() if row.get("execution_id")]
        execs = self.client.execution_fields([row["execution_id"] for _t, row in current], EXEC_ROW_FIELDS)
        tails = self.client.output_tails([(t, row["attempt"] or 1) for t, row in current])
        for (_t, row), ex, tail in zip(current, execs, tails):
            row["exec"] = ex if ex is not None else decode_execution({})
            row["tail"] = _tail(tail)
        return rows

    @_reads
    def light(self, ids: list[int]) -> list[list[str | None]]:
        """name, status, batch, worker and command of each task (for the in-memory index)."""
        return [[row[f] for f in LIGHT_FIELDS] if row else [None] * len(LIGHT_FIELDS)
                for row in self.client.task_fields(ids, LIGHT_FIELDS)]

    @_reads
    def ended_runtimes(self, ids: list[int]) -> dict[int, tuple[str, str, float] | None]:
        """batch, status and runtime of the latest execution of each task that ended (None: not ended)."""
        out: dict[int, tuple[str, str, float] | None] = {}
        ended = []
        for t, row in zip(ids, self.client.task_fields(ids, ("batch", "status", "execution_id"))):
            out[t] = None
            if row and row["status"] in ENDED and row["execution_id"]:
                ended.append((t, row["batch"] or "", row["status"], row["execution_id"]))
        if not ended:
            return out
        fields = ("status", "start_date", "creation_date", "modification_date")
        for (t, batch, status, _e), ex in zip(ended, self.client.execution_fields([e[3] for e in ended], fields)):
            if ex and ex["status"] in ENDED and ex["modification_date"] and (ex["start_date"] or ex["creation_date"]):
                start = ex["start_date"] or ex["creation_date"]
                out[t] = (batch, status, max(0.0, ex["modification_date"] - start))
        return out

    @_reads
    def execution_ids(self) -> list[int]:
        return self.client.execution_ids()

    @_reads
    def execution_light(self, ids: list[int]) -> list[list[str | None]]:
        return [[ex["worker"], ex["status"]] if ex else [None, None]
                for ex in self.client.execution_fields(ids, ("worker", "status"))]

    # --- one task in detail -------------------------------------------------------------------------
    @_reads
    def task_detail(self, task_id: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        try:
            task = self.client.task(task_id)
        except NotFound:
            return None, []
        return task, self.client.executions(task_id)

    @_reads
    def output(self, task_id: int, attempt: int, after: str = "-", count: int = 5000) -> list[Entry]:
        return [(eid, {"fd": fd, "text": text})
                for eid, fd, text in self.client.output(task_id, attempt, after, count)]

    @_reads
    def output_text(self, task_id: int, attempt: int) -> tuple[str, str]:
        """The whole stdout and stderr of one attempt."""
        return self.client.output_text(task_id, attempt)

    @_reads
    def attempts_of(self, task_ids: list[int]) -> dict[int, list[tuple[int, int]]]:
        """(execution id, attempt) of every execution of each task, oldest first."""
        return self.client.attempts(task_ids)

    @_reads
    def output_texts(self, attempts: list[tuple[int, int]]) -> list[tuple[str, str]]:
        """The whole stdout and stderr of each (task, attempt), in one pipeline."""
        return self.client.output_texts(attempts)

    @_reads
    def follow_output(self, task_id: int, attempt: int, after: str, block_ms: int = 500) -> list[Entry]:
        return self.client.follow_output(task_id, attempt, after, block_ms)


def _tail(chunks: list[Entry], width: int = 200) -> tuple[str, str] | None:
    """The last non-empty line written (newest chunks first; a line may span chunks), and its fd."""
    if not chunks:
        return None
    fd = chunks[0][1].get("fd", "stdout")
    text = ""
    for _eid, f in chunks:
        if f.get("fd", "stdout") != fd:
            break
        text = f.get("text", "") + text
        if "\n" in text.rstrip("\n"):
            break
    for line in reversed(text.splitlines()):
        line = line.rsplit("\r", 1)[-1].strip()
        if line:
            return fd, line[-width:]
    return None
