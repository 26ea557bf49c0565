"""Fixtures and helpers for the deploy tests (imported by the test modules): a real server whose job runner
deploys real worker processes.

`cloud_env` uses the real `local` provider. `slow_cloud_env` replaces it (through SCITQ_CLOUD_PLUGINS) by
`procprovider.ProcProvider`, which also starts real `scitq worker` processes but waits before each one (a
deploy slow enough to kill the server during it) and logs every machine it makes."""

from __future__ import annotations

import os
import secrets
import signal
from pathlib import Path

import pytest
import redis

HERE = Path(__file__).resolve().parent


@pytest.fixture
def cloud_env(env, tmp_path, monkeypatch) -> dict[str, str]:
    """The test's environment plus: a server name of this test's own (deployed worker names and their ACL
    users do not meet other tests'), short timings."""
    values = {
        "SCITQ_TEST_MACHINES": str(tmp_path / "machines"),
        "SCITQ_SERVER_NAME": f"t{secrets.token_hex(3)}",
        "SCITQ_IDLE_TIMEOUT": "4",
        "SCITQ_REGISTER_TIMEOUT": "60",
        "SCITQ_DEPLOY_RETRY_INTERVAL": "1",
        "SCITQ_ORPHAN_INTERVAL": "3",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    env.update(values)
    return env


@pytest.fixture
def slow_cloud_env(cloud_env, monkeypatch) -> dict[str, str]:
    """`cloud_env` with `procprovider.ProcProvider` as the `local` provider, 3 s per deploy."""
    values = {"SCITQ_CLOUD_PLUGINS": "local=procprovider:ProcProvider", "SCITQ_TEST_DEPLOY_DELAY": "3",
              "PYTHONPATH": os.pathsep.join([str(HERE), cloud_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    cloud_env.update(values)
    return cloud_env


def machines(tmp_path: Path) -> list[int]:
    """Pids of the worker processes the providers (`local`, or the test's) run now."""
    from scitq.cloud.local import LocalProvider
    out = [int(i.id) for i in LocalProvider().list() if i.id.isdigit()]
    for f in (tmp_path / "machines").glob("*.pid"):
        try:
            pid = int(f.read_text())
            os.kill(pid, 0)
            out.append(pid)
        except (OSError, ValueError):
            continue
    return out


def created(tmp_path: Path) -> list[str]:
    """Every machine the provider made, in order (a machine made twice shows twice)."""
    f = tmp_path / "machines" / "created.log"
    return f.read_text().split() if f.exists() else []


def worker_users(r: redis.Redis, prefix: str) -> list[str]:
    return sorted(u for u in r.execute_command("ACL", "USERS") if u.startswith(f"worker-{prefix}-"))


@pytest.fixture(autouse=True)
def kill_left_machines(tmp_path):
    """Whatever a failing test leaves running is killed at its end."""
    yield
    from scitq.cloud.local import LocalProvider
    for inst in LocalProvider().list():
        LocalProvider().delete(inst.name, inst.region)
    for pid in machines(tmp_path):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
