"""v1 workflow scripts run unchanged against a real server and real workers."""

from __future__ import annotations

import warnings

from helpers import run_cli, wait_for
from scitq.api.client import Client
from scitq.lib import Server
from scitq.workflow import Workflow, WorkflowWarning
from scitq.events import event_json


def test_the_v1_helloworld_recycles_an_idle_worker_into_its_batch_and_clean_writes_the_logs(server, procs, env,
                                                                                           tmp_path, monkeypatch,
                                                                                           capsys):
    """v1 docs' "A Hello World example" (10 steps instead of 100): one idle local worker in batch Default
    is recycled into the step batch by its rank 1 recruiter, then goes back to Default when the
    workflow is cleaned."""
    monkeypatch.chdir(tmp_path)
    procs.worker("w1", concurrency=1)
    s = Server()
    wait_for(lambda: [w["batch"] for w in s.workers()] == ["Default"], what="w1 to register in Default")
    with warnings.catch_warnings():
        warnings.simplefilter("error", WorkflowWarning)     # recruiters are there: no warning
        wf = Workflow(name=f'helloworld', shell=True, flavor='local')
        for i in range(10):
            step1 = wf.step(
                batch='echo',
                name=f'echo #{i}',
                command=f'echo Hello world {i}!',
                concurrency=10,
                maximum_workers=1
            )
        wf.run(refresh=10)
    [rec] = s.recruiters(batch="helloworld.echo")
    assert (rec["rank"], rec["worker_flavor"], rec["worker_concurrency"], rec["tasks_per_worker"],
            rec["maximum_workers"], rec["worker_provider"]) == (1, "local", 10, 10, 1, None)
    wf.clean()
    out = capsys.readouterr().out
    assert "[helloworld] all tasks done: 10 succeeded, 0 failed" in out
    assert step1.batch == "helloworld.echo" and step1.name == "echo #9"
    logs = tmp_path / "helloworld"
    assert sorted(p.name for p in logs.iterdir()) == sorted(
        [f"echo #{i}_output.log" for i in range(10)] + [f"echo #{i}_error.log" for i in range(10)])
    assert (logs / "echo #3_output.log").read_text() == "Hello world 3!\n"
    assert s.tasks(batch="helloworld.echo") == [], "succeeded tasks are deleted by clean()"
    assert s.recruiters() == [], "clean() deletes the recruiters"
    [w] = s.workers()
    assert w["batch"] == "Default" and w["concurrency"] == 10, "the worker is back in the pool, not stranded"
    recruited = [event_json(f) for _, f in Client().events() if f.get("type") == "worker.recruited"]
    assert [(e["worker"], e["previous_batch"], e["batch"], e["rank"]) for e in recruited] == \
        [("w1", "Default", "helloworld.echo", 1)]
    assert "recycled idle worker w1 (flavor local) from Default" in recruited[0]["reason"]
    history = run_cli("scitq", "events", "history", "--workflow", "helloworld", env=env)
    assert history.returncode == 0, history.stderr
    kinds = [line.split()[2] for line in history.stdout.splitlines()]
    assert kinds[0] == "recruiter.created" and "worker.recruited" in kinds and "recruiter.deleted" in kinds
    last_success = max(i for i, k in enumerate(kinds) if k == "task.succeeded")
    assert kinds[last_success + 1:].count("worker.batch_changed") == 1, \
        "the worker's return to Default, once the tasks are done, closes its part of the history"
    assert kinds.count("task.succeeded") == 10 and "worker.registered" not in kinds
