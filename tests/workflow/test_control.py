"""pause(), unpause(), quit() and clean(force=True) of a workflow, on a real server and worker."""

from __future__ import annotations

import warnings

from helpers import wait_for
from scitq.lib import Server
from scitq.workflow import Workflow


def paused_batches(s: Server) -> set[str]:
    return {b["batch"] for b in s.batches() if b["paused"]}


def test_pause_stops_every_step_batch_and_unpause_lets_the_workflow_finish(server, procs):
    warnings.simplefilter("ignore")
    s = Server()
    wf = Workflow(name="pz", flavor="local", max_step_workers=1)
    a = wf.step(batch="a", command="true", concurrency=1)
    wf.step(batch="b", command="true", concurrency=1, required_tasks=a)
    wf.pause()
    assert a.sent, "pausing sends the steps first"
    wait_for(lambda: paused_batches(s) == {"pz.a", "pz.b"}, what="both step batches paused")
    procs.worker("w1", concurrency=1, batch="pz.a")
    procs.worker("w2", concurrency=1, batch="pz.b")
    wait_for(lambda: len(s.workers()) == 2, what="the workers")
    assert s.task_get(a.task_id)["status"] == "pending", "a paused batch starts nothing"
    wf.unpause()
    assert wf.run(refresh=5) == {"succeeded": 2}
    assert paused_batches(s) == set()


def test_unpause_without_pause_sets_the_paused_workers_of_the_steps_running(server, procs):
    warnings.simplefilter("ignore")
    s = Server()
    procs.worker("w1", concurrency=1, batch="up.a")
    wid = wait_for(lambda: s.workers(), what="the worker")[0]["worker_id"]
    s.worker_update(wid, status="paused")
    wait_for(lambda: s.worker_get(wid)["status"] == "paused", what="the worker paused")
    wf = Workflow(name="up", flavor="local", max_step_workers=1)
    wf.step(batch="a", command="true", concurrency=1)
    wf.unpause()
    wait_for(lambda: s.worker_get(wid)["status"] == "running", what="the worker running again")
    assert wf.run(refresh=5) == {"succeeded": 1}


def test_step_clean_deletes_its_task_quit_makes_run_return_and_clean_force_deletes_the_batches(server, capsys):
    warnings.simplefilter("ignore")
    s = Server()
    wf = Workflow(name="qt", flavor="local", max_step_workers=1)
    wf.step(batch="a", command="true", concurrency=1)
    gone = wf.step(batch="a", command="true")
    gone.clean()
    wait_for(lambda: len(s.tasks(batch="qt.a")) == 1, what="Step.clean() to delete its task")
    wf.quit()
    assert wf.run(refresh=5) == {"pending": 1}, "no worker: it would wait, but quit() was called"
    assert "[qt] quit: 1 task(s) not finished" in capsys.readouterr().out
    wf.clean(force=True)
    wait_for(lambda: s.tasks(batch="qt.a") == [], what="the batch deleted")
