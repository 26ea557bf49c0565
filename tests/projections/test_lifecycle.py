"""Status lifecycles of v1 (§1.3-1.5) as properties of the pure core: Decider (decide) + evolve.

Random sequences of user commands, worker reports (including stale and duplicate ones) and timer
ticks are applied to an in-memory State; after every step the invariants below must hold.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from scitq.errors import ScitqError
from scitq.events import commands as c
from scitq.events.task import TaskStatusSet
from scitq.projections.evolve import evolve
from scitq.projections.state import ACTIVE_TASK_STATUS, State
from scitq.projections.store import expected_views
from scitq.server.decide import Decider
from scitq.settings import TASK_STATUS

# Transitions a task may take without a user setting its status by hand (v1 §1.3, plus requeue).
AUTOMATIC = {
    ("pending", "assigned"), ("assigned", "accepted"), ("assigned", "running"), ("accepted", "running"),
    ("running", "succeeded"), ("running", "failed"), ("running", "pending"), ("assigned", "pending"),
    ("accepted", "pending"), ("waiting", "pending"), ("pending", "failed"), ("assigned", "failed"),
    ("accepted", "failed"), ("paused", "succeeded"), ("paused", "failed"), ("paused", "pending"),
    # not v1: a required task failed for good (blocked), then was relaunched (waiting again, or pending)
    ("waiting", "blocked"), ("blocked", "waiting"), ("blocked", "pending"),
}


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = State()
        self.d = Decider(self.state, max_deliveries=4)
        self.clock = 1000.0
        self.log: list = []
        self.workers = ["w1", "w2"]
        for w in self.workers:
            self.cmd("worker.register", c.RegisterWorker(name=w, concurrency=2, prefetch=1, incarnation="a"))
        self.last_attempt: dict[int, int] = {}
        self.successes: dict[int, int] = {}

    # --- plumbing ---------------------------------------------------------------------------
    def tick(self) -> None:
        self.clock += 1.0
        self.d.now = self.clock

    def flush(self) -> None:
        events, _effects = self.d.take()
        before = {t: self._status_before(t) for t in ()}
        self.log.extend(events)

    def _status_before(self, t):  # pragma: no cover - placeholder for readability
        return None

    def cmd(self, tag, cmd):
        self.tick()
        snapshot = {tid: t.status for tid, t in self.state.tasks.items()}
        try:
            self.d.command(tag, cmd)
        except ScitqError:
            assert not self.d.events, f"{tag} failed after emitting events"
        self._check_transitions(snapshot)

    def fact(self, worker, tag, fact):
        self.tick()
        snapshot = {tid: t.status for tid, t in self.state.tasks.items()}
        self.d.fact(worker, tag, fact)
        self._check_transitions(snapshot)

    def _check_transitions(self, snapshot):
        events, _ = self.d.take()
        manual = {e.task_id for e in events if isinstance(e, TaskStatusSet)}
        for tid, old in snapshot.items():
            t = self.state.tasks.get(tid)
            if t is None or t.status == old or tid in manual:
                continue
            assert (old, t.status) in AUTOMATIC, f"task {tid}: {old} -> {t.status} is not a v1 transition"
        for e in events:
            if type(e).__name__ == "TaskSucceeded":
                self.successes[e.execution_id] = self.successes.get(e.execution_id, 0) + 1
        self.log.extend(events)

    def held(self, worker):
        return [t for t in self.state.tasks.values() if t.worker == worker
                and (t.status in ACTIVE_TASK_STATUS or t.status == "paused")]

    # --- rules ------------------------------------------------------------------------------
    @rule(n=st.integers(1, 3), retry=st.integers(0, 2), batch=st.sampled_from(["Default", "b2"]),
          dep=st.booleans(), accept_failure=st.booleans())
    def submit(self, n, retry, batch, dep, accept_failure):
        reqs = [max(self.state.tasks)] if dep and self.state.tasks else []
        specs = [c.TaskSpec(command=f"echo {i}", retry=retry, batch=batch, required_task_ids=reqs,
                            accept_failure=accept_failure) for i in range(n)]
        self.cmd("task.submit", c.SubmitTasks(tasks=specs))

    @rule()
    def dispatch(self):
        self.tick()
        snapshot = {tid: t.status for tid, t in self.state.tasks.items()}
        self.d.dispatch()
        self._check_transitions(snapshot)

    @rule(w=st.sampled_from(["w1", "w2"]), stale=st.booleans(), data=st.data())
    def claim(self, w, stale, data):
        queued = [t for t in self.state.tasks.values() if t.queued]
        if not queued:
            return
        t = data.draw(st.sampled_from(sorted(queued, key=lambda t: t.task_id)))
        self.fact(w, "claimed", c.Claimed(task_id=t.task_id, attempt=t.attempt - (1 if stale and t.attempt > 1 else 0)))

    @rule(w=st.sampled_from(["w1", "w2"]), data=st.data(), rc=st.sampled_from([0, 0, 1, -9]),
          dup=st.booleans(), stale=st.booleans())
    def progress(self, w, data, rc, dup, stale):
        mine = self.held(w)
        if not mine:
            return
        t = data.draw(st.sampled_from(sorted(mine, key=lambda t: t.task_id)))
        attempt = t.attempt - 1 if stale and t.attempt > 1 else t.attempt
        ex = self.state.current_execution(t)
        if ex is not None and ex.status in ("pending", "accepted"):
            f = c.Started(task_id=t.task_id, attempt=attempt, command=t.command)
            self.fact(w, "started", f)
        else:
            f = c.Finished(task_id=t.task_id, attempt=attempt, return_code=rc)
            self.fact(w, "finished", f)
        if dup:
            self.fact(w, "finished" if isinstance(f, c.Finished) else "started", f)

    @rule(data=st.data(), verb=st.sampled_from(["task.relaunch", "task.delete"]))
    def user_task(self, data, verb):
        if not self.state.tasks:
            return
        tid = data.draw(st.sampled_from(sorted(self.state.tasks)))
        self.cmd(verb, c.TaskIds(task_ids=[tid]))

    @rule(data=st.data(), status=st.sampled_from(TASK_STATUS))
    def set_status(self, data, status):
        if not self.state.tasks:
            return
        tid = data.draw(st.sampled_from(sorted(self.state.tasks)))
        self.cmd("task.set_status", c.SetStatus(task_id=tid, status=status))

    @rule(data=st.data(), cmd=st.sampled_from(["task.update"]))
    def edit(self, data, cmd):
        if not self.state.tasks:
            return
        tid = data.draw(st.sampled_from(sorted(self.state.tasks)))
        self.cmd(cmd, c.UpdateTask(task_id=tid, changes={"command": "echo edited"}))

    @rule(data=st.data())
    def change_requirements(self, data):
        if not self.state.tasks:
            return
        tid = data.draw(st.sampled_from(sorted(self.state.tasks)))
        reqs = data.draw(st.lists(st.sampled_from(sorted(t for t in self.state.tasks if t < tid) or [tid]),
                                  max_size=2, unique=True))
        self.cmd("task.update", c.UpdateTask(task_id=tid, changes={"required_task_ids": [r for r in reqs if r < tid]}))

    @rule(batch=st.sampled_from(["Default", "b2"]), go=st.booleans(), signal=st.sampled_from([0, 20]))
    def pause_or_go(self, batch, go, signal):
        self.cmd("batch.go" if go else "batch.stop", c.BatchCmd(batch=batch, signal=18 if go and signal else signal))

    @rule(w=st.sampled_from(["w1", "w2"]))
    def worker_lost(self, w):
        self.tick()
        snapshot = {tid: t.status for tid, t in self.state.tasks.items()}
        self.d.worker_liveness({w: False}, lost_after=0.0)
        self.tick()
        self.d.worker_liveness({w: False}, lost_after=0.0)
        self.d.worker_liveness({w: True}, lost_after=0.0)
        self._check_transitions(snapshot)

    # --- invariants ---------------------------------------------------------------------------
    @invariant()
    def statuses_are_v1_statuses(self):
        assert all(t.status in TASK_STATUS for t in self.state.tasks.values())

    @invariant()
    def batch_counts_match_the_tasks(self):
        for name, b in self.state.batches.items():
            recount = {s: 0 for s in TASK_STATUS}
            for t in self.state.tasks.values():
                if t.batch == name:
                    recount[t.status] += 1
            assert b.counts == recount, name
            assert b.queued == sum(1 for t in self.state.tasks.values() if t.batch == name and t.queued)

    @invariant()
    def holders_and_held_sets_agree(self):
        for w in self.state.workers.values():
            for tid in w.held:
                t = self.state.tasks[tid]
                assert t.worker == w.name and (t.status in ACTIVE_TASK_STATUS or t.status == "paused")
        for t in self.state.tasks.values():
            if t.status in ACTIVE_TASK_STATUS or (t.status == "paused" and t.worker):
                w = self.state.worker_by_name(t.worker)
                assert w is not None and t.task_id in w.held
            assert not (t.queued and t.status != "pending")

    @invariant()
    def a_waiting_task_waits_only_for_unfinished_parents_and_a_blocked_one_names_a_failed_parent(self):
        tasks = self.state.tasks
        for t in tasks.values():
            parents = [tasks[r].status for r in t.required_task_ids if r in tasks]
            if t.status == "waiting" and len(parents) == len(t.required_task_ids):
                finished = ("succeeded", "failed", "blocked") if t.accept_failure else ("succeeded",)
                assert not all(p in finished for p in parents), f"task {t.task_id} waits for ever"
                assert t.accept_failure or not any(p in ("failed", "blocked") for p in parents)
            if t.status == "blocked":
                assert t.blocked_by in t.required_task_ids and not t.accept_failure
                if t.blocked_by in tasks:
                    assert tasks[t.blocked_by].status in ("failed", "blocked"), f"task {t.task_id}"
            else:
                assert t.blocked_by is None

    @invariant()
    def attempts_only_increase(self):
        for tid, t in self.state.tasks.items():
            assert t.attempt >= self.last_attempt.get(tid, 0)
            self.last_attempt[tid] = t.attempt

    @invariant()
    def at_most_one_accepted_success_per_execution(self):
        assert all(n == 1 for n in self.successes.values())

    @invariant()
    def replaying_the_events_gives_the_same_views(self):
        fresh = State()
        for e in self.log:
            evolve(fresh, e)
        fresh.last_event_id = self.state.last_event_id
        assert expected_views(fresh) == expected_views(self.state)


TestLifecycle = Lifecycle.TestCase
TestLifecycle.settings = settings(max_examples=200, stateful_step_count=50, deadline=None,
                                  suppress_health_check=[HealthCheck.too_slow])
