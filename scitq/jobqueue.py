"""Provides the RQ queue of deploy and destroy jobs: enqueue, list, retry, delete, and the RQ worker's entry.

RQ reads its key prefix from the environment when it is first imported: this module sets it to
`keys.JOBS_PREFIX` first, so every key RQ writes is `scitq:rq:...` (one place to change, covered by the
server's ACL pattern). Import RQ through this module only.

A job is named `<op>-<worker>` (`deploy-scitq-node3`, `destroy-scitq-node3`): a job asked for again while the
previous one of that name waits or runs is not enqueued twice. The job functions are named by path
(`scitq.cloud.jobs.deploy`), so the server enqueues them without importing the cloud package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import redis

from scitq import keys

os.environ.setdefault("RQ_KEY_PREFIX", keys.JOBS_PREFIX)

__all__ = ["JobInfo", "connection", "enqueue", "job_id", "jobs", "retry", "delete", "is_pending", "run_worker"]

ACTIVE = ("queued", "started", "scheduled", "deferred")


def _rq() -> Any:
    if os.environ.get("RQ_KEY_PREFIX") != keys.JOBS_PREFIX:
        raise RuntimeError(f"RQ_KEY_PREFIX is {os.environ.get('RQ_KEY_PREFIX')!r}, expected {keys.JOBS_PREFIX!r}")
    import rq
    return rq


def connection(r: redis.Redis) -> redis.Redis:
    """A connection for RQ (bytes, not decoded) to the same server, database and credential as `r`."""
    kw = dict(r.connection_pool.connection_kwargs)
    kw["decode_responses"] = False
    cls = r.connection_pool.connection_class
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=cls, **kw))


def job_id(op: str, worker: str) -> str:
    return f"{op}-{worker}"


def is_pending(conn: redis.Redis, jid: str) -> bool:
    """Whether job `jid` waits or runs (queued, scheduled for a retry, started)."""
    rq = _rq()
    try:
        job = rq.job.Job.fetch(jid, connection=conn)
    except rq.exceptions.NoSuchJobError:
        return False
    status = job.get_status(refresh=True)
    return str(getattr(status, "value", status)) in ACTIVE


def enqueue(conn: redis.Redis, op: str, worker: str, kwargs: dict[str, Any], *, retries: int = 2,
            interval: int = 10, timeout: float = 900.0, description: str = "") -> str | None:
    """Enqueue `scitq.cloud.jobs.<op>(**kwargs)` as job `<op>-<worker>` with `retries` retries `interval`
    seconds apart; None if that job already waits or runs."""
    rq = _rq()
    jid = job_id(op, worker)
    if is_pending(conn, jid):
        return None
    try:
        rq.job.Job.fetch(jid, connection=conn).delete()
    except rq.exceptions.NoSuchJobError:
        pass
    q = rq.Queue(keys.JOBS_QUEUE, connection=conn)
    q.enqueue(f"scitq.cloud.jobs.{op}", kwargs=kwargs, job_id=jid, job_timeout=int(timeout),
              retry=rq.Retry(max=retries, interval=interval) if retries else None,
              result_ttl=7 * 86400, failure_ttl=7 * 86400, description=description or f"{op} {worker}",
              meta={"op": op, "worker": worker, "progress": 0, "log": [], "retries": retries})
    return jid


@dataclass(frozen=True)
class JobInfo:
    """One deploy or destroy job as the job list shows it (v1's jobs table)."""
    id: str
    op: str
    worker: str
    status: str
    progress: int
    log: str
    created: float | None
    ended: float | None
    retries_left: int
    error: str


def _info(job: Any) -> JobInfo:
    status = job.get_status(refresh=False)
    status = getattr(status, "value", status) or "unknown"
    meta = job.meta or {}
    log = "\n".join(meta.get("log", []))
    exc = ""
    if status == "failed":
        try:
            exc = (job.latest_result().exc_string or "").strip().splitlines()[-1]
        except Exception:  # noqa: BLE001 - an older or missing result: no detail
            exc = ""
    ts = (lambda d: d.timestamp() if d is not None else None)
    return JobInfo(id=job.id, op=meta.get("op", job.id.split("-", 1)[0]), worker=meta.get("worker", ""),
                   status=str(status), progress=int(meta.get("progress", 0) or 0), log=log,
                   created=ts(job.created_at), ended=ts(job.ended_at), retries_left=int(job.retries_left or 0),
                   error=exc or str(meta.get("error", "")))


def jobs(conn: redis.Redis) -> list[JobInfo]:
    """Every deploy and destroy job RQ knows (waiting, scheduled, running, finished, failed), newest first."""
    rq = _rq()
    q = rq.Queue(keys.JOBS_QUEUE, connection=conn)
    ids: list[str] = list(q.get_job_ids())
    for reg in (q.scheduled_job_registry, q.started_job_registry, q.finished_job_registry,
                q.failed_job_registry, q.deferred_job_registry, q.canceled_job_registry):
        try:
            ids += reg.get_job_ids()
        except Exception:  # noqa: BLE001 - a registry RQ cannot clean now: list the others
            continue
    out = [_info(j) for j in rq.job.Job.fetch_many(list(dict.fromkeys(ids)), connection=conn) if j is not None]
    out.sort(key=lambda j: j.created or 0.0, reverse=True)
    return out


def retry(conn: redis.Redis, jid: str) -> None:
    """Run a failed job again (v1's "restart failed")."""
    from scitq.errors import Conflict, NotFound
    rq = _rq()
    try:
        job = rq.job.Job.fetch(jid, connection=conn)
    except rq.exceptions.NoSuchJobError:
        raise NotFound(f"no job {jid!r} (see `scitq-manage job list`)") from None
    status = getattr(job.get_status(), "value", job.get_status())
    if status != "failed":
        raise Conflict(f"job {jid} is {status}: only a failed job is retried")
    rq.Queue(keys.JOBS_QUEUE, connection=conn).failed_job_registry.requeue(job)


def delete(conn: redis.Redis, jid: str) -> None:
    """Forget a job (a waiting one is cancelled first; a running one is refused)."""
    from scitq.errors import Conflict, NotFound
    rq = _rq()
    try:
        job = rq.job.Job.fetch(jid, connection=conn)
    except rq.exceptions.NoSuchJobError:
        raise NotFound(f"no job {jid!r} (see `scitq-manage job list`)") from None
    if getattr(job.get_status(), "value", job.get_status()) == "started":
        raise Conflict(f"job {jid} is running: wait for it to end")
    job.delete()


def run_worker(conn: redis.Redis, *, burst: bool = False, name: str | None = None) -> None:
    """Run an RQ worker on the jobs queue until stopped (SIGTERM: warm shutdown)."""
    rq = _rq()
    w = rq.Worker([rq.Queue(keys.JOBS_QUEUE, connection=conn)], connection=conn, name=name)
    w.work(burst=burst, with_scheduler=True, logging_level="INFO")
