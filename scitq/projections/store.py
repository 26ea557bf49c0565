"""Provides the Redis side of the views: write what changed, replay the ledger, rebuild and verify."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Iterator

from scitq import keys
from scitq.errors import BadInput
from scitq.events.codec import decode_event
from scitq.projections.catalog import encode_flavor, encode_quota, flavor_key, quota_key
from scitq.projections.evolve import evolve
from scitq.projections.ledger import ledger_archive, whole_ledger
from scitq.projections.state import EVICTABLE_STATUSES, State, index_entry
from scitq.projections.outputs import NEVER_DECODE
from scitq.projections.views import (
    BITMAP_STATUSES, FINISHED_SPARSE, VIEW_LAYOUT, bitmap_ids, batch_hash, deploy_hash, execution_hash, recruiter_hash, task_hash, worker_hash,
)

__all__ = ["status_ids", "batch_ids", "batch_count", "batch_page", "batch_pages", "write_dirty", "expected_views", "dump_views", "replay", "read_ledger", "RebuildReport", "rebuild"]


_BITMAP_KEYS = frozenset(keys.tasks_by_status(s) for s in BITMAP_STATUSES)


def status_ids(r: Any, statuses: list[str] | tuple[str, ...]) -> set[int]:
    """Ids of the tasks in any of `statuses`, from their indexes (sets, or bitmaps: BITMAP_STATUSES)."""
    pipe = r.pipeline(transaction=False)
    for s in statuses:
        if s in BITMAP_STATUSES:
            pipe.execute_command("GET", keys.tasks_by_status(s), **NEVER_DECODE)
        else:
            pipe.smembers(keys.tasks_by_status(s))
    out: set[int] = set()
    for s, got in zip(statuses, pipe.execute()):
        out.update(bitmap_ids(got) if s in BITMAP_STATUSES else (int(x) for x in got))
    return out


def _chunks(r: Any, batches: list[str]) -> list[tuple[str, int]]:
    """(batch, chunk) of every chunk where `batches` have tasks, each batch's in id order (one pipeline)."""
    pipe = r.pipeline(transaction=False)
    for b in batches:
        pipe.smembers(keys.tasks_by_batch(b))
    return [(b, c) for b, got in zip(batches, pipe.execute()) for c in sorted(int(x) for x in got)]


def _read_chunks(r: Any, chunks: list[tuple[str, int]], command: str) -> list[Any]:
    pipe = r.pipeline(transaction=False)
    for b, c in chunks:
        pipe.execute_command(command, keys.batch_chunk(b, c), **NEVER_DECODE)
    return pipe.execute()


def _ids(chunk: int, data: bytes | None) -> list[int]:
    base = chunk * keys.BATCH_CHUNK
    return [base + n for n in bitmap_ids(data)]


def batch_ids(r: Any, *batches: str) -> list[int]:
    """Ids of the tasks of `batches`, sorted, from their indexes (bitmaps of BATCH_CHUNK ids each:
    keys.batch_chunk), in two pipelines."""
    chunks = _chunks(r, list(batches))
    out = [t for (_b, c), data in zip(chunks, _read_chunks(r, chunks, "GET")) for t in _ids(c, data)]
    return sorted(out) if len(batches) > 1 else out


def batch_count(r: Any, *batches: str) -> int:
    """How many tasks `batches` have: a BITCOUNT of each of their chunks (two pipelines)."""
    chunks = _chunks(r, list(batches))
    return sum(int(n) for n in _read_chunks(r, chunks, "BITCOUNT"))


def batch_page(r: Any, batch: str, start: int, stop: int, desc: bool = False) -> list[int]:
    """Ids of the tasks of `batch` by rank in id order (descending with `desc`), `start` to `stop` included
    (non-negative ranks, as ZRANGE's): the chunks' counts first, then only the chunks holding those ranks."""
    return batch_pages(r, [batch], start, stop, desc)[0]


def batch_pages(r: Any, batches: list[str], start: int, stop: int, desc: bool = False) -> list[list[int]]:
    """`batch_page` of each of `batches`, in three pipelines."""
    if stop < start or not batches:
        return [[] for _ in batches]
    chunks = _chunks(r, batches)
    counts = [int(n) for n in _read_chunks(r, chunks, "BITCOUNT")]
    per_batch: dict[str, list[tuple[int, int]]] = {b: [] for b in batches}
    for (b, c), n in zip(chunks, counts):
        per_batch[b].append((c, n))
    wanted: list[tuple[str, int]] = []
    skips: dict[str, int] = {}
    for b in batches:
        first = 0                       # rank of the first task of the chunk
        for c, n in (reversed(per_batch[b]) if desc else per_batch[b]):
            if n and first + n > start and first <= stop:
                skips.setdefault(b, start - first)
                wanted.append((b, c))
            first += n
            if first > stop:
                break
    got: dict[str, list[int]] = {b: [] for b in batches}
    for (b, c), data in zip(wanted, _read_chunks(r, wanted, "GET")):
        ids = _ids(c, data)
        got[b].extend(reversed(ids) if desc else ids)
    return [got[b][skips.get(b, 0):skips.get(b, 0) + stop - start + 1] for b in batches]


class _Index:
    """Index changes of one commit, gathered so each index key gets one command."""

    def __init__(self) -> None:
        self.sadd: dict[str, list[int]] = {}
        self.srem: dict[str, list[int]] = {}
        self.bits: dict[str, dict[int, int]] = {}       # the by-batch bitmaps (keys.batch_chunk)
        self.chunks: dict[str, set[int]] = {}           # the chunks each batch gets tasks in

    def batch(self, batch: str, task_id: int, bit: int) -> None:
        """Task `task_id` in (`bit` 1) or out of (0) the index of `batch`."""
        chunk, n = divmod(task_id, keys.BATCH_CHUNK)
        self.bits.setdefault(keys.batch_chunk(batch, chunk), {})[n] = bit
        if bit:
            self.chunks.setdefault(keys.tasks_by_batch(batch), set()).add(chunk)

    def flush(self, pipe: Any) -> None:
        bits = self.bits
        for key in [k for k in self.srem if k in _BITMAP_KEYS]:
            bits.setdefault(key, {}).update((t, 0) for t in self.srem.pop(key))
        for key in [k for k in self.sadd if k in _BITMAP_KEYS]:
            bits.setdefault(key, {}).update((t, 1) for t in self.sadd.pop(key))
        for key, chunks in self.chunks.items():
            pipe.sadd(key, *sorted(chunks))
        for key, changes in bits.items():
            if hasattr(pipe, "bitfield_set"):       # the server's commit (scitq.server.library.Ops)
                pipe.bitfield_set(key, changes)
            else:                                   # a redis-py pipeline (rebuild, start-up tail)
                pipe.execute_command("BITFIELD", key, *(x for t, v in changes.items() for x in ("SET", "u1", t, v)))
        for key, members in self.srem.items():
            pipe.srem(key, *members)
        for key, members in self.sadd.items():
            pipe.sadd(key, *members)


def write_dirty(state: State, pipe: Any) -> None:
    """Queue on `pipe` (inside the caller's MULTI) the view writes for everything marked dirty."""
    ix = _Index()
    rewrite_executions: set[int] = set()   # of edited tasks: their views may leave out the task's command
    tasks = state.dirty_tasks
    new_executions = [eid for eid in state.dirty_executions if eid not in state.indexed_executions]
    if new_executions:      # a task's view lists its executions
        tasks = tasks | {state.executions[e].task_id for e in new_executions if e in state.executions}
    for tid in tasks:
        t = state.tasks.get(tid)
        prev = state.indexed_tasks.get(tid)
        vkey = keys.task_view(tid)
        if t is None:
            pipe.delete(vkey)
            if prev:
                ix.srem.setdefault(keys.tasks_by_status(prev[0]), []).append(tid)
                ix.batch(prev[1], tid, 0)
                if prev[2]:
                    ix.srem.setdefault(keys.tasks_by_name(prev[2]), []).append(tid)
            state.indexed_tasks.pop(tid, None)
            state.rewrite_tasks.discard(tid)
            continue
        # Fields only appear, except `worker` (released), what a user edit empties and what a task that
        # becomes finished no longer writes (FINISHED_SPARSE): those cases drop the old fields; otherwise
        # one HSET updates the view in place.
        h = task_hash(t, state.task_executions.get(tid, ()))
        if tid in state.rewrite_tasks:
            pipe.delete(vkey)
            rewrite_executions.update(e for e in state.task_executions.get(tid, ()) if e in state.executions)
        elif prev is not None:
            gone = [f for f in FINISHED_SPARSE if f not in h] \
                if t.status in EVICTABLE_STATUSES and prev[0] != t.status else []
            if prev[3] and t.worker is None:
                gone.append("worker")
            if gone:
                pipe.hdel(vkey, *gone)
        pipe.hset(vkey, mapping=h)
        now = index_entry(t)
        if prev != now:
            if prev is None or prev[0] != t.status:
                if prev:
                    ix.srem.setdefault(keys.tasks_by_status(prev[0]), []).append(tid)
                ix.sadd.setdefault(keys.tasks_by_status(t.status), []).append(tid)
            if prev is None or prev[1] != t.batch:
                if prev:
                    ix.batch(prev[1], tid, 0)
                ix.batch(t.batch, tid, 1)
            if prev is None or prev[2] != t.name:
                if prev and prev[2]:
                    ix.srem.setdefault(keys.tasks_by_name(prev[2]), []).append(tid)
                if t.name:
                    ix.sadd.setdefault(keys.tasks_by_name(t.name), []).append(tid)
            state.indexed_tasks[tid] = now
    state.rewrite_tasks.clear()
    for eid in (state.dirty_executions | rewrite_executions) if rewrite_executions else state.dirty_executions:
        ex = state.executions.get(eid)
        vkey = keys.execution_view(eid)
        if ex is None:
            pipe.delete(vkey)
            state.indexed_executions.discard(eid)
            continue
        h = execution_hash(ex, _task_command(state, ex.task_id))
        if eid in rewrite_executions:
            pipe.delete(vkey)
        elif eid in state.indexed_executions:
            gone = ["worker", "worker_id"] if ex.cached_from is not None and ex.worker is None else []
            if "stream" not in h and ex.stream is not None and ex.status == "running":
                gone.append("stream")       # named once the attempt started: its view may say "none yet"
            if gone:
                pipe.hdel(vkey, *gone)      # (a cached execution ran on no worker)
        pipe.hset(vkey, mapping=h)
        state.indexed_executions.add(eid)
    ix.flush(pipe)
    for wid in state.dirty_workers:
        w = state.workers.get(wid)
        vkey = keys.worker_view(wid)
        pipe.delete(vkey)
        if w is None:
            pipe.zrem(keys.WORKERS_ALL, wid)
            name = state.indexed_workers.pop(wid, None)
            if name is not None:
                pipe.hdel(keys.WORKERS_BY_NAME, name)
            continue
        pipe.hset(vkey, mapping=worker_hash(w))
        if state.indexed_workers.get(wid) != w.name:
            previous = state.indexed_workers.get(wid)
            if previous is not None:                  # renamed
                pipe.hdel(keys.WORKERS_BY_NAME, previous)
            pipe.zadd(keys.WORKERS_ALL, {wid: wid})
            pipe.hset(keys.WORKERS_BY_NAME, w.name, wid)
            state.indexed_workers[wid] = w.name
    for name in state.dirty_batches:
        b = state.batches.get(name)
        vkey = keys.batch_view(name)
        if b is None:
            pipe.delete(vkey)
            pipe.srem(keys.BATCHES_ALL, name)
            continue
        pipe.hset(vkey, mapping=batch_hash(b))
        pipe.sadd(keys.BATCHES_ALL, name)
    gone = [h for h in state.dirty_cache if h not in state.cache]
    if gone:
        pipe.hdel(keys.CACHE_INDEX, *gone)
    kept = {h: state.cache[h] for h in state.dirty_cache if h in state.cache}
    if kept:
        pipe.hset(keys.CACHE_INDEX, mapping=kept)
    for key in state.dirty_recruiters:
        rec = state.recruiters.get(key)
        vkey = keys.recruiter_view(*key)
        pipe.delete(vkey)
        if rec is None:
            pipe.srem(keys.RECRUITERS_ALL, keys.recruiter_member(*key))
            continue
        pipe.hset(vkey, mapping=recruiter_hash(rec))
        pipe.sadd(keys.RECRUITERS_ALL, keys.recruiter_member(*key))
    for name in state.dirty_deploys:
        d = state.deploys.get(name)
        pipe.delete(keys.deploy_view(name))
        if d is None:
            pipe.srem(keys.DEPLOYS_ALL, name)
            continue
        pipe.hset(keys.deploy_view(name), mapping=deploy_hash(d))
        pipe.sadd(keys.DEPLOYS_ALL, name)
    costs = {b: repr(state.batch_costs[b]) for b in state.dirty_costs if b in state.batch_costs}
    if costs:
        pipe.hset(keys.BATCH_COSTS, mapping=costs)
    _write_catalog(state, pipe)
    meta = server_state(state)
    if meta != state.meta_written:
        pipe.hset(keys.SERVER_STATE, mapping=meta)
        state.meta_written = meta
    pipe.set(keys.CHECKPOINT, state.last_event_id)
    clear_dirty(state)


def _task_command(state: State, task_id: int) -> str | None:
    t = state.tasks.get(task_id)
    return t.command if t is not None else None


def server_state(state: State) -> dict[str, str]:
    """What the server needs besides the entities' views to start from them: its id counters (ids of
    deleted entities are not given again), the offline workers that were paused and the places where a
    deploy failed for good (provider, region, flavor, error kind, when), and the layout of the views."""
    return {"views": VIEW_LAYOUT, "next_task_id": str(state.next_task_id), "next_execution_id": str(state.next_execution_id),
            "next_worker_id": str(state.next_worker_id), "paused_offline": json.dumps(sorted(state.paused_offline)),
            "unusable": json.dumps(sorted([*k, *v] for k, v in state.unusable.items()))}


def clear_dirty(state: State) -> None:
    state.dirty_tasks.clear()
    state.dirty_executions.clear()
    state.dirty_workers.clear()
    state.dirty_batches.clear()
    state.dirty_cache.clear()
    state.dirty_recruiters.clear()
    state.dirty_deploys.clear()
    state.dirty_costs.clear()
    state.dirty_flavors.clear()
    state.dirty_quotas.clear()


def _write_catalog(state: State, pipe: Any) -> None:
    gone = [flavor_key(*k) for k in state.dirty_flavors if k not in state.flavors]
    if gone:
        pipe.hdel(keys.FLAVORS_VIEW, *gone)
    rows = {flavor_key(*k): encode_flavor(state.flavors[k]) for k in state.dirty_flavors if k in state.flavors}
    if rows:
        pipe.hset(keys.FLAVORS_VIEW, mapping=rows)
    gone = [quota_key(*k) for k in state.dirty_quotas if k not in state.quotas]
    if gone:
        pipe.hdel(keys.QUOTAS_VIEW, *gone)
    rows = {quota_key(*k): encode_quota(state.quotas[k]) for k in state.dirty_quotas if k in state.quotas}
    if rows:
        pipe.hset(keys.QUOTAS_VIEW, mapping=rows)


def expected_views(state: State) -> dict[str, Any]:
    """Every view key with the content it must have for `state` (hash->dict, zset->dict, set->set)."""
    out: dict[str, Any] = {}
    by_status: dict[str, set[str]] = {}
    by_batch: dict[str, set[str]] = {}
    by_name: dict[str, set[str]] = {}
    for tid, t in state.tasks.items():
        out[keys.task_view(tid)] = task_hash(t, state.task_executions.get(tid, ()))
        by_status.setdefault(keys.tasks_by_status(t.status), set()).add(str(tid))
        by_batch.setdefault(keys.tasks_by_batch(t.batch), set()).add(str(tid))   # as dump_views reads it
        if t.name:
            by_name.setdefault(keys.tasks_by_name(t.name), set()).add(str(tid))
    out.update(by_status)
    out.update(by_batch)
    out.update(by_name)
    for eid, ex in state.executions.items():
        out[keys.execution_view(eid)] = execution_hash(ex, _task_command(state, ex.task_id))
    for wid, w in state.workers.items():
        out[keys.worker_view(wid)] = worker_hash(w)
    if state.workers:
        out[keys.WORKERS_ALL] = {str(w): float(w) for w in state.workers}
        out[keys.WORKERS_BY_NAME] = {w.name: str(wid) for wid, w in state.workers.items()}
    for name, b in state.batches.items():
        out[keys.batch_view(name)] = batch_hash(b)
    if state.batches:
        out[keys.BATCHES_ALL] = set(state.batches)
    if state.cache:
        out[keys.CACHE_INDEX] = {h: str(eid) for h, eid in state.cache.items()}
    for key, rec in state.recruiters.items():
        out[keys.recruiter_view(*key)] = recruiter_hash(rec)
    if state.recruiters:
        out[keys.RECRUITERS_ALL] = {keys.recruiter_member(*key) for key in state.recruiters}
    for name, d in state.deploys.items():
        out[keys.deploy_view(name)] = deploy_hash(d)
    if state.deploys:
        out[keys.DEPLOYS_ALL] = set(state.deploys)
    if state.batch_costs:
        out[keys.BATCH_COSTS] = {b: repr(c) for b, c in state.batch_costs.items()}
    if state.flavors:
        out[keys.FLAVORS_VIEW] = {flavor_key(*k): encode_flavor(v) for k, v in state.flavors.items()}
    if state.quotas:
        out[keys.QUOTAS_VIEW] = {quota_key(*k): encode_quota(v) for k, v in state.quotas.items()}
    out[keys.SERVER_STATE] = server_state(state)
    out[keys.CHECKPOINT] = state.last_event_id
    return out


def dump_views(r: Any) -> dict[str, Any]:
    """Read every `scitq:view:*` key back from Redis in the shapes used by `expected_views`."""
    names = [k for pattern in keys.view_patterns() for k in r.scan_iter(match=pattern, count=2000)]
    out: dict[str, Any] = {}
    batch_prefix = keys.tasks_by_batch("")
    by_batch: dict[str, set[str]] = {}      # the tasks of each batch, from its chunks' bitmaps
    for i in range(0, len(names), 1000):
        chunk = names[i:i + 1000]
        pipe = r.pipeline(transaction=False)
        for k in chunk:
            pipe.type(k)
        types = pipe.execute()
        pipe = r.pipeline(transaction=False)
        for k, ty in zip(chunk, types):
            if (k in _BITMAP_KEYS or keys.batch_of_chunk(k)) and ty == "string":
                pipe.execute_command("GET", k, **NEVER_DECODE)
                continue
            {"hash": pipe.hgetall, "zset": lambda k: pipe.zrange(k, 0, -1, withscores=True),
             "set": pipe.smembers, "string": pipe.get}.get(ty, pipe.type)(k)
        for k, ty, value in zip(chunk, types, pipe.execute()):
            if k.startswith(batch_prefix):
                continue                    # a batch's chunks: read as one set of task ids, below
            of_chunk = keys.batch_of_chunk(k)
            if of_chunk is not None and ty == "string":
                by_batch.setdefault(keys.tasks_by_batch(of_chunk[0]), set()).update(
                    str(t) for t in _ids(of_chunk[1], value))
                continue
            if k in _BITMAP_KEYS and ty == "string":
                value = {str(t) for t in bitmap_ids(value)}
                if not value:
                    continue
            elif ty == "zset":
                value = {m: float(s) for m, s in value}
            elif ty == "hash" and k in (keys.WORKERS_BY_NAME, keys.CACHE_INDEX, keys.SERVER_STATE):
                value = dict(value)
            out[k] = value
    out.update((k, ids) for k, ids in by_batch.items() if ids)
    return out


def read_ledger(r: Any, start: str = "-", count: int = 5000) -> Iterator[tuple[str, dict[str, str]]]:
    """Iterate the ledger from `start` (inclusive) in pages."""
    cursor = start
    first = True
    while True:
        page = r.xrange(keys.EVENTS, min=cursor if first else f"({cursor}", count=count)
        first = False
        if not page:
            return
        yield from page
        cursor = page[-1][0]


def _start(r: Any, from_zero: bool) -> State:
    """Where a replay starts: the latest snapshot of the ledger archive (unless `from_zero`), else nothing."""
    arch = None if from_zero else ledger_archive(r)
    if arch is not None:
        m = arch.manifest()
        if m.snapshots:
            return arch.read_snapshot(m.snapshots[-1])
    return State()


def _fold(r: Any, state: State, set_aside: dict[str, str] | None) -> int:
    """Fold the ledger after `state.last_event_id` (archive, then live stream) into `state`; an entry that
    does not decode (unknown type, newer version, corrupt) is skipped and named in `set_aside` (entry id ->
    reason). Returns the number of entries read."""
    n = 0
    for entry_id, fields in whole_ledger(r, after=state.last_event_id):
        n += 1
        try:
            event = decode_event(fields)
        except BadInput as exc:
            if set_aside is not None:
                set_aside[entry_id] = exc.message
            state.last_event_id = entry_id
            continue
        evolve(state, event)
        state.last_event_id = entry_id
    return n


def replay(r: Any, state: State | None = None, set_aside: dict[str, str] | None = None,
           from_zero: bool = False) -> State:
    """Fold the whole ledger into a State (views untouched): from the archive's latest snapshot, or from
    the first entry (`from_zero`), through the archived segments and the live stream; undecodable entries
    are skipped (and named in `set_aside` when given)."""
    state = state or _start(r, from_zero)
    _fold(r, state, set_aside)
    return state


@dataclass
class RebuildReport:
    events: int
    seconds: float
    keys: int
    equal: bool
    differences: list[str]
    snapshot: str = ""         # the archive snapshot the replay started from ("" from the first entry)

    def summary(self) -> str:
        rate = self.events / self.seconds if self.seconds else 0.0
        verdict = "views equal the replay" if self.equal else f"{len(self.differences)} view keys differed"
        start = f" from the snapshot at {self.snapshot}" if self.snapshot else ""
        return (f"replayed {self.events} events{start} in {self.seconds:.2f}s ({rate:,.0f} events/s); "
                f"{self.keys} view keys; {verdict}")


def rebuild(r: Any, verify: bool = True, write: bool = True,
            set_aside: dict[str, str] | None = None, from_zero: bool = False) -> tuple[RebuildReport, State]:
    """Replay the ledger (from the archive's latest snapshot, or from the first entry with `from_zero`);
    compare the result with the stored views; drop and rewrite the views.

    Must run while no server writes (the server runs it inside its own loop when asked).
    """
    before = dump_views(r) if verify else {}
    t0 = time.perf_counter()
    state = _start(r, from_zero)
    snapshot = state.last_event_id if state.last_event_id != "0-0" else ""
    n = _fold(r, state, set_aside)
    elapsed = time.perf_counter() - t0
    expected = expected_views(state)
    diffs: list[str] = []
    if verify:
        for k in sorted(set(before) | set(expected)):
            if before.get(k) != expected.get(k):
                diffs.append(k)
    if write:
        names = [k for pattern in keys.view_patterns() for k in r.scan_iter(match=pattern, count=2000)]
        pipe = r.pipeline(transaction=True)
        for i in range(0, len(names), 500):
            pipe.delete(*names[i:i + 500])
        for name in state.tasks:
            state.dirty_tasks.add(name)
        state.dirty_executions.update(state.executions)
        state.dirty_workers.update(state.workers)
        state.dirty_batches.update(state.batches)
        state.dirty_cache.update(state.cache)
        state.dirty_recruiters.update(state.recruiters)
        state.dirty_deploys.update(state.deploys)
        state.dirty_costs.update(state.batch_costs)
        state.dirty_flavors.update(state.flavors)
        state.dirty_quotas.update(state.quotas)
        write_dirty(state, pipe)
        pipe.execute()
    return RebuildReport(events=n, seconds=elapsed, keys=len(expected), equal=not diffs, differences=diffs,
                         snapshot=snapshot), state
