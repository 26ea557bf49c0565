"""Deploy and destroy end to end: real server, real job runner (RQ), real worker processes.

The provider is the real `local` one: each machine is a real `scitq worker` process; nothing is faked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploykit import cloud_env, created, kill_left_machines, machines, worker_users  # noqa: E402,F401 (fixtures)
from helpers import run_cli, wait_for  # noqa: E402
from scitq.api.client import Client  # noqa: E402
from scitq.lib import Server  # noqa: E402
from scitq.events import event_json  # noqa: E402


def kinds(client: Client, worker: str) -> list[str]:
    return [f["type"] for _, f in client.events() if f.get("worker") == worker]


def test_a_deployed_worker_registers_with_its_own_credential_and_deleting_it_destroys_its_machine(
        cloud_env, procs, r, tmp_path, monkeypatch):
    monkeypatch.setenv("SCITQ_IDLE_TIMEOUT", "600")   # deleted by hand here, not released when idle
    cloud_env["SCITQ_IDLE_TIMEOUT"] = "600"
    procs.server()
    s = Server()
    prefix = cloud_env["SCITQ_SERVER_NAME"]
    res = s.worker_deploy(1, "b1", "local", "local", 2, "local")
    [name] = res["workers"]
    assert name == f"{prefix}-node1"
    wait_for(lambda: [w["name"] for w in s.workers()] == [name], timeout=60, what="the deployed worker to register")
    [w] = s.workers()
    assert (w["batch"], w["concurrency"], w["permanent"]) == ("b1", 2, False)
    assert worker_users(r, prefix) == [f"worker-{name}"]
    c = Client()
    wait_for(lambda: "deploy.succeeded" in kinds(c, name), what="deploy.succeeded")
    s.worker_delete(w["worker_id"])
    wait_for(lambda: "destroy.done" in kinds(c, name), timeout=60, what="the machine to be destroyed")
    wait_for(lambda: machines(tmp_path) == [], what="the worker process to be gone")
    assert worker_users(r, prefix) == [], "its credential is revoked"
    life = [k for k in kinds(c, name) if k.startswith(("deploy.", "destroy.")) or k in ("worker.registered",
                                                                                         "worker.deleted")]
    assert life[:6] == ["deploy.requested", "deploy.started", "deploy.succeeded", "worker.registered",
                        "worker.deleted", "destroy.requested"]
    # a deleted worker registers again while its process runs (v1); the destroy removes it for good
    assert life[-1] == "destroy.done" and set(life[6:-1]) <= {"worker.registered", "worker.deleted"}
    history = run_cli("scitq", "events", "history", "--worker", name, env=cloud_env)
    assert history.returncode == 0, history.stderr
    assert "deploy.requested" in history.stdout and "destroy.done" in history.stdout
    jobs = run_cli("scitq-manage", "job", "list", env=cloud_env)
    assert jobs.returncode == 0, jobs.stderr
    assert f"deploy-{name}" in jobs.stdout and f"destroy-{name}" in jobs.stdout and "finished" in jobs.stdout


def test_a_two_step_workflow_deploys_within_its_caps_recycles_to_step_two_and_releases_everything(
        cloud_env, procs, r, tmp_path, monkeypatch, capsys):
    """provider='local', region='local', max_workflow_workers=2: step 1 deploys two real workers (no more),
    step 2 gets them by recycling, run() returns them to the pool, the idle timeout (4 s here) destroys them:
    no process and no credential is left, and the history says why each machine started and stopped."""
    from scitq.workflow import Workflow
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCITQ_WORKFLOW_MONITOR", "0")
    procs.server()
    prefix = cloud_env["SCITQ_SERVER_NAME"]
    # the local flavor priced at 36 per hour (0.01 per second) in the catalog: the machines cost something
    Client().update_flavor_catalog("local", [{"name": "local", "provider": "local", "region": "local", "cpu": 1,
                                              "ram": 1.0, "cost": 36.0}])
    wf = Workflow(name="wfd", shell=True, flavor="local", provider="local", region="local", max_workflow_workers=2)
    firsts = [wf.step(batch="one", name=f"one{i}", command=f"sleep 1; echo one {i}", concurrency=1,
                      maximum_workers=2) for i in range(4)]
    for i in range(4):
        wf.step(batch="two", name=f"two{i}", command=f"echo two {i}", concurrency=1, maximum_workers=2,
                required_tasks=firsts)
    totals = wf.run(refresh=30)
    assert totals["succeeded"] == 8
    c = Client()
    events = [event_json(f) for _, f in c.events()]
    made = {e["instance"] for e in events if e["type"] == "deploy.succeeded"}
    assert len(made) == 2, "max_workflow_workers=2: two machines, never more"
    asked = [e for e in events if e["type"] == "deploy.requested"]
    assert sorted(e["worker"] for e in asked) == [f"{prefix}-node1", f"{prefix}-node2"]
    assert {(e["batch"], e.get("why", "user"), e["flavor"], e["region"], e["provider"], e["cost"]) for e in asked} \
        == {("wfd.one", "recruiter", "local", "local", "local", 36.0)}
    recycled = [e for e in events if e["type"] == "worker.recruited" and e["batch"] == "wfd.two"]
    assert recycled and {e["previous_batch"] for e in recycled} == {"wfd.one"}
    ran_two = {ex.worker for ex in c.executions() if c.task(ex.task_id).batch == "wfd.two"}
    assert ran_two <= {e["worker"] for e in asked}, "step 2 ran on the recycled machines"
    wait_for(lambda: sum(1 for _, f in c.events() if f.get("type") == "destroy.done") == 2, timeout=90,
             what="both machines destroyed after the idle timeout")
    stops = [event_json(f) for _, f in c.events() if f.get("type") == "destroy.requested"]
    assert {s["why"] for s in stops} == {"idle"} and all("idle for" in s["reason"] for s in stops)
    wait_for(lambda: machines(tmp_path) == [], what="no worker process left")
    assert worker_users(r, prefix) == [], "no credential left"
    assert c.workers() == []
    out = capsys.readouterr().out
    assert "[wfd] all tasks done: 8 succeeded, 0 failed; cost " in out
    done = [json.loads(f["data"]) for _, f in c.events() if f.get("type") == "destroy.done"]
    assert all(d["cost"] == pytest.approx(d["seconds"] * 0.01, rel=0.01) for d in done)
    costs = c.batch_costs()
    assert costs["wfd.one"] > 0 and costs["wfd.two"] > 0
    assert sum(costs.values()) == pytest.approx(sum(d["cost"] for d in done), rel=0.01)
    assert wf.cost() == pytest.approx(costs["wfd.one"] + costs["wfd.two"])
    check = c.rebuild(verify=True)
    assert check["equal"], check["differences"]


def test_worker_deploy_on_the_command_line_refuses_bad_input_in_one_line_and_batch_list_shows_costs(
        cloud_env, procs, tmp_path, monkeypatch):
    monkeypatch.setenv("SCITQ_IDLE_TIMEOUT", "600")   # the worker is deleted by hand here, not released when idle
    cloud_env["SCITQ_IDLE_TIMEOUT"] = "600"
    procs.server()
    bad = run_cli("scitq-manage", "worker", "deploy", "-P", "local", "-r", "auto", "-f", "auto:cpu>>8", env=cloud_env)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) <= 2 and "cpu>>8" in bad.stderr
    none = run_cli("scitq-manage", "worker", "deploy", "-P", "local", "-r", "auto", "-f", "auto:cpu>=100000",
                   env=cloud_env)
    assert none.returncode == 4 and "Could not find a flavor satisfying auto:cpu>=100000" in none.stderr
    res = run_cli("scitq-manage", "worker", "deploy", "-P", "local", "-r", "local", "-f", "local", "-b", "cli",
                  "-C", "2", env=cloud_env)
    assert res.returncode == 0, res.stderr
    name = f"{cloud_env['SCITQ_SERVER_NAME']}-node1"
    assert res.stdout.strip() == f"deploying 1 worker(s): {name}"
    s = Server()
    wait_for(lambda: [w["name"] for w in s.workers()] == [name], timeout=60, what="the worker to register")
    s.task_create_many([{"command": "true", "batch": "cli"}])
    listing = run_cli("scitq-manage", "worker", "list", "-L", env=cloud_env).stdout.splitlines()
    assert listing[0].split()[-4:] == ["provider", "region", "flavor", "ipv4"]
    assert listing[1].split()[-4:] == ["local", "local", "local", "127.0.0.1"]
    costs = run_cli("scitq-manage", "batch", "list", "-L", env=cloud_env)
    assert costs.returncode == 0 and costs.stdout.splitlines()[0].split()[-1] == "cost"
    assert run_cli("scitq-manage", "worker", "delete", "-n", name, env=cloud_env).returncode == 0
    wait_for(lambda: machines(tmp_path) == [], timeout=60, what="the machine destroyed")
