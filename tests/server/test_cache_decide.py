"""Caching in the pure core: a succeeded execution with an input hash is indexed; a cached report ends the
attempt as `execution.cached` with no worker; the index follows deletions. No Redis here."""

from __future__ import annotations

from scitq.events import commands as c
from scitq.projections.state import State
from scitq.server.decide import Decider


def tags(events) -> list[str]:
    return [e.__struct_config__.tag for e in events]


def decider(tasks: int, **spec) -> Decider:
    d = Decider(State())
    d.now = 1000.0
    d.command("worker.register", c.RegisterWorker(name="w1", concurrency=1, incarnation="i1"))
    d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command="echo", **spec) for _ in range(tasks)]))
    d.take()
    return d


def claimed(d: Decider, task_id: int) -> None:
    d.dispatch()
    d.fact("w1", "claimed", c.Claimed(task_id=task_id, attempt=1), "i1")
    d.take()


def test_a_succeeded_execution_with_an_input_hash_is_indexed_under_it():
    d = decider(1, use_cache=True)
    claimed(d, 1)
    d.fact("w1", "started", c.Started(task_id=1, attempt=1, command="echo", output="file:///o/"), "i1")
    d.fact("w1", "finished", c.Finished(task_id=1, attempt=1, return_code=0, input_hash="h1",
                                        output_listing={"a.txt": 3}), "i1")
    d.take()
    assert d.state.cache == {"h1": 1}
    ex = d.state.executions[1]
    assert (ex.input_hash, ex.output_listing) == ("h1", {"a.txt": 3})


def test_a_failed_execution_is_not_indexed():
    d = decider(1, use_cache=True)
    claimed(d, 1)
    d.fact("w1", "finished", c.Finished(task_id=1, attempt=1, return_code=1, input_hash="h1"), "i1")
    d.take()
    assert d.state.cache == {}


def test_a_cached_report_records_an_execution_with_no_worker_and_the_task_succeeded():
    d = decider(2, use_cache=True)
    claimed(d, 1)
    d.fact("w1", "finished", c.Finished(task_id=1, attempt=1, return_code=0, input_hash="h1"), "i1")
    d.take()
    claimed(d, 2)
    d.fact("w1", "finished", c.Finished(task_id=2, attempt=1, return_code=0, input_hash="h1", cached_from=1), "i1")
    events, _ = d.take()
    assert tags(events) == ["execution.output_opened", "execution.cached", "task.succeeded"]
    ex = d.state.executions[2]
    assert (ex.status, ex.worker, ex.worker_id, ex.cached_from) == ("succeeded", None, None, 1)
    assert ex.stream == "scitq:worker:w1:out:2:1"   # where the worker wrote `Cached from execution 1`
    assert d.state.tasks[2].status == "succeeded" and d.state.workers[1].held == set()
    d.fact("w1", "finished", c.Finished(task_id=2, attempt=1, return_code=0, input_hash="h1", cached_from=1), "i1")
    assert d.take()[0] == []   # a report sent twice is applied once


def test_a_cached_report_for_a_task_without_use_cache_is_rejected():
    d = decider(1)
    claimed(d, 1)
    d.fact("w1", "finished", c.Finished(task_id=1, attempt=1, return_code=0, cached_from=7), "i1")
    events, _ = d.take()
    assert tags(events) == ["report.rejected"] and d.state.tasks[1].status == "assigned"


def test_deleting_the_task_of_an_indexed_execution_drops_it_from_the_index():
    d = decider(1, use_cache=True)
    claimed(d, 1)
    d.fact("w1", "finished", c.Finished(task_id=1, attempt=1, return_code=0, input_hash="h1"), "i1")
    d.take()
    d.command("task.delete", c.TaskIds(task_ids=[1]))
    d.take()
    assert d.state.cache == {} and d.state.dirty_cache == {"h1"}
