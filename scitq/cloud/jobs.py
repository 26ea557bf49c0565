"""Provides the deploy, destroy and sweep jobs the job runner (an RQ worker, `scitq jobs`) runs.

The server enqueues them by path (`scitq.jobqueue`); each reports every step back to the server with a
`deploy.report` (or `deploy.orphans`) command: only the server writes the ledger.

- `deploy`: makes the worker's own credential (`worker-<name>`), asks the provider for the machine with a
  `Bootstrap` carrying it, and reports started / succeeded (instance, ip) / failed (error kind). A machine of
  that name the provider already runs (the job ran before a crash) is reported, not made twice; a deploy the
  server meanwhile asked to destroy is not made. Auth errors and unsupported flavors are final at once; other
  failures are retried by RQ (`SCITQ_DEPLOY_RETRIES`), the last one final.
- `destroy`: deletes the machine (gone counts as deleted), revokes the credential, reports destroyed.
- `sweep`: lists a provider's machines of this server and reports them; the server destroys those no live
  deploy owns (orphans).

Progress (0-100) and a short log go to the RQ job's meta, which `scitq-manage job list` and the dashboard show.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from typing import Any

from scitq import __version__, access, keys
from scitq.cloud.provider import Bootstrap, Instance, Provider, ProviderError, machine_name
from scitq.connection import connect, resolve_url
from scitq.inbox import send_command
from scitq.settings import settings

__all__ = ["deploy", "destroy", "sweep", "provider", "PLUGINS_ENV"]

log = logging.getLogger("scitq.jobs")

PLUGINS_ENV = "SCITQ_CLOUD_PLUGINS"     # "name=package.module:factory,..." providers beside the built-in ones


def provider(name: str) -> Provider:
    """The provider `name`: a plugin from SCITQ_CLOUD_PLUGINS, else the built-in registry."""
    for item in filter(None, (p.strip() for p in os.environ.get(PLUGINS_ENV, "").split(","))):
        pname, _, target = item.partition("=")
        if pname == name:
            module, _, attr = target.partition(":")
            return getattr(importlib.import_module(module), attr)()
    from scitq import cloud
    get = getattr(cloud, "get_provider", None)
    if get is None:
        from scitq.errors import BadInput
        raise BadInput(f"unknown provider {name!r}")
    return get(name)


# --- plumbing ------------------------------------------------------------------------------------
class _Job:
    """The current RQ job's progress and log (a no-op outside RQ), and the server's inbox."""

    def __init__(self, worker: str) -> None:
        from scitq import jobqueue  # noqa: F401 - sets RQ's key prefix before rq is imported
        from rq import get_current_job
        self.job = get_current_job()
        self.worker = worker
        self.r = connect(resolve_url(None))

    @property
    def attempt(self) -> int:
        """1 for the first try, then 2, 3 with each retry."""
        if self.job is None:
            return 1
        return int(self.job.meta.get("retries", 0)) - int(self.job.retries_left or 0) + 1

    @property
    def last_try(self) -> bool:
        return self.job is None or not self.job.retries_left

    def progress(self, pct: int, line: str) -> None:
        log.info("%s: %s", self.worker, line)
        if self.job is None:
            return
        self.job.meta["progress"] = pct
        self.job.meta.setdefault("log", []).append(f"{time.strftime('%H:%M:%S')} {line}")
        self.job.meta["log"] = self.job.meta["log"][-50:]
        self.job.save_meta()

    def report(self, step: str, **fields: Any) -> Any:
        """Tell the server; the command is durable once queued, so a server away (restarting) gets it later."""
        from scitq.errors import Unreachable
        try:
            return send_command(self.r, "deploy.report", {"worker": self.worker, "step": step, **fields},
                                timeout=settings().reply_timeout)
        except Unreachable as exc:
            log.warning("%s: %s (the report waits in the inbox)", self.worker, exc)
            return None


def _status(r: Any, worker: str) -> str:
    return r.hget(keys.deploy_view(worker), "status") or ""


def _ours(p: Provider, worker: str) -> Instance | None:
    name = machine_name(p.prefix, worker)
    return next((i for i in p.list() if i.name == name and i.status not in ("gone", "error")), None)


# --- the jobs ------------------------------------------------------------------------------------
def deploy(worker: str, provider: str, region: str, flavor: str, batch: str = "Default", concurrency: int = 1,
           prefetch: int = 0) -> dict[str, Any]:
    """Make the machine of `worker` (see the module docstring)."""
    job = _Job(worker)
    if _status(job.r, worker) not in ("requested", "deploying"):
        job.progress(100, f"not deployed: the deploy is {_status(job.r, worker) or 'unknown'} now")
        return {"skipped": True}
    attempt = job.attempt
    job.report("started", attempt=attempt)
    job.progress(5, f"try {attempt}: {flavor} in {provider}/{region}")
    try:
        p = _provider(provider)
        found = _ours(p, worker)
        if found is not None:
            job.progress(100, f"machine {found.name} already runs ({found.id}): not made twice")
            job.report("succeeded", instance=found.id, ipv4=found.ipv4, attempt=attempt)
            return {"instance": found.id, "ipv4": found.ipv4, "reused": True}
        cfg = settings()
        user, password, _ = access.add(job.r, "worker", worker)
        job.progress(20, f"credential {user} made")
        base = cfg.worker_host
        url = access.url_for(resolve_url(None), user, password, host=base)
        boot = Bootstrap(worker=worker, server_url=url, concurrency=concurrency, prefetch=prefetch, batch=batch,
                         flavor=flavor, provider=provider, region=region, version=__version__,
                         rclone_conf=_rclone(job.r))
        job.progress(30, f"creating {machine_name(p.prefix, worker)}")
        inst = p.create(flavor, region, boot, timeout=max(30.0, cfg.deploy_timeout - 30))
    except ProviderError as exc:
        final = not exc.retryable or job.last_try
        job.progress(100 if final else 50, f"{exc.kind}: {exc}")
        job.report("failed", kind=exc.kind, message=str(exc)[:500], attempt=attempt, final=final)
        if final:
            _revoke(job.r, worker)
            return {"failed": exc.kind}
        raise
    except Exception as exc:
        final = job.last_try
        job.report("failed", kind="error", message=f"{type(exc).__name__}: {exc}"[:500], attempt=attempt,
                   final=final)
        if final:
            _revoke(job.r, worker)
        raise
    job.progress(100, f"running: {inst.id} {inst.ipv4}".strip())
    job.report("succeeded", instance=inst.id, ipv4=inst.ipv4, attempt=attempt)
    return {"instance": inst.id, "ipv4": inst.ipv4}


def destroy(worker: str, provider: str, region: str = "") -> dict[str, Any]:
    """Delete the machine of `worker` and revoke its credential (see the module docstring)."""
    job = _Job(worker)
    job.progress(10, f"deleting the machine of {worker} in {provider}/{region}")
    try:
        p = _provider(provider)
        p.delete(machine_name(p.prefix, worker), region)
    except ProviderError as exc:
        job.progress(50, f"{exc.kind}: {exc}")
        if exc.retryable and not job.last_try:
            raise
        _revoke(job.r, worker)
        job.report("destroyed", message=f"delete failed ({exc.kind}): {exc}"[:500])
        return {"error": str(exc)}
    _revoke(job.r, worker)
    job.progress(100, "machine deleted, credential revoked")
    job.report("destroyed")
    return {"destroyed": worker}


def sweep(worker: str, provider: str) -> dict[str, Any]:
    """Report the machines of this server that `provider` runs (`worker` is the provider's name here)."""
    job = _Job(worker)
    p = _provider(provider)
    head = f"{p.prefix}-{settings().server_name}-node"
    machines = {i.name[len(p.prefix) + 1:]: i.region for i in p.list() if i.name.startswith(head)}
    job.progress(100, f"{len(machines)} machine(s) of this server in {provider}")
    res = send_command(job.r, "deploy.orphans", {"provider": provider, "machines": machines})
    return res or {}


# --- helpers -------------------------------------------------------------------------------------
def _provider(name: str) -> Provider:
    return provider(name)


def _revoke(r: Any, worker: str) -> None:
    try:
        access.revoke(r, access.user_name("worker", worker))
    except Exception as exc:  # noqa: BLE001 - no such user (never made, or revoked already): nothing to do
        log.debug("revoke worker-%s: %s", worker, exc)


def _rclone(r: Any) -> str:
    try:
        return r.hget(keys.SHARED_CONFIG, "rclone") or ""
    except Exception:  # noqa: BLE001 - not shared: the machine gets none
        return ""
