"""The recruiting policy, pure: given recruiters, tasks and workers, which worker moves where and why.

No Redis here: the Decider runs in memory with an injected clock (`Decider.now`); each row of a table
builds a state by commands and asserts the decisions of one round.
"""

from __future__ import annotations

import pytest

from scitq.errors import BadInput, NotFound
from scitq.events import commands as c
from scitq.projections.state import State
from scitq.server import recruit
from scitq.server.decide import Decider


def tags(events) -> list[str]:
    return [e.__struct_config__.tag for e in events]


def world(*, workers: list[tuple[str, str, str]] = (), pending: dict[str, int] | None = None,
          recruiters: list[dict] = (), now: float = 1000.0) -> Decider:
    """A Decider over a fresh state: workers (name, batch, flavor), pending tasks per batch, recruiters."""
    d = Decider(State())
    d.now = now
    for name, batch, flavor in workers:
        d.command("worker.register", c.RegisterWorker(name=name, concurrency=1, batch=batch, flavor=flavor,
                                                      incarnation="i1"))
    for batch, n in (pending or {}).items():
        d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command=f"echo {i}", batch=batch)
                                                      for i in range(n)]))
    for rec in recruiters:
        d.command("recruiter.create", c.CreateRecruiter(**{"tasks_per_worker": 1, "worker_flavor": "local",
                                                           "worker_concurrency": 1, **rec}))
    d.take()
    return d


def moves(d: Decider) -> list[tuple[str, str, str]]:
    """Run one round of the policy: (worker, from batch, to batch) of each recruitment."""
    d.recruit()
    events, _ = d.take()
    return [(e.worker, e.previous_batch, e.batch) for e in events if tags([e]) == ["worker.recruited"]]


W = [("w1", "Default", "local"), ("w2", "Default", "local"), ("w3", "Default", "local")]

TABLE = [
    # (what, workers, pending per batch, recruiters, expected moves)
    ("ten tasks, one per worker: every idle worker of the flavor is recycled",
     W, {"b": 10}, [{"batch": "b"}],
     [("w1", "Default", "b"), ("w2", "Default", "b"), ("w3", "Default", "b")]),
    ("ceil(pending / tasks_per_worker) workers are needed: 3 tasks, 2 per worker, 2 workers",
     W, {"b": 3}, [{"batch": "b", "tasks_per_worker": 2}],
     [("w1", "Default", "b"), ("w2", "Default", "b")]),
    ("maximum_workers caps the batch",
     W, {"b": 10}, [{"batch": "b", "maximum_workers": 1}],
     [("w1", "Default", "b")]),
    ("workers already in the batch count: one there, two wanted, one recycled",
     [("w1", "b", "local"), ("w2", "Default", "local"), ("w3", "Default", "local")], {"b": 2}, [{"batch": "b"}],
     [("w2", "Default", "b")]),
    ("maximum_workers 0 recruits nothing",
     W, {"b": 10}, [{"batch": "b", "maximum_workers": 0}], []),
    ("fewer pending tasks than minimum_tasks: nothing",
     W, {"b": 2}, [{"batch": "b", "minimum_tasks": 3}], []),
    ("a batch without pending task recruits nothing",
     W, {}, [{"batch": "b"}], []),
    ("only the exact flavor matches",
     [("w1", "Default", "big"), ("w2", "Default", "local")], {"b": 5}, [{"batch": "b", "worker_flavor": "big"}],
     [("w1", "Default", "b")]),
    ("a worker whose batch still has pending tasks is not idle",
     [("w1", "a", "local"), ("w2", "Default", "local")], {"a": 5, "b": 5}, [{"batch": "b"}],
     [("w2", "Default", "b")]),
    ("(batch, rank) order: the first batch takes the idle worker, the second gets none",
     [("w1", "Default", "local")], {"a": 1, "b": 1}, [{"batch": "b"}, {"batch": "a"}],
     [("w1", "Default", "a")]),
    ("rank 2 tops up after rank 1 reached its maximum",
     W, {"b": 10}, [{"batch": "b", "maximum_workers": 1}, {"batch": "b", "rank": 2, "maximum_workers": 2}],
     [("w1", "Default", "b"), ("w2", "Default", "b")]),
    ("a worker is taken once per round, by the first recruiter that wants it",
     [("w1", "Default", "local")], {"a": 3, "b": 3}, [{"batch": "a"}, {"batch": "b"}],
     [("w1", "Default", "a")]),
]


@pytest.mark.parametrize("what,workers,pending,recruiters,expected", TABLE, ids=[row[0] for row in TABLE])
def test_the_recruiting_policy_decides_as_its_table_says(what, workers, pending, recruiters, expected):
    assert moves(world(workers=workers, pending=pending, recruiters=recruiters)) == expected


def test_a_recruited_worker_takes_the_recruiters_batch_concurrency_and_prefetch_and_the_event_says_why():
    d = world(workers=[("w1", "Default", "local")], pending={"b": 4},
              recruiters=[{"batch": "b", "tasks_per_worker": 2, "worker_concurrency": 3, "worker_prefetch": 1}])
    d.recruit()
    events, _ = d.take()
    assert tags(events) == ["worker.recruited"]
    e = events[0]
    assert (e.batch, e.rank, e.worker, e.previous_batch, e.concurrency, e.prefetch) == ("b", 1, "w1", "Default", 3, 1)
    assert "4 pending tasks" in e.reason and "recycled idle worker w1" in e.reason and e.ts == 1000.0
    w = d.state.workers[1]
    assert (w.batch, w.concurrency, w.prefetch) == ("b", 3, 1)


def test_offline_paused_and_busy_workers_are_not_recycled():
    d = world(workers=[("w1", "Default", "local"), ("w2", "Default", "local"), ("w3", "Default", "local")],
              pending={"b": 5}, recruiters=[{"batch": "b"}])
    d.command("worker.update", c.UpdateWorker(worker_id=2, status="paused"))
    d.worker_liveness({"w1": False, "w2": True, "w3": True}, lost_after=600)
    d.take()
    assert moves(d) == [("w3", "Default", "b")]


def test_a_paused_batch_recruits_nothing_until_it_goes_again():
    d = world(workers=W, pending={"b": 1}, recruiters=[{"batch": "b"}])
    d.command("batch.stop", c.BatchCmd(batch="b"))
    d.take()
    assert moves(d) == []
    d.command("batch.go", c.BatchCmd(batch="b"))
    d.take()
    assert moves(d) == [("w1", "Default", "b")]


def test_the_policy_is_stable_once_the_need_is_met():
    d = world(workers=W, pending={"b": 2}, recruiters=[{"batch": "b"}])
    assert len(moves(d)) == 2
    assert moves(d) == []


def test_a_recruiter_that_may_deploy_says_once_when_no_offer_gives_what_recycling_cannot():
    d = world(workers=[("w1", "Default", "local")], pending={"b": 5},
              recruiters=[{"batch": "b", "worker_provider": "ovh", "worker_region": "auto", "maximum_workers": 3}])
    d.recruit()
    events, _ = d.take()
    assert tags(events) == ["worker.recruited", "recruiter.deploy_wanted"]
    assert events[1].needed == 2 and "no offer matches" in events[1].reason
    d.now += 60
    d.recruit()
    assert d.take()[0] == []
    d.command("recruiter.update", c.UpdateRecruiter(batch="b", rank=1, maximum_workers=4))
    d.take()
    d.recruit()
    events, _ = d.take()
    assert tags(events) == ["recruiter.deploy_wanted"] and events[0].needed == 3


def test_a_recycle_only_recruiter_never_asks_to_deploy():
    d = world(workers=[], pending={"b": 5}, recruiters=[{"batch": "b", "worker_region": "GRA11"}])
    d.recruit()
    assert d.take()[0] == []


def test_creating_an_existing_recruiter_replaces_it_and_an_update_changes_only_what_is_given():
    d = world(recruiters=[{"batch": "b", "maximum_workers": 5, "worker_prefetch": 2}])
    res = d.command("recruiter.create", c.CreateRecruiter(batch="b", tasks_per_worker=3, worker_flavor="big",
                                                          worker_concurrency=2))
    events, _ = d.take()
    assert res["replaced"] and tags(events) == ["recruiter.created"] and events[0].replaced
    rec = d.state.recruiters[("b", 1)]
    assert (rec.tasks_per_worker, rec.worker_flavor, rec.maximum_workers, rec.worker_prefetch) == (3, "big", None, 0)
    d.command("recruiter.update", c.UpdateRecruiter(batch="b", rank=1, maximum_workers=7))
    events, _ = d.take()
    assert tags(events) == ["recruiter.updated"]
    assert (rec.tasks_per_worker, rec.maximum_workers) == (3, 7)


def test_deleting_a_batch_deletes_its_recruiters_and_only_its_own():
    d = world(pending={"b": 1}, recruiters=[{"batch": "b"}, {"batch": "b", "rank": 2}, {"batch": "c"}])
    d.command("batch.delete", c.BatchCmd(batch="b"))
    events, _ = d.take()
    assert tags(events)[:2] == ["recruiter.deleted", "recruiter.deleted"]
    assert set(d.state.recruiters) == {("c", 1)}


def test_deleting_a_batch_that_has_only_recruiters_deletes_them():
    d = world(recruiters=[{"batch": "nothing.yet"}])
    assert d.command("batch.delete", c.BatchCmd(batch="nothing.yet")) == {"batch": "nothing.yet", "deleted_tasks": 0}
    assert d.state.recruiters == {}


def test_bad_recruiter_commands_are_refused_and_change_nothing():
    d = world(recruiters=[{"batch": "b"}])
    with pytest.raises(BadInput, match="bad batch name"):
        d.command("recruiter.create", c.CreateRecruiter(batch="a b", tasks_per_worker=1, worker_flavor="local",
                                                        worker_concurrency=1))
    with pytest.raises(BadInput, match="worker_flavor"):
        d.command("recruiter.create", c.CreateRecruiter(batch="x", tasks_per_worker=1, worker_flavor="a b",
                                                        worker_concurrency=1))
    with pytest.raises(NotFound, match="no recruiter of batch 'b' with rank 2"):
        d.command("recruiter.delete", c.RecruiterKey(batch="b", rank=2))
    with pytest.raises(BadInput, match="tasks_per_worker cannot be cleared"):
        d.command("recruiter.update", c.UpdateRecruiter(batch="b", rank=1, tasks_per_worker=None))
    assert d.take()[0] == [] and list(d.state.recruiters) == [("b", 1)]


def test_needed_is_ceil_of_pending_over_tasks_per_worker_minus_workers_capped_by_maximum():
    rec = world(recruiters=[{"batch": "b", "tasks_per_worker": 4, "maximum_workers": 3}]).state.recruiters[("b", 1)]
    assert [recruit.needed(rec, p, w) for p, w in ((0, 0), (1, 0), (4, 0), (5, 0), (9, 1), (100, 0), (100, 3))] \
        == [0, 1, 1, 2, 2, 3, 0]


# --- v1's task_properties: the weighted room of a partly idle worker ---------------------------------
def busy_world(concurrency: int, running: int, moved: tuple[str, int, dict] | None = None,
               recruiter_concurrency: int = 4) -> Decider:
    """Worker w1 (concurrency `concurrency`) runs `running` tasks of batch `a`, which has nothing pending;
    `moved`: then a user (or an earlier recycling) moved it to (batch, concurrency, task_properties).
    Batch `b` has 5 pending tasks and a recruiter wanting workers of concurrency `recruiter_concurrency`."""
    d = Decider(State())
    d.now = 1000.0
    d.command("worker.register", c.RegisterWorker(name="w1", concurrency=concurrency, batch="a", incarnation="i1"))
    if running:
        d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command=f"sleep {i}", batch="a")
                                                      for i in range(running)]))
    d.dispatch()
    for tid in range(1, running + 1):
        d.fact("w1", "claimed", c.Claimed(task_id=tid, attempt=1), "i1")
        d.fact("w1", "started", c.Started(task_id=tid, attempt=1, command="sleep"), "i1")
    if moved is not None:
        batch, conc, props = moved
        d.command("worker.update", c.UpdateWorker(worker_id=1, batch=batch, concurrency=conc, task_properties=props))
    d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command=f"echo {i}", batch="b") for i in range(5)]))
    d.command("recruiter.create", c.CreateRecruiter(batch="b", tasks_per_worker=1, worker_flavor="local",
                                                    worker_concurrency=recruiter_concurrency))
    d.take()
    assert len(d.state.workers[1].held) == running
    return d


WEIGHTED = [
    # (what, concurrency, running tasks of a, moved to, recruiter concurrency, recycled?, task_properties after)
    ("a worker with free room is recycled; the tasks it still runs weigh new/old concurrency (v1)",
     4, 2, None, 8, True, {"a": [2.0, 1]}),
    ("a worker whose running tasks fill its concurrency is not recycled",
     2, 2, None, 8, False, None),
    ("tasks of a batch it was recycled from weigh what that recycling said: 3 x 0.5 < 2, recycled",
     4, 3, ("x", 2, {"a": [0.5, 1]}), 4, True, {"a": [1.0, 1]}),
    ("the same three tasks unweighted (3 >= 2) keep it busy",
     4, 3, ("x", 2, {}), 4, False, None),
    ("a heavier weight fills it: 1 x 2 >= 2",
     4, 1, ("x", 2, {"a": [2, 1]}), 4, False, None),
    ("entries of batches it holds no task of weigh nothing and are dropped",
     2, 0, ("x", 2, {"old": [5, 1]}), 4, True, {}),
]


@pytest.mark.parametrize("what,concurrency,running,moved,rec_conc,recycled,props", WEIGHTED,
                         ids=[row[0] for row in WEIGHTED])
def test_a_partly_idle_worker_is_recycled_when_its_weighted_running_tasks_leave_room(
        what, concurrency, running, moved, rec_conc, recycled, props):
    d = busy_world(concurrency, running, moved, rec_conc)
    d.recruit()
    events, _ = d.take()
    recruited = [e for e in events if tags([e]) == ["worker.recruited"]]
    assert bool(recruited) == recycled
    w = d.state.workers[1]
    if recycled:
        assert recruited[0].task_properties == props and w.task_properties == props
        assert (w.batch, w.concurrency) == ("b", rec_conc)
        if running:
            assert "still running" in recruited[0].reason
    else:
        assert w.batch == (moved[0] if moved else "a")
