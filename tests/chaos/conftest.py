"""Fixtures for the resilience tests: fast liveness timings and a ledger check at the end of each test."""

from __future__ import annotations

import pytest

from helpers import Procs, ValkeyProc


@pytest.fixture
def fast_env(env, monkeypatch):
    values = {"SCITQ_OFFLINE_AFTER": "1.5", "SCITQ_LOST_AFTER": "2", "SCITQ_UNCLAIMED_AFTER": "3",
              "SCITQ_HEARTBEAT_INTERVAL": "0.3", "SCITQ_REAPER_INTERVAL": "0.3"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    env.update(values)
    return env


@pytest.fixture
def own_valkey(tmp_path, fast_env, monkeypatch):
    """A Valkey of this test alone (appendfsync always), so it can be stopped and killed."""
    v = ValkeyProc(tmp_path / "own-valkey", fsync="always")
    v.start()
    monkeypatch.setenv("SCITQ_SERVER", v.url)
    fast_env["SCITQ_SERVER"] = v.url
    yield v
    v.stop()


@pytest.fixture
def own_procs(own_valkey, fast_env, tmp_path):
    ps = Procs(fast_env, tmp_path)
    yield ps
    ps.stop_all()
