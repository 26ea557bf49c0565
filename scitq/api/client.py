"""Provides `Client`: the typed, modern client under `scitq.lib.Server` (commands in, views out)."""

from __future__ import annotations

import json
import time
from typing import Any, Iterable, Iterator

import redis

from scitq import keys
from scitq.connection import check, connect, describe, resolve_url
from scitq.errors import NotFound, Unreachable
from scitq.inbox import send_command
from scitq.projections.views import decode_batch, decode_execution, decode_recruiter, decode_task, decode_worker
from scitq.settings import settings

__all__ = ["Client", "SUBMIT_CHUNK"]

SUBMIT_CHUNK = 2000


def _wrap(fn):
    def inner(self, *a, **kw):
        try:
            return fn(self, *a, **kw)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unreachable(f"cannot reach Redis at {describe(self.url).split('://')[-1]}: {exc}",
                              hint="is `scitq server` running? check SCITQ_SERVER / -s") from None
    inner.__name__ = fn.__name__
    inner.__doc__ = fn.__doc__
    return inner


class Client:
    """Talks to scitq through Redis: commands go to the inbox, reads come from the views and streams."""

    def __init__(self, server: str | None = None, *, url: str | None = None, timeout: float | None = None) -> None:
        self.url = url or resolve_url(server)
        self.timeout = timeout if timeout is not None else settings().reply_timeout
        self.r = connect(self.url)

    def ping(self) -> None:
        check(self.r)

    # --- commands ------------------------------------------------------------------------------
    @_wrap
    def command(self, cmd: str, data: dict[str, Any], *, wait: bool = True, idempotency_key: str | None = None) -> Any:
        return send_command(self.r, cmd, data, wait=wait, timeout=self.timeout, idempotency_key=idempotency_key)

    @_wrap
    def submit(self, specs: list[dict[str, Any]], idempotency_key: str | None = None) -> list[int]:
        """Submit many tasks: one inbox command (and one ledger MULTI) per chunk of SUBMIT_CHUNK.

        All chunks are sent in one pipeline, then their answers are collected, so the server works
        on one chunk while the next ones travel.
        """
        import json
        from scitq.inbox import ERROR_KINDS, new_id
        from scitq.errors import ScitqError
        if len(specs) <= SUBMIT_CHUNK:
            return self.command("task.submit", {"tasks": specs}, idempotency_key=idempotency_key)["task_ids"]
        cids = []
        pipe = self.r.pipeline(transaction=False)
        for i in range(0, len(specs), SUBMIT_CHUNK):
            cid = new_id()
            cids.append(cid)
            idem = f"{idempotency_key}:{i}" if idempotency_key else cid
            pipe.xadd(keys.INBOX, {"cmd": "task.submit", "id": cid, "idem": idem, "reply": "1",
                                   "data": json.dumps({"tasks": specs[i:i + SUBMIT_CHUNK]})})
        pipe.execute()
        ids: list[int] = []
        deadline = time.monotonic() + self.timeout
        for cid in cids:
            got = None
            while got is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unreachable(f"the scitq server did not answer task.submit within {self.timeout:.0f}s")
                got = self.r.blpop([keys.reply(cid)], timeout=max(1, min(5, int(left))))
            answer = json.loads(got[1])
            if not answer.get("ok"):
                raise ERROR_KINDS.get(answer.get("kind", "error"), ScitqError)(answer.get("error", "refused"))
            ids += answer["result"]["task_ids"]
        return ids

    def submit_async(self, specs: list[dict[str, Any]]) -> list[str]:
        """Pipeline many submit commands without waiting for each answer; returns their reply ids."""
        from scitq.inbox import new_id
        import json
        cids = []
        pipe = self.r.pipeline(transaction=False)
        for i in range(0, len(specs), SUBMIT_CHUNK):
            cid = new_id()
            cids.append(cid)
            pipe.xadd(keys.INBOX, {"cmd": "task.submit", "id": cid, "idem": cid, "reply": "1",
                                   "data": json.dumps({"tasks": specs[i:i + SUBMIT_CHUNK]})})
        pipe.execute()
        return cids

    # --- reads ---------------------------------------------------------------------------------
    @_wrap
    def task(self, task_id: int) -> dict[str, Any]:
        h = self.r.hgetall(keys.task_view(task_id))
        if not h:
            raise NotFound(f"no task {task_id}")
        return decode_task(h)

    def _hashes(self, view_key, ids: Iterable[int]) -> Iterator[dict[str, str]]:
        ids = list(ids)
        for i in range(0, len(ids), 1000):
            pipe = self.r.pipeline(transaction=False)
            for x in ids[i:i + 1000]:
                pipe.hgetall(view_key(x))
            for h in pipe.execute():
                if h:
                    yield h

    @_wrap
    def task_ids(self, status: str | list[str] | None = None, batch: str | None = None,
                 name: str | None = None) -> list[int]:
        sets = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            sets.append({int(x) for s in statuses for x in self.r.smembers(keys.tasks_by_status(s))})
        if batch is not None:
            sets.append({int(x) for x in self.r.zrange(keys.tasks_by_batch(batch), 0, -1)})
        if name is not None:
            sets.append({int(x) for x in self.r.smembers(keys.tasks_by_name(name))})
        if not sets:
            return [int(x) for x in self.r.zrange(keys.TASKS_ALL, 0, -1)]
        return sorted(set.intersection(*sets))

    @_wrap
    def tasks(self, task_id: int | list[int] | None = None, status: str | list[str] | None = None,
              batch: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        if task_id is not None:
            ids = [task_id] if isinstance(task_id, int) else [int(t) for t in task_id]
            found = [decode_task(h) for h in self._hashes(keys.task_view, sorted(ids))]
            if status is not None:
                statuses = {status} if isinstance(status, str) else set(status)
                found = [t for t in found if t["status"] in statuses]
            if batch is not None:
                found = [t for t in found if t["batch"] == batch]
            if name is not None:
                found = [t for t in found if t["name"] == name]
            return found
        return [decode_task(h) for h in self._hashes(keys.task_view, self.task_ids(status, batch, name))]

    @_wrap
    def statuses(self, task_ids: list[int]) -> list[str | None]:
        pipe = self.r.pipeline(transaction=False)
        for t in task_ids:
            pipe.hget(keys.task_view(t), "status")
        return pipe.execute()

    @_wrap
    def executions(self, task_id: int | None = None) -> list[dict[str, Any]]:
        if task_id is not None:
            ids = [int(x) for x in self.r.zrange(keys.executions_of_task(task_id), 0, -1)]
        else:
            ids = [int(x) for x in self.r.zrange(keys.EXECUTIONS_ALL, 0, -1)]
        return [decode_execution(h) for h in self._hashes(keys.execution_view, ids)]

    @_wrap
    def execution(self, execution_id: int) -> dict[str, Any]:
        h = self.r.hgetall(keys.execution_view(execution_id))
        if not h:
            raise NotFound(f"no execution {execution_id}")
        return decode_execution(h)

    @_wrap
    def output(self, task_id: int, attempt: int, since: str = "-", count: int | None = None) -> list[tuple[str, str, str]]:
        """Output chunks (entry id, fd, text) of one attempt, after `since` (exclusive unless '-')."""
        start = since if since == "-" else f"({since}"
        return [(eid, f.get("fd", "stdout"), f.get("text", ""))
                for eid, f in self.r.xrange(keys.output(task_id, attempt), min=start, count=count)]

    def output_text(self, task_id: int, attempt: int) -> tuple[str, str]:
        out, err = [], []
        for _, fd, text in self.output(task_id, attempt):
            (err if fd == "stderr" else out).append(text)
        return "".join(out), "".join(err)

    @_wrap
    def workers(self) -> list[dict[str, Any]]:
        ids = [int(x) for x in self.r.zrange(keys.WORKERS_ALL, 0, -1)]
        ws = [decode_worker(h) for h in self._hashes(keys.worker_view, ids)]
        pipe = self.r.pipeline(transaction=False)
        for w in ws:
            pipe.hgetall(keys.worker_stats(w["name"]))
        for w, st in zip(ws, pipe.execute()):
            w["load"] = st.get("load")
            w["memory"] = float(st["memory"]) if st.get("memory") else None
            w["disk"] = float(st["disk"]) if st.get("disk") else None
            w["loadavg"] = st.get("loadavg")
            w["last_contact_date"] = float(st["last_contact"]) if st.get("last_contact") else None
            w["running"] = int(st["running"]) if st.get("running") else 0
            for k in IO_FIELDS:
                w[k] = _count(st.get(k))
            w["stats"] = _v1_stats(w)
        return ws

    @_wrap
    def worker_id(self, name: str) -> int:
        wid = self.r.hget(keys.WORKERS_BY_NAME, name)
        if wid is None:
            raise NotFound(f"no worker named {name!r}")
        return int(wid)

    @_wrap
    def batches(self) -> list[dict[str, Any]]:
        names = sorted(self.r.smembers(keys.BATCHES_ALL))
        pipe = self.r.pipeline(transaction=False)
        for n in names:
            pipe.hgetall(keys.batch_view(n))
        return [decode_batch(h) for h in pipe.execute() if h]

    @_wrap
    def batch(self, name: str) -> dict[str, Any]:
        h = self.r.hgetall(keys.batch_view(name))
        if not h:
            raise NotFound(f"no batch {name!r}")
        return decode_batch(h)

    @_wrap
    def recruiters(self, batch: str | list[str] | None = None) -> list[dict[str, Any]]:
        """The recruiters (of `batch`, or of these batches), in (batch, rank) order."""
        members = []
        for m in self.r.smembers(keys.RECRUITERS_ALL):
            name, _, rank = m.rpartition("/")
            members.append((name, int(rank)))
        if batch is not None:
            wanted = {batch} if isinstance(batch, str) else set(batch)
            members = [m for m in members if m[0] in wanted]
        pipe = self.r.pipeline(transaction=False)
        for name, rank in sorted(members):
            pipe.hgetall(keys.recruiter_view(name, rank))
        return [decode_recruiter(h) for h in pipe.execute() if h]

    @_wrap
    def events(self, start: str = "-", end: str = "+", count: int | None = None) -> list[tuple[str, dict[str, str]]]:
        return self.r.xrange(keys.EVENTS, min=start, max=end, count=count)

    @_wrap
    def rejected(self, count: int = 100) -> list[tuple[str, dict[str, str]]]:
        return list(reversed(self.r.xrevrange(keys.REJECTED, count=count)))

    def wait_server(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.r.exists(keys.SERVER_ALIVE):
            if time.monotonic() > deadline:
                raise Unreachable("no scitq server answers on this Redis")
            time.sleep(0.1)


IO_FIELDS = ("disk_read", "disk_write", "disk_read_total", "disk_write_total", "net_recv", "net_sent",
             "net_recv_total", "net_sent_total")


def _count(value: str | None) -> int | None:
    """A heartbeat counter (bytes or bytes/s, written as an int or a float); None when absent or garbled."""
    try:
        return max(0, round(float(value))) if value else None
    except ValueError:
        return None


def _v1_stats(w: dict[str, Any]) -> str | None:
    """v1's `stats` JSON string of a worker: load, disk usage/speed/counter, network speed/counter."""
    if w.get("disk_read") is None:
        return None
    mb, gb = 1e6, 1e9
    return json.dumps({
        "load": w.get("loadavg") or "",
        "disk": {"speed": f"{w['disk_read'] / mb:.1f}/{w['disk_write'] / mb:.1f} Mb/s",
                 "usage": [f"/:{w['disk']}"] if w.get("disk") is not None else [],
                 "counter": f"{(w['disk_read_total'] or 0) / gb:.1f}/{(w['disk_write_total'] or 0) / gb:.1f} Gb"},
        "network": {"speed": f"{w['net_sent'] / mb:.1f}/{w['net_recv'] / mb:.1f} Mb/s",
                    "counter": f"{(w['net_sent_total'] or 0) / gb:.1f}/{(w['net_recv_total'] or 0) / gb:.1f} Gb"},
    })
