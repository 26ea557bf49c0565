"""Provides `Client`: the one door to scitq for reads and commands (typed commands in, decoded views out).

Every command goes through a method built from its Struct in `scitq.events.commands` (checked here
with the same code the server uses, then sent to the inbox); every read decodes the views with
`scitq.projections.views`. The v1 `Server`, the command lines and the dashboard all use it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import msgspec
import redis

from scitq import keys
from scitq.connection import check, connect, describe, resolve_url
from scitq.errors import BadInput, NotFound, Refused, Unreachable
from scitq.events import commands as c
from scitq.events.codec import without_empty_ids
from scitq.events.model import FlavorFields, QuotaFields
from scitq.inbox import post_command, send_command, wait_reply
from scitq.projections.archive import parse_id
from scitq.projections.catalog import decode_flavor, decode_quota
from scitq.projections.ledger import ledger_archive, whole_ledger
from scitq.projections.outputs import NEVER_DECODE, read_outputs, read_tails
from scitq.projections.store import batch_count, batch_ids, batch_page, batch_pages, status_ids
from scitq.projections.views import (
    DeployView, decode_deploy,
    HEARTBEAT_FIELDS, IO_FIELDS, BatchView, ExecutionView, TaskView, WorkerView, decode_batch, decode_execution,
    EXECUTION_NEEDS, TASK_NEEDS, decode_recruiter, decode_task, decode_worker, needs_task_command,
    task_execution_ids,
)
from scitq.settings import settings

__all__ = ["Client", "SUBMIT_CHUNK", "make_command", "Entry", "EventFilter", "HEARTBEAT_FIELDS"]

SUBMIT_CHUNK = 2000
Entry = tuple[str, dict[str, str]]          # a stream entry: (id, fields)
_ENC = msgspec.json.Encoder()


def _wrap(fn):
    def inner(self, *a, **kw):
        try:
            return fn(self, *a, **kw)
        except redis.AuthenticationError as exc:
            raise Refused(f"Redis at {describe(self.url).split('://')[-1]} refused us: {exc}") from None
        except redis.exceptions.NoPermissionError as exc:    # an ACL refusal: the credential's role
            raise Refused(f"Redis refused: {str(exc).splitlines()[0]}",
                          hint="this credential's role does not allow it; see docs/security.md") from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unreachable(f"cannot reach Redis at {describe(self.url).split('://')[-1]}: {exc}",
                              hint="is `scitq server` running? check SCITQ_SERVER / -s") from None
    inner.__name__ = fn.__name__
    inner.__doc__ = fn.__doc__
    return inner


def _after(start: str) -> str:
    """The id just before an XRANGE start bound (`-`, `id` inclusive, `(id` exclusive)."""
    if start in ("-", "0-0"):
        return "0-0"
    if start.startswith("("):
        return start[1:]
    ms, seq = parse_id(start)
    if seq:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-18446744073709551615" if ms else "0-0"


def make_command(tag: str, fields: Mapping[str, Any]) -> c.Cmd:
    """The command Struct `tag` with these fields, checked as the server checks it (BadInput naming the field)."""
    return c.decode_command(tag, _ENC.encode(fields).decode())


def _checked_json(tag: str, fields: Mapping[str, Any]) -> str:
    """The JSON of command `tag` with these fields, after the server's own decoder accepted it."""
    text = _ENC.encode(fields).decode()
    c.decode_command(tag, text)
    return text


def _submit_json(specs: Sequence[c.TaskSpec | Mapping[str, Any]]) -> str:
    """The JSON of one `task.submit` command (TaskSpecs sent without their null fields), checked first."""
    tasks = [s if isinstance(s, Mapping) else {k: v for k, v in msgspec.structs.asdict(s).items() if v is not None}
             for s in specs]
    return _checked_json("task.submit", {"tasks": tasks})


@dataclass(frozen=True)
class EventFilter:
    """Which ledger entries a reader wants: type prefix (`task.`, `worker.offline`), task, batch, worker."""
    type: str = ""
    batch: str = ""
    task: str = ""
    worker: str = ""

    def __bool__(self) -> bool:
        return bool(self.type or self.batch or self.task or self.worker)

    def match(self, f: dict[str, str]) -> bool:
        if self.type and not f.get("type", "").startswith(self.type):
            return False
        if self.batch and f.get("batch") != self.batch:
            return False
        if self.task and f.get("task") != self.task:
            return False
        if self.worker and f.get("worker") != self.worker:
            return False
        return True


def _shown(entries: Sequence[Entry]) -> list[Entry]:
    """Ledger entries as readers get them: without the id fields an event does not have (written empty)."""
    return [(eid, without_empty_ids(f)) for eid, f in entries]


HISTORY_MARGIN_MS = 60_000   # `task_events` reads from this long before a task's creation date


class Client:
    """Talks to scitq through Redis: commands go to the inbox, reads come from the views and streams."""

    def __init__(self, server: str | None = None, *, url: str | None = None, timeout: float | None = None) -> None:
        self.url = url or resolve_url(server)
        self.timeout = timeout if timeout is not None else settings().reply_timeout
        self.r = connect(self.url)
        self._streams: dict[tuple[int, int], str] = {}   # (task, attempt) -> its output stream, once started

    def ping(self) -> None:
        check(self.r)

    # --- commands ------------------------------------------------------------------------------
    @_wrap
    def send(self, tag: str, cmd: c.Cmd, *, wait: bool = True, idempotency_key: str | None = None,
             timeout: float | None = None) -> Any:
        """Send one command Struct (of the type `tag` takes); with `wait`, the server's answer.

        A refusal raises the server's ScitqError; retrying with the same `idempotency_key` applies it once.
        """
        if type(cmd) is not c.COMMAND_TYPES.get(tag):
            raise BadInput(f"command {tag!r} does not take a {type(cmd).__name__}")
        return send_command(self.r, tag, c.encode(cmd), wait=wait, timeout=timeout or self.timeout,
                            idempotency_key=idempotency_key)

    @_wrap
    def command(self, tag: str, data: Mapping[str, Any], *, wait: bool = True,
                idempotency_key: str | None = None) -> Any:
        """Send command `tag` from plain fields (checked first, sent as given); prefer the typed methods below."""
        return send_command(self.r, tag, _checked_json(tag, data), wait=wait, timeout=self.timeout,
                            idempotency_key=idempotency_key)

    def _do(self, tag: str, idempotency_key: str | None, **fields: Any) -> Any:
        return self.command(tag, fields, idempotency_key=idempotency_key)

    @_wrap
    def submit(self, specs: Sequence[c.TaskSpec | Mapping[str, Any]], idempotency_key: str | None = None) -> list[int]:
        """Submit many tasks (TaskSpec or their fields); their ids, in order.

        One inbox command (and one ledger MULTI) per chunk of SUBMIT_CHUNK. All chunks are checked,
        then sent in one pipeline, then their answers are collected, so the server works on one
        chunk while the next ones travel.
        """
        payloads = [_submit_json(specs[i:i + SUBMIT_CHUNK]) for i in range(0, len(specs), SUBMIT_CHUNK)]
        if not payloads:
            raise BadInput("no task given")
        pipe = self.r.pipeline(transaction=False)
        cids = [post_command(pipe, "task.submit", payload,
                             idempotency_key=f"{idempotency_key}:{i}" if idempotency_key else None)
                for i, payload in enumerate(payloads)]
        pipe.execute()
        deadline = time.monotonic() + self.timeout
        ids: list[int] = []
        for cid in cids:
            ids += wait_reply(self.r, cid, "task.submit", self.timeout, deadline)["task_ids"]
        return ids

    @_wrap
    def submit_async(self, specs: Sequence[c.TaskSpec | Mapping[str, Any]]) -> list[str]:
        """Pipeline many submit commands without waiting for their answers; returns their command ids."""
        pipe = self.r.pipeline(transaction=False)
        cids = [post_command(pipe, "task.submit", _submit_json(specs[i:i + SUBMIT_CHUNK]))
                for i in range(0, len(specs), SUBMIT_CHUNK)]
        pipe.execute()
        return cids

    def update_task(self, task_id: int, *, idempotency_key: str | None = None, **changes: Any) -> Any:
        """Change the given fields of a task (`status='pending'` relaunches it)."""
        return self._do("task.update", idempotency_key, task_id=task_id, changes=changes)

    def delete_tasks(self, task_ids: Iterable[int], *, idempotency_key: str | None = None) -> Any:
        return self._do("task.delete", idempotency_key, task_ids=list(task_ids))

    def relaunch_tasks(self, task_ids: Iterable[int], *, idempotency_key: str | None = None) -> Any:
        return self._do("task.relaunch", idempotency_key, task_ids=list(task_ids))

    def set_task_status(self, task_id: int, status: str, retry: int | None = None, *,
                        idempotency_key: str | None = None) -> Any:
        return self._do("task.set_status", idempotency_key, task_id=task_id, status=status, retry=retry)

    def signal_task(self, task_id: int, signal: int, *, idempotency_key: str | None = None) -> Any:
        return self._do("task.signal", idempotency_key, task_id=task_id, signal=signal)

    def stop_batch(self, batch: str, signal: int = 0, *, idempotency_key: str | None = None) -> Any:
        return self._do("batch.stop", idempotency_key, batch=batch, signal=signal)

    def go_batch(self, batch: str, signal: int = 0, *, idempotency_key: str | None = None) -> Any:
        return self._do("batch.go", idempotency_key, batch=batch, signal=signal)

    def delete_batch(self, batch: str, *, idempotency_key: str | None = None) -> Any:
        return self._do("batch.delete", idempotency_key, batch=batch)

    def relaunch_failed(self, batch: str, *, idempotency_key: str | None = None) -> Any:
        return self._do("batch.relaunch_failed", idempotency_key, batch=batch)

    def register_worker(self, name: str, concurrency: int, *, idempotency_key: str | None = None,
                        **fields: Any) -> Any:
        return self._do("worker.register", idempotency_key, name=name, concurrency=concurrency, **fields)

    def update_worker(self, worker_id: int, *, idempotency_key: str | None = None, **changes: Any) -> Any:
        """Change the given settings of a worker (concurrency, prefetch, status, batch...)."""
        return self._do("worker.update", idempotency_key, worker_id=worker_id, **changes)

    def delete_worker(self, worker_id: int, *, idempotency_key: str | None = None) -> Any:
        return self._do("worker.delete", idempotency_key, worker_id=worker_id)

    def signal_worker(self, worker_id: int, signal: int, *, idempotency_key: str | None = None) -> Any:
        """An order to the worker itself (v1's worker signals: CLEAN, RESTART, RESET_RESOURCES)."""
        return self._do("worker.signal", idempotency_key, worker_id=worker_id, signal=signal)

    def create_recruiter(self, batch: str, rank: int = 1, *, idempotency_key: str | None = None,
                         **fields: Any) -> Any:
        """Create the recruiter (batch, rank), or replace it, with the fields of `RecruiterFields`."""
        return self._do("recruiter.create", idempotency_key, batch=batch, rank=rank, **fields)

    def update_recruiter(self, batch: str, rank: int = 1, *, idempotency_key: str | None = None,
                         **changes: Any) -> Any:
        """Change the given fields of the recruiter (batch, rank) (None clears an optional one)."""
        return self._do("recruiter.update", idempotency_key, batch=batch, rank=rank, **changes)

    def delete_recruiter(self, batch: str, rank: int = 1, *, idempotency_key: str | None = None) -> Any:
        return self._do("recruiter.delete", idempotency_key, batch=batch, rank=rank)

    def rebuild(self, verify: bool = True, timeout: float = 600, from_zero: bool = False) -> Any:
        """Ask the running server to replay the ledger into fresh views (and compare them with `verify`),
        from the archive's latest snapshot or, with `from_zero`, from the first entry."""
        return self.send("admin.rebuild", make_command("admin.rebuild", {"verify": verify, "from_zero": from_zero}),
                         timeout=timeout)

    def archive(self, keep: int | None = None, age: float | None = None, trim: bool = True,
                timeout: float = 3600) -> Any:
        """Ask the running server to archive the ledger now (its policy's settings unless given)."""
        return self.send("admin.archive", make_command("admin.archive", {"keep": keep, "age": age, "trim": trim}),
                         timeout=timeout)

    def deploy_workers(self, *, provider: str, region: str, flavor: str, number: int = 1, batch: str | None = None,
                       concurrency: int = 1, prefetch: int = 0, idempotency_key: str | None = None) -> Any:
        """Deploy `number` machines (flavor, region, provider may be `auto`, the flavor `auto:<protofilters>`);
        returns {"workers": [their names], "asked": number}."""
        return self._do("worker.deploy", idempotency_key, provider=provider, region=region, flavor=flavor,
                        number=number, batch=batch, concurrency=concurrency, prefetch=prefetch)

    def retry_deploy(self, worker: str, *, idempotency_key: str | None = None) -> Any:
        """Deploy again (a new worker name) what the failed deploy of `worker` asked for."""
        return self._do("deploy.retry", idempotency_key, worker=worker)

    # --- reads: machines and costs ---------------------------------------------------------------------
    @_wrap
    def deploys(self) -> list[DeployView]:
        """Every machine scitq deployed (destroyed ones too, with what they cost), oldest first."""
        names = sorted(self.r.smembers(keys.DEPLOYS_ALL))
        pipe = self.r.pipeline(transaction=False)
        for n in names:
            pipe.hgetall(keys.deploy_view(n))
        out = [decode_deploy(h) for h in pipe.execute() if h]
        out.sort(key=lambda d: (d.requested_date or 0.0, d.worker or ""))
        return out

    @_wrap
    def batch_costs(self, now: float | None = None) -> dict[str, float]:
        """What the machines' time in each batch cost so far (price per hour x time), live machines counted up
        to `now`."""
        now = time.time() if now is None else now
        costs = {b: float(v) for b, v in self.r.hgetall(keys.BATCH_COSTS).items()}
        for d in self.deploys():
            if d.cost_since is not None and d.cost and d.cost_batch:
                costs[d.cost_batch] = costs.get(d.cost_batch, 0.0) + max(0.0, now - d.cost_since) * d.cost / 3600
        return costs

    def update_flavor_catalog(self, provider: str, flavors: Sequence[Any], quotas: Sequence[Any] = (),
                              regions: Sequence[str] = (), *, idempotency_key: str | None = None) -> Any:
        """Replace the catalog of `provider` (in `regions`, or all of it) by these flavors and quotas
        (FlavorFields/QuotaFields or their dicts); the answer lists what was added, changed, removed."""
        def plain(x: Any) -> Any:       # a Struct, a dataclass (scitq.cloud.provider.Flavor) or a dict
            return x if isinstance(x, Mapping) else msgspec.to_builtins(x)
        return self._do("flavor.update_catalog", idempotency_key, provider=provider, regions=list(regions),
                        flavors=[plain(f) for f in flavors], quotas=[plain(q) for q in quotas])

    # --- reads: tasks ---------------------------------------------------------------------------
    @_wrap
    def task(self, task_id: int) -> TaskView:
        return self._view(keys.task_view(task_id), lambda h: decode_task(h, task_id), f"no task {task_id}")

    def _view(self, key: str, decode: Any, missing: str) -> Any:
        h = self.r.hgetall(key)
        if not h:
            raise NotFound(missing)
        return decode(h)

    def _hashes(self, view_key, ids: Iterable[int]) -> Iterator[tuple[int, dict[str, str]]]:
        """(id, view hash) of each id whose view exists, in pipelines."""
        ids = list(ids)
        for i in range(0, len(ids), 1000):
            chunk = ids[i:i + 1000]
            pipe = self.r.pipeline(transaction=False)
            for x in chunk:
                pipe.hgetall(view_key(x))
            for x, h in zip(chunk, pipe.execute()):
                if h:
                    yield x, h

    def _task_commands(self, task_ids: Iterable[int]) -> dict[int, str | None]:
        """The command of each task (from its view), in one pipeline: executions that ran their task's
        command do not repeat it in their views."""
        wanted = sorted(set(task_ids))
        if not wanted:
            return {}
        pipe = self.r.pipeline(transaction=False)
        for t in wanted:
            pipe.hget(keys.task_view(t), "command")
        return dict(zip(wanted, pipe.execute()))

    def _decode_executions(self, found: Sequence[tuple[int, dict[str, str]]]) -> list[ExecutionView]:
        """Execution view hashes (with their ids) decoded, each with its task's command where its view
        leaves it out."""
        commands = self._task_commands(t for _e, h in found if (t := needs_task_command(h)) is not None)
        return [decode_execution(h, e, commands.get(needs_task_command(h) or 0)) for e, h in found]

    def _fields(self, view_key, decode, ids: Sequence[int], fields: Sequence[str], id_field: str,
                needs: dict[str, tuple[str, ...]]) -> list[Any]:
        """Only `fields` of each view, decoded by `decode(hash, id, task_command)`; `status` (a field every
        view holds) tells a view that exists from one whose asked fields are all at their default, `needs`
        what a field omitted from a view is derived from; `id_field` is the id the key gives."""
        fields = list(fields)
        extra = [f for f in dict.fromkeys(["status", *(n for f in fields for n in needs.get(f, ()))])
                 if f not in fields and f != id_field]
        asked = [f for f in fields if f != id_field] + extra
        pipe = self.r.pipeline(transaction=False)
        for x in ids:
            pipe.hmget(view_key(x), asked)
        found: list[tuple[int, dict[str, str] | None]] = []
        for x, values in zip(ids, pipe.execute()):
            h = {k: v for k, v in zip(asked, values) if v is not None}
            found.append((x, h or None))
        commands = (self._task_commands(t for _x, h in found if h and (t := needs_task_command(h)) is not None)
                    if "command" in fields and id_field == "execution_id" else {})
        out: list[Any] = []
        blank = decode({}, None, None)
        for x, h in found:
            if h is None:
                out.append(None)
                continue
            view = decode(h, x, commands.get(needs_task_command(h) or 0) if commands else None)
            for f in extra:         # read to decode `fields` alone: back to what a read of `fields` gives
                setattr(view, f, getattr(blank, f))
            if id_field not in fields:
                setattr(view, id_field, getattr(blank, id_field))
            out.append(view)
        return out

    @_wrap
    def task_fields(self, task_ids: Sequence[int], fields: Sequence[str]) -> list[TaskView | None]:
        """Only `fields` of each task's view, decoded (None for a task that does not exist), in one pipeline."""
        return self._fields(keys.task_view, lambda h, x, _c: decode_task(h, x), task_ids, fields, "task_id",
                            TASK_NEEDS)

    @_wrap
    def task_ids(self, status: str | list[str] | None = None, batch: str | None = None,
                 name: str | None = None) -> list[int]:
        """Ids of the tasks in any of `status`, of `batch` and named `name` (each when given), sorted."""
        sets = []
        if status is not None:
            sets.append(status_ids(self.r, [status] if isinstance(status, str) else list(status)))
        if batch is not None:
            sets.append(set(batch_ids(self.r, batch)))
        if name is not None:
            sets.append({int(x) for x in self.r.smembers(keys.tasks_by_name(name))})
        if not sets:
            return self._all_task_ids()
        return sorted(set.intersection(*sets))

    def _batches(self) -> list[str]:
        """Every batch (every task is in one: together their indexes index all tasks)."""
        return sorted(self.r.smembers(keys.BATCHES_ALL))

    def _all_task_ids(self) -> list[int]:
        return sorted(set(batch_ids(self.r, *self._batches())))

    @_wrap
    def task_count(self, batch: str | None = None) -> int:
        """How many tasks (of `batch`): a count of the index's bits (of each batch's)."""
        if batch is not None:
            return batch_count(self.r, batch)
        return batch_count(self.r, *self._batches())

    @_wrap
    def task_page(self, start: int, stop: int, desc: bool = False, batch: str | None = None) -> list[int]:
        """Task ids by rank in id order (`stop` included, as ZRANGE), of `batch` when given (else the first
        `stop + 1` of each batch's index merged)."""
        if stop < 0 or start < 0:       # a rank from the end: the whole list
            ids = batch_ids(self.r, batch) if batch is not None else self._all_task_ids()
            if desc:
                ids.reverse()
            return ids[start:(stop + 1) or None]
        if batch is not None:
            return batch_page(self.r, batch, start, stop, desc)
        ids = sorted({t for page in batch_pages(self.r, self._batches(), 0, stop, desc) for t in page}, reverse=desc)
        return ids[start:stop + 1]

    @_wrap
    def tasks(self, task_id: int | list[int] | None = None, status: str | list[str] | None = None,
              batch: str | None = None, name: str | None = None) -> list[TaskView]:
        if task_id is not None:
            ids = [task_id] if isinstance(task_id, int) else [int(t) for t in task_id]
            found = [decode_task(h, t) for t, h in self._hashes(keys.task_view, sorted(ids))]
            if status is not None:
                statuses = {status} if isinstance(status, str) else set(status)
                found = [t for t in found if t.status in statuses]
            if batch is not None:
                found = [t for t in found if t.batch == batch]
            if name is not None:
                found = [t for t in found if t.name == name]
            return found
        return [decode_task(h, t) for t, h in self._hashes(keys.task_view, self.task_ids(status, batch, name))]

    @_wrap
    def statuses(self, task_ids: list[int]) -> list[str | None]:
        pipe = self.r.pipeline(transaction=False)
        for t in task_ids:
            pipe.hget(keys.task_view(t), "status")
        return pipe.execute()

    # --- reads: executions and output ------------------------------------------------------------
    @_wrap
    def executions(self, task_id: int | None = None) -> list[ExecutionView]:
        return self._decode_executions(list(self._hashes(keys.execution_view, self.execution_ids(task_id))))

    @_wrap
    def execution_ids(self, task_id: int | None = None) -> list[int]:
        """Ids of every execution (of `task_id`), oldest first: their tasks' views list them."""
        tasks = [task_id] if task_id is not None else self._all_task_ids()
        return sorted(e for eids in self._task_executions(tasks).values() for e in eids)

    def _task_executions(self, task_ids: Sequence[int]) -> dict[int, list[int]]:
        """The execution ids of each task, oldest first (from the tasks' views, in pipelines)."""
        out: dict[int, list[int]] = {}
        task_ids = list(task_ids)
        for i in range(0, len(task_ids), 1000):
            chunk = task_ids[i:i + 1000]
            pipe = self.r.pipeline(transaction=False)
            for t in chunk:
                pipe.hmget(keys.task_view(t), ["executions", "execution_id"])
            for t, (listed, current) in zip(chunk, pipe.execute()):
                out[t] = task_execution_ids({k: v for k, v in (("executions", listed), ("execution_id", current))
                                             if v is not None})
        return out

    @_wrap
    def execution(self, execution_id: int) -> ExecutionView:
        h = self.r.hgetall(keys.execution_view(execution_id))
        if not h:
            raise NotFound(f"no execution {execution_id}")
        return self._decode_executions([(execution_id, h)])[0]

    @_wrap
    def execution_fields(self, execution_ids: Sequence[int], fields: Sequence[str]) -> list[ExecutionView | None]:
        """Only `fields` of each execution's view, decoded (None for one that does not exist), in one pipeline."""
        return self._fields(keys.execution_view, decode_execution, execution_ids, fields, "execution_id",
                            EXECUTION_NEEDS)

    @_wrap
    def attempts(self, task_ids: Sequence[int]) -> dict[int, list[tuple[int, int]]]:
        """(execution id, attempt) of every execution of each task, oldest first (two pipelines)."""
        eids = self._task_executions(task_ids)
        pipe = self.r.pipeline(transaction=False)
        for t in task_ids:
            for e in eids[t]:
                pipe.hget(keys.execution_view(e), "attempt")
        attempts = iter(pipe.execute())
        return {t: [(e, int(a)) for e in eids[t] if (a := next(attempts)) is not None] for t in task_ids}

    MAX_STREAMS_KNOWN = 100_000

    @_wrap
    def output_streams(self, attempts: Sequence[tuple[int, int]]) -> list[str]:
        """The output stream of each (task, attempt): the one its execution's view names (a key of the worker
        that ran it), else the key of executions recorded before output keys were per worker. Found in two
        pipelines for attempts not seen yet; an attempt's stream never changes once it started."""
        missing = sorted({p for p in attempts if p not in self._streams})
        if missing:
            tasks = sorted({t for t, _ in missing})
            eids = self._task_executions(tasks)
            order = [(t, e) for t in tasks for e in eids[t]]
            wanted = set(missing)
            if len(self._streams) > self.MAX_STREAMS_KNOWN:
                self._streams.clear()
            for (t, _e), ex in zip(order, self.execution_fields([e for _t, e in order], ["attempt", "stream"])):
                if ex is not None and ex.attempt is not None and ex.stream and (t, ex.attempt) in wanted:
                    self._streams[(t, ex.attempt)] = ex.stream
        return [self._streams.get((t, a)) or keys.output(t, a) for t, a in attempts]

    @_wrap
    def output(self, task_id: int, attempt: int, since: str = "-", count: int | None = None) -> list[tuple[str, str, str]]:
        """Output chunks (entry id, fd, text) of one attempt, after `since` (exclusive unless '-' or '0-0'),
        packed (the attempt ended) or live alike."""
        start = "-" if since in ("-", "0-0") else f"({since}"
        stream = self.output_streams([(task_id, attempt)])[0]
        pipe = self.r.pipeline(transaction=False)
        pipe.xrange(stream, min=start, count=count)
        pipe.execute_command("GET", keys.output_packed(task_id, attempt), **NEVER_DECODE)
        live, packed = pipe.execute()
        if not packed:     # still running (or never packed): the stream alone, read page by page
            return [(eid, f.get("fd", "stdout"), f.get("text", "")) for eid, f in live]
        chunks = read_outputs(self.r, [(task_id, attempt)], [stream])[0]
        if since not in ("-", "0-0"):
            low = parse_id(since)
            chunks = [c for c in chunks if parse_id(c[0]) > low]
        return chunks[:count] if count is not None else chunks

    @_wrap
    def output_tails(self, attempts: Sequence[tuple[int, int]], count: int = 4) -> list[list[Entry]]:
        """The last `count` output entries of each (task, attempt), newest first, in one pipeline."""
        return read_tails(self.r, attempts, count, self.output_streams(attempts))

    @_wrap
    def output_texts(self, attempts: Sequence[tuple[int, int]]) -> list[tuple[str, str]]:
        """The whole stdout and stderr of each (task, attempt), in one pipeline."""
        texts = []
        for chunks in read_outputs(self.r, attempts, self.output_streams(attempts)):
            out: list[str] = []
            err: list[str] = []
            for _eid, fd, text in chunks:
                (err if fd == "stderr" else out).append(text)
            texts.append(("".join(out), "".join(err)))
        return texts

    def output_text(self, task_id: int, attempt: int) -> tuple[str, str]:
        """The whole stdout and stderr of one attempt."""
        return self.output_texts([(task_id, attempt)])[0]

    @_wrap
    def follow_output(self, task_id: int, attempt: int, after: str, block_ms: int = 500) -> list[Entry]:
        """Output entries written after `after`, waiting up to `block_ms` for the first one (packed or live)."""
        stream = self.output_streams([(task_id, attempt)])[0]
        if after != "$":
            packed = self.r.execute_command("GET", keys.output_packed(task_id, attempt), **NEVER_DECODE)
            if packed:   # the attempt ended: what is left after `after`, packed then live
                low = parse_id(after if after != "-" else "0-0")
                done = [(eid, {"fd": fd, "text": text}) for eid, fd, text in self.output(task_id, attempt)
                        if parse_id(eid) > low]
                if done:
                    return done[:1000]
        resp = self.r.xread({stream: after}, count=1000, block=block_ms) or []
        return [e for _s, entries in resp for e in entries]

    # --- reads: workers and batches --------------------------------------------------------------
    @_wrap
    def workers(self) -> list[WorkerView]:
        ids = [int(x) for x in self.r.zrange(keys.WORKERS_ALL, 0, -1)]
        ws = [decode_worker(h) for _w, h in self._hashes(keys.worker_view, ids)]
        pipe = self.r.pipeline(transaction=False)
        for w in ws:
            pipe.hgetall(keys.worker_stats(w.name))
        for w, st in zip(ws, pipe.execute()):
            w.load = st.get("load")
            w.memory = float(st["memory"]) if st.get("memory") else None
            w.disk = float(st["disk"]) if st.get("disk") else None
            w.loadavg = st.get("loadavg")
            w.last_contact_date = float(st["last_contact"]) if st.get("last_contact") else None
            w.running = int(st["running"]) if st.get("running") else 0
            for k in IO_FIELDS:
                setattr(w, k, _count(st.get(k)))
            w.stats = _v1_stats(w)
        return ws

    @_wrap
    def worker_id(self, name: str) -> int:
        wid = self.r.hget(keys.WORKERS_BY_NAME, name)
        if wid is None:
            raise NotFound(f"no worker named {name!r}")
        return int(wid)

    @_wrap
    def batch_names(self) -> list[str]:
        return sorted(self.r.smembers(keys.BATCHES_ALL))

    @_wrap
    def batches(self) -> list[BatchView]:
        names = self.batch_names()
        pipe = self.r.pipeline(transaction=False)
        for n in names:
            pipe.hgetall(keys.batch_view(n))
        return [decode_batch(h) for h in pipe.execute() if h]

    @_wrap
    def batch(self, name: str) -> BatchView:
        return self._view(keys.batch_view(name), decode_batch, f"no batch {name!r}")

    # --- reads: the ledger and the server ----------------------------------------------------------
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
    def catalog(self) -> tuple[list[FlavorFields], list[QuotaFields]]:
        """The flavor catalog: every provider's flavors (rows) and regions' quotas."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(keys.FLAVORS_VIEW)
        pipe.hgetall(keys.QUOTAS_VIEW)
        flavors, quotas = pipe.execute()
        return ([decode_flavor(v) for _, v in sorted(flavors.items())],
                [decode_quota(v) for _, v in sorted(quotas.items())])

    @_wrap
    def events(self, start: str = "-", end: str = "+", count: int | None = None) -> list[Entry]:
        """Ledger entries between `start` and `end` (XRANGE bounds: '(' before an id excludes it), from the
        archive too when `start` is older than the live ledger."""
        trimmed = self.r.hget(keys.ARCHIVE, "trimmed_below")
        after = _after(start)
        if not trimmed or parse_id(after) >= parse_id(trimmed):
            return _shown(self.r.xrange(keys.EVENTS, min=start, max=end, count=count))
        top = None if end == "+" else (parse_id(end[1:]), True) if end.startswith("(") else (parse_id(end), False)
        out: list[Entry] = []
        for eid, f in whole_ledger(self.r, after=after):
            if top is not None and (parse_id(eid) >= top[0] if top[1] else parse_id(eid) > top[0]):
                break
            out.append((eid, without_empty_ids(f)))
            if count is not None and len(out) >= count:
                break
        return out

    def ledger(self, after: str = "0-0", task: int | None = None) -> Iterator[Entry]:
        """Every ledger entry after `after`, oldest first: the archive, then the live stream (one ledger)."""
        try:
            for eid, f in whole_ledger(self.r, after=after, task=task):
                yield eid, without_empty_ids(f)
        except redis.ConnectionError as exc:
            raise Unreachable(f"cannot reach Redis at {describe(self.url).split('://')[-1]}: {exc}") from None

    def task_events(self, task_id: int) -> list[Entry]:
        """Every ledger entry naming task `task_id` (field `task`), oldest first, archive and live stream.

        Read from shortly before the task's submission (its view's creation date: ledger ids are the
        server's clock, never earlier than an event's time) rather than from the start of the ledger: the
        archive's segments before it and the live entries before it are skipped. The result is kept only
        if it starts with the task's `task.submitted` (nothing names a task before it exists); otherwise
        (no view, a deleted task, a clock stepped back) the whole ledger is read."""
        try:
            start = self.task(task_id).creation_date
        except NotFound:
            start = None
        if start is not None:
            after = f"{max(0, int(start * 1000) - HISTORY_MARGIN_MS - 1)}-0"   # entries after it: its ms included
            found = self._task_entries(task_id, after)
            if found and found[0][1].get("type") == "task.submitted":
                return found
        return self._task_entries(task_id, "0-0")

    def _task_entries(self, task_id: int, after: str) -> list[Entry]:
        wanted = str(task_id)
        return [(eid, f) for eid, f in self.ledger(after=after, task=task_id) if f.get("task") == wanted]

    @_wrap
    def events_before(self, before: str | None, count: int) -> list[Entry]:
        """Up to `count` ledger entries older than `before` (newest first); `before=None` starts at the end."""
        top = "+" if before is None else f"({before}"
        live = _shown(self.r.xrevrange(keys.EVENTS, max=top, min="-", count=count))
        if len(live) >= count or not self.r.hget(keys.ARCHIVE, "trimmed_below"):
            return live
        arch = ledger_archive(self.r)     # older entries are in the archive: newest segments first
        if arch is None:
            return live
        bound = parse_id(live[-1][0] if live else before) if (live or before) else None
        for seg in reversed(arch.manifest().segments):
            if bound is not None and parse_id(seg.first) >= bound:
                continue
            older = _shown([e for e in arch.read_segment(seg) if bound is None or parse_id(e[0]) < bound])
            live += list(reversed(older))[:count - len(live)]
            if len(live) >= count:
                break
            bound = parse_id(seg.first)
        return live

    @_wrap
    def last_event_id(self) -> str:
        """Id of the newest ledger entry ('0-0' for an empty ledger)."""
        last = self.r.xrevrange(keys.EVENTS, count=1)
        return last[0][0] if last else "0-0"

    @_wrap
    def read_events(self, after: str, block_ms: int | None = 500, count: int = 2000) -> list[Entry]:
        """Ledger entries after `after`; waits up to `block_ms` for the first one (None: does not wait)."""
        resp = self.r.xread({keys.EVENTS: after}, count=count, block=block_ms) or []
        return [(eid, without_empty_ids(f)) for _stream, entries in resp for eid, f in entries]

    @_wrap
    def rejected(self, count: int = 100) -> list[Entry]:
        return list(reversed(self.r.xrevrange(keys.REJECTED, count=count)))

    @_wrap
    def server_alive(self) -> bool:
        return bool(self.r.exists(keys.SERVER_ALIVE))

    def wait_server(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.server_alive():
            if time.monotonic() > deadline:
                raise Unreachable("no scitq server answers on this Redis")
            time.sleep(0.1)


def _count(value: str | None) -> int | None:
    """A heartbeat counter (bytes or bytes/s, written as an int or a float); None when absent or garbled."""
    try:
        return max(0, round(float(value))) if value else None
    except ValueError:
        return None


def _v1_stats(w: WorkerView) -> str | None:
    """v1's `stats` JSON string of a worker: load, disk usage/speed/counter, network speed/counter."""
    if w.disk_read is None:
        return None
    mb, gb = 1e6, 1e9
    return json.dumps({
        "load": w.loadavg or "",
        "disk": {"speed": f"{w.disk_read / mb:.1f}/{(w.disk_write or 0) / mb:.1f} Mb/s",
                 "usage": [f"/:{w.disk}"] if w.disk is not None else [],
                 "counter": f"{(w.disk_read_total or 0) / gb:.1f}/{(w.disk_write_total or 0) / gb:.1f} Gb"},
        "network": {"speed": f"{(w.net_sent or 0) / mb:.1f}/{(w.net_recv or 0) / mb:.1f} Mb/s",
                    "counter": f"{(w.net_sent_total or 0) / gb:.1f}/{(w.net_recv_total or 0) / gb:.1f} Gb"},
    })
