"""The views read back as typed Structs derived from the model (pure: no Redis, the hashes are what the
server writes)."""

from __future__ import annotations

import msgspec
import pytest

from scitq import keys
from scitq.events.model import TASK_FIELDS, WORKER_FIELDS
from scitq.projections.state import Batch, Execution, Task, Worker
from scitq.projections.views import (
    BatchView, ExecutionView, TaskView, WorkerView, batch_hash, decode_batch, decode_execution, decode_task,
    bitmap_ids, decode_worker, execution_hash, needs_task_command, task_execution_ids, task_hash, worker_hash,
)



def _written(x) -> dict:
    """A task's or an execution's fields as its view holds them: all but `indexed` (the writer's bookkeeping)."""
    return {k: v for k, v in msgspec.structs.asdict(x).items() if k != "indexed"}

def test_a_task_view_reads_back_every_field_of_the_task_with_its_declared_type():
    task = Task(task_id=9, command="echo x", name="n", batch="b", status="pending", creation_date=1.5, modification_date=2.0,
                status_date=2.5, required_task_ids=[1, 2], retry=3, use_cache=True, uid=1000, attempt=2)
    view = decode_task(task_hash(task), 9)
    assert isinstance(view, TaskView) and set(TASK_FIELDS) <= set(view.keys())
    assert msgspec.structs.asdict(view) == _written(task)
    assert (view.status, view.required_task_ids, view.use_cache, view.uid) == ("pending", [1, 2], True, 1000)


def test_a_view_with_a_status_the_model_does_not_know_is_refused_rather_than_passed_on_as_a_string():
    with pytest.raises(msgspec.ValidationError, match="status"):
        decode_task({"task_id": "1", "status": "exploded"})


def test_a_partial_read_gives_the_fields_asked_for_and_the_defaults_of_the_others():
    view = decode_task({"status": "running", "attempt": "2"})
    assert (view.status, view.attempt, view.task_id, view.required_task_ids) == ("running", 2, None, [])


def test_the_execution_worker_and_batch_views_read_back_typed():
    ex = Execution(execution_id=4, task_id=1, worker_id=2, worker="w", attempt=1, status="failed",
                   creation_date=1.0, modification_date=2.0, return_code=-1000, output_files=["a", "b"])
    e = decode_execution(execution_hash(ex), 4)
    assert isinstance(e, ExecutionView)
    assert (e.status, e.return_code, e.output_files, e.latest) == ("failed", -1000, "a b", True)

    w = decode_worker(worker_hash(Worker(worker_id=2, name="w", status="paused", creation_date=1.0,
                                         modification_date=1.0, concurrency=3, permanent=False,
                                         task_properties={"b": [1]}, held={7, 8})))
    assert isinstance(w, WorkerView) and set(WORKER_FIELDS) <= set(w.keys())
    assert (w.status, w.concurrency, w.permanent, w.task_properties, w.held) == ("paused", 3, False, {"b": [1]}, 2)
    assert w.load is None and w.running == 0            # the heartbeat figures come from Client.workers()

    b = decode_batch(batch_hash(Batch(name="b", creation_date=1.0, paused=True, counts={"pending": 2})))
    assert isinstance(b, BatchView)
    assert (b.batch, b.batch_paused, b.pending, b.running, b.queued) == ("b", True, 2, 0, 0)


def test_a_view_also_reads_as_a_read_only_mapping_for_dict_style_callers():
    view = decode_task({"task_id": "5", "status": "pending", "command": "ls"})
    assert view["status"] == "pending" and view.get("nothing", "?") == "?" and "command" in view
    assert dict(view)["task_id"] == 5 and {**view}["command"] == "ls" and view.to_dict()["task_id"] == 5
    with pytest.raises(KeyError):
        view["nothing"]
    with pytest.raises(TypeError):
        view["status"] = "failed"


@pytest.mark.parametrize("status", ["pending", "running", "succeeded", "failed"])
def test_a_task_view_omits_what_its_defaults_and_other_fields_say_and_reads_back_the_same(status):
    plain = Task(task_id=3, command="true", batch="b", status=status, creation_date=1.0, modification_date=5.0,
                 status_date=5.0, attempt=1, execution_id=7)
    rich = Task(task_id=4, command="true", batch="b", status=status, creation_date=1.0, modification_date=5.0,
                status_date=4.0, attempt=2, execution_id=9, retry=2, deliveries=1, queued=True, worker="w",
                required_task_ids=[1], name="n", container="c")
    for task, execs in ((plain, [7]), (rich, [8, 9]), (plain, [])):
        h = task_hash(task, execs)
        assert msgspec.structs.asdict(decode_task(h, task.task_id)) == _written(task)
        assert task_execution_ids(h) == execs
        assert "use_cache" not in h and "required_task_ids" not in h or task is rich
    h = task_hash(plain, [7])
    if status in ("succeeded", "failed"):        # a finished task: the fewest fields
        assert set(h) == {"command", "batch", "status", "creation_date", "modification_date",
                          "attempt", "execution_id"}       # no `task_id`: the key gives it
    else:                                         # a live task writes what changes without an edit
        assert {"retry", "queued", "deliveries", "status_date", "executions"} <= set(h)


def test_an_execution_view_derives_its_output_stream_and_dates_and_reads_back_the_same():
    base = dict(execution_id=4, task_id=1, worker_id=2, worker="w", attempt=3, status="succeeded",
                creation_date=1.0, modification_date=2.0)
    cases = [
        Execution(**base, start_date=1.0, stream=keys.worker_output("w", 1, 3)),    # derived: omitted
        Execution(**base, start_date=1.5, stream=keys.worker_output("w", 1, 3)),
        Execution(**base, start_date=1.5, stream=None),                             # started, no stream named
        Execution(**base, start_date=1.5, stream=keys.output(1, 3)),                # an old output key
        Execution(**base, start_date=None, stream=None),                            # never started
        Execution(**{**base, "worker": None, "worker_id": None, "modification_date": 1.0}, cached_from=2),
    ]
    for ex in cases:
        h = execution_hash(ex)
        back = msgspec.structs.asdict(decode_execution(h, 4))
        assert back == {**_written(ex), "output_files": None}, h
    h = execution_hash(cases[0])
    assert "stream" not in h and "start_date" not in h and "latest" not in h and "output_listing" not in h
    assert "execution_id" not in h                  # the key gives it


def test_an_execution_that_ran_its_tasks_command_leaves_it_to_the_tasks_view_and_reads_back_the_same():
    base = dict(execution_id=4, task_id=1, worker_id=2, worker="w", attempt=1, status="succeeded",
                creation_date=1.0, modification_date=2.0)
    ran = Execution(**base, start_date=1.0, command="bwa mem ref.fa r.fq")
    h = execution_hash(ran, "bwa mem ref.fa r.fq")
    assert "command" not in h and needs_task_command(h) == 1
    assert decode_execution(h, 4, "bwa mem ref.fa r.fq").command == "bwa mem ref.fa r.fq"
    edited = execution_hash(ran, "bwa mem ref2.fa r.fq")     # the task was edited since: the view names it
    assert edited["command"] == "bwa mem ref.fa r.fq" and needs_task_command(edited) is None
    assert decode_execution(edited, 4, "bwa mem ref2.fa r.fq").command == "bwa mem ref.fa r.fq"
    never = Execution(**base, start_date=None)                # not started: no command, none derived
    h = execution_hash(never, "true")
    assert needs_task_command(h) is None and decode_execution(h, 4, "true").command is None


def test_a_status_bitmap_reads_back_as_the_task_ids_whose_bits_are_set():
    assert bitmap_ids(None) == [] and bitmap_ids(b"") == [] and bitmap_ids(b"\x00\x00") == []
    assert bitmap_ids(b"\x80") == [0] and bitmap_ids(b"\x41\x00\x01") == [1, 7, 23]
