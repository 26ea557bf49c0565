"""Provides `plan`: the recruiting policy (v1's queue loop), a pure function of the server's state.

For each recruiter whose batch has pending tasks, in (batch, rank) order, with P pending tasks and W
workers in the batch (any status): nothing if `minimum_tasks` > P or `maximum_workers` <= W; else
need = ceil(P / tasks_per_worker) - W, capped at `maximum_workers` - W. The need is met first by
recycling idle workers: running, of the recruiter's flavor (exact name), in a batch that has no
pending task, with a free slot, holding no task of the recruiter's batch; a worker is taken once per
round. What recycling cannot meet would be deployed when the recruiter names a provider and a region;
deploying is not available on this server, so that is said once per recruiter (`DeployWanted`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scitq.projections.state import Recruiter, State, Worker

__all__ = ["Recycle", "DeployWanted", "plan", "needed"]


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
class DeployWanted:
    """The recruiter would deploy `needed` new workers (said once, see `Recruiter.deploy_wanted`)."""
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


def plan(state: State) -> list[Recycle | DeployWanted]:
    """What the recruiters decide now, in order; the state is not changed."""
    batch_of = {wid: w.batch for wid, w in state.workers.items()}      # as moved by this round
    out: list[Recycle | DeployWanted] = []
    for key in sorted(state.recruiters):
        rec = state.recruiters[key]
        b = state.batches.get(rec.batch)
        pending = _pending(state, rec.batch)
        if b is None or b.paused or pending <= 0:
            continue
        in_batch = sum(1 for batch in batch_of.values() if batch == rec.batch)
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
        if need > 0 and rec.worker_provider and rec.worker_region and not rec.deploy_wanted:
            out.append(DeployWanted(batch=rec.batch, rank=rec.rank, needed=need,
                                    reason=f"{why}; {need} more worker{'s' if need != 1 else ''} of flavor "
                                           f"{rec.worker_flavor} wanted from {rec.worker_provider}/"
                                           f"{rec.worker_region}, but deploying is not available yet"))
    return out
