"""Recruiters through `scitq-manage recruiter ...` and `Server.recruiter_*` against a real server and real workers."""

from __future__ import annotations

import pytest

from helpers import run_cli, wait_for
from scitq.api.client import Client
from scitq.errors import BadInput, NotFound
from scitq.lib import Server


@pytest.fixture
def server(procs):
    return procs.server()


def manage(env, *args: str):
    return run_cli("scitq-manage", "recruiter", *args, env=env)


def test_scitq_manage_creates_lists_updates_and_deletes_recruiters_with_v1_options(server, env):
    res = manage(env, "create", "-b", "align", "-f", "local", "-C", "4", "-W", "3")
    assert res.returncode == 0 and res.stdout.strip() == "recruiter align/1 created", res.stderr
    res = manage(env, "create", "-b", "align", "-n", "2", "-f", "big", "-C", "2", "-T", "6", "-p", "1", "-m", "10",
                 "-r", "GRA11", "-P", "ovh")
    assert res.returncode == 0, res.stderr
    listing = manage(env, "list", "-H").stdout.split("\n")
    assert listing[0].split() == ["align", "1", "local", "4"]
    assert listing[1].split() == ["align", "2", "big", "GRA11", "ovh", "2"]
    long = manage(env, "list", "-L", "-b", "align").stdout.splitlines()
    assert long[0].split() == ["batch", "rank", "flavor", "region", "provider", "concurrency", "prefetch",
                               "tasks_per_worker", "minimum_tasks", "maximum_workers"]
    assert long[1].split() == ["align", "1", "local", "4", "0", "4", "3"], "empty cells: no region, provider, minimum"
    assert long[2].split() == ["align", "2", "big", "GRA11", "ovh", "2", "1", "6", "10"]
    s = Server()
    assert s.recruiters(batch="align", rank=2)[0]["tasks_per_worker"] == 6
    res = manage(env, "update", "-b", "align", "-W", "5", "-C", "8")
    assert res.stdout.strip() == "recruiter align/1: maximum_workers, worker_concurrency changed", res.stderr
    rec = s.recruiters(batch="align", rank=1)[0]
    assert (rec["maximum_workers"], rec["worker_concurrency"], rec["tasks_per_worker"]) == (5, 8, 4)
    res = manage(env, "create", "-b", "align", "-f", "local", "-C", "2")
    assert res.stdout.strip() == "recruiter align/1 replaced"
    assert s.recruiters(batch="align", rank=1)[0]["maximum_workers"] is None, "a replaced recruiter starts afresh"
    assert manage(env, "delete", "-b", "align", "-n", "2").returncode == 0
    assert [(r["batch"], r["rank"]) for r in s.recruiters()] == [("align", 1)]
    history = run_cli("scitq", "events", "history", "--batch", "align", env=env).stdout
    assert [line.split()[2] for line in history.splitlines()] == [
        "recruiter.created", "recruiter.created", "recruiter.updated", "recruiter.created", "recruiter.deleted"]


def test_bad_recruiter_input_gets_one_clear_line_and_changes_nothing(server, env):
    res = manage(env, "create", "-b", "x", "-f", "local")
    assert res.returncode == 2 and "-C/--concurrency" in res.stderr
    res = manage(env, "delete", "-b", "nobody")
    assert res.returncode != 0 and res.stderr.strip().splitlines()[0].endswith(
        "no recruiter of batch 'nobody' with rank 1") and "Traceback" not in res.stderr
    res = manage(env, "create", "-b", "a/b", "-f", "local", "-C", "1")
    assert res.returncode == 2 and "bad batch name 'a/b'" in res.stderr and "Traceback" not in res.stderr
    res = manage(env, "create", "-b", "x", "-f", "local", "-C", "1", "-T", "0")
    assert res.returncode == 2 and "tasks_per_worker" in res.stderr and "Traceback" not in res.stderr
    assert Server().recruiters() == []
    with pytest.raises(NotFound):
        Server().recruiter_update("nobody", 1, maximum_workers=2)
    with pytest.raises(BadInput, match="worker_flavor"):
        Server().recruiter_create("x", 1, tasks_per_worker=1, flavor="two words", concurrency=1)


def test_a_recruiter_recycles_an_idle_worker_of_its_flavor_and_leaves_the_others(server, procs, env):
    procs.worker("small", concurrency=1)
    procs.spawn("worker", "-n", "large", "-C", "1", "-f", "big", log="worker-large.log")
    s = Server()
    wait_for(lambda: len(s.workers()) == 2, what="two workers")
    assert {w["name"]: w["flavor"] for w in s.workers()} == {"small": "local", "large": "big"}
    assert [w["name"] for w in s.recruiters_match()] == []
    for _ in range(4):
        s.task_create("sleep 0.2", batch="heavy")
    s.recruiter_create("heavy", 1, tasks_per_worker=2, flavor="big", concurrency=2, prefetch=1)
    assert [w["name"] for w in s.recruiters_match()] == ["large"]
    wait_for(lambda: all(t["status"] == "succeeded" for t in s.tasks(batch="heavy")), what="the heavy tasks")
    ws = {w["name"]: w for w in s.workers()}
    assert (ws["large"]["batch"], ws["large"]["concurrency"], ws["large"]["prefetch"]) == ("heavy", 2, 1)
    assert ws["small"]["batch"] == "Default", "a worker of another flavor is not recycled"
    assert {ex["worker"] for ex in Client().executions()} == {"large"}
    history = run_cli("scitq", "events", "history", "--batch", "heavy", env=env).stdout
    assert "worker.recruited" in history and "recycled idle worker large (flavor big) from Default" in history
    s.batch_delete("heavy")
    assert s.recruiters() == [], "deleting a batch deletes its recruiters"
    rebuilt = run_cli("scitq", "events", "rebuild", "--verify", env=env)
    assert "views equal the replay" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr
