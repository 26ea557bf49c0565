"""Releasing a waiting task when its parents succeed costs O(parents) in all, and is never wrong.

The pure core, in memory (the Decider and evolve, no Redis), as in test_decide_table.py.
"""

from __future__ import annotations

from scitq.events import commands as c
from scitq.projections.state import State
from scitq.server.decide import Decider


def gather_of(n: int) -> Decider:
    """n parents and one gather task requiring all of them; one worker with room for every parent."""
    d = Decider(State())
    d.now = 1000.0
    d.command("worker.register", c.RegisterWorker(name="w1", concurrency=n + 1, incarnation="i1"))
    d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command="true") for _ in range(n)]))
    d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command="true",
                                                             required_task_ids=list(range(1, n + 1)))]))
    d.dispatch()
    for tid in range(1, n + 1):
        d.fact("w1", "claimed", c.Claimed(task_id=tid, attempt=1), "i1")
        d.fact("w1", "started", c.Started(task_id=tid, attempt=1, command="true"), "i1")
    d.take()
    return d


def succeed(d: Decider, tid: int) -> list[str]:
    d.fact("w1", "finished", c.Finished(task_id=tid, attempt=1, return_code=0), "i1")
    return [e.__struct_config__.tag for e in d.take()[0]]


def test_a_gather_of_n_parents_is_released_once_after_the_last_with_linear_lookups():
    n = 400
    d = gather_of(n)
    gather = n + 1
    class Counted(dict):
        """The state's tasks, counting the look-ups."""
        calls = 0

        def get(self, key, default=None):
            Counted.calls += 1
            return super().get(key, default)

        def __getitem__(self, key):
            Counted.calls += 1
            return super().__getitem__(key)
    d.state.tasks = Counted(d.state.tasks)
    for tid in range(1, n):
        assert "task.released" not in succeed(d, tid)
    assert d.state.tasks[gather].status == "waiting"
    assert "task.released" in succeed(d, n)
    assert d.state.tasks[gather].status == "pending"
    # each success: a few look-ups of its own, then one step further along the gather's requirements
    assert Counted.calls <= 40 * n, f"{Counted.calls} task look-ups for {n} parents: not linear"


def test_parents_finishing_in_any_order_release_the_gather_only_when_all_have_succeeded():
    n = 50
    d = gather_of(n)
    order = list(range(n, 0, -2)) + list(range(1, n, 2))     # from the end, then the odd ones
    for tid in order[:-1]:
        assert "task.released" not in succeed(d, tid)
    assert "task.released" in succeed(d, order[-1])


def test_a_parent_that_went_back_from_succeeded_keeps_the_gather_waiting():
    d = gather_of(3)
    succeed(d, 1)
    succeed(d, 2)
    d.command("task.update", c.UpdateTask(task_id=1, changes={"status": "pending"}))   # relaunched
    d.take()
    assert d.state.tasks[1].status == "pending"
    assert "task.released" not in succeed(d, 3)
    assert d.state.tasks[4].status == "waiting"
