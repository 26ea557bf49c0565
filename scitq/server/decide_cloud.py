"""Provides `CloudDecisions`: the server's decisions about machines (deploy, destroy, release, eviction), pure.

Mixed into `Decider`. A deploy or destroy is a ledger event plus a `job` effect that the control plane turns
into an RQ job (`scitq.cloud.jobs.deploy` / `destroy`, named by path: the server never imports the cloud
package); the job reports each step back with a `deploy.report` command, and only here do those steps become
events. Release runs on the reaper's clock:

- a deployed worker idle (no task held, no pending task in its batch) for `idle_timeout` seconds is destroyed;
- a machine whose worker has not registered `register_timeout` seconds after it ran is destroyed;
- a machine a provider lists with our naming and no live deploy is destroyed (an orphan);
- an evicted worker's tasks go back to the queue without using a retry, and its machine is destroyed;
- deleting a deployed worker destroys its machine.
"""

from __future__ import annotations

from typing import Any

from scitq.errors import BadInput, Conflict, NotFound
from scitq.events import commands as c
from scitq.events import deploy as ed
from scitq.events import recruiter as er
from scitq.events.model import LIVE_DEPLOY_STATUSES
from scitq.projections.state import Deploy, State, Worker
from scitq.server import recruit
from scitq.projections.catalog import check_flavor_rule
from scitq.server.deploy_plan import choose, cpu_used, take
from scitq.settings import DEFAULT_BATCH

__all__ = ["CloudDecisions", "JOB_FUNCTIONS", "worker_name"]

# the job functions, by path (the server does not import scitq.cloud)
JOB_FUNCTIONS = {"deploy": "scitq.cloud.jobs.deploy", "destroy": "scitq.cloud.jobs.destroy",
                 "sweep": "scitq.cloud.jobs.sweep"}


def worker_name(state: State, prefix: str) -> str:
    """`<prefix>-node<N>` with the smallest N no worker and no machine not yet gone uses (v1)."""
    taken = set(state.worker_ids) | {n for n, d in state.deploys.items() if d.status not in ("destroyed", "failed")}
    n = 1
    while f"{prefix}-node{n}" in taken:
        n += 1
    return f"{prefix}-node{n}"


class CloudDecisions:
    """The machine decisions of `Decider` (see the module docstring)."""

    state: State
    now: float
    name_prefix: str
    idle_since: dict[str, float]

    def emit(self, event: Any) -> None: ...                          # Decider's
    def effect(self, kind: Any, target: str, fields: dict[str, str] | None = None) -> None: ...  # Decider's
    def _requeue(self, t: Any, reason: str) -> None: ...            # Decider's
    def control(self, worker: str | None, op: str, **fields: Any) -> None: ...  # Decider's

    def _init_cloud(self) -> None:
        self.name_prefix = "scitq"
        self.idle_since = {}

    # --- deploy ---------------------------------------------------------------------------------
    def _deploy(self, *, provider: str, region: str, flavor: str, cost: float, batch: str, concurrency: int,
                prefetch: int, why: str, rank: int = 0, reason: str = "") -> str:
        name = worker_name(self.state, self.name_prefix)
        self.emit(ed.DeployRequested(worker=name, batch=batch, provider=provider, region=region, flavor=flavor,
                                     cost=cost, concurrency=concurrency, prefetch=prefetch, why=why, rank=rank,
                                     reason=reason))
        self._job("deploy", name)
        return name

    def _job(self, op: str, worker: str, **extra: str) -> None:
        self.effect("job", worker, {"op": op, **extra})

    def cmd_worker_deploy(self, cmd: c.DeployWorkers) -> dict:
        from scitq.server.decide import check_batch_name
        batch = check_batch_name(cmd.batch or DEFAULT_BATCH)
        check_flavor_rule(cmd.flavor)          # a bad protofilter is refused before anything
        rows, quotas = list(self.state.flavors.values()), list(self.state.quotas.values())
        used = cpu_used(rows, self.state.deploys.values())
        names = []
        for _ in range(cmd.number):
            o = choose(cmd.flavor, cmd.region, cmd.provider, rows, quotas, used, self.state.unusable, self.now)
            if o is None:
                if not names:
                    raise Conflict(f"Could not find a flavor satisfying {cmd.flavor} in {cmd.provider}/{cmd.region}"
                                   f" within quota", hint="see `scitq-manage flavor list`")
                break
            take(used, o)
            names.append(self._deploy(provider=o.provider, region=o.region, flavor=o.flavor, cost=o.cost,
                                      batch=batch, concurrency=cmd.concurrency, prefetch=cmd.prefetch, why="user",
                                      reason=f"deployed by a user: {cmd.flavor} in {cmd.provider}/{cmd.region}"))
        return {"workers": names, "asked": cmd.number}

    def cmd_deploy_retry(self, cmd: c.DeployKey) -> dict:
        d = self._deploy_of(cmd.worker)
        if d.status != "failed":
            raise Conflict(f"the deploy of {d.worker} is {d.status}: only a failed deploy is retried")
        self.state.unusable.pop((d.provider, d.region, d.flavor), None)
        name = self._deploy(provider=d.provider, region=d.region, flavor=d.flavor, cost=d.cost, batch=d.batch,
                            concurrency=d.concurrency, prefetch=d.prefetch, why="user",
                            reason=f"retry of the failed deploy of {d.worker}")
        return {"workers": [name]}

    def _deploy_of(self, worker: str) -> Deploy:
        d = self.state.deploys.get(worker)
        if d is None:
            raise NotFound(f"no deploy of worker {worker!r}")
        return d

    def cmd_deploy_report(self, cmd: c.DeployReport) -> dict:
        d = self._deploy_of(cmd.worker)
        if cmd.step == "started":
            if d.status in ("requested", "deploying"):
                self.emit(ed.DeployStarted(worker=d.worker, batch=d.batch, attempt=cmd.attempt))
        elif cmd.step == "succeeded":
            if d.status in ("requested", "deploying"):
                self.emit(ed.DeploySucceeded(worker=d.worker, batch=d.batch, instance=cmd.instance, ipv4=cmd.ipv4))
            elif d.status in ("destroying", "destroyed"):   # made while it was asked to go: destroyed again
                self._job("destroy", d.worker, provider=d.provider, region=d.region)
        elif cmd.step == "failed":
            if d.status in ("requested", "deploying"):
                self.emit(ed.DeployFailed(worker=d.worker, batch=d.batch, kind=cmd.kind or "error",
                                          message=cmd.message, attempt=cmd.attempt, final=cmd.final,
                                          provider=d.provider, region=d.region, flavor=d.flavor))
        elif cmd.step == "destroyed":
            if d.status != "destroyed":
                self._destroyed(d, cmd.message)
        return {"worker": d.worker, "status": self.state.deploys[d.worker].status}

    # --- destroy --------------------------------------------------------------------------------
    def destroy(self, worker: str, why: str, reason: str = "") -> bool:
        """Ask for the machine of `worker` to be destroyed (once); False if it has no live machine."""
        d = self.state.deploys.get(worker)
        if d is None or d.status not in LIVE_DEPLOY_STATUSES:
            return False
        self.emit(ed.DestroyRequested(worker=worker, batch=d.batch, why=why, reason=reason or why))
        self._job("destroy", worker, provider=d.provider, region=d.region)
        self.idle_since.pop(worker, None)
        return True

    def _destroyed(self, d: Deploy, error: str = "") -> None:
        w = self.state.worker_by_name(d.worker)
        if w is not None:
            self._drop_worker(w, "machine destroyed")
        seconds = max(0.0, self.now - d.running_date) if d.running_date is not None else 0.0
        cost = d.spent + (max(0.0, self.now - d.cost_since) * d.cost / 3600.0 if d.cost_since is not None else 0.0)
        self.emit(ed.DestroyDone(worker=d.worker, batch=d.cost_batch or d.batch, seconds=round(seconds, 3),
                                 cost=round(cost, 6), error=error))

    def _drop_worker(self, w: Worker, reason: str) -> None:
        from scitq.events import worker as ew
        for tid in sorted(w.held):
            t = self.state.tasks.get(tid)
            if t is not None:
                self.control(w.name, "cancel", task=t.task_id, attempt=t.attempt)
                self._requeue(t, reason)
        self.emit(ew.WorkerDeleted(worker_id=w.worker_id, worker=w.name))

    def cmd_deploy_orphans(self, cmd: c.DeployOrphans) -> dict:
        gone = []
        for worker, region in sorted(cmd.machines.items()):
            d = self.state.deploys.get(worker)
            if d is not None and d.status in (*LIVE_DEPLOY_STATUSES, "destroying"):
                continue
            self.emit(ed.DestroyRequested(worker=worker, batch=d.batch if d else "", why="orphan",
                                          reason=f"{cmd.provider} runs machine {worker} in {region} that no live "
                                                 f"deploy owns"))
            self._job("destroy", worker, provider=cmd.provider, region=region)
            gone.append(worker)
        return {"destroying": gone}

    # --- eviction -------------------------------------------------------------------------------
    def evict(self, w: Worker) -> dict:
        """v1 §4.7: the worker's tasks go back to pending without using a retry; its machine is destroyed."""
        for tid in sorted(w.held):
            t = self.state.tasks.get(tid)
            if t is not None:
                self._requeue(t, "worker evicted")
        self.emit(ed.WorkerEvicted(worker_id=w.worker_id, worker=w.name))
        self.destroy(w.name, "evicted", f"worker {w.name} was evicted by its provider")
        return {"worker_id": w.worker_id, "status": "evicted"}

    # --- recruiting and release (reaper) --------------------------------------------------------
    def recruit_deploy(self, d: recruit.Deploy) -> None:
        self._deploy(provider=d.provider, region=d.region, flavor=d.flavor, cost=d.cost, batch=d.batch,
                     concurrency=d.concurrency, prefetch=d.prefetch, why="recruiter", rank=d.rank, reason=d.reason)

    def recruit_wanted(self, d: recruit.DeployWanted) -> None:
        self.emit(er.RecruiterDeployWanted(batch=d.batch, rank=d.rank, needed=d.needed, reason=d.reason))

    def release(self, idle_timeout: float, register_timeout: float) -> list[str]:
        """Destroy the machines whose worker is idle for `idle_timeout` seconds, or has not registered
        `register_timeout` seconds after its machine ran; returns their workers."""
        out = []
        for name, d in list(self.state.deploys.items()):
            if d.status not in ("running", "requested", "deploying"):
                self.idle_since.pop(name, None)
                continue
            w = self.state.worker_by_name(name)
            if w is None:
                if d.status == "running" and d.running_date is not None \
                        and self.now - d.running_date >= register_timeout:
                    if self.destroy(name, "never registered",
                                    f"worker {name} did not register within {register_timeout:.0f}s"):
                        out.append(name)
                continue
            if w.status == "evicted":
                if self.destroy(name, "evicted", f"worker {name} was evicted"):
                    out.append(name)
                continue
            b = self.state.batches.get(w.batch)
            pending = b.counts.get("pending", 0) if b is not None else 0
            if w.held or (pending and not (b is not None and b.paused)):
                self.idle_since.pop(name, None)
                continue
            since = self.idle_since.setdefault(name, self.now)
            if self.now - since >= idle_timeout and d.status == "running":
                if self.destroy(name, "idle", f"idle for {self.now - since:.0f}s (no task held, none pending "
                                              f"in {w.batch})"):
                    out.append(name)
        return out
