"""Fixtures for the resilience tests: fast liveness timings and a ledger check at the end of each test."""

from __future__ import annotations

import pytest


@pytest.fixture
def fast_env(env, monkeypatch):
    values = {"SCITQ_OFFLINE_AFTER": "1.5", "SCITQ_LOST_AFTER": "2", "SCITQ_UNCLAIMED_AFTER": "3",
              "SCITQ_HEARTBEAT_INTERVAL": "0.3", "SCITQ_REAPER_INTERVAL": "0.3"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    env.update(values)
    return env
