"""v1: a worker holding a prefetched task ready to run shows it `accepted` (with -p 1: one running, one accepted, one pending)."""

from __future__ import annotations

from helpers import run_cli, wait_for
from scitq.lib import Server


def _gate(tmp_path, name: str) -> str:
    """A command that runs until the test creates the file `name`."""
    return f"while [ ! -e {tmp_path / name} ]; do sleep 0.1; done; echo ran"


def test_with_prefetch_one_a_task_without_input_runs_the_next_is_accepted_and_the_last_pending(procs, tmp_path, env):
    """Given a worker with concurrency 1 and prefetch 1, when three tasks without input are queued,
    then one runs, one is held ready (`accepted`, its execution too) and one waits (`pending`)."""
    procs.server()
    procs.worker("w1", concurrency=1, prefetch=1)
    s = Server()
    ids = [s.task_create(_gate(tmp_path, "go"), shell=True)["task_id"] for _ in range(3)]

    wait_for(lambda: sorted(s.task_status(ids)) == ["accepted", "pending", "running"], timeout=30,
             what="one task running, one accepted, one pending")
    statuses = dict(zip(ids, s.task_status(ids)))
    held = next(i for i, st in statuses.items() if st == "accepted")
    assert s.executions(task_id=held)[-1]["status"] == "accepted"
    listed = run_cli("scitq-manage", "task", "list", env=env)
    assert listed.returncode == 0 and "accepted" in listed.stdout, listed.stdout + listed.stderr

    (tmp_path / "go").touch()
    wait_for(lambda: all(st == "succeeded" for st in s.task_status(ids)), timeout=60, what="the three tasks")
    assert all(s.executions(task_id=i)[-1]["output"] == "ran\n" for i in ids)


def test_a_prefetched_task_with_input_is_accepted_with_its_input_already_downloaded(procs, tmp_path):
    """Given a worker with concurrency 1 and prefetch 1 busy with a task, when a task with an input is
    queued, then it shows `accepted` while it waits, and it finds its input in place when it runs."""
    data = tmp_path / "data.txt"
    data.write_text("payload\n")
    procs.server()
    procs.worker("w1", concurrency=1, prefetch=1)
    s = Server()
    first = s.task_create(_gate(tmp_path, "go"), shell=True)["task_id"]
    wait_for(lambda: s.task_get(first)["status"] == "running", what="the first task to run")
    second = s.task_create("cat $INPUT/data.txt", shell=True, input=f"file://{data}")["task_id"]

    wait_for(lambda: s.task_get(second)["status"] == "accepted", timeout=30, what="the prefetched task accepted")
    assert s.task_get(first)["status"] == "running"

    (tmp_path / "go").touch()
    wait_for(lambda: s.task_status([first, second]) == ["succeeded", "succeeded"], timeout=60, what="both tasks")
    assert s.executions(task_id=second)[-1]["output"] == "payload\n"
