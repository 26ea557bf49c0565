"""The server keeps in memory only what it decides on, and starts from the views plus the ledger's tail.

These tests run the control plane in the test process (its real rounds and commits, on the test's Valkey)
and play a worker through its real protocol (queue stream, outbox reports), without running processes.
"""

from __future__ import annotations

import json
import time
import uuid

import msgspec
import pytest

from scitq import keys
from scitq.events.codec import event_fields
from scitq.events.task import TaskSubmitted
from scitq.api.client import Client
from scitq.projections import views
from scitq.projections.snapshot import load_live
from scitq.projections.state import EVICTABLE_STATUSES, State
from scitq.projections.store import batch_count, batch_ids, rebuild, replay
from scitq.server.controlplane import ControlPlane
from scitq.settings import Settings

WORKER = "w1"


class Rig:
    """A control plane on the test's Valkey and one worker speaking the protocol."""

    def __init__(self, r, home) -> None:
        self.r = r
        self.home = home
        self.seq = 0
        self.cp = self.start()

    def start(self) -> ControlPlane:
        cp = ControlPlane(self.r, Settings(home=self.home, reaper_interval=3600.0, unclaimed_after=3600.0))
        cp.acquire()
        cp.load()
        cp._next_reap = cp._next_unclaimed = time.monotonic() + 3600
        return cp

    def restart(self) -> ControlPlane:
        self.cp.lock.release()
        self.cp = self.start()
        return self.cp

    def rounds(self, n: int = 3) -> None:
        for _ in range(n):
            self.cp.round(block_ms=None)  # type: ignore[arg-type]

    def command(self, tag: str, data: dict) -> dict:
        cid = uuid.uuid4().hex
        self.r.xadd(keys.INBOX, {"cmd": tag, "id": cid, "reply": "1", "data": json.dumps(data)})
        self.rounds()
        answer = json.loads(self.r.lpop(keys.reply(cid)))
        assert answer["ok"], answer
        return answer["result"]

    def register(self, batch: str = "b", concurrency: int = 10) -> None:
        self.r.set(keys.worker_alive(WORKER), "1", ex=600)
        self.command("worker.register", {"name": WORKER, "concurrency": concurrency, "prefetch": 0,
                                         "batch": batch, "incarnation": "i1"})
        try:
            self.r.xgroup_create(keys.queue(batch), keys.QUEUE_GROUP, id="0", mkstream=True)
        except Exception:
            pass

    def report(self, fact: str, **data) -> None:
        self.seq += 1
        self.r.xadd(keys.worker_outbox(WORKER), {"f": fact, "inc": "i1", "seq": str(self.seq),
                                                 "data": json.dumps(data)})

    def work(self, batch: str = "b", codes: dict[int, int] | None = None, finish: bool = True) -> list[int]:
        """Claim what is offered in `batch`, start it and (with `finish`) end it with `codes[task]` (0)."""
        self.rounds(1)
        got = self.r.xreadgroup(keys.QUEUE_GROUP, WORKER, {keys.queue(batch): ">"}, count=100) or []
        done = []
        for _, entries in got:
            for eid, f in entries:
                tid, attempt = int(f["task"]), int(f["attempt"])
                self.report("claimed", task_id=tid, attempt=attempt, entry=eid, queue=batch)
                self.report("started", task_id=tid, attempt=attempt, command="true")
                if finish:
                    self.report("finished", task_id=tid, attempt=attempt, return_code=(codes or {}).get(tid, 0))
                done.append(tid)
        self.rounds()
        return done


@pytest.fixture
def rig(r, tmp_path):
    rig = Rig(r, tmp_path / "home")
    yield rig
    rig.cp.lock.release()


def _history(rig: Rig) -> None:
    """Tasks in every situation: succeeded, failed for good, retried, running, waiting on a parent, blocked
    by a failed one, paused, in a paused batch; a worker; a recruiter."""
    rig.register(concurrency=3)
    ids = rig.command("task.submit", {"tasks": [{"command": "true", "batch": "b"} for _ in range(3)]})["task_ids"]
    rig.work(codes={ids[1]: 1})                                       # 1 succeeded, 2 failed, 3 succeeded
    more = rig.command("task.submit", {"tasks": [
        {"command": "true", "batch": "b", "required_task_ids": [ids[0]]},        # 4: released at once
        {"command": "true", "batch": "b", "required_task_ids": [ids[1]]},        # 5: blocked by 2
        {"command": "true", "batch": "b", "retry": 1},                           # 6: fails once, retried
        {"command": "true", "batch": "b", "status": "paused"},                   # 7: paused
    ]})["task_ids"]
    rig.work(codes={more[2]: 1})
    rig.work(finish=False)                                            # 4 or 6 running now
    rig.command("task.submit", {"tasks": [{"command": "true", "batch": "b", "required_task_ids": [more[0]]},
                                          {"command": "true", "batch": "other"}]})
    rig.command("batch.stop", {"batch": "other"})
    rig.command("recruiter.create", {"batch": "b", "rank": 1, "tasks_per_worker": 2, "worker_flavor": "f1", "worker_concurrency": 2,
                                     "maximum_workers": 1})


def _live(state: State) -> State:
    """`state` (a full replay) without what the server forgets: finished tasks that no task in memory needs."""
    for dirty in (state.dirty_tasks, state.dirty_executions):
        dirty.clear()
    state.evict_all()
    return state


def _values(x) -> dict:
    """A task's or an execution's fields, without the view writer's bookkeeping (`indexed`)."""
    out = msgspec.structs.asdict(x)
    out.pop("indexed", None)
    return out


def _same(a: State, b: State) -> None:
    assert sorted(a.tasks) == sorted(b.tasks)
    for tid in a.tasks:
        assert _values(a.tasks[tid]) == _values(b.tasks[tid]), tid
    assert sorted(a.executions) == sorted(b.executions)
    for eid in a.executions:
        assert _values(a.executions[eid]) == _values(b.executions[eid]), eid
    assert {w: msgspec.structs.asdict(x) for w, x in a.workers.items()} == \
        {w: msgspec.structs.asdict(x) for w, x in b.workers.items()}
    for name in set(a.batches) | set(b.batches):
        ba, bb = a.batches[name], b.batches[name]
        assert (ba.paused, ba.queued, ba.counts, ba.creation_date) == (bb.paused, bb.queued, bb.counts, bb.creation_date)
        def ready(s: State, heap: list[int]) -> list[int]:
            return sorted({t for t in heap if t in s.tasks and s.tasks[t].status == "pending" and not s.tasks[t].queued})
        assert ready(a, ba.ready) == ready(b, bb.ready)
    assert {k: msgspec.structs.asdict(x) for k, x in a.recruiters.items()} == \
        {k: msgspec.structs.asdict(x) for k, x in b.recruiters.items()}
    assert (a.next_task_id, a.next_execution_id, a.next_worker_id, a.paused_offline) == \
        (b.next_task_id, b.next_execution_id, b.next_worker_id, b.paused_offline)
    def needs(s: State) -> dict[int, set[int]]:
        out = {k: {d for d in v if d in s.tasks and s.tasks[d].status not in EVICTABLE_STATUSES}
               for k, v in s.dependents.items()}
        return {k: v for k, v in out.items() if v}
    assert needs(a) == needs(b)
    assert a.task_executions == b.task_executions
    assert a.last_event_id == b.last_event_id


def test_the_state_read_from_the_views_equals_the_replay_of_the_ledger_less_the_finished_tasks(rig, r):
    """Given a history with tasks in every situation, the state the server starts from (views at their
    checkpoint) is the full replay's state without the finished tasks nothing needs."""
    _history(rig)
    _same(load_live(r), _live(replay(r)))
    report, _ = rebuild(r, verify=True, write=False)
    assert report.equal, report.differences[:5]


def test_the_server_keeps_no_finished_task_in_memory_and_batch_counts_stay_exact(rig, r):
    """Given 30 tasks run to their end, the server holds none of them, and the batch view counts them."""
    rig.register(concurrency=30)
    rig.command("task.submit", {"tasks": [{"command": "true", "batch": "b"} for _ in range(30)]})
    while len(rig.work()) > 0:
        pass
    assert r.hget(keys.batch_view("b"), "succeeded") == "30"
    assert rig.cp.state.tasks == {} and rig.cp.state.executions == {}
    assert rig.cp.state.batches["b"].counts["succeeded"] == 30


def test_a_finished_task_forgotten_by_the_server_is_read_back_for_a_relaunch_an_edit_and_a_late_report(rig, r, redis_url):
    """Given a task that succeeded (no longer in the server's memory), a duplicate of its end report is
    recognised as such (no event), an edit and a relaunch apply to it, and a new task may require it."""
    rig.register()
    tid = rig.command("task.submit", {"tasks": [{"command": "true", "batch": "b"}]})["task_ids"][0]
    rig.work()
    assert tid not in rig.cp.state.tasks
    before = r.xlen(keys.EVENTS)
    rig.report("finished", task_id=tid, attempt=1, return_code=0)      # sent again (spool replay)
    rig.rounds()
    assert r.xlen(keys.EVENTS) == before
    child = rig.command("task.submit", {"tasks": [{"command": "true", "batch": "b", "required_task_ids": [tid]}]})
    assert r.hget(keys.task_view(child["task_ids"][0]), "status") == "pending"
    rig.command("task.update", {"task_id": tid, "changes": {"command": "echo again"}})
    assert rig.command("task.relaunch", {"task_ids": [tid]})["relaunched"] == [tid]
    assert r.hget(keys.task_view(tid), "status") == "pending"
    assert r.hget(keys.task_view(tid), "command") == "echo again"
    rig.work()
    assert r.hget(keys.task_view(tid), "status") == "succeeded"
    assert rig.command("batch.relaunch_failed", {"batch": "b"})["relaunched"] == []
    report, _ = rebuild(r, verify=True, write=False)
    assert report.equal, report.differences[:5]
    # each execution shows the command it ran (the first one the command before the edit)
    assert [e.command for e in Client(url=redis_url).executions(tid)] == ["true", "true"]


def test_relaunching_the_failed_tasks_of_a_batch_reaches_the_finished_ones(rig, r):
    """Given failed tasks the server forgot, `batch.relaunch_failed` relaunches them, and deleting the
    batch deletes every task of it."""
    rig.register()
    ids = rig.command("task.submit", {"tasks": [{"command": "false", "batch": "b"} for _ in range(3)]})["task_ids"]
    rig.work(codes={t: 1 for t in ids})
    assert not rig.cp.state.tasks
    assert sorted(rig.command("batch.relaunch_failed", {"batch": "b"})["relaunched"]) == ids
    rig.work()
    assert rig.command("batch.delete", {"batch": "b"})["deleted_tasks"] == 3
    assert batch_count(r, "b") == 0 and batch_ids(r, "b") == []
    report, _ = rebuild(r, verify=True, write=False)
    assert report.equal, report.differences[:5]


def test_a_restart_reads_the_views_and_the_ledger_after_their_checkpoint_not_the_whole_ledger(rig, r, caplog):
    """Given a history whose ledger entries before the checkpoint are gone (as after archiving), and one
    event appended after it, a restarted server starts from the views, folds that event and writes it."""
    _history(rig)
    expected = _live(replay(r))
    checkpoint = r.get(keys.CHECKPOINT)
    r.xtrim(keys.EVENTS, minid=checkpoint, approximate=False)         # everything before the checkpoint gone
    assert r.xlen(keys.EVENTS) == 1
    ts = time.time()
    tid = expected.next_task_id
    r.xadd(keys.EVENTS, event_fields(TaskSubmitted(task_id=tid, batch="b", status="pending", command="late",
                                                   ts=ts)))
    cp = rig.restart()
    assert tid in cp.state.tasks and cp.state.tasks[tid].command == "late"
    assert r.hget(keys.task_view(tid), "command") == "late"
    assert r.get(keys.CHECKPOINT) == cp.state.last_event_id != checkpoint
    assert cp.state.next_task_id == tid + 1
    for t in expected.tasks:
        assert t in cp.state.tasks
    assert all(t.status not in EVICTABLE_STATUSES or cp.state.dependents.get(t.task_id)
               for t in cp.state.tasks.values())


def test_a_restart_goes_on_where_the_server_stopped(rig, r):
    """Given a restart in the middle of the history, the tasks go on to their end as without one."""
    _history(rig)
    rig.restart()
    rig.command("batch.go", {"batch": "other"})
    rig.command("task.set_status", {"task_id": 7, "status": "pending"})
    for _ in range(6):
        rig.work()
    report, _ = rebuild(r, verify=True, write=False)
    assert report.equal, report.differences[:5]
    assert r.scard(keys.tasks_by_status("running")) + r.scard(keys.tasks_by_status("pending")) <= 2


def test_live_tasks_share_what_thousands_of_tasks_hold_the_same_and_own_no_empty_list(rig):
    """A live task is kept compact: its batch, container and status strings are the ones other tasks
    hold, a task requiring nothing has no list of its own, the index entries are shared, and the task
    is not tracked by the garbage collector; the same after a restart from the views, and an edit of
    its requirements still works both ways."""
    import gc

    spec = {"command": "true", "batch": "b", "container": "alpine", "container_options": "--rm"}
    ids = rig.command("task.submit", {"tasks": [dict(spec) for _ in range(3)]})["task_ids"]
    for state in (rig.cp.state, rig.restart().state):
        a, b = state.tasks[ids[0]], state.tasks[ids[1]]
        assert a.batch is b.batch and a.container is b.container and a.container_options is b.container_options
        assert a.status is b.status
        assert a.required_task_ids == () and a.required_task_ids is b.required_task_ids
        assert state.indexed_tasks[ids[0]] is state.indexed_tasks[ids[1]]
        assert not gc.is_tracked(a)
    rig.command("task.update", {"task_id": ids[2], "changes": {"required_task_ids": [ids[0]]}})
    state = rig.cp.state
    assert list(state.tasks[ids[2]].required_task_ids) == [ids[0]] and state.dependents[ids[0]] == {ids[2]}
    assert state.tasks[ids[2]].status == "pending" and state.tasks[ids[1]].required_task_ids == ()
    rig.command("task.update", {"task_id": ids[2], "changes": {"required_task_ids": []}})
    assert state.tasks[ids[2]].required_task_ids == () and not state.dependents.get(ids[0])


def test_a_running_task_owns_no_list_of_executions_and_its_worker_holds_it_in_an_array(rig):
    """A running task whose only execution is its current one has no list of executions of its own,
    and its worker's held tasks are a sorted array of ids, not a set; the same after a restart from
    the views, and a task relaunched after a failure lists both its executions, oldest first."""
    from scitq.projections.state import HeldTasks

    rig.register(concurrency=4)
    ids = rig.command("task.submit", {"tasks": [{"command": "true", "batch": "b"} for _ in range(2)]
                                      + [{"command": "true", "batch": "b", "retry": 1}]})["task_ids"]
    rig.work(codes={ids[2]: 1}, finish=False)
    rig.report("finished", task_id=ids[2], attempt=1, return_code=1)
    rig.rounds()
    rig.work(finish=False)          # task 3's second attempt
    for state in (rig.cp.state, rig.restart().state):
        w = state.worker_by_name(WORKER)
        assert isinstance(w.held, HeldTasks) and w.held == set(ids)
        for tid in ids[:2]:
            assert state.task_executions[tid] == [state.tasks[tid].execution_id]
            assert tid not in state.task_executions.more
        first, second = state.task_executions[ids[2]]
        assert first < second == state.tasks[ids[2]].execution_id and state.tasks[ids[2]].status == "running"


def _rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def test_a_burst_of_submissions_leaves_the_server_holding_its_tasks_not_the_burst(rig):
    """What submitting thousands of tasks at once allocates for a moment (decoded commands, events, the
    commit's arguments) is given back once the server is idle: its RSS grows by the tasks it keeps, far
    below the several kilobytes per task the burst held (the bound is loose: RSS depends on the allocator)."""
    import gc

    def burst(n: int) -> None:
        for _ in range(n // 1000):
            rig.r.xadd(keys.INBOX, {"cmd": "task.submit", "id": uuid.uuid4().hex,
                                    "data": json.dumps({"tasks": [{"command": "true", "batch": "p"}] * 1000})})
        while rig.cp.round(block_ms=None):  # type: ignore[arg-type]
            pass

    burst(1000)
    gc.collect()
    before = _rss()
    burst(10000)
    gc.collect()
    assert len(rig.cp.state.tasks) == 11000
    assert (_rss() - before) / 10000 < 2500


def _old_layout(r) -> None:
    """Turn the views into those of the previous layout: whole task and execution hashes, a sorted set of
    each task's executions, the global `tasks` and `executions` sorted sets, no layout in the state hash."""
    state = replay(r)
    pipe = r.pipeline(transaction=True)
    for tid, t in state.tasks.items():
        pipe.delete(keys.task_view(tid))
        pipe.hset(keys.task_view(tid), mapping=views._hash(t, views._TASK_FIELDS))
        pipe.zadd(f"{keys.PREFIX}:view:tasks", {str(tid): tid})
    for eid, ex in state.executions.items():
        pipe.delete(keys.execution_view(eid))
        pipe.hset(keys.execution_view(eid), mapping=views._hash(
            ex, views._EXEC_FIELDS, {"output_files": " ".join(ex.output_files) or None}))
        pipe.zadd(f"{keys.PREFIX}:view:task:{ex.task_id}:executions", {str(eid): eid})
        pipe.zadd(f"{keys.PREFIX}:view:executions", {str(eid): eid})
    pipe.hdel(keys.SERVER_STATE, "views")
    pipe.execute()


def _layout_2(r) -> None:
    """Turn the views into those of layout 2: `task_id` in task views, `execution_id` and the command in
    execution views, a sorted set of task ids per batch, layout `2` in the state hash."""
    state = replay(r)
    pipe = r.pipeline(transaction=True)
    for tid, t in state.tasks.items():
        pipe.hset(keys.task_view(tid), "task_id", str(tid))
    for eid, ex in state.executions.items():
        pipe.hset(keys.execution_view(eid), "execution_id", str(eid))
        if ex.command is not None:
            pipe.hset(keys.execution_view(eid), "command", ex.command)
    for name in state.batches:
        for chunk in r.smembers(keys.tasks_by_batch(name)):
            pipe.delete(keys.batch_chunk(name, int(chunk)))
        pipe.delete(keys.tasks_by_batch(name))
    for tid, t in state.tasks.items():
        pipe.zadd(keys.tasks_by_batch(t.batch), {str(tid): tid})
    pipe.hset(keys.SERVER_STATE, "views", "2")
    pipe.execute()


def test_a_server_started_on_views_of_layout_2_rebuilds_them_once_in_the_current_layout(rig, r, redis_url, caplog):
    """Given views written in layout 2 (ids in the hashes, each execution's command, a sorted set of task
    ids per batch), a server of this version starting on them replays the ledger once and writes them in
    the current layout: views without the ids their keys give, by-batch bitmaps; clients read the same
    tasks and executions, and the next start reads the views as they are."""
    _history(rig)
    before = Client(url=redis_url)
    tasks = {t.task_id: t.to_dict() for t in before.tasks()}
    executions = {e.execution_id: e.to_dict() for e in before.executions()}
    pages = [before.task_page(0, 3, batch="b"), before.task_page(1, 4, desc=True), before.task_count("b")]
    _layout_2(r)
    assert r.type(keys.tasks_by_batch("b")) == "zset"
    caplog.set_level("INFO")
    rig.restart()
    assert "full replay" in caplog.text
    assert r.hget(keys.SERVER_STATE, "views") == views.VIEW_LAYOUT
    assert r.type(keys.tasks_by_batch("b")) == "set"
    tid, eid = min(tasks), min(executions)
    assert not r.hexists(keys.task_view(tid), "task_id") and not r.hexists(keys.execution_view(eid), "execution_id")
    assert not r.hexists(keys.execution_view(eid), "command")      # it ran its task's command
    report, _ = rebuild(r, verify=True, write=False)
    assert report.equal, report.differences[:5]
    c = Client(url=redis_url)
    assert {t.task_id: t.to_dict() for t in c.tasks()} == tasks
    assert {e.execution_id: e.to_dict() for e in c.executions()} == executions
    assert [c.task_page(0, 3, batch="b"), c.task_page(1, 4, desc=True), c.task_count("b")] == pages
    caplog.clear()
    rig.restart()
    assert "full replay" not in caplog.text


def test_a_server_started_on_views_of_the_previous_layout_rebuilds_them_once_from_the_ledger(rig, r, redis_url, caplog):
    """Given views written by the previous version (whole hashes, per-task sets of executions, the global
    sorted sets), a server of this version starting on them replays the ledger once and writes them in
    the current layout; the next start reads them as they are, and clients read the same tasks."""
    _history(rig)
    before = Client(url=redis_url)
    tasks = {t.task_id: t.to_dict() for t in before.tasks()}
    executions = {e.execution_id: e.to_dict() for e in before.executions()}
    _old_layout(r)
    caplog.set_level("INFO")
    rig.restart()
    assert "full replay" in caplog.text
    assert r.hget(keys.SERVER_STATE, "views") == views.VIEW_LAYOUT
    assert not r.exists(f"{keys.PREFIX}:view:tasks", f"{keys.PREFIX}:view:executions")
    assert not list(r.scan_iter(match=f"{keys.PREFIX}:view:task:*:executions"))
    report, _ = rebuild(r, verify=True, write=False)
    assert report.equal, report.differences[:5]
    c = Client(url=redis_url)
    assert {t.task_id: t.to_dict() for t in c.tasks()} == tasks
    assert {e.execution_id: e.to_dict() for e in c.executions()} == executions
    caplog.clear()
    rig.restart()
    assert "full replay" not in caplog.text


def test_clients_list_count_and_page_tasks_and_executions_without_global_indexes(rig, r, redis_url):
    """Given tasks in two batches, some run twice, the client lists, counts and pages all tasks from the
    by-batch indexes and finds every execution from the tasks' views; a partial read of fields at their
    default still tells an existing task from a missing one."""
    rig.register(concurrency=10)
    a = rig.command("task.submit", {"tasks": [{"command": "true", "batch": "b"} for _ in range(3)]})["task_ids"]
    b = rig.command("task.submit", {"tasks": [{"command": "true", "batch": "other"} for _ in range(2)]})["task_ids"]
    rig.work(codes={a[1]: 1})
    c = Client(url=redis_url)
    everything = sorted(a + b)
    assert c.task_ids() == everything and c.task_count() == 5 and c.task_count("b") == 3
    assert c.task_page(0, 2) == everything[:3] and c.task_page(1, 3, desc=True) == everything[::-1][1:4]
    assert c.task_page(0, -1) == everything
    assert c.task_ids(status="failed") == [a[1]] and c.task_ids(status=["succeeded", "failed"]) == sorted(a)
    assert c.task_ids(status="succeeded", batch="b") == [a[0], a[2]] and c.task_ids(status="pending") == b
    eids = c.execution_ids()
    assert len(eids) == 3 and eids == sorted(eids)
    assert [e.task_id for e in c.executions(a[0])] == [a[0]]
    assert c.attempts([a[0], b[0]]) == {a[0]: [(c.task(a[0]).execution_id, 1)], b[0]: []}
    rows = c.task_fields([a[0], 999], ["required_task_ids", "status_date"])
    assert rows[1] is None and rows[0].required_task_ids == [] and rows[0].status_date == c.task(a[0]).status_date
    assert rows[0].task_id is None                    # only the fields asked for
    ex = c.execution_fields([eids[0]], ["stream", "start_date"])[0]
    full = c.execution(eids[0])
    assert (ex.stream, ex.start_date) == (full.stream, full.start_date) and full.stream == keys.worker_output(
        WORKER, full.task_id, full.attempt)
