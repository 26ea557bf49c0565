"""Provides `Source`: every read the dashboard makes (views, index keys, ledger, output streams), in pipelines.

Nothing here imports textual: the screens call these methods from worker threads. A lost connection
raises `Unreachable` (the dashboard shows its banner and carries on).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import redis

from scitq import keys
from scitq.api.client import Client
from scitq.connection import describe
from scitq.errors import Refused, ScitqError, Unreachable
from scitq.projections.views import decode_execution, decode_task

__all__ = ["Source", "Entry", "TASK_ROW_FIELDS", "EXEC_ROW_FIELDS"]

Entry = tuple[str, dict[str, str]]          # a stream entry: (id, fields)
F = TypeVar("F", bound=Callable[..., Any])

TASK_ROW_FIELDS = ("task_id", "name", "status", "batch", "worker", "attempt", "execution_id", "command",
                   "status_date", "creation_date")
EXEC_ROW_FIELDS = ("status", "creation_date", "start_date", "modification_date", "return_code")
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
    """Reads for the dashboard over one Redis client (thread-safe: redis-py pools connections)."""

    def __init__(self, url: str, timeout: float = ACTION_TIMEOUT) -> None:
        self.url = url
        self.where = describe(url)
        self.client = Client(url=url, timeout=timeout)
        self.r: Any = self.client.r          # decode_responses=True: every reply is str

    # --- liveness --------------------------------------------------------------------------------
    @_reads
    def server_alive(self) -> bool:
        return bool(self.r.exists(keys.SERVER_ALIVE))

    # --- the ledger ------------------------------------------------------------------------------
    @_reads
    def last_event_id(self) -> str:
        last = self.r.xrevrange(keys.EVENTS, count=1)
        return last[0][0] if last else "0-0"

    @_reads
    def read_events(self, after: str, block_ms: int | None = 500, count: int = 2000) -> list[Entry]:
        """Entries after `after`; waits up to `block_ms` for the first one (None: does not wait)."""
        resp = self.r.xread({keys.EVENTS: after}, count=count, block=block_ms) or []
        return [e for _stream, entries in resp for e in entries]

    @_reads
    def events_before(self, before: str | None, count: int) -> list[Entry]:
        """Up to `count` entries older than `before` (newest first); `before=None` starts at the end."""
        top = "+" if before is None else f"({before}"
        return self.r.xrevrange(keys.EVENTS, max=top, min="-", count=count)

    @_reads
    def events_after(self, after: str, count: int) -> list[Entry]:
        low = "-" if after in ("-", "0-0") else f"({after}"
        return self.r.xrange(keys.EVENTS, min=low, max="+", count=count)

    # --- workers and batches ---------------------------------------------------------------------
    @_reads
    def workers(self) -> list[dict[str, Any]]:
        return self.client.workers()

    @_reads
    def batches(self) -> list[dict[str, Any]]:
        return self.client.batches()

    @_reads
    def batch_names(self) -> list[str]:
        return sorted(self.r.smembers(keys.BATCHES_ALL))

    @_reads
    def step_needs(self, batches: list[str]) -> dict[str, list[str]]:
        """The batches each batch's tasks require tasks of, read from its first and last task (the
        tasks of a workflow step share their requirements' steps)."""
        pipe = self.r.pipeline(transaction=False)
        for b in batches:
            pipe.zrange(keys.tasks_by_batch(b), 0, 0)
            pipe.zrange(keys.tasks_by_batch(b), -1, -1)
        ends = pipe.execute()
        samples = {b: {int(x) for got in ends[2 * i:2 * i + 2] for x in got} for i, b in enumerate(batches)}
        pipe = self.r.pipeline(transaction=False)
        asked = [(b, t) for b, ids in samples.items() for t in sorted(ids)]
        for _b, t in asked:
            pipe.hget(keys.task_view(t), "required_task_ids")
        required: dict[str, set[int]] = {b: set() for b in batches}
        for (b, _t), raw in zip(asked, pipe.execute() if asked else []):
            if raw:
                required[b] |= set(decode_task({"required_task_ids": raw})["required_task_ids"])
        parents = sorted({t for ids in required.values() for t in ids})
        pipe = self.r.pipeline(transaction=False)
        for t in parents:
            pipe.hget(keys.task_view(t), "batch")
        batch_of = dict(zip(parents, pipe.execute() if parents else []))
        return {b: sorted({batch_of[t] for t in ids if batch_of.get(t)}) for b, ids in required.items()}

    # --- task ids from the index keys ------------------------------------------------------------
    @_reads
    def zcount(self, key: str) -> int:
        return int(self.r.zcard(key))

    @_reads
    def zids(self, key: str, start: int, stop: int, desc: bool) -> list[int]:
        fn = self.r.zrevrange if desc else self.r.zrange
        return [int(x) for x in fn(key, start, stop)]

    @_reads
    def all_ids(self, key: str) -> list[int]:
        return [int(x) for x in self.r.zrange(key, 0, -1)]

    @_reads
    def status_ids(self, statuses: list[str]) -> set[int]:
        pipe = self.r.pipeline(transaction=False)
        for s in statuses:
            pipe.smembers(keys.tasks_by_status(s))
        return {int(x) for members in pipe.execute() for x in members}

    # --- task rows ---------------------------------------------------------------------------------
    @_reads
    def task_rows(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """The row of each task: task fields, its current execution's dates, the tail of its output."""
        pipe = self.r.pipeline(transaction=False)
        for t in ids:
            pipe.hmget(keys.task_view(t), TASK_ROW_FIELDS)
        rows: dict[int, dict[str, Any]] = {}
        for t, values in zip(ids, pipe.execute()):
            if values[0] is None:
                continue
            h = {k: v for k, v in zip(TASK_ROW_FIELDS, values) if v is not None}
            rows[t] = decode_task(h)
        pipe = self.r.pipeline(transaction=False)
        asked = []
        for t, row in rows.items():
            if row.get("execution_id"):
                pipe.hmget(keys.execution_view(row["execution_id"]), EXEC_ROW_FIELDS)
                pipe.xrevrange(keys.output(t, row["attempt"] or 1), count=4)
                asked.append(t)
        for i, got in enumerate(pipe.execute() if asked else []):
            row = rows[asked[i // 2]]
            if i % 2 == 0:
                ex = decode_execution({k: v for k, v in zip(EXEC_ROW_FIELDS, got) if v is not None})
                row["exec"] = ex
            else:
                row["tail"] = _tail(got)
        return rows

    @_reads
    def light(self, ids: list[int]) -> list[list[str | None]]:
        """name, status, batch, worker and command of each task (for the in-memory index)."""
        pipe = self.r.pipeline(transaction=False)
        for t in ids:
            pipe.hmget(keys.task_view(t), "name", "status", "batch", "worker", "command")
        return pipe.execute()

    @_reads
    def ended_runtimes(self, ids: list[int]) -> dict[int, tuple[str, str, float] | None]:
        """batch, status and runtime of the latest execution of each task that ended (None: not ended)."""
        pipe = self.r.pipeline(transaction=False)
        for t in ids:
            pipe.hmget(keys.task_view(t), "batch", "status", "execution_id")
        out: dict[int, tuple[str, str, float] | None] = {}
        ended = []
        for t, (batch, status, eid) in zip(ids, pipe.execute()):
            out[t] = None
            if status in ENDED and eid:
                ended.append((t, batch or "", status, int(eid)))
        if not ended:
            return out
        pipe = self.r.pipeline(transaction=False)
        for _t, _b, _s, eid in ended:
            pipe.hmget(keys.execution_view(eid), "status", "start_date", "creation_date", "modification_date")
        for (t, batch, status, _e), (ex_status, start, created, end) in zip(ended, pipe.execute()):
            if ex_status in ENDED and end and (start or created):
                out[t] = (batch, status, max(0.0, float(end) - float(start or created)))
        return out

    @_reads
    def execution_ids(self) -> list[int]:
        return [int(x) for x in self.r.zrange(keys.EXECUTIONS_ALL, 0, -1)]

    @_reads
    def execution_light(self, ids: list[int]) -> list[list[str | None]]:
        pipe = self.r.pipeline(transaction=False)
        for e in ids:
            pipe.hmget(keys.execution_view(e), "worker", "status")
        return pipe.execute()

    # --- one task in detail -------------------------------------------------------------------------
    @_reads
    def task_detail(self, task_id: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(keys.task_view(task_id))
        pipe.zrange(keys.executions_of_task(task_id), 0, -1)
        h, eids = pipe.execute()
        if not h:
            return None, []
        pipe = self.r.pipeline(transaction=False)
        for e in eids:
            pipe.hgetall(keys.execution_view(int(e)))
        return decode_task(h), [decode_execution(x) for x in pipe.execute() if x]

    @_reads
    def output(self, task_id: int, attempt: int, after: str = "-", count: int = 5000) -> list[Entry]:
        low = "-" if after in ("-", "0-0") else f"({after}"
        return self.r.xrange(keys.output(task_id, attempt), min=low, max="+", count=count)

    @_reads
    def output_text(self, task_id: int, attempt: int) -> tuple[str, str]:
        """The whole stdout and stderr of one attempt."""
        return self.client.output_text(task_id, attempt)

    @_reads
    def attempts_of(self, task_ids: list[int]) -> dict[int, list[tuple[int, int]]]:
        """(execution id, attempt) of every execution of each task, oldest first."""
        pipe = self.r.pipeline(transaction=False)
        for t in task_ids:
            pipe.zrange(keys.executions_of_task(t), 0, -1)
        eids = {t: [int(e) for e in got] for t, got in zip(task_ids, pipe.execute())}
        pipe = self.r.pipeline(transaction=False)
        for t in task_ids:
            for e in eids[t]:
                pipe.hget(keys.execution_view(e), "attempt")
        attempts = iter(pipe.execute())
        out: dict[int, list[tuple[int, int]]] = {}
        for t in task_ids:
            out[t] = [(e, int(a)) for e in eids[t] if (a := next(attempts)) is not None]
        return out

    @_reads
    def output_texts(self, attempts: list[tuple[int, int]]) -> list[tuple[str, str]]:
        """The whole stdout and stderr of each (task, attempt), in one pipeline."""
        pipe = self.r.pipeline(transaction=False)
        for t, a in attempts:
            pipe.xrange(keys.output(t, a))
        texts = []
        for entries in pipe.execute():
            out: list[str] = []
            err: list[str] = []
            for _eid, f in entries:
                (err if f.get("fd") == "stderr" else out).append(f.get("text", ""))
            texts.append(("".join(out), "".join(err)))
        return texts

    @_reads
    def follow_output(self, task_id: int, attempt: int, after: str, block_ms: int = 500) -> list[Entry]:
        resp = self.r.xread({keys.output(task_id, attempt): after}, count=1000, block=block_ms) or []
        return [e for _s, entries in resp for e in entries]


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
