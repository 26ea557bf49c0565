"""The pure core, fast: given a state, a command or a worker report gives these events and these effects.

No Redis here: the Decider and evolve run in memory, and every effect (queue entries, acks, orders to
workers) is asserted, not thrown away.
"""

from __future__ import annotations

import msgspec
import pytest

from scitq.errors import BadInput, Conflict
from scitq.events import commands as c
from scitq.events.model import TASK_FIELDS, TaskFields, TaskPatch, WORKER_FIELDS
from scitq.events.task import TaskSubmitted
from scitq.events.worker import WorkerRegistered
from scitq.projections.state import State, Task, Worker
from scitq.projections.views import decode_task, task_hash
from scitq.server.decide import BATCH_GO_SIGNALS, BATCH_STOP_SIGNALS, TASK_SIGNALS, Decider


def tags(events) -> list[str]:
    return [e.__struct_config__.tag for e in events]


def effects(effs) -> list[tuple]:
    return [(e.kind, e.target, e.fields) for e in effs]


def decider(*, worker: str | None = "w1", tasks: int = 0, **spec) -> Decider:
    """A Decider over a fresh state: one running worker (concurrency 1) and `tasks` pending tasks."""
    d = Decider(State())
    d.now = 1000.0
    if worker:
        d.command("worker.register", c.RegisterWorker(name=worker, concurrency=1, incarnation="i1"))
    if tasks:
        d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command=f"echo {i}", **spec) for i in range(tasks)]))
    d.take()
    return d


def running(d: Decider, task_id: int = 1, worker: str = "w1") -> None:
    """Bring task `task_id` to running on `worker` (dispatch, claim, start), forgetting what it emitted."""
    d.dispatch()
    d.fact(worker, "claimed", c.Claimed(task_id=task_id, attempt=1), "i1")
    d.fact(worker, "started", c.Started(task_id=task_id, attempt=1, command="echo"), "i1")
    d.take()


# --- commands: (setup, command) -> events, effects ---------------------------------------------------
def test_a_submission_creates_its_batch_and_the_task_with_every_field_given():
    d = decider(worker=None)
    result = d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command="echo hi", batch="b", retry=2,
                                                                      input="s3://bucket/a", use_cache=None)]))
    events, effs = d.take()
    assert result == {"task_ids": [1]}
    assert tags(events) == ["batch.created", "task.submitted"] and effs == []
    sub = events[1]
    assert (sub.batch, sub.retry, sub.input, sub.use_cache, sub.status) == ("b", 2, "s3://bucket/a", False, "pending")


def test_dispatch_puts_pending_tasks_in_the_queue_up_to_the_workers_room():
    d = decider(tasks=3)            # one worker, concurrency 1, prefetch 0: room for one
    d.dispatch()
    events, effs = d.take()
    assert tags(events) == ["task.dispatched"]
    assert effects(effs) == [("queue", "Default", {"task": "1", "attempt": "1",
                                                   "run": '{"mod":1000.0,"command":"echo 0"}'})]


def test_a_task_with_inputs_is_queued_marked_for_prefetch():
    d = decider(tasks=1, input="s3://bucket/x")
    d.dispatch()
    assert effects(d.take()[1]) == [("queue", "Default", {
        "task": "1", "attempt": "1", "data": "1", "run": '{"mod":1000.0,"command":"echo 0","input":"s3://bucket/x"}'})]


def test_a_claim_is_applied_and_its_queue_entry_acknowledged():
    d = decider(tasks=1)
    d.dispatch()
    d.take()
    d.fact("w1", "claimed", c.Claimed(task_id=1, attempt=1, entry="5-0", queue="Default"), "i1")
    events, effs = d.take()
    assert tags(events) == ["execution.claimed"]
    assert effects(effs) == [("ack", "Default", {"id": "5-0"})]
    assert d.state.tasks[1].status == "assigned" and d.state.workers[1].held == {1}


def test_a_started_report_carrying_its_queue_entry_is_the_claim_and_the_start_in_one_event():
    d = decider(tasks=1)
    d.dispatch()
    d.take()
    d.fact("w1", "started", c.Started(task_id=1, attempt=1, command="echo 0", entry="5-0", queue="Default"), "i1")
    events, effs = d.take()
    assert tags(events) == ["execution.started"]
    started = events[0]
    assert (started.attempt, started.worker, started.worker_id, started.command) == (1, "w1", 1, "echo 0")
    assert effects(effs) == [("ack", "Default", {"id": "5-0"})]
    t, ex = d.state.tasks[1], d.state.executions[started.execution_id]
    assert t.status == "running" and not t.queued and d.state.workers[1].held == {1}
    assert (ex.status, ex.attempt, ex.stream) == ("running", 1, "scitq:worker:w1:out:1:1")


def test_an_older_worker_claims_then_starts_and_the_start_implies_the_output_stream():
    d = decider(tasks=1)
    d.dispatch()
    d.take()
    d.fact("w1", "claimed", c.Claimed(task_id=1, attempt=1, entry="5-0", queue="Default"), "i1")
    d.fact("w1", "started", c.Started(task_id=1, attempt=1, command="echo 0"), "i1")
    events, _ = d.take()
    assert tags(events) == ["execution.claimed", "execution.started"]
    assert events[1].attempt is None
    assert d.state.executions[events[0].execution_id].stream == "scitq:worker:w1:out:1:1"


def test_a_started_report_claiming_an_attempt_not_on_offer_is_rejected_acknowledged_and_cancelled():
    d = decider(tasks=1)
    d.fact("w1", "started", c.Started(task_id=1, attempt=3, command="x", entry="6-0", queue="Default"), "i1")
    events, effs = d.take()
    assert tags(events) == ["report.rejected"]
    assert effects(effs) == [("ack", "Default", {"id": "6-0"}),
                             ("control", "w1", {"op": "cancel", "task": "1", "attempt": "3"})]
    assert d.state.tasks[1].status == "pending" and not d.state.executions


def test_a_claim_of_an_attempt_not_on_offer_is_rejected_acknowledged_and_cancelled():
    d = decider(tasks=1)
    d.fact("w1", "claimed", c.Claimed(task_id=1, attempt=3, entry="6-0", queue="Default"), "i1")
    events, effs = d.take()
    assert tags(events) == ["report.rejected"]
    assert effects(effs) == [("ack", "Default", {"id": "6-0"}),
                             ("control", "w1", {"op": "cancel", "task": "1", "attempt": "3"})]


@pytest.mark.parametrize("rc, outcome", [(0, "task.succeeded"), (1, "task.failed")])
def test_a_finished_report_ends_the_attempt_with_its_outcome(rc, outcome):
    d = decider(tasks=1)
    running(d)
    d.fact("w1", "finished", c.Finished(task_id=1, attempt=1, return_code=rc), "i1")
    events, effs = d.take()
    assert tags(events) == ["execution.finished", outcome]
    # the worker's final report: its output (sent before it) is packed after the commit
    stream = d.state.current_execution(d.state.tasks[1]).stream
    assert stream and effects(effs) == [("pack", "Default", {"task": "1", "attempt": "1", "stream": stream})]
    assert d.state.workers[1].held == set()


def test_a_failed_attempt_with_retries_left_is_retried():
    d = decider(tasks=1, retry=1)
    running(d)
    d.fact("w1", "finished", c.Finished(task_id=1, attempt=1, return_code=2), "i1")
    events, _ = d.take()
    assert tags(events) == ["execution.finished", "task.retried"]
    assert d.state.tasks[1].retry == 0 and d.state.tasks[1].status == "pending"


def test_a_signal_to_a_running_task_is_an_order_to_its_worker():
    d = decider(tasks=1)
    running(d)
    d.command("task.signal", c.SignalTask(task_id=1, signal=15))
    events, effs = d.take()
    assert tags(events) == ["task.signalled"]
    assert effects(effs) == [("control", "w1", {"op": "signal", "task": "1", "attempt": "1", "signal": "15"})]


@pytest.mark.parametrize("tag, make, allowed", [
    ("task.signal", lambda s: c.SignalTask(task_id=1, signal=s), TASK_SIGNALS),
    ("batch.stop", lambda s: c.BatchCmd(batch="Default", signal=s), BATCH_STOP_SIGNALS),
    ("batch.go", lambda s: c.BatchCmd(batch="Default", signal=s), BATCH_GO_SIGNALS),
])
def test_the_signals_a_refusal_lists_are_exactly_the_signals_accepted(tag, make, allowed):
    for signal in range(-1, 32):
        d = decider(tasks=1)
        running(d)
        try:
            d.command(tag, make(signal))
        except BadInput as exc:
            assert signal not in allowed
            listed = {int(x) for x in exc.message.split("is not one of ")[1].split(", ")}
            assert listed == set(allowed)
        else:
            assert signal in allowed


def test_stopping_a_batch_withdraws_its_queued_tasks_and_purges_its_queue():
    d = decider(tasks=2)
    d.dispatch()
    d.take()
    d.command("batch.stop", c.BatchCmd(batch="Default"))
    events, effs = d.take()
    assert tags(events) == ["batch.paused", "task.requeued"]
    assert effects(effs) == [("purge", "Default", {})]


def test_deleting_a_worker_cancels_and_requeues_what_it_holds():
    d = decider(tasks=1)
    running(d)
    d.command("worker.delete", c.WorkerId(worker_id=1))
    events, effs = d.take()
    assert tags(events) == ["execution.refused", "task.requeued", "worker.deleted"]
    assert effects(effs) == [("control", "w1", {"op": "cancel", "task": "1", "attempt": "1"})]


# --- validation where data enters the server ---------------------------------------------------------
@pytest.mark.parametrize("field, value, message", [
    ("input", "s3:/bad", "Defect in input"),
    ("output", "s3://", "Defect in output"),
    ("resource", "ftp:/x", "Defect in resource"),
    ("container_options", "--bogus 1", "container option --bogus"),
    ("container_options", "--shm-size lots", "container option --shm-size"),
    ("command", "  ", "empty command"),
])
def test_the_server_refuses_bad_uris_and_options_in_a_submission_and_changes_nothing(field, value, message):
    d = decider(worker=None)
    spec = {"command": "echo", "container": "alpine", field: value}
    with pytest.raises(BadInput, match=message):
        d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(**spec)]))
    assert d.take() == ([], []) and d.state.tasks == {}


def test_the_server_refuses_a_bad_uri_in_an_edit_too():
    d = decider(worker=None, tasks=1)
    with pytest.raises(BadInput, match="Defect in input"):
        d.command("task.update", c.UpdateTask(task_id=1, changes={"input": "s3:/x"}))
    assert d.take() == ([], [])


def test_an_edit_changes_only_the_fields_given_and_null_means_the_default():
    d = decider(worker=None, tasks=1, name="n", retry=3)
    d.command("task.update", c.UpdateTask(task_id=1, changes={"name": None, "retry": None, "run_timeout": 5}))
    events, _ = d.take()
    assert tags(events) == ["task.updated"]
    assert events[0].changes == {"name": None, "retry": 0, "run_timeout": 5}
    t = d.state.tasks[1]
    assert (t.name, t.retry, t.run_timeout, t.command) == (None, 0, 5, "echo 0")


def test_an_edit_naming_an_unknown_field_is_refused():
    d = decider(worker=None, tasks=1)
    with pytest.raises(BadInput, match="colour"):
        d.command("task.update", c.UpdateTask(task_id=1, changes={"colour": "blue"}))


# --- the worker's description --------------------------------------------------------------------
def test_a_worker_registers_with_its_flavor_and_permanence_defaulting_like_v1():
    d = decider(worker=None)
    d.command("worker.register", c.RegisterWorker(name="w", concurrency=2, batch=None))
    w = d.state.workers[1]
    assert (w.flavor, w.permanent, w.task_properties, w.batch) == ("local", True, {}, "Default")


def test_a_worker_edit_sets_hostname_flavor_permanent_and_task_properties():
    d = decider()
    d.command("worker.update", c.UpdateWorker(worker_id=1, hostname="h2", flavor="b2-7", permanent=False,
                                              task_properties={"b": [1, 2]}, concurrency=None))
    events, _ = d.take()
    assert tags(events) == ["worker.updated"]
    w = d.state.workers[1]
    assert (w.hostname, w.flavor, w.permanent, w.task_properties, w.concurrency) == ("h2", "b2-7", False,
                                                                                      {"b": [1, 2]}, 1)


def test_a_worker_comes_back_keeping_what_users_set():
    d = decider()
    d.command("worker.update", c.UpdateWorker(worker_id=1, flavor="big", permanent=False))
    d.command("worker.register", c.RegisterWorker(name="w1", hostname="h3", concurrency=9, incarnation="i2"))
    w = d.state.workers[1]
    assert (w.flavor, w.permanent, w.hostname, w.concurrency) == ("big", False, "h3", 1)


def test_a_running_worker_is_not_renamed_but_an_offline_one_is():
    d = decider()
    with pytest.raises(Conflict, match="renamed while it is offline"):
        d.command("worker.update", c.UpdateWorker(worker_id=1, name="w9"))
    d.worker_liveness({}, lost_after=600)                   # its alive key is gone: offline
    d.command("worker.update", c.UpdateWorker(worker_id=1, name="w9"))
    assert d.state.workers[1].name == "w9" and d.state.worker_ids == {"w9": 1}
    d.command("worker.register", c.RegisterWorker(name="w2", concurrency=1))
    with pytest.raises(Conflict, match="already a worker named 'w2'"):
        d.command("worker.update", c.UpdateWorker(worker_id=1, name="w2"))


# --- one declaration --------------------------------------------------------------------------------
def test_every_shape_of_the_task_has_the_fields_declared_once_in_task_fields():
    def names(cls):
        return {f.name for f in msgspec.structs.fields(cls)}
    declared = set(TASK_FIELDS)
    assert names(c.TaskSpec) == declared | {"batch", "status"}
    assert names(TaskPatch) == declared | {"batch", "status"}
    assert names(TaskSubmitted) - names(TaskFields) == {"ts", "task_id", "batch", "status"}
    assert declared <= names(Task)
    t = Task(task_id=1, batch="b", status="pending", creation_date=1.0, modification_date=1.0, status_date=1.0,
             command="echo", required_task_ids=[2], use_cache=True, uid=4)
    assert decode_task(task_hash(t), 1).to_dict() == {k: v for k, v in msgspec.structs.asdict(t).items() if k != "indexed"}


def test_every_shape_of_the_worker_has_the_fields_declared_once_in_worker_fields():
    assert set(WORKER_FIELDS) <= {f.name for f in msgspec.structs.fields(c.RegisterWorker)}
    assert set(WORKER_FIELDS) <= {f.name for f in msgspec.structs.fields(WorkerRegistered)}
    assert set(WORKER_FIELDS) <= {f.name for f in msgspec.structs.fields(Worker)}


# --- no task stuck: liveness, batch moves, retries, stale attempts, the holding report ----------------
def test_a_paused_worker_gone_silent_goes_offline_and_comes_back_paused():
    d = decider()
    d.command("worker.update", c.UpdateWorker(worker_id=1, status="paused"))
    d.take()
    d.worker_liveness({"w1": False}, lost_after=600)
    assert tags(d.take()[0]) == ["worker.offline"]
    d.worker_liveness({"w1": True}, lost_after=600)
    assert tags(d.take()[0]) == ["worker.online"]
    assert d.state.workers[1].status == "paused"


def test_a_lost_worker_is_ordered_to_stop_each_attempt_it_held():
    d = decider(tasks=1)
    running(d)
    d.worker_liveness({"w1": False}, lost_after=0)
    d.worker_liveness({"w1": False}, lost_after=0)
    events, effs = d.take()
    assert tags(events) == ["worker.offline", "worker.lost", "execution.refused", "task.requeued"]
    assert effects(effs) == [("control", "w1", {"op": "cancel", "task": "1", "attempt": "1"})]


def test_a_queued_task_moved_to_another_batch_leaves_its_queue_and_a_claim_from_the_old_one_is_refused():
    d = decider(tasks=1)
    d.dispatch()
    d.take()
    d.command("task.update", c.UpdateTask(task_id=1, changes={"batch": "b"}))
    assert tags(d.take()[0]) == ["batch.created", "task.requeued", "task.updated"]
    d.fact("w1", "claimed", c.Claimed(task_id=1, attempt=1, entry="5-0", queue="Default"), "i1")
    events, effs = d.take()
    assert tags(events) == ["report.rejected"] and d.state.tasks[1].status == "pending"
    assert ("control", "w1", {"op": "cancel", "task": "1", "attempt": "1"}) in effects(effs)


def test_a_worker_moved_to_another_batch_gives_back_what_it_holds_not_started():
    d = decider(tasks=1)
    d.dispatch()
    d.fact("w1", "claimed", c.Claimed(task_id=1, attempt=1), "i1")
    d.take()
    d.command("worker.update", c.UpdateWorker(worker_id=1, batch="b"))
    events, effs = d.take()
    assert tags(events) == ["worker.batch_changed", "execution.refused", "task.requeued"]
    assert effects(effs) == [("control", "w1", {"op": "cancel", "task": "1", "attempt": "1"})]
    assert d.state.tasks[1].worker is None and not d.state.workers[1].held


def test_a_retried_failure_starts_the_quarantine_count_again():
    d = decider(tasks=1, retry=10)
    for attempt in range(1, 12):
        d.dispatch()
        d.fact("w1", "claimed", c.Claimed(task_id=1, attempt=attempt), "i1")
        d.fact("w1", "started", c.Started(task_id=1, attempt=attempt, command="false"), "i1")
        d.fact("w1", "finished", c.Finished(task_id=1, attempt=attempt, return_code=1), "i1")
    assert d.state.tasks[1].status == "failed" and "task.quarantined" not in tags(d.take()[0])


def test_a_report_from_a_previous_run_of_the_worker_is_rejected_and_its_attempt_ordered_stopped():
    d = decider(tasks=1)
    running(d)
    d.fact("w1", "accepted", c.Accepted(task_id=1, attempt=1), "old-run")
    events, effs = d.take()
    assert tags(events) == ["report.rejected"]
    assert effects(effs) == [("control", "w1", {"op": "cancel", "task": "1", "attempt": "1"})]


def test_the_holding_report_orders_a_stale_attempt_stopped_and_records_it_once():
    d = decider(tasks=1)
    running(d)
    d.command("task.relaunch", c.TaskIds(task_ids=[1]))
    d.take()
    for _ in range(2):
        d.fact("w1", "holding", c.Holding(held=[(1, 1)]), "i1")
    events, effs = d.take()
    assert tags(events) == ["report.rejected"]
    assert effects(effs) == [("control", "w1", {"op": "cancel", "task": "1", "attempt": "1"})] * 2


def test_the_holding_report_requeues_an_attempt_missing_twice_in_a_row_only():
    d = decider(tasks=1)
    running(d)
    d.fact("w1", "holding", c.Holding(held=[]), "i1")
    d.fact("w1", "holding", c.Holding(held=[(1, 1)]), "i1")
    d.fact("w1", "holding", c.Holding(held=[]), "i1")
    assert d.take()[0] == [], "a single miss is within the grace"
    d.fact("w1", "holding", c.Holding(held=[]), "i1")
    events, effs = d.take()
    assert tags(events) == ["execution.refused", "task.requeued"] and d.state.tasks[1].status == "pending"
    assert effects(effs) == [("control", "w1", {"op": "cancel", "task": "1", "attempt": "1"})]


def test_a_holding_report_of_a_previous_run_changes_nothing():
    d = decider(tasks=1)
    running(d)
    for _ in range(3):
        d.fact("w1", "holding", c.Holding(held=[(7, 1)]), "old-run")
    assert d.take() == ([], [])


# --- timeouts: only the attempts due are looked at ------------------------------------------------------
def test_a_run_timeout_fails_the_attempt_once_due_and_not_before():
    d = decider(tasks=1, run_timeout=10)
    running(d)
    d.now += 10 + 29
    d.timeouts()
    assert d.take() == ([], [])
    d.now += 2
    d.timeouts()
    events, effs = d.take()
    assert tags(events) == ["task.timed_out", "execution.refused", "task.failed"]
    assert effects(effs)[0][0] == "control" and d.state.deadlines == []


def test_the_timeout_check_looks_only_at_the_attempts_due_not_at_every_task():
    """Given 2,000 running tasks none of them due, the check reads only the head of the deadline heap."""
    d = Decider(State())
    d.now = 1000.0
    d.command("worker.register", c.RegisterWorker(name="w1", concurrency=2000, incarnation="i1"))
    d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command="x", run_timeout=60 + i) for i in range(2000)]))
    d.dispatch()
    for tid in range(1, 2001):
        d.fact("w1", "claimed", c.Claimed(task_id=tid, attempt=1), "i1")
        d.fact("w1", "started", c.Started(task_id=tid, attempt=1, command="x"), "i1")
    d.take()

    class Counting(dict):
        reads = 0

        def get(self, key, default=None):
            Counting.reads += 1
            return super().get(key, default)
    d.state.tasks = Counting(d.state.tasks)
    d.now += 100        # only the first 11 are due (60..70 s + 30 s grace)
    d.timeouts()
    events, _ = d.take()
    assert len([e for e in events if tags([e]) == ["task.timed_out"]]) == 11
    assert Counting.reads < 100       # the due ones and their events, not the 2,000


def test_a_paused_attempt_past_its_timeout_is_kept_for_when_it_runs_again():
    d = decider(tasks=1, run_timeout=10)
    running(d)
    d.command("task.set_status", c.SetStatus(task_id=1, status="paused"))
    d.take()
    d.now += 100
    d.timeouts()
    assert d.take() == ([], [])
    d.command("task.set_status", c.SetStatus(task_id=1, status="pending"))   # resumed: runs again
    d.take()
    d.timeouts()
    assert "task.timed_out" in tags(d.take()[0])
