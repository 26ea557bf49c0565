"""Caching (`use_cache`): a workflow run again on the same inputs reuses earlier executions, on local files,
with a real server and real workers."""

from __future__ import annotations

import pytest

from scitq.lib import Server
from scitq.projections.store import rebuild
from scitq.workflow import Workflow

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture
def store(tmp_path):
    d = tmp_path / "store"
    (d / "in").mkdir(parents=True)
    for s in ("a", "b"):
        (d / "in" / f"{s}.txt").write_text(f"sample {s}\n")
    return d


def _pipeline(store, base=None):
    wf = Workflow(name="cache", shell=True, flavor="local", max_step_workers=2, use_cache=True,
                  base_storage=str(base or store))
    for s in ("a", "b"):
        up = wf.step(batch="up", concurrency=2, input=f"file://{store}/in/{s}.txt", rel_output=f"{s}/up",
                     command=f"tr a-z A-Z < $INPUT/{s}.txt > $OUTPUT/{s}.up")
    total = wf.step(batch="total", concurrency=1, input=up.gather("output"), required_tasks=up.gather(),
                    rel_output="total", command="cat $INPUT/*.up > $OUTPUT/all.txt")
    return wf, up, total


def _ran(server) -> list[dict]:
    """The executions a worker ran (a cached one has no worker)."""
    return [e for e in Server().executions(no_output=True) if e["worker_id"] is not None]


def test_a_second_identical_run_succeeds_without_running_any_task_and_a_changed_input_reruns_its_branch(
        server, procs, store, r):
    procs.worker("w1", concurrency=2, batch="cache.up")
    procs.worker("w2", concurrency=1, batch="cache.total")
    wf, _, _ = _pipeline(store)
    assert wf.run(refresh=5) == {"succeeded": 3}
    assert (store / "total" / "all.txt").read_text() == "SAMPLE A\nSAMPLE B\n"
    assert len(_ran(server)) == 3

    wf, up, total = _pipeline(store)
    assert wf.run(refresh=5) == {"succeeded": 3}
    assert len(_ran(server)) == 3, "the second run ran a task"
    assert total.get_output().startswith("Cached from execution ")
    cached = [e for e in Server().executions(task_id=total.task_id, no_output=True)]
    assert [(e["status"], e["worker_id"]) for e in cached] == [("succeeded", None)]

    (store / "in" / "b.txt").write_text("sample b, edited\n")
    wf, up, total = _pipeline(store)
    assert wf.run(refresh=5) == {"succeeded": 3}
    ran = _ran(server)
    assert len(ran) == 5, "exactly the edited sample and the gather run again"
    assert {e["task_id"] for e in ran[3:]} == {up.task_id, total.task_id}
    assert (store / "total" / "all.txt").read_text() == "SAMPLE A\nSAMPLE B, EDITED\n"
    report, _ = rebuild(r, verify=True, write=False)     # the cache index is a view like the others
    assert report.equal, report.differences[:5]


def test_a_cached_task_with_another_output_folder_gets_a_copy_of_the_earlier_outputs(server, procs, store, tmp_path):
    procs.worker("w1", concurrency=2, batch="cache.up")
    procs.worker("w2", concurrency=1, batch="cache.total")
    wf, _, _ = _pipeline(store)
    assert wf.run(refresh=5) == {"succeeded": 3}
    other = tmp_path / "other"
    other.mkdir()
    wf, up, _ = _pipeline(store, base=other)
    assert wf.run(refresh=5) == {"succeeded": 3}
    assert (other / "a" / "up" / "a.up").read_text() == "SAMPLE A\n"
    assert (other / "b" / "up" / "b.up").read_text() == "SAMPLE B\n"
    # the up steps were cached (copied), the gather reads other inputs (another folder): it ran
    assert len(_ran(server)) == 4
    assert (other / "total" / "all.txt").read_text() == "SAMPLE A\nSAMPLE B\n"


def test_a_cached_execution_whose_outputs_were_deleted_is_not_reused(server, procs, store):
    procs.worker("w1", concurrency=2, batch="cache.up")
    procs.worker("w2", concurrency=1, batch="cache.total")
    wf, _, _ = _pipeline(store)
    assert wf.run(refresh=5) == {"succeeded": 3}
    (store / "a" / "up" / "a.up").unlink()
    wf, up, _ = _pipeline(store)
    assert wf.run(refresh=5) == {"succeeded": 3}
    assert len(_ran(server)) == 4
    assert (store / "a" / "up" / "a.up").read_text() == "SAMPLE A\n"
