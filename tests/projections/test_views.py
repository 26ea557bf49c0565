"""The views read back as typed Structs derived from the model (pure: no Redis, the hashes are what the
server writes)."""

from __future__ import annotations

import msgspec
import pytest

from scitq.events.model import TASK_FIELDS, WORKER_FIELDS
from scitq.projections.state import Batch, Execution, Task, Worker
from scitq.projections.views import (
    BatchView, ExecutionView, TaskView, WorkerView, batch_hash, decode_batch, decode_execution, decode_task,
    decode_worker, execution_hash, task_hash, worker_hash,
)


def test_a_task_view_reads_back_every_field_of_the_task_with_its_declared_type():
    task = Task(task_id=9, command="echo x", name="n", batch="b", status="pending", creation_date=1.5, modification_date=2.0,
                status_date=2.5, required_task_ids=[1, 2], retry=3, use_cache=True, uid=1000, attempt=2)
    view = decode_task(task_hash(task))
    assert isinstance(view, TaskView) and set(TASK_FIELDS) <= set(view.keys())
    written = {k: v for k, v in msgspec.structs.asdict(task).items() if k != "indexed"}   # the writer's bookkeeping
    assert msgspec.structs.asdict(view) == written
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
    e = decode_execution(execution_hash(ex))
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
