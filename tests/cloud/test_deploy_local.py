"""Deploy and destroy end to end: real server, real job runner (RQ), real worker processes.

The provider is `procprovider.ProcProvider` under the name `local` (see conftest): it starts real `scitq worker`
processes; nothing else is faked."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploykit import cloud_env, created, kill_left_machines, machines, worker_users  # noqa: E402,F401 (fixtures)
from helpers import run_cli, wait_for  # noqa: E402
from scitq.api.client import Client  # noqa: E402
from scitq.lib import Server  # noqa: E402


def kinds(client: Client, worker: str) -> list[str]:
    return [f["type"] for _, f in client.events() if f.get("worker") == worker]


def test_a_deployed_worker_registers_with_its_own_credential_and_deleting_it_destroys_its_machine(
        cloud_env, procs, r, tmp_path):
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
    assert kinds(c, name) == ["deploy.requested", "deploy.started", "deploy.succeeded", "worker.registered",
                              "worker.deleted", "destroy.requested", "destroy.done"]
    history = run_cli("scitq", "events", "history", "--worker", name, env=cloud_env)
    assert history.returncode == 0, history.stderr
    assert "deploy.requested" in history.stdout and "destroy.done" in history.stdout
    jobs = run_cli("scitq-manage", "job", "list", env=cloud_env)
    assert jobs.returncode == 0, jobs.stderr
    assert f"deploy-{name}" in jobs.stdout and f"destroy-{name}" in jobs.stdout and "finished" in jobs.stdout
