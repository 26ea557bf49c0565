"""The server's compact bookkeeping of running tasks behaves as the set and dict it stands for."""

from __future__ import annotations

import msgspec

from scitq.projections.archive import decode_state, encode_state
from scitq.projections.state import HeldTasks, State, Task, TaskExecutions, Worker


def _task(tid: int, execution_id: int | None = None) -> Task:
    return Task(command="true", task_id=tid, batch="b", status="running" if execution_id else "pending",
                creation_date=1.0, modification_date=1.0, status_date=1.0, execution_id=execution_id)


def test_the_tasks_a_worker_holds_answer_as_the_set_of_their_ids_in_order():
    """Given ids added out of order, twice, and some discarded (one never held), the held tasks are the
    set of the others: membership, length, truth, equality with a set, iteration in increasing order."""
    held = HeldTasks()
    assert not held and len(held) == 0 and held == set() and 3 not in held
    for tid in (5, 2, 9, 2, 7, 11, 1):
        held.add(tid)
    held.discard(9)
    held.discard(4)
    assert list(held) == [1, 2, 5, 7, 11] and len(held) == 5 and held
    assert held == {1, 2, 5, 7, 11} and held != {1, 2} and 7 in held and 9 not in held and "7" not in held
    assert HeldTasks([3, 1, 3]) == HeldTasks([1, 3]) and sorted(HeldTasks([3, 1])) == [1, 3]


def test_a_worker_made_or_decoded_with_a_set_of_held_tasks_holds_them_compactly():
    w = Worker(worker_id=1, name="w", status="running", concurrency=1, creation_date=1.0, modification_date=1.0, held={4, 2})
    assert isinstance(w.held, HeldTasks) and list(w.held) == [2, 4]
    assert isinstance(Worker(worker_id=2, name="v", status="running", concurrency=1, creation_date=1.0,
                             modification_date=1.0).held, HeldTasks)


def test_a_task_whose_only_execution_is_its_current_one_has_no_list_of_its_own():
    """Given tasks with one execution, none, a relaunched one and one listed with none in memory, the
    executions read as the dict of their lists, and only the relaunched and the empty one take an entry."""
    tasks = {1: _task(1, 10), 2: _task(2), 3: _task(3, 31), 4: _task(4, 40)}
    te = TaskExecutions(tasks, {1: [10], 3: [30, 31], 4: []})
    assert te.more == {3: [30, 31], 4: []}
    assert dict(te.items()) == {1: [10], 3: [30, 31]} and te == {1: [10], 3: [30, 31]}
    assert te.get(2, ()) == () and 2 not in te and 4 not in te and te[1] == [10] and len(te) == 2
    # a new attempt of task 1, then of task 2: listed oldest first, the second with no entry of its own
    ids = [*te.get(1, ()), 11]
    tasks[1].execution_id = 11
    te[1] = ids
    ids = [*te.get(2, ()), 20]
    tasks[2].execution_id = 20
    te[2] = ids
    assert te[1] == [10, 11] and te[2] == [20] and 2 not in te.more
    # forgotten as the task leaves
    assert te.pop(3) == [30, 31] and te.pop(2) == [20] and te.pop(99, []) == []
    del tasks[3], tasks[2]
    assert dict(te.items()) == {1: [10, 11]}


def test_a_snapshot_of_the_state_keeps_the_held_tasks_and_the_executions_of_each_task():
    """A state written to an archive snapshot and read back holds the same held tasks and executions."""
    state = State(tasks={1: _task(1, 10), 2: _task(2, 21)}, task_executions={1: [10], 2: [20, 21]})
    state.workers[1] = Worker(worker_id=1, name="w", status="running", concurrency=1, creation_date=1.0,
                              modification_date=1.0, held={1, 2})
    back = decode_state(encode_state(state))
    assert back.task_executions == {1: [10], 2: [20, 21]} and back.task_executions.more == {2: [20, 21]}
    assert isinstance(back.workers[1].held, HeldTasks) and back.workers[1].held == {1, 2}


def test_an_execution_reads_its_workers_stream_without_holding_a_string_of_its_own_for_it():
    """An execution whose stream is its worker's stream of the attempt holds no string for it, yet reads,
    compares and writes its views as before; another stream is held as given, and none stays none."""
    from scitq import keys
    from scitq.projections.state import Execution, compact_execution
    from scitq.projections.views import execution_hash

    def ex(**kw):
        return Execution(execution_id=7, task_id=3, worker_id=1, worker="w1", attempt=2, status="running",
                         creation_date=1.0, modification_date=1.0, start_date=2.0, **kw)

    mine = keys.worker_output("w1", 3, 2)
    a = ex()
    a.stream = mine
    assert a.stream == mine and msgspec.structs.asdict(a)["stream"] == ""
    b = compact_execution(ex(stream=mine), None)     # as read back from its view
    assert b.stream == mine and msgspec.structs.asdict(b)["stream"] == ""
    assert "stream" not in execution_hash(a)
    other = ex(stream="scitq:elsewhere")
    other.stream = other.stream
    assert other.stream == "scitq:elsewhere" and execution_hash(other)["stream"] == "scitq:elsewhere"
    none = ex()
    assert none.stream is None and execution_hash(none)["stream"] == ""
