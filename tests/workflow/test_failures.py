"""run() always returns: a dependant of a failed parent is blocked by the server instead of waited for."""

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
    seen = Server().task_get(grandchild.task_id)
    assert (seen["status"], seen["blocked_by"]) == ("blocked", child.task_id), "blocked on the server, naming why"
    assert Server().task_get(child.task_id)["blocked_by"] == bad.task_id
    assert ok.status in ("pending", "succeeded")


def test_a_failing_parent_blocks_its_dependants_run_returns_and_a_relaunch_of_the_parent_completes_the_workflow(
        server, procs, tmp_path):
    """Given a step whose command fails until a file exists, with a chain of two dependants, when the
    workflow runs, then run() returns with the chain blocked; when the file is made and the parent is
    relaunched, the dependants wait again, run, and a second run() returns with everything succeeded."""
    warnings.simplefilter("ignore")
    flag = tmp_path / "fixed"
    procs.worker("w1", concurrency=2, batch="relaunch.first")
    procs.worker("w2", concurrency=1, batch="relaunch.second")
    wf = Workflow(name="relaunch", flavor="local", max_step_workers=1, shell=True)
    parent = wf.step(batch="first", command=f"cat {flag}", concurrency=2)
    child = wf.step(batch="second", command="echo child", concurrency=1, required_tasks=parent)
    grandchild = wf.step(batch="second", command="echo grandchild", required_tasks=child)
    assert wf.run(refresh=5) == {"failed": 1, "blocked": 2}
    flag.write_text("ok\n")
    s = Server()
    s.task_relaunch(parent.task_id)
    assert s.task_status([child.task_id, grandchild.task_id]) != ["blocked", "blocked"]
    assert wf.run(refresh=5) == {"succeeded": 3}
    assert grandchild.get_output() == "grandchild\n"
    assert s.task_get(grandchild.task_id)["blocked_by"] is None


def test_a_step_that_accepts_failure_runs_once_its_parents_ended_even_badly(server, procs):
    warnings.simplefilter("ignore")
    procs.worker("w1", concurrency=2, batch="acc.first")
    procs.worker("w2", concurrency=1, batch="acc.report")
    wf = Workflow(name="acc", flavor="local", max_step_workers=1, shell=True)
    a = wf.step(batch="first", command="echo fine", concurrency=2)
    b = wf.step(batch="first", command="exit 1")
    report = wf.step(batch="report", command="echo reporting", concurrency=1, required_tasks=[a, b],
                     accept_failure=True)
    assert report.accept_failure is True
    assert wf.run(refresh=5) == {"succeeded": 2, "failed": 1}
    assert report.get_output() == "reporting\n"
    assert Server().task_get(report.task_id)["accept_failure"] is True
