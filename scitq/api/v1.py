"""Provides `Server`: the v1 `scitq.lib.Server` interface (same names, same arguments) over `Client`."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable

import redis

from scitq import keys
from scitq.api.client import HEARTBEAT_FIELDS, Client
from scitq.api.v1_writes import LazyObject, WriteQueue, resolve
from scitq.checks import check_task_fields
from scitq.container_options import parse_container_options
from scitq.errors import BadInput, Conflict, NotFound, Unreachable
from scitq.inbox import new_id
from scitq.projections.catalog import search as catalog_search
from scitq.projections.views import View, decode_worker
from scitq.settings import TASK_STATUS

__all__ = ["Server", "shell_wrap", "LazyObject"]


def shell_wrap(command: str, shell: bool | str) -> str:
    """v1 `shell=True` means `sh -c '<command>'` (`shell='bash'`: `bash -c`), quoted safely."""
    if not shell:
        return command
    sh = "sh" if shell is True else str(shell)
    return f"{sh} -c {shlex.quote(command)}"


def _join(value: str | list[str] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def _datetime(ts: float) -> datetime:
    """v1 dates: naive datetimes in UTC."""
    return datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None)


# what a worker of `Server.workers()` carries: its view and the figures of its last heartbeat
WORKER_FIELDS = set(decode_worker({})) | set(HEARTBEAT_FIELDS)


class Server:
    """v1 client: `Server(ip, style='dict'|'object', asynchronous=True, put_timeout=30, get_timeout=150)`.

    `ip` is a host (v1 style) or a redis:// URL; with nothing, SCITQ_SERVER or the local connection file.
    When Redis or the server cannot be reached (v1: the library rides out server outages), reads are
    retried (waiting up to `get_timeout` seconds between tries); an asynchronous write (the default,
    or `asynchronous=True` on the call) is queued and returns a `LazyObject` at once, the queued
    writes being delivered in order when the server is back (`queue_size()` tells how many wait;
    tries up to `put_timeout` seconds apart); a synchronous write waits for the server.
    `persistent=False` raises `Unreachable` at once instead.
    """

    def __init__(self, ip: str | None = None, style: str = "dict", asynchronous: bool = True,
                 put_timeout: int = 30, get_timeout: int = 150, *, persistent: bool = True) -> None:
        if style not in ("dict", "object"):
            raise BadInput(f"style must be 'dict' or 'object', not {style!r}")
        self.style = style
        self.asynchronous = asynchronous
        self.put_timeout = put_timeout
        self.get_timeout = get_timeout
        self.persistent = persistent
        self.client = Client(ip)
        self._writes = WriteQueue(put_timeout)

    # --- plumbing -------------------------------------------------------------------------------
    def _retry(self, fn: Callable[[], Any], cap: float | None = None) -> Any:
        delay = 1.0
        while True:
            try:
                return fn()
            except Unreachable as exc:
                if not self.persistent:
                    raise
                print(f"scitq: {exc}; retrying in {delay:.0f}s", file=sys.stderr)
                time.sleep(delay)
                delay = min(delay * 2, float(cap if cap is not None else self.get_timeout))

    def _server_here(self) -> None:
        """Raise Unreachable when Redis is away or no server runs (its answer would not come)."""
        try:
            alive = self.client.r.exists(keys.SERVER_ALIVE)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise Unreachable(f"cannot reach Redis: {exc}") from None
        except redis.ResponseError:   # a credential that may not read it: the command's answer tells
            return
        if not alive:
            raise Unreachable("no scitq server is running")

    def _write(self, send: Callable[[str], Any], what: str, asynchronous: bool | None = None,
               then: Callable[[Any], Any] | None = None) -> Any:
        """Deliver one write under one idempotency key (applied once however often it is tried).

        Asynchronous (v1's default): if the server is away, or earlier writes still wait, the write
        joins the queue and a LazyObject is returned at once. Synchronous: wait for the queued
        writes, then for this one.
        """
        key = new_id()

        def attempt() -> Any:
            self._server_here()
            return send(key)

        def done(result: Any) -> Any:
            return then(result) if then is not None else result

        if not self.persistent:
            return done(send(key))
        if self.asynchronous if asynchronous is None else asynchronous:
            if self._writes.size() == 0:
                try:
                    return done(attempt())
                except Unreachable:
                    pass
            return LazyObject(self._writes.put(attempt, what), then)
        self._writes.drain()
        return done(self._retry(attempt, cap=float(self.put_timeout)))

    def _command(self, what: str, send: Callable[..., Any], *args: Any, asynchronous: bool | None = None,
                 then: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
        """Send command `what` with a typed `Client` method (see `_write`: queued while the server is away,
        applied once)."""
        return self._write(lambda key: send(*args, idempotency_key=key, **kwargs), what, asynchronous, then)

    def queue_size(self) -> int:
        """How many asynchronous writes wait for the server (v1)."""
        return self._writes.size()

    def _out(self, obj: Any) -> Any:
        if isinstance(obj, list):
            return [self._out(o) for o in obj]
        if isinstance(obj, View):
            obj = obj.to_dict()
        if not isinstance(obj, dict):
            return obj
        out = {k: (_datetime(v) if "_date" in k and isinstance(v, (int, float)) and not isinstance(v, bool) else v)
               for k, v in obj.items()}
        return argparse.Namespace(**out) if self.style == "object" else out

    @staticmethod
    def _task_public(t: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in t.items() if k not in ("queued", "deliveries")}

    # --- tasks ------------------------------------------------------------------------------------
    def _spec(self, command: str, name=None, status=None, batch=None, input=None, output=None, container=None,
              container_options="", resource=None, required_task_ids=None, shell=False, retry=None,
              download_timeout=None, run_timeout=None, use_cache=None, uid=None, gid=None,
              accept_failure=None) -> dict[str, Any]:
        if not isinstance(command, str) or not command.strip():
            raise BadInput("command must be a non-empty string")
        if container_options and not container:
            raise BadInput("Do not set Docker options if you do not specify a docker.")
        if container_options:
            parse_container_options(container_options)
        spec: dict[str, Any] = {"command": shell_wrap(command, shell)}
        for key, value in (("name", name), ("status", status), ("batch", batch), ("input", _join(input)),
                           ("output", output), ("container", container),
                           ("container_options", container_options or None), ("resource", _join(resource)),
                           ("retry", retry), ("download_timeout", download_timeout), ("run_timeout", run_timeout),
                           ("use_cache", use_cache), ("uid", uid), ("gid", gid),
                           ("accept_failure", accept_failure)):
            if value is not None:
                spec[key] = value
        if required_task_ids:
            # a task still waiting in the write queue is resolved when this one is sent (after it)
            spec["required_task_ids"] = [t if isinstance(t, LazyObject) and not t.delivered() else _task_id(t)
                                         for t in required_task_ids]
        check_task_fields(spec)
        return spec

    def task_create(self, command: str, name: str | None = None, status: str | None = None,
                    batch: str | None = None, input: str | list[str] | None = None, output: str | None = None,
                    container: str | None = None, container_options: str = "",
                    resource: str | list[str] | None = None, required_task_ids: list[int] | None = None,
                    shell: bool | str = False, retry: int | None = None, download_timeout: int | None = None,
                    run_timeout: int | None = None, use_cache: bool | None = None, uid: int | None = None,
                    gid: int | None = None, accept_failure: bool | None = None, asynchronous: bool | None = None) -> Any:
        """Queue one task; returns it (v1 shape). `shell=True` wraps the command in `sh -c`.
        `accept_failure=True` (not v1): it runs even when a required task failed (else it is blocked)."""
        spec = self._spec(command, name, status, batch, input, output, container, container_options, resource,
                          required_task_ids, shell, retry, download_timeout, run_timeout, use_cache, uid, gid,
                          accept_failure)
        return self._write(lambda key: self.client.submit([_resolved(spec)], idempotency_key=key)[0],
                           "task_create", asynchronous, then=self.task_get)

    def task_create_many(self, tasks: list[dict[str, Any]], asynchronous: bool | None = None) -> Any:
        """Queue many tasks at once (each dict takes `task_create`'s arguments); returns their ids in order."""
        specs = [self._spec(**t) for t in tasks]
        return self._write(lambda key: self.client.submit([_resolved(s) for s in specs], idempotency_key=key),
                           "task_create_many", asynchronous)

    def task_get(self, id: int) -> Any:
        return self._out(self._task_public(self._retry(lambda: self.client.task(int(id)))))

    def tasks(self, task_id: int | list[int] | None = None, status: str | list[str] | None = None,
              batch: str | None = None, name: str | None = None, **filters: Any) -> Any:
        """Tasks sorted by id, filtered like v1 (a list value means "any of")."""
        if filters:
            raise BadInput(f"unknown task filter(s): {', '.join(sorted(filters))}")
        found = self._retry(lambda: self.client.tasks(task_id=task_id, status=status, batch=batch, name=name))
        return self._out([self._task_public(t) for t in found])

    def task_update(self, id: int, command: str | None = None, name: str | None = None, status: str | None = None,
                    batch: str | None = None, input: str | list[str] | None = None, output: str | None = None,
                    container: str | None = None, container_options: str | None = None,
                    resource: str | list[str] | None = None, required_task_ids: list[int] | None = None,
                    retry: int | None = None, download_timeout: int | None = None,
                    run_timeout: int | None = None, use_cache: bool | None = None,
                    accept_failure: bool | None = None, asynchronous: bool | None = None) -> Any:
        """Change fields of a task (only the ones given). With status='pending' it is a relaunch;
        `required_task_ids` replaces the requirements (a waiting task whose new ones all succeeded is
        released at once)."""
        changes = {k: v for k, v in (("command", command), ("name", name), ("status", status), ("batch", batch),
                                     ("input", _join(input)), ("output", output), ("container", container),
                                     ("container_options", container_options), ("resource", _join(resource)),
                                     ("required_task_ids", required_task_ids), ("retry", retry),
                                     ("download_timeout", download_timeout), ("run_timeout", run_timeout),
                                     ("use_cache", use_cache), ("accept_failure", accept_failure))
                   if v is not None}
        check_task_fields(changes)
        return self._command("task.update", self.client.update_task, int(id), asynchronous=asynchronous,
                             then=lambda _: self.task_get(id), **changes)

    def task_delete(self, id: int, asynchronous: bool | None = None) -> Any:
        return self._command("task.delete", self.client.delete_tasks, [int(id)], asynchronous=asynchronous)

    def task_relaunch(self, id: int, asynchronous: bool | None = None) -> Any:
        return self._command("task.relaunch", self.client.relaunch_tasks, [int(id)], asynchronous=asynchronous)

    def task_signal(self, id: int, signal: int, asynchronous: bool | None = None) -> Any:
        return self._command("task.signal", self.client.signal_task, int(id), int(signal), asynchronous=asynchronous)

    def task_status(self, task_id_list: list[int]) -> list[str | None]:
        ids = [_task_id(t) for t in task_id_list]
        return self._retry(lambda: self.client.statuses(ids))

    # --- executions -------------------------------------------------------------------------------
    def _execution_out(self, ex: dict[str, Any], no_output: bool = False, trunc: int | None = None) -> dict:
        ex = dict(ex)
        ex["output_folder"] = ex.get("output_folder")
        if not no_output:
            out, err = self.client.output_text(ex["task_id"], ex["attempt"])
            if trunc:
                out, err = out[-trunc:], err[-trunc:]
            ex["output"], ex["error"] = out, err
        return ex

    def executions(self, task_id: int | None = None, status: str | list[str] | None = None,
                   latest: bool | None = None, batch: str | None = None, task_name: str | None = None,
                   execution_id: int | None = None, limit: int | None = None, reverse: bool = False,
                   no_output: bool = False, trunc: int | None = None, worker_id: int | None = None) -> Any:
        def fetch():
            if execution_id is not None:
                exs = [self.client.execution(int(execution_id))]
            elif task_name is not None:
                exs = [e for t in self.client.tasks(name=task_name) for e in self.client.executions(t["task_id"])]
            else:
                exs = self.client.executions(task_id)
            if status is not None:
                wanted = {status} if isinstance(status, str) else set(status)
                exs = [e for e in exs if e["status"] in wanted]
            if latest is not None:
                exs = [e for e in exs if bool(e["latest"]) == bool(latest)]
            if worker_id is not None:
                exs = [e for e in exs if e["worker_id"] == worker_id]
            if batch is not None:
                ids = set(self.client.task_ids(batch=batch))
                exs = [e for e in exs if e["task_id"] in ids]
            exs.sort(key=lambda e: e["execution_id"], reverse=bool(reverse))
            if limit:
                exs = exs[:limit]
            return [self._execution_out(e, no_output, trunc) for e in exs]
        return self._out(self._retry(fetch))

    def execution_get(self, id: int) -> Any:
        return self._out(self._retry(lambda: self._execution_out(self.client.execution(int(id)))))

    def execution_output(self, id: int, output: bool | None = None, error: bool | None = None,
                         output_position: int | None = None, error_position: int | None = None) -> Any:
        """{output, error} of an execution, from 1-based positions (incremental tail, v1)."""
        ex = self._retry(lambda: self.client.execution(int(id)))
        out, err = self._retry(lambda: self.client.output_text(ex["task_id"], ex["attempt"]))
        res = {"output": out[(output_position or 1) - 1:], "error": err[(error_position or 1) - 1:]}
        if output is False or (error and output is None):
            res.pop("output")
        if error is False or (output and error is None):
            res.pop("error")
        return self._out(res)

    # --- batches ----------------------------------------------------------------------------------
    def batches(self) -> Any:
        """[{batch, pending, accepted, running, failed, succeeded, workers, paused, blocked}] (None when 0,
        as v1; `blocked`, not v1: tasks whose required task failed for good)."""
        def fetch():
            workers = self.client.workers()
            out = []
            for b in self.client.batches():
                row: dict[str, Any] = {"batch": b["batch"]}
                for s in ("pending", "accepted", "running", "failed", "succeeded"):
                    n = b.get(s) or 0
                    if s == "pending":
                        n += (b.get("assigned") or 0)
                    row[s] = n or None
                row["workers"] = ",".join(w["name"] for w in workers if w["batch"] == b["batch"])
                row["paused"] = bool(b.get("batch_paused"))
                row["blocked"] = b.get("blocked") or None
                out.append(row)
            return out
        return self._out(self._retry(fetch))

    def batch_stop(self, batch: str, signal: int = 0, asynchronous: bool | None = None) -> Any:
        return self._command("batch.stop", self.client.stop_batch, batch, int(signal), asynchronous=asynchronous)

    def batch_go(self, batch: str, signal: int = 0, asynchronous: bool | None = None) -> Any:
        return self._command("batch.go", self.client.go_batch, batch, int(signal), asynchronous=asynchronous)

    def batch_delete(self, batch: str, asynchronous: bool | None = None) -> Any:
        return self._command("batch.delete", self.client.delete_batch, batch, asynchronous=asynchronous)

    def batch_relaunch_failed(self, batch: str, asynchronous: bool | None = None) -> Any:
        return self._command("batch.relaunch_failed", self.client.relaunch_failed, batch, asynchronous=asynchronous)

    # --- workers ----------------------------------------------------------------------------------
    def workers(self, **filters: Any) -> Any:
        """Workers sorted by id, filtered like v1 on any of their fields (a list value means "any of")."""
        unknown = set(filters) - WORKER_FIELDS
        if unknown:
            raise BadInput(f"unknown worker filter(s): {', '.join(sorted(unknown))}")

        def fetch():
            ws = self.client.workers()
            for key, value in filters.items():
                wanted = set(value) if isinstance(value, (list, tuple, set)) else {value}
                ws = [w for w in ws if w.get(key) in wanted]
            return ws
        return self._out(self._retry(fetch))

    def worker_get(self, id: int) -> Any:
        ws = [w for w in self._retry(self.client.workers) if w["worker_id"] == int(id)]
        if not ws:
            raise NotFound(f"no worker {id}")
        return self._out(ws[0])

    def worker_update(self, id: int, name: str | None = None, hostname: str | None = None,
                      concurrency: int | None = None, status: str | None = None, batch: str | None = None,
                      permanent: bool | None = None, prefetch: int | None = None, flavor: str | None = None,
                      task_properties: Any = None, asynchronous: bool | None = None) -> Any:
        """v1: only the arguments given (not None) are changed; `name` renames an offline worker,
        `task_properties` is a dict (or its JSON)."""
        if isinstance(task_properties, str):
            import json
            try:
                task_properties = json.loads(task_properties or "{}")
            except ValueError:
                raise BadInput(f"task_properties is not JSON: {task_properties!r}") from None
        data: dict[str, Any] = {}
        for key, value in (("name", name), ("hostname", hostname), ("concurrency", concurrency),
                           ("prefetch", prefetch), ("status", status), ("batch", batch), ("permanent", permanent),
                           ("flavor", flavor), ("task_properties", task_properties)):
            if value is not None:
                data[key] = value
        return self._command("worker.update", self.client.update_worker, int(id), asynchronous=asynchronous, **data)

    def worker_delete(self, id: int, asynchronous: bool | None = None) -> Any:
        """Delete a worker; a deployed one has its machine destroyed (and its credential revoked)."""
        return self._command("worker.delete", self.client.delete_worker, int(id), asynchronous=asynchronous)

    def worker_deploy(self, number: int, batch: str | None, region: str, flavor: str, concurrency: int,
                      provider: str, prefetch: int = 0, asynchronous: bool | None = None) -> Any:
        """v1: deploy `number` new workers in `batch`: one deploy job each (flavor, region, provider may be
        `auto`; the flavor `auto:cpu>=8:ram>=30` picks the cheapest matching one within quota). Returns
        {"workers": [names], "asked": number}."""
        return self._command("worker.deploy", self.client.deploy_workers, asynchronous=asynchronous,
                             number=int(number), batch=batch, region=region, flavor=flavor,
                             concurrency=int(concurrency), provider=provider, prefetch=int(prefetch))

    def worker_create_signal(self, id: int, execution_id: int | None, signal: int,
                             asynchronous: bool | None = None) -> Any:
        """v1: a signal for one execution of the worker, or (execution_id None) for the worker itself:
        -1 clean its unused work dirs, -2 restart it, -3 forget its resource cache."""
        if execution_id is None:
            return self._command("worker.signal", self.client.signal_worker, int(id), int(signal),
                                 asynchronous=asynchronous)
        ex = self._retry(lambda: self.client.execution(int(execution_id)))
        task = self._retry(lambda: self.client.task(int(ex["task_id"])))
        if int(task.get("attempt") or 0) != int(ex["attempt"]):
            raise Conflict(f"execution {execution_id} is not the current attempt of task {ex['task_id']}: "
                           f"no process to signal")
        return self._command("task.signal", self.client.signal_task, int(ex["task_id"]), int(signal),
                             asynchronous=asynchronous)

    def worker_executions(self, id: int, status: str | list[str] | None = None) -> Any:
        """Executions of a worker (v1: by default the ones neither pending nor finished), each with its
        task's `batch` and status (`taskstatus`)."""
        def fetch():
            exs = [e for e in self.client.executions() if e["worker_id"] == int(id)]
            if status is None:
                exs = [e for e in exs if e["status"] not in ("failed", "succeeded", "pending")]
            else:
                wanted = {status} if isinstance(status, str) else set(status)
                exs = [e for e in exs if e["status"] in wanted]
            tasks = {t["task_id"]: t for t in self.client.tasks(task_id=sorted({e["task_id"] for e in exs}))}
            out = []
            for e in sorted(exs, key=lambda e: e["execution_id"]):
                t = tasks.get(e["task_id"], {})
                out.append({**e, "batch": t.get("batch"), "taskstatus": t.get("status")})
            return out
        return self._out(self._retry(fetch))

    def workers_tasks(self) -> Any:
        """[{worker_id, status, count}]: latest executions counted per worker and status (v1)."""
        def fetch():
            counts: dict[tuple[int, str], int] = {}
            for e in self.client.executions():
                if e["latest"] and e["worker_id"] is not None:
                    counts[(e["worker_id"], e["status"])] = counts.get((e["worker_id"], e["status"]), 0) + 1
            return [{"worker_id": w, "status": st, "count": n} for (w, st), n in sorted(counts.items())]
        return self._out(self._retry(fetch))

    # --- configuration shared by the server ---------------------------------------------------------
    def config_rclone(self) -> str:
        """The rclone configuration the server was given (v1: the server's /etc/rclone.conf)."""
        text = self._shared("rclone")
        if text is None:
            raise NotFound("the scitq server holds no rclone configuration",
                           hint="start `scitq server` where RCLONE_CONFIG, /etc/rclone.conf or "
                                "~/.config/rclone/rclone.conf holds one")
        return text

    def config_remote(self) -> str | None:
        """The server's REMOTE_URI (SCITQ_REMOTE_URI where `scitq server` runs), or None."""
        return self._shared("remote")

    def _shared(self, field: str) -> str | None:
        def get() -> str | None:
            try:
                return self.client.r.hget(keys.SHARED_CONFIG, field)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise Unreachable(f"cannot reach Redis: {exc}") from None
        return self._retry(get)

    def worker_signals(self, id: int) -> list:
        """v1's signal mailbox, read by workers. Workers here receive their orders on their own stream
        (scitq:worker:<name>:control) as soon as they are given, so the mailbox of a known worker is always
        empty (an unknown `id` raises NotFound)."""
        self.worker_get(id)
        return []

    # --- recruiters ------------------------------------------------------------------------------
    _RECRUITER_ARGS = (("tasks_per_worker", "tasks_per_worker"), ("flavor", "worker_flavor"),
                       ("concurrency", "worker_concurrency"), ("region", "worker_region"),
                       ("provider", "worker_provider"), ("prefetch", "worker_prefetch"),
                       ("minimum_tasks", "minimum_tasks"), ("maximum_workers", "maximum_workers"))

    def recruiters(self, **filters: Any) -> Any:
        """v1: the recruiters, each {batch, rank, tasks_per_worker, worker_flavor, worker_region,
        worker_provider, worker_concurrency, worker_prefetch, minimum_tasks, maximum_workers}; filters
        on any field (a list means any of)."""
        def fetch():
            recs = self.client.recruiters()
            for key, value in filters.items():
                wanted = set(value) if isinstance(value, (list, tuple, set)) else {value}
                recs = [r for r in recs if r.get(key) in wanted]
            return recs
        return self._out(self._retry(fetch))

    def recruiter_create(self, batch: str, rank: int, tasks_per_worker: int, flavor: str, concurrency: int,
                         region: str | None = None, provider: str | None = None, prefetch: int | None = None,
                         minimum_tasks: int | None = None, maximum_workers: int | None = None,
                         asynchronous: bool | None = None) -> Any:
        """v1: create the recruiter (batch, rank), or replace the one there. Workers of `flavor` (exact
        name) are recycled into `batch` while it has pending tasks, set to `concurrency`/`prefetch`."""
        given = dict(tasks_per_worker=tasks_per_worker, flavor=flavor, concurrency=concurrency, region=region,
                     provider=provider, prefetch=prefetch, minimum_tasks=minimum_tasks,
                     maximum_workers=maximum_workers)
        data = {field: given[arg] for arg, field in self._RECRUITER_ARGS}
        return self._command("recruiter.create", self.client.create_recruiter, batch, rank, asynchronous=asynchronous,
                             **data)

    def recruiter_update(self, batch: str, rank: int = 1, tasks_per_worker: int | None = None,
                         flavor: str | None = None, concurrency: int | None = None, region: str | None = None,
                         provider: str | None = None, prefetch: int | None = None, minimum_tasks: int | None = None,
                         maximum_workers: int | None = None, asynchronous: bool | None = None) -> Any:
        """v1: change the fields given (not None) of the recruiter (batch, rank)."""
        given = dict(tasks_per_worker=tasks_per_worker, flavor=flavor, concurrency=concurrency, region=region,
                     provider=provider, prefetch=prefetch, minimum_tasks=minimum_tasks,
                     maximum_workers=maximum_workers)
        data = {field: given[arg] for arg, field in self._RECRUITER_ARGS if given[arg] is not None}
        return self._command("recruiter.update", self.client.update_recruiter, batch, rank, asynchronous=asynchronous,
                             **data)

    def recruiter_delete(self, batch: str, rank: int = 1, asynchronous: bool | None = None) -> Any:
        return self._command("recruiter.delete", self.client.delete_recruiter, batch, rank,
                             asynchronous=asynchronous)

    def recruiters_match(self, **filters: Any) -> Any:
        """v1: the workers whose flavor matches a recruiter's (among the recruiters `filters` select),
        each worker once. An `auto:<protofilters>` flavor matches a worker whose flavor is a catalog row
        passing them (of the recruiter's provider and region when they are set and not `auto`)."""
        from scitq.projections.catalog import Protofilter, flavor_rule, matches

        def fetch():
            recs = [r if isinstance(r, dict) else vars(r) for r in self.recruiters(**filters)]
            exact = {r["worker_flavor"] for r in recs if flavor_rule(r["worker_flavor"]) is None}
            rules = [(flavor_rule(r["worker_flavor"]), r.get("worker_provider"), r.get("worker_region"))
                     for r in recs if flavor_rule(r["worker_flavor"]) is not None]
            rows = self.client.catalog()[0] if rules else []

            def fits(flavor: str | None) -> bool:
                if flavor in exact:
                    return True
                for rule, provider, region in rules:
                    for row in rows:
                        if row.name != flavor or (region not in (None, "auto") and row.region != region):
                            continue
                        if provider not in (None, "auto") and not Protofilter("provider", "==", provider).test(
                                {"provider": row.provider}):        # ovh and openstack are one provider
                            continue
                        if matches({f: getattr(row, f) for f in row.__struct_fields__}, rule):
                            return True
                return False
            return [w for w in self.client.workers() if fits(w.get("flavor"))]
        return self._out(self._retry(fetch))

    # --- the flavor catalog --------------------------------------------------------------------------
    def _cpus_used(self, rows: list[Any]) -> dict[tuple[str, str], int]:
        """Cpus per (provider, region) of the machines made or being made (live deploys), as the server's
        recruiting counts them; static workers take none of a cloud quota."""
        from scitq.events.model import LIVE_DEPLOY_STATUSES
        from scitq.projections.catalog import cpus_in_use
        return cpus_in_use(rows, deploys=[d for d in self.client.deploys() if d.status in LIVE_DEPLOY_STATUSES])

    def _catalog_search(self, **criteria: Any) -> list[dict[str, Any]]:
        from scitq.settings import settings
        rows, quotas = self.client.catalog()
        used = self._cpus_used(rows)
        return catalog_search(rows, quotas=quotas, used=used, preferred=settings().preferred_regions, **criteria)

    def flavors(self, min_cpu: float = 0, min_ram: float = 0, min_disk: float = 0, max_eviction: float = 5,
                limit: int | None = 10, provider: str | None = None, region: str | None = None,
                protofilters: str | None = None) -> Any:
        """v1: search the flavor catalog (`scitq flavors update PROVIDER` fills it). Each flavor is {name,
        provider, region, cpu, ram, disk, bandwidth, gpu, gpumem, tags, cost, eviction, available}: eviction
        <= `max_eviction` unless a protofilter names eviction, no metal (tag M) unless one names tags,
        preferred regions (SCITQ_PREFERRED_REGIONS) first when a provider is given, then cheapest; at most
        `limit` (None: all). `available`: how many more machines of it the region's cpu quota allows, or None
        without a quota. `protofilters`: v1's `cpu>=8:ram>=30:tags#G`."""
        def fetch():
            return self._catalog_search(min_cpu=min_cpu, min_ram=min_ram, min_disk=min_disk,
                                        max_eviction=max_eviction, limit=limit, provider=provider, region=region,
                                        protofilters=protofilters)
        return self._out(self._retry(fetch))

    def flavor_find(self, cpu: float = 0, ram: float = 0, disk: float = 0, max_eviction: float = 5,
                    n: int = 1) -> Any:
        """v1: the best available flavors for `n` machines of at least `cpu`, `ram`, `disk` (one per machine,
        each pick lowering its region's `available`). Warns on stderr when fewer than `n` are available;
        raises RuntimeError when none is."""
        from scitq.projections.catalog import find

        def fetch():
            from scitq.settings import settings
            rows, quotas = self.client.catalog()
            return find(rows, n=n, quotas=quotas, used=self._cpus_used(rows),
                        preferred=settings().preferred_regions, min_cpu=cpu, min_ram=ram, min_disk=disk,
                        max_eviction=max_eviction)
        found = self._retry(fetch)
        if not found:
            raise RuntimeError(f"No flavor available with cpu>={cpu}, ram>={ram}, disk>={disk}, "
                               f"eviction<={max_eviction}")
        if len(found) < n:
            print(f"Warning: only {len(found)} of {n} machines available with cpu>={cpu}, ram>={ram}, "
                  f"disk>={disk}", file=sys.stderr)
        return self._out(found)

    # --- join ---------------------------------------------------------------------------------------
    def join(self, task_list: list[Any], retry: int = 1, check: bool = False) -> dict[str, int]:
        """Wait for the tasks, relaunching failed ones up to `retry` times (v1 behaviour and messages)."""
        task_list = [resolve(t) for t in task_list]   # a task created while the server was away
        ids = [_task_id(t) for t in task_list]
        names: dict[int, str] = {}
        for t in task_list:
            n = t.get("name") if isinstance(t, dict) else getattr(t, "name", None)
            tid = _task_id(t)
            names[tid] = n or str(tid)
        tries: dict[int, int] = {i: 0 for i in ids}
        sleep, done_before = 1.0, -1
        waiting = ("running", "accepted", "pending", "assigned")
        while True:
            statuses = dict(zip(ids, self.task_status(ids)))
            for tid, st in statuses.items():
                if st == "failed" and tries[tid] < retry:
                    tries[tid] += 1
                    print(f"Retrying task {names[tid]} [{tries[tid]}/{retry}]...")
                    self.task_update(tid, status="pending")
                    statuses[tid] = "pending"
                elif st == "failed" and tries[tid] == retry and retry > 0:
                    tries[tid] += 1
                    print(f"Task {names[tid]} failed too many times giving up")
            counts = {s: sum(1 for v in statuses.values() if v == s) for s in TASK_STATUS}
            remaining = sum(counts[s] for s in waiting)
            print("Remaining tasks pending : {pending}, assigned: {assigned}, accepted: {accepted}, "
                  "running: {running}, failed: {failed}, succeeded: {succeeded}".format(**counts)
                  + (f", blocked: {counts['blocked']}" if counts["blocked"] else ""), flush=True)
            if remaining == 0:
                break
            done = counts["failed"] + counts["succeeded"] + counts["blocked"]
            if done == done_before:
                sleep = min(sleep + 1.0, 10.0)
            else:
                sleep = 1.0
            done_before = done
            time.sleep(sleep)
        print("All tasks done!")
        if counts["blocked"]:   # not v1 (where they waited for ever): a required task failed for good
            print(f"{counts['blocked']} task(s) blocked by a failed required task", flush=True)
        if check and (counts["failed"] or counts["blocked"]):
            raise RuntimeError("Could not complete all the tasks...")
        return counts


def _task_id(t: Any) -> int:
    """A task id from an id, a task dict or object (v1 accepts all three), or a LazyObject of one."""
    t = resolve(t)
    return int(t["task_id"] if isinstance(t, dict) else getattr(t, "task_id", t))


def _resolved(spec: dict[str, Any]) -> dict[str, Any]:
    if not any(isinstance(t, LazyObject) for t in spec.get("required_task_ids") or ()):
        return spec
    return {**spec, "required_task_ids": [_task_id(t) for t in spec["required_task_ids"]]}
