"""Containerised tasks end to end: a real server, real worker processes and the private Docker engine."""

from __future__ import annotations

import signal
import time

import pytest

from helpers import wait_for
from scitq import keys
from scitq.lib import Server
from scitq.projections.check import check_ledger

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]


@pytest.fixture
def denv(procs, dockerd, busybox_image):
    procs.env.update(dockerd.environ)
    return procs


def test_a_batch_of_container_tasks_sees_its_mounts_env_and_streams_output(denv, r):
    denv.server()
    denv.worker("dw", concurrency=2)
    s = Server()
    img = "scitq-test/busybox:1"
    ids = s.task_create_many([
        {"command": f"sh -c 'echo cpu=$CPU; ls -d /input /output /tmp /resource; echo {i} > /output/n; "
                    f"touch /resource/x 2>/dev/null || echo ro'", "container": img} for i in range(4)])
    s.join([{"task_id": i} for i in ids], retry=0)
    for ex in s.executions():
        assert ex["status"] == "succeeded", ex
        assert "cpu=" in ex["output"] and "/input\n/output\n/resource\n/tmp\n" in ex["output"]
        assert ex["output"].endswith("ro\n"), "/resource is read-only"
        assert ex["container"] == img
    live = s.task_create("sh -c 'echo first; sleep 3; echo last'", container=img)
    wait_for(lambda: r.xrange(keys.worker_output("dw", live["task_id"], 1)), timeout=20, what="live output")
    assert s.task_get(live["task_id"])["status"] == "running"
    s.join([live], retry=0)
    assert s.executions(task_id=live["task_id"])[-1]["output"] == "first\nlast\n"


def test_bad_container_options_are_refused_at_submission(denv):
    denv.server()
    s = Server()
    from scitq.errors import BadInput
    with pytest.raises(BadInput, match="--frobnicate"):
        s.task_create("true", container="scitq-test/busybox:1", container_options="--frobnicate")
    assert s.tasks() == []


def test_a_missing_image_fails_the_task_with_a_clear_message(denv):
    denv.server()
    denv.worker("dw")
    s = Server()
    t = s.task_create("true", container="127.0.0.1:1/nowhere/none:1")
    s.join([t], retry=0)
    ex = s.executions(task_id=t["task_id"])[-1]
    assert ex["status"] == "failed" and "cannot pull image" in ex["error"]


def test_pause_and_resume_reach_a_container_and_timeouts_stop_it(denv, env):
    from helpers import run_cli
    denv.server()
    denv.worker("dw", batch="cb")
    s = Server()
    t = s.task_create("sh -c 'i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo $i; sleep 0.1; done'",
                      container="scitq-test/busybox:1", batch="cb")
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "running", what="the container to run")
    time.sleep(0.5)
    assert run_cli("scitq-manage", "batch", "stop", "-n", "cb", "--pause", env=env).returncode == 0
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "paused", what="the pause")
    time.sleep(1.0)
    n = len(s.client.output_text(t["task_id"], 1)[0].split())
    time.sleep(1.5)
    assert len(s.client.output_text(t["task_id"], 1)[0].split()) == n, "a paused container does not run"
    assert run_cli("scitq-manage", "batch", "go", "-n", "cb", "--cont", env=env).returncode == 0
    s.join([t], retry=0)
    assert s.executions(task_id=t["task_id"])[-1]["output"].split()[-1] == "40"
    slow = s.task_create("sleep 30", container="scitq-test/busybox:1", batch="cb", run_timeout=2)
    s.join([slow], retry=0)
    ex = s.executions(task_id=slow["task_id"])[-1]
    assert ex["status"] == "failed" and "run timeout" in ex["error"]


def test_a_worker_killed_while_its_container_runs_reattaches_after_restart(denv, r):
    denv.server()
    w = denv.worker("dw-re", concurrency=1)
    s = Server()
    t = s.task_create("sh -c 'echo before; sleep 4; echo after; exit 3'", container="scitq-test/busybox:1")
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "running", what="the container to run")
    time.sleep(0.5)
    w.send_signal(signal.SIGKILL)
    w.wait()
    denv.worker("dw-re", concurrency=1)
    wait_for(lambda: s.task_get(t["task_id"])["status"] == "failed", timeout=60, what="the real exit code")
    exs = s.executions(task_id=t["task_id"])
    assert len(exs) == 1, "the task was not run again: the restarted worker followed its container"
    assert exs[0]["return_code"] == 3
    assert "before" in exs[0]["output"] and "after" in exs[0]["output"]
    assert check_ledger(r).ok


def test_a_worker_pulls_a_private_image_with_credentials_from_its_settings(denv, registry, docker_client, tmp_path):
    import json
    from dockerd import build_busybox_image
    local = build_busybox_image(docker_client, "scitq-test/private-w:1", files={"hello.txt": b"private\n"})
    remote = registry.push(docker_client, local, "scitq/private-w:1")
    for tag in (remote, local):
        docker_client.api.remove_image(tag, force=True)
    denv.server()
    denv.worker("dw-auth", extra_env={"SCITQ_DOCKER_AUTH": json.dumps({registry.address: registry.auth}),
                                      "DOCKER_CONFIG": str(tmp_path / "no-docker-config")})
    s = Server()
    t = s.task_create("cat /hello.txt", container=remote)
    s.join([t], retry=0)
    ex = s.executions(task_id=t["task_id"])[-1]
    assert ex["status"] == "succeeded" and ex["output"] == "private\n", ex["error"]
    docker_client.api.remove_image(remote, force=True)
