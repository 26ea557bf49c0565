"""Fixtures and helpers for the deploy tests (imported by the test modules): a real server whose job runner deploys real worker processes.

The provider named `local` here is `procprovider.ProcProvider` (a plugin through SCITQ_CLOUD_PLUGINS): it starts
real `scitq worker` processes on this machine, each with its own credential, as the `local` provider does."""

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
    """The test's environment plus: the `local` provider plugin, a server name of this test's own (deployed
    worker names and their ACL users do not meet other tests'), short timings."""
    values = {
        "SCITQ_CLOUD_PLUGINS": "local=procprovider:ProcProvider",
        "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
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


def machines(tmp_path: Path) -> list[int]:
    """Pids of the worker processes the provider runs now."""
    out = []
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
    for pid in machines(tmp_path):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
