"""The `local` provider against the provider contract: real `scitq worker` processes on this machine, joining
a real server on the test's Valkey (no double)."""

from __future__ import annotations

import json
import os
import signal

import pytest

from contract import ProviderContract
from helpers import wait_for
from scitq.cloud import get_provider
from scitq.cloud.local import LocalProvider, process_alive

pytestmark = pytest.mark.xdist_group("cloud-local")


@pytest.fixture
def provider(env, tmp_path):
    p = LocalProvider(state_dir=tmp_path / "machines", max_workers=2, grace=5)
    yield p
    for inst in p.list():
        p.delete(inst.name, inst.region)


@pytest.fixture
def region():
    return "local"


@pytest.fixture
def flavor():
    return "local"


@pytest.fixture
def quota_limit():
    return 2


@pytest.fixture
def registers():
    return True


class TestLocalContract(ProviderContract):
    pass


def test_the_registry_builds_the_local_provider_from_the_settings(env, monkeypatch):
    monkeypatch.setenv("SCITQ_LOCAL_MAX_WORKERS", "3")
    p = get_provider("local")
    assert isinstance(p, LocalProvider) and p.max_workers == 3 and p.prefix == "scitq"
    assert str(p.state_dir).startswith(env["SCITQ_HOME"])
    assert p.quotas()[0].cpu_limit == 3 * p.flavors()[0].cpu


def test_the_local_flavor_is_this_machine_at_no_cost(provider):
    (f,) = provider.flavors()
    assert (f.name, f.provider, f.region, f.cost) == ("local", "local", "local", 0.0)
    assert f.cpu == os.cpu_count() and f.ram > 0 and f.disk > 0


def test_machines_are_found_again_by_a_new_provider_object_and_a_dead_one_is_not_listed(provider, boot, tmp_path):
    """A restarted server builds a new provider: it finds the machines from their state files."""
    a = provider.create("local", "local", boot("found-a"))
    b = provider.create("local", "local", boot("found-b"))
    again = LocalProvider(state_dir=tmp_path / "machines", max_workers=2)
    assert {i.name for i in again.list()} == {a.name, b.name}
    rec = json.loads((tmp_path / "machines" / f"{b.name}.json").read_text())
    os.kill(rec["pid"], signal.SIGKILL)
    wait_for(lambda: not process_alive(rec["pid"], rec["started"]), what="the killed worker to be gone")
    assert {i.name for i in again.list()} == {a.name}
    assert not (tmp_path / "machines" / f"{b.name}.json").exists()


def test_the_credential_is_in_the_environment_not_on_the_command_line(provider, boot, tmp_path):
    inst = provider.create("local", "local", boot("secretive"))
    rec = json.loads((tmp_path / "machines" / f"{inst.name}.json").read_text())
    assert process_alive(rec["pid"], rec["started"]), (tmp_path / "machines" / f"{inst.name}.log").read_text()

    def exec_done():
        """The process's /proc files once it runs the worker: read earlier (between fork and exec, slow under
        load) they are the forking process's or empty."""
        cmdline = open(f"/proc/{rec['pid']}/cmdline", "rb").read().decode()
        environ = open(f"/proc/{rec['pid']}/environ", "rb").read().decode()
        return (cmdline, environ) if "scitq.cli.main\0worker" in cmdline and environ else None

    cmdline, environ = wait_for(exec_done, what="the worker process to have exec'd")
    url = boot("x").server_url
    assert url not in cmdline and f"SCITQ_SERVER={url}" in environ
    assert os.getpgid(rec["pid"]) == rec["pid"], "the worker leads its own process group"


def test_deleting_a_worker_with_a_running_task_stops_the_task_too(provider, boot, scitq_server, tmp_path):
    inst = provider.create("local", "local", boot("busy"))
    marker = tmp_path / "task.pid"
    t = scitq_server.task_create(f"sh -c 'echo $$ > {marker}; exec sleep 600'")
    wait_for(lambda: marker.exists() and marker.read_text().strip(), timeout=60, what="the task to start")
    task_pid = int(marker.read_text())
    provider.delete(inst.name, "local")
    wait_for(lambda: not os.path.exists(f"/proc/{task_pid}") or
             open(f"/proc/{task_pid}/stat").read().split(") ")[1][0] == "Z",
             timeout=30, what="the task's process to end")
    assert t["task_id"]
