"""Dependencies always end, in the pure core: a dependant of a task failed for good is blocked (naming
the failed task), a relaunch puts it back to waiting, `accept_failure` runs it anyway, and a waiting
task whose requirements already succeeded never waits for ever.

No Redis here: the Decider and evolve run in memory (the same path runs in the server; the workflow
tests drive it through real workers).
"""

from __future__ import annotations

from scitq.events import commands as c
from scitq.server.decide import Decider
from scitq.projections.state import State


def tags(events) -> list[str]:
    return [e.__struct_config__.tag for e in events]


def graph(*specs: dict) -> Decider:
    """A Decider with one running worker and the tasks `specs` (ids 1, 2, ... in order), nothing dispatched."""
    d = Decider(State())
    d.now = 1000.0
    d.command("worker.register", c.RegisterWorker(name="w1", concurrency=1, incarnation="i1"))
    d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command="echo", **s) for s in specs]))
    d.take()
    return d


def finish(d: Decider, task_id: int, rc: int) -> list[str]:
    """Run `task_id` on w1 to the end with return code `rc`; the tags of what that emitted."""
    t = d.state.tasks[task_id]
    attempt = t.attempt + 1
    d.state.batches[t.batch].ready.append(task_id)   # dispatch it first, whatever else is ready
    d.state.batches[t.batch].ready.sort(key=lambda tid: tid != task_id)
    d.dispatch()
    d.fact("w1", "claimed", c.Claimed(task_id=task_id, attempt=attempt), "i1")
    d.fact("w1", "started", c.Started(task_id=task_id, attempt=attempt, command="echo"), "i1")
    d.take()
    d.fact("w1", "finished", c.Finished(task_id=task_id, attempt=attempt, return_code=rc), "i1")
    return tags(d.take()[0])


def status(d: Decider, *ids: int) -> list[str]:
    return [d.state.tasks[i].status for i in ids]


def test_a_failure_for_good_blocks_the_dependants_transitively_each_naming_its_failed_parent():
    d = graph({}, {"required_task_ids": [1]}, {"required_task_ids": [2]}, {})
    assert finish(d, 1, 2) == ["execution.finished", "task.failed", "task.blocked", "task.blocked"]
    assert status(d, 2, 3, 4) == ["blocked", "blocked", "pending"]
    assert (d.state.tasks[2].blocked_by, d.state.tasks[3].blocked_by) == (1, 2)
    assert d.state.batches["Default"].counts["blocked"] == 2


def test_a_failure_with_retries_left_blocks_nothing():
    d = graph({"retry": 1}, {"required_task_ids": [1]})
    assert finish(d, 1, 2) == ["execution.finished", "task.retried"]
    assert status(d, 2) == ["waiting"]


def test_relaunching_the_failed_parent_puts_the_blocked_chain_back_to_waiting_and_its_success_releases_it():
    d = graph({}, {"required_task_ids": [1]}, {"required_task_ids": [2]})
    finish(d, 1, 1)
    d.command("task.relaunch", c.TaskIds(task_ids=[1]))
    assert tags(d.take()[0]) == ["task.status_set", "task.unblocked", "task.unblocked"]
    assert status(d, 1, 2, 3) == ["pending", "waiting", "waiting"]
    assert d.state.tasks[2].blocked_by is None
    assert finish(d, 1, 0) == ["execution.finished", "task.succeeded", "task.released"]
    assert finish(d, 2, 0) == ["execution.finished", "task.succeeded", "task.released"]


def test_a_dependant_blocked_by_two_failed_parents_stays_blocked_until_both_are_relaunched():
    d = graph({}, {}, {"required_task_ids": [1, 2]})
    finish(d, 1, 1)
    finish(d, 2, 1)
    assert d.state.tasks[3].blocked_by == 1
    d.command("task.relaunch", c.TaskIds(task_ids=[1]))
    assert (d.state.tasks[3].status, d.state.tasks[3].blocked_by) == ("blocked", 2)
    d.command("task.relaunch", c.TaskIds(task_ids=[2]))
    assert status(d, 3) == ["waiting"]


def test_a_task_that_accepts_failure_is_released_once_every_parent_ended_even_badly():
    d = graph({}, {}, {"required_task_ids": [1, 2], "accept_failure": True}, {"required_task_ids": [3]})
    assert finish(d, 1, 1) == ["execution.finished", "task.failed"]
    assert status(d, 3) == ["waiting"]
    assert finish(d, 2, 0) == ["execution.finished", "task.succeeded", "task.released"]
    assert status(d, 3, 4) == ["pending", "waiting"]


def test_a_user_marking_the_failed_parent_succeeded_releases_its_dependants():
    d = graph({}, {"required_task_ids": [1]})
    finish(d, 1, 1)
    d.command("task.set_status", c.SetStatus(task_id=1, status="succeeded"))
    assert tags(d.take()[0]) == ["task.status_set", "task.unblocked", "task.released"]
    assert status(d, 2) == ["pending"]


def test_setting_a_task_waiting_after_its_parents_succeeded_releases_it_at_once():
    d = graph({}, {"required_task_ids": [1]})
    finish(d, 1, 0)
    finish(d, 2, 0)
    d.command("task.set_status", c.SetStatus(task_id=2, status="waiting"))
    assert tags(d.take()[0]) == ["task.status_set", "task.released"]
    assert status(d, 2) == ["pending"]


def test_a_task_submitted_after_its_parent_failed_is_blocked_at_once():
    d = graph({})
    finish(d, 1, 3)
    d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command="echo", required_task_ids=[1])]))
    assert tags(d.take()[0]) == ["task.submitted", "task.blocked"]
    assert d.state.tasks[2].blocked_by == 1


def test_new_requirements_replace_the_old_ones_while_the_task_waits_or_is_blocked():
    d = graph({}, {}, {"required_task_ids": [1]})
    finish(d, 1, 1)
    assert status(d, 3) == ["blocked"]
    d.command("task.update", c.UpdateTask(task_id=3, changes={"required_task_ids": [2]}))
    assert tags(d.take()[0]) == ["task.updated", "task.unblocked"]
    assert status(d, 3) == ["waiting"] and d.state.dependents[1] == set()
    finish(d, 2, 0)
    assert status(d, 3) == ["pending"]
    d2 = graph({}, {"required_task_ids": [1]})
    finish(d2, 1, 0)
    d2.command("task.set_status", c.SetStatus(task_id=2, status="waiting"))
    d2.command("task.update", c.UpdateTask(task_id=2, changes={"required_task_ids": []}))
    assert status(d2, 2) == ["pending"], "no requirement left: it is released"


def test_a_long_chain_is_blocked_and_unblocked_whole_without_recursion():
    n = 3000
    d = graph({}, *({"required_task_ids": [i]} for i in range(1, n)))
    finish(d, 1, 1)
    assert d.state.batches["Default"].counts["blocked"] == n - 1
    d.command("task.relaunch", c.TaskIds(task_ids=[1]))
    assert d.state.batches["Default"].counts["waiting"] == n - 1


def test_a_gather_is_not_released_when_a_parent_it_saw_succeed_was_relaunched_meanwhile():
    """The requirements known done are not read again after each success; a relaunch forgets that."""
    d = graph({}, {}, {}, {"required_task_ids": [1, 2, 3]})
    finish(d, 1, 0)
    finish(d, 2, 0)
    d.command("task.relaunch", c.TaskIds(task_ids=[1]))
    finish(d, 3, 0)
    assert status(d, 4) == ["waiting"]
    finish(d, 1, 0)
    assert status(d, 4) == ["pending"]
