"""Provides `plan`: the recruiting policy (v1's queue loop), a pure function of the server's state.

For each recruiter whose batch has pending tasks, in (batch, rank) order, with P pending tasks and W
workers in the batch (any status): nothing if `minimum_tasks` > P or `maximum_workers` <= W; else
need = ceil(P / tasks_per_worker) - W, capped at `maximum_workers` - W. The need is met first by
recycling idle workers: running, of the recruiter's flavor (the exact name, or a catalog flavor passing an
`auto:<protofilters>` rule), in a batch that has no
pending task, with free weighted room (v1's `task_properties`: the tasks it holds weigh 1 each, those of
a batch it was recycled from weigh what that recycling said, and together they weigh less than its
concurrency), holding no task of the recruiter's batch; a worker is taken once per round. A recycled
worker's `task_properties` make the tasks it still runs for other batches weigh new concurrency / old
concurrency each (v1), so that it takes only what the machine can hold. Machines being deployed for the
batch count as its workers (no double deploy). What recycling cannot meet is deployed when the recruiter
names a provider and a region (`Deploy`, one per machine, each on the cheapest matching offer that fits
in its region's quota: `scitq.server.deploy_plan.choose`); when no offer fits, that is said once per
recruiter (`DeployWanted`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from scitq.events.model import LIVE_DEPLOY_STATUSES
from scitq.projections.catalog import Protofilter, flavor_rule, matches
from scitq.projections.state import Recruiter, State, Worker, task_weight
from scitq.server.deploy_plan import RETRY_AFTER, choose, cpu_used, take

__all__ = ["Recycle", "Deploy", "DeployWanted", "plan", "needed", "deploying", "flavor_fits", "weight", "weighted_load",
           "recycled_properties"]


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
    task_properties: dict[str, Any] = field(default_factory=dict)


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


def weight(w: Worker, batch: str) -> float:
    """What a task of `batch` held by `w` weighs against its concurrency: 1, unless `w` was recycled out of
    `batch` and its `task_properties` (v1: `{batch: [weight, priority]}`) say otherwise."""
    return task_weight(batch, w.batch, w.task_properties)


def weighted_load(state: State, w: Worker) -> float:
    """The weighted count of the tasks `w` holds (v1: "weighted running tasks")."""
    return sum(weight(w, t.batch) for tid in w.held if (t := state.tasks.get(tid)) is not None)


def recycled_properties(state: State, w: Worker, batch: str, concurrency: int) -> dict[str, Any]:
    """`w`'s task_properties once recycled into `batch` with `concurrency`: each task it still holds of another
    batch weighs new/old concurrency times what it weighed (v1), and gets priority; batches it holds no task
    of are dropped (v1 cleans those stale entries later)."""
    ratio = max(1, concurrency) / max(1, w.concurrency)
    batches = sorted({t.batch for tid in w.held if (t := state.tasks.get(tid)) is not None and t.batch != batch})
    return {b: [round(weight(w, b) * ratio, 6), 1] for b in batches}


def flavor_fits(state: State, w: Worker, rec: Recruiter) -> bool:
    """Whether `w` may be recycled by `rec`: the same flavor name, or, for an `auto:<protofilters>` recruiter, a
    catalog flavor passing them (in the machine's own provider and region when it was deployed, else in the
    recruiter's when they are set and not `auto`)."""
    if w.flavor == rec.worker_flavor:
        return True
    try:
        rule = flavor_rule(rec.worker_flavor)
    except Exception:       # checked when the recruiter was made: an old bad rule recycles nothing
        return False
    if rule is None or not w.flavor:
        return False
    d = state.deploys.get(w.name)
    provider = d.provider if d is not None else rec.worker_provider
    region = d.region if d is not None else rec.worker_region
    for (row_provider, row_region, name), row in state.flavors.items():
        if name != w.flavor or (region not in (None, "", "auto") and row_region != region):
            continue
        if provider not in (None, "", "auto") and not Protofilter("provider", "==", provider).test(
                {"provider": row_provider}):
            continue
        if matches({f: getattr(row, f) for f in row.__struct_fields__}, rule):
            return True
    return False


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
            if (current == rec.batch or w.status != "running" or not flavor_fits(state, w, rec)
                    or _pending(state, current) > 0 or weighted_load(state, w) >= max(1, w.concurrency) - 1e-9
                    or _holds_task_of(state, w, rec.batch)):
                continue
            load = weighted_load(state, w)
            busy = f", still running {load:g} weighted of its {w.concurrency} slots" if w.held else ""
            out.append(Recycle(batch=rec.batch, rank=rec.rank, worker_id=wid, worker=w.name, previous_batch=current,
                               concurrency=rec.worker_concurrency, prefetch=rec.worker_prefetch,
                               reason=f"{why}; recycled idle worker {w.name} (flavor {w.flavor}) from {current}{busy}",
                               task_properties=recycled_properties(state, w, rec.batch, rec.worker_concurrency)))
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
