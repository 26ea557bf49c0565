"""run() always returns: a dependant of a failed parent is reported blocked instead of waited for."""

from __future__ import annotations

import warnings

from scitq.lib import Server
from scitq.workflow import Workflow


def test_run_returns_when_a_parent_failed_and_reports_its_dependants_blocked(server, procs, capsys):
    warnings.simplefilter("ignore")
    procs.worker("w1", concurrency=2, batch="fail.first")
    wf = Workflow(name="fail", flavor="local", max_step_workers=1, shell=True)
    ok = wf.step(batch="first", command="echo ok", concurrency=2)
    bad = wf.step(batch="first", command="exit 3")
    child = wf.step(batch="second", command="echo never", concurrency=1, required_tasks=bad)
    grandchild = wf.step(batch="second", command="echo never", required_tasks=child)
    counts = wf.run(refresh=5)
    assert counts == {"succeeded": 1, "failed": 1, "blocked": 2}
    assert "1 succeeded, 1 failed, 2 blocked by a failed parent" in capsys.readouterr().out
    assert Server().task_get(grandchild.task_id)["status"] == "waiting", "the server keeps it; run() moves on"
    assert ok.status in ("pending", "succeeded")


def test_a_step_that_accepts_failure_runs_once_its_parents_ended_even_badly(server, procs):
    warnings.simplefilter("ignore")
    procs.worker("w1", concurrency=2, batch="acc.first")
    procs.worker("w2", concurrency=1, batch="acc.report")
    wf = Workflow(name="acc", flavor="local", max_step_workers=1, shell=True)
    a = wf.step(batch="first", command="echo fine", concurrency=2)
    b = wf.step(batch="first", command="exit 1")
    report = wf.step(batch="report", command="echo reporting", concurrency=1, required_tasks=[a, b],
                     accept_failure=True)
    assert wf.run(refresh=5) == {"succeeded": 2, "failed": 1}
    assert report.get_output() == "reporting\n"
