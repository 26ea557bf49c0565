"""Provides `plan`: the recruiting policy (v1's queue loop), a pure function of the server's state.

For each recruiter whose batch has pending tasks, in (batch, rank) order, with P pending tasks and W
workers in the batch (any status): nothing if `minimum_tasks` > P or `maximum_workers` <= W; else
need = ceil(P / tasks_per_worker) - W, capped at `maximum_workers` - W. The need is met first by
recycling idle workers: running, of the recruiter's flavor (exact name), in a batch that has no
pending task, with a free slot, holding no task of the recruiter's batch; a worker is taken once per
round. Machines being deployed for the batch count as its workers (no double deploy). What recycling
cannot meet is deployed when the recruiter names a provider and a region (`Deploy`, one per machine, each
on the cheapest matching offer that fits in its region's quota: `scitq.server.deploy_plan.choose`); when no
offer fits, that is said once per recruiter (`DeployWanted`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scitq.events.model import LIVE_DEPLOY_STATUSES
from scitq.projections.state import Recruiter, State, Worker
from scitq.server.deploy_plan import RETRY_AFTER, choose, cpu_used, take

__all__ = ["Recycle", "Deploy", "DeployWanted", "plan", "needed", "deploying"]


@dataclass(frozen=True)
class Recycle:
    """Move an idle worker into the recruiter's batch, set as the recruiter says."""
    batch: str
    rank: int
    worker_id: int
    worker: str
    previous_batch: str
    concurrency: int
    prefetch: int
    reason: str


@dataclass(frozen=True)
class Deploy:
    """Deploy one machine for the recruiter's batch, on this offer."""
    batch: str
    rank: int
    provider: str
    region: str
    flavor: str
    cost: float
    cpu: int
    concurrency: int
    prefetch: int
    reason: str


@dataclass(frozen=True)
class DeployWanted:
    """The recruiter wants `needed` more workers that no offer can give now (said once, see
    `Recruiter.deploy_wanted`)."""
    batch: str
    rank: int
    needed: int
    reason: str


def needed(rec: Recruiter, pending: int, workers: int) -> int:
    """How many more workers the recruiter wants in its batch (0 when none)."""
    if pending <= 0 or (rec.minimum_tasks is not None and rec.minimum_tasks > pending):
        return 0
    want = math.ceil(pending / rec.tasks_per_worker) - workers
    if rec.maximum_workers is not None:
        want = min(want, rec.maximum_workers - workers)
    return max(0, want)


def _pending(state: State, batch: str) -> int:
    b = state.batches.get(batch)
    return b.counts.get("pending", 0) if b is not None else 0


def _holds_task_of(state: State, w: Worker, batch: str) -> bool:
    return any((t := state.tasks.get(tid)) is not None and t.batch == batch for tid in w.held)


def deploying(state: State, batch: str) -> int:
    """Machines asked for or being made for `batch` whose worker has not registered yet."""
    return sum(1 for d in state.deploys.values()
               if d.status in LIVE_DEPLOY_STATUSES and d.batch == batch and d.worker not in state.worker_ids)


def plan(state: State, now: float = 0.0, retry_after: float = RETRY_AFTER) -> list[Recycle | Deploy | DeployWanted]:
    """What the recruiters decide now, in order; the state (with its flavor catalog and quotas) is not
    changed. `now` is the clock (failed offers are left aside for `retry_after` seconds)."""
    rows, quotas = list(state.flavors.values()), list(state.quotas.values())
    used = cpu_used(rows, state.deploys.values())
    batch_of = {wid: w.batch for wid, w in state.workers.items()}      # as moved by this round
    out: list[Recycle | Deploy | DeployWanted] = []
    for key in sorted(state.recruiters):
        rec = state.recruiters[key]
        b = state.batches.get(rec.batch)
        pending = _pending(state, rec.batch)
        if b is None or b.paused or pending <= 0:
            continue
        in_batch = sum(1 for batch in batch_of.values() if batch == rec.batch) + deploying(state, rec.batch)
        need = needed(rec, pending, in_batch)
        if need <= 0:
            continue
        why = (f"{pending} pending task{'s' if pending != 1 else ''} and {in_batch} worker"
               f"{'s' if in_batch != 1 else ''} in {rec.batch}: ceil({pending}/{rec.tasks_per_worker})"
               f"{f' capped at {rec.maximum_workers}' if rec.maximum_workers is not None else ''}")
        for wid in sorted(state.workers):
            if need <= 0:
                break
            w = state.workers[wid]
            current = batch_of[wid]
            if (current == rec.batch or w.status != "running" or w.flavor != rec.worker_flavor
                    or _pending(state, current) > 0 or len(w.held) >= max(1, w.concurrency)
                    or _holds_task_of(state, w, rec.batch)):
                continue
            out.append(Recycle(batch=rec.batch, rank=rec.rank, worker_id=wid, worker=w.name, previous_batch=current,
                               concurrency=rec.worker_concurrency, prefetch=rec.worker_prefetch,
                               reason=f"{why}; recycled idle worker {w.name} (flavor {w.flavor}) from {current}"))
            batch_of[wid] = rec.batch
            in_batch += 1
            need -= 1
        if need <= 0 or not rec.worker_provider or not rec.worker_region:
            continue
        while need > 0:
            o = choose(rec.worker_flavor, rec.worker_region, rec.worker_provider, rows, quotas, used,
                       state.unusable, now, retry_after)
            if o is None:
                break
            take(used, o)
            out.append(Deploy(batch=rec.batch, rank=rec.rank, provider=o.provider, region=o.region, flavor=o.flavor,
                              cost=o.cost, cpu=o.cpu, concurrency=rec.worker_concurrency,
                              prefetch=rec.worker_prefetch,
                              reason=f"{why}; deployed {o.flavor} in {o.provider}/{o.region} at {o.cost:g}/h, the "
                                     f"cheapest offer matching {rec.worker_flavor} within quota"))
            need -= 1
        if need > 0 and not rec.deploy_wanted:
            out.append(DeployWanted(batch=rec.batch, rank=rec.rank, needed=need,
                                    reason=f"{why}; {need} more worker{'s' if need != 1 else ''} of flavor "
                                           f"{rec.worker_flavor} wanted from {rec.worker_provider}/"
                                           f"{rec.worker_region}, but no offer matches within quota now"))
    return out
