"""v1 workflow scripts run unchanged against a real server and real workers."""

from __future__ import annotations

import pytest

from scitq.lib import Server
from scitq.workflow import Workflow, WorkflowWarning


def test_the_v1_helloworld_runs_its_ten_steps_in_one_batch_and_clean_writes_their_logs(server, procs, tmp_path,
                                                                                      monkeypatch, capsys):
    """v1 docs' "A Hello World example" (10 steps instead of 100). Recruiters are not there yet, so the
    worker is started on the step batch instead of being recycled into it."""
    monkeypatch.chdir(tmp_path)
    procs.worker("w1", concurrency=4, batch="helloworld.echo")
    with pytest.warns(WorkflowWarning, match="start one with `scitq worker -b helloworld.echo`"):
        wf = Workflow(name=f'helloworld', shell=True, flavor='local')
        step1 = wf.step(batch='echo', name='echo #0', command='echo Hello world 0!', concurrency=10,
                        maximum_workers=1)
    for i in range(1, 10):
        step1 = wf.step(
            batch='echo',
            name=f'echo #{i}',
            command=f'echo Hello world {i}!',
            concurrency=10,
            maximum_workers=1
        )
    wf.run(refresh=10)
    wf.clean()
    out = capsys.readouterr().out
    assert "[helloworld] all tasks done: 10 succeeded, 0 failed" in out
    assert step1.batch == "helloworld.echo" and step1.name == "echo #9"
    logs = tmp_path / "helloworld"
    assert sorted(p.name for p in logs.iterdir()) == sorted(
        [f"echo #{i}_output.log" for i in range(10)] + [f"echo #{i}_error.log" for i in range(10)])
    assert (logs / "echo #3_output.log").read_text() == "Hello world 3!\n"
    assert Server().tasks(batch="helloworld.echo") == [], "succeeded tasks are deleted by clean()"
