"""The server killed with SIGKILL in the middle of a deploy: the restarted server neither deploys the machine
twice nor leaks it.

The provider named `local` is `procprovider.ProcProvider` (tests/cloud, fixture `slow_cloud_env`), which starts
real `scitq worker` processes after a delay (the deploy is slow enough to kill the server during it) and logs
each machine it makes."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cloud"))
from deploykit import cloud_env, created, kill_left_machines, machines, slow_cloud_env, worker_users  # noqa: E402,F401 (fixtures)
from helpers import wait_for  # noqa: E402
from scitq.api.client import Client  # noqa: E402
from scitq.lib import Server  # noqa: E402
from scitq.events import event_json  # noqa: E402


def test_a_server_killed_mid_deploy_deploys_nothing_twice_and_leaks_no_worker(slow_cloud_env, procs, r,
                                                                              tmp_path):
    prefix = slow_cloud_env["SCITQ_SERVER_NAME"]
    server = procs.server()
    s = Server()
    [name] = s.worker_deploy(1, "b", "local", "local", 1, "local")["workers"]
    c = Client()
    wait_for(lambda: any(f.get("type") == "deploy.started" for _, f in c.events()), timeout=60,
             what="the deploy job to start")
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    procs.server()          # a new server, while the job still creates the machine
    wait_for(lambda: [w["name"] for w in s.workers()] == [name], timeout=60, what="the worker to register")
    wait_for(lambda: any(f.get("type") == "destroy.done" for _, f in c.events()), timeout=90,
             what="the idle machine to be destroyed")
    assert created(tmp_path) == [f"proc-{name}"], "made once"
    wait_for(lambda: machines(tmp_path) == [], what="no worker process left")
    assert worker_users(r, prefix) == [], "no credential left"
    types = [event_json(f)["type"] for _, f in c.events() if f.get("worker") == name]
    assert types.count("deploy.requested") == 1 and types.count("deploy.succeeded") == 1
