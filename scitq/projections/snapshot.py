"""Provides the server's state read back from the views: the live part at start-up, finished tasks on demand.

The views and the checkpoint are written with the events in one commit, so they are a snapshot of the
ledger at the checkpoint. `load_live` reads from them what the server needs to decide (tasks not finished,
the tasks they require, workers, batches, recruiters, the id counters), then folds the ledger entries after
the checkpoint (the tail, normally empty), with the cloud's deploys, costs, catalog and quotas. `hydrate` brings finished tasks back into memory when a command
or a late report touches them; `State.evict` drops them again once their views are written.
"""

from __future__ import annotations

import json
from typing import Any, Iterable


from scitq import keys
from scitq.errors import BadInput
from scitq.events.codec import decode_event
from scitq.events.model import TASK_STATUSES
from scitq.projections.evolve import evolve
from scitq.projections.catalog import decode_flavor, decode_quota
from scitq.projections.state import (
    EVICTABLE_STATUSES, NO_FILES, Batch, Deploy, Execution, Recruiter, State, Task, Worker, compact_execution,
    compact_task, index_entry,
)
from scitq.projections.store import read_ledger, server_state, write_dirty
from scitq.projections.views import VIEW_LAYOUT, _json_fields, decode_hash, fill_execution, fill_task, task_execution_ids

__all__ = ["load_live", "hydrate", "fold_tail", "write_now", "tasks_of_execution", "NoSnapshot"]

LIVE_STATUSES = tuple(s for s in TASK_STATUSES if s not in EVICTABLE_STATUSES)
_CHUNK = 2000


class NoSnapshot(Exception):
    """The views hold no usable snapshot (never written, written by a version without the state hash, or in
    another layout than `VIEW_LAYOUT`)."""


_TASK_JSON = _json_fields(Task)
_EXEC_JSON = tuple(f for f in _json_fields(Execution) if f != "output_files")
_WORKER_JSON = tuple(f for f in _json_fields(Worker) if f != "held")
_RECRUITER_JSON = _json_fields(Recruiter)
_DEPLOY_JSON = _json_fields(Deploy)



def _task(h: dict[str, str], task_id: int) -> Task:
    h = dict(fill_task(h, task_id))
    h.pop("executions", None)
    return compact_task(decode_hash(h, Task, _TASK_JSON))


def _execution(h: dict[str, str], execution_id: int, task_command: str | None) -> Execution:
    h = dict(fill_execution(h, execution_id, task_command))
    files = h.pop("output_files", "")
    ex = decode_hash(h, Execution, _EXEC_JSON)
    ex.output_files = files.split(" ") if files else NO_FILES
    return ex


def _hgetall_many(r: Any, names: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for i in range(0, len(names), _CHUNK):
        pipe = r.pipeline(transaction=False)
        for k in names[i:i + _CHUNK]:
            pipe.hgetall(k)
        out.extend(pipe.execute())
    return out


def hydrate(r: Any, state: State, task_ids: Iterable[int], parents: bool = True) -> list[int]:
    """Read the tasks `task_ids` not in memory (and their executions) from their views into `state`, as
    written (nothing dirty), and with `parents` the tasks they require; the ids found are returned. A task
    without a view (deleted, never submitted) stays absent."""
    wanted = sorted({int(t) for t in task_ids if t is not None and int(t) not in state.tasks})
    if not wanted:
        return []
    found: list[Task] = []
    eids_of: list[list[int]] = []
    for tid, h in zip(wanted, _hgetall_many(r, [keys.task_view(t) for t in wanted])):
        if h:
            found.append(_task(h, tid))
            eids_of.append(task_execution_ids(h))
    if not found:
        return []
    command_of = {e: t.command for t, ids in zip(found, eids_of) for e in ids}
    all_eids = [e for ids in eids_of for e in ids if e not in state.executions]
    execs = {}
    for eid, h in zip(all_eids, _hgetall_many(r, [keys.execution_view(e) for e in all_eids])):
        if h:
            execs[eid] = _execution(h, eid, command_of[eid])
    hashes = sorted({ex.input_hash for ex in execs.values() if ex.input_hash and ex.input_hash not in state.cache})
    cached = dict(zip(hashes, r.hmget(keys.CACHE_INDEX, hashes))) if hashes else {}
    for t, eids in zip(found, eids_of):
        _adopt(state, t, [execs[e] for e in eids if e in execs])
    for h, eid in cached.items():
        if eid is not None and int(eid) in state.executions:
            state.cache[h] = int(eid)
    if parents:
        hydrate(r, state, [req for t in found for req in t.required_task_ids], parents=False)
    return [t.task_id for t in found]


def _adopt(state: State, t: Task, executions: list[Execution]) -> None:
    """Put a task read from its view into `state` as written (indexed, nothing dirty)."""
    ids = list(state.task_executions.get(t.task_id, ()))   # those known already, if it was in memory
    state.tasks[t.task_id] = t
    state.indexed_tasks[t.task_id] = index_entry(t)
    for req in t.required_task_ids:
        state.dependents.setdefault(req, set()).add(t.task_id)
    for ex in sorted(executions, key=lambda e: e.execution_id):
        state.executions[ex.execution_id] = compact_execution(ex, t)
        state.indexed_executions.add(ex.execution_id)
        if ex.execution_id not in ids:
            ids.append(ex.execution_id)
    state.task_executions[t.task_id] = ids
    if t.status in EVICTABLE_STATUSES:
        state.finished.add(t.task_id)


def load_live(r: Any) -> State:
    """The state at the views' checkpoint, without the finished tasks (see the module docstring); raises
    `NoSnapshot` when the views hold none."""
    checkpoint = r.get(keys.CHECKPOINT)
    meta = r.hgetall(keys.SERVER_STATE)
    if not checkpoint or not meta:
        raise NoSnapshot("no snapshot in the views")
    if meta.get("views") != VIEW_LAYOUT:
        raise NoSnapshot(f"views of layout {meta.get('views', '1')}, not {VIEW_LAYOUT}")
    state = State()
    state.last_event_id = checkpoint
    state.next_task_id = int(meta.get("next_task_id", 1))
    state.next_execution_id = int(meta.get("next_execution_id", 1))
    state.next_worker_id = int(meta.get("next_worker_id", 1))
    state.paused_offline = set(json.loads(meta.get("paused_offline", "[]")))
    state.meta_written = server_state(state)
    wids = [int(w) for w in r.zrange(keys.WORKERS_ALL, 0, -1)]
    for wid, h in zip(wids, _hgetall_many(r, [keys.worker_view(w) for w in wids])):
        if not h:
            continue
        h = dict(h)
        h.pop("held", None)
        w = decode_hash(h, Worker, _WORKER_JSON)
        state.workers[w.worker_id] = w
        state.worker_ids[w.name] = w.worker_id
        state.indexed_workers[w.worker_id] = w.name
    names = sorted(r.smembers(keys.BATCHES_ALL))
    for name, h in zip(names, _hgetall_many(r, [keys.batch_view(n) for n in names])):
        if not h:
            continue
        state.batches[name] = Batch(name=name, creation_date=float(h["creation_date"]),
                                    paused=h.get("batch_paused") == "1", queued=int(h.get("queued", 0)),
                                    counts={s: int(h.get(s, 0)) for s in TASK_STATUSES})
    members = sorted(r.smembers(keys.RECRUITERS_ALL))
    for member, h in zip(members, _hgetall_many(r, [keys.VIEW_PREFIX + "recruiter:" + m for m in members])):
        if h:
            rec = decode_hash(h, Recruiter, _RECRUITER_JSON)
            state.recruiters[(rec.batch, rec.rank)] = rec
    _load_cloud(r, state, meta)
    pipe = r.pipeline(transaction=False)
    for s in LIVE_STATUSES:
        pipe.smembers(keys.tasks_by_status(s))
    live = sorted({int(t) for members in pipe.execute() for t in members})
    hydrate(r, state, live)
    for t in sorted(state.tasks.values(), key=lambda t: t.task_id):
        if t.worker is not None:
            w = state.worker_by_name(t.worker)
            if w is not None:
                w.held.add(t.task_id)
        state.push_ready(t)
        ex = state.current_execution(t)
        if t.status in ("running", "paused") and ex is not None:
            state.push_deadline(t, ex)
    state.dirty_batches.clear()
    return state


def _load_cloud(r: Any, state: State, meta: dict[str, str]) -> None:
    """Deploys, batch costs, the flavor catalog and quotas, and the places a deploy failed for good."""
    names = sorted(r.smembers(keys.DEPLOYS_ALL))
    for name, h in zip(names, _hgetall_many(r, [keys.deploy_view(n) for n in names])):
        if h:
            state.deploys[name] = decode_hash(h, Deploy, _DEPLOY_JSON)
    state.batch_costs = {b: float(c) for b, c in r.hgetall(keys.BATCH_COSTS).items()}
    for data in r.hvals(keys.FLAVORS_VIEW):
        row = decode_flavor(data)
        state.flavors[(row.provider, row.region, row.name)] = row
    for data in r.hvals(keys.QUOTAS_VIEW):
        q = decode_quota(data)
        state.quotas[(q.provider, q.region)] = q
    for provider, region, flavor, kind, when in json.loads(meta.get("unusable", "[]")):
        state.unusable[(provider, region, flavor)] = (kind, float(when))


def _touched(event: Any) -> list[int]:
    ids = [getattr(event, name, None) for name in ("task_id", "parent", "blocked_by")]
    ids += list(getattr(event, "required_task_ids", ()) or ())
    return [i for i in ids if isinstance(i, int) and i > 0]


def fold_tail(r: Any, state: State, set_aside: dict[str, str] | None = None) -> int:
    """Fold the ledger entries after `state.last_event_id` into `state` (finished tasks they touch read
    from their views first); returns how many were read. The changes stay dirty, for the caller to write."""
    start = state.last_event_id
    n = 0
    page: list[tuple[str, Any]] = []

    def flush() -> None:
        hydrate(r, state, [i for _, ev in page if ev is not None for i in _touched(ev)])
        cached = [ev.cached_from for _, ev in page if ev is not None and getattr(ev, "cached_from", None)]
        if cached:
            hydrate(r, state, _tasks_of_executions(r, state, cached))
        for entry_id, ev in page:
            if ev is not None:
                evolve(state, ev)
            state.last_event_id = entry_id
        page.clear()

    for entry_id, fields in read_ledger(r, start=f"({start}" if start != "0-0" else "-"):
        n += 1
        try:
            page.append((entry_id, decode_event(fields)))
        except BadInput as exc:
            if set_aside is not None:
                set_aside[entry_id] = exc.message
            page.append((entry_id, None))
        if len(page) >= 5000:
            flush()
    flush()
    return n


def _tasks_of_executions(r: Any, state: State, execution_ids: list[int]) -> list[int]:
    missing = [e for e in execution_ids if e not in state.executions]
    if not missing:
        return []
    pipe = r.pipeline(transaction=False)
    for e in missing:
        pipe.hget(keys.execution_view(e), "task_id")
    return [int(t) for t in pipe.execute() if t]


def write_now(r: Any, state: State) -> None:
    """Write what `state` marks dirty (and the checkpoint) in one MULTI (after folding a tail)."""
    pipe = r.pipeline(transaction=True)
    write_dirty(state, pipe)
    pipe.execute()


def tasks_of_execution(r: Any, state: State, execution_id: int) -> list[int]:
    """The task of an execution not in memory (to hydrate it)."""
    return _tasks_of_executions(r, state, [execution_id])
