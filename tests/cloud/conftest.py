"""Fixtures of the cloud tests: a real scitq server (on the test's Valkey database) for providers whose
machines run real workers, and the contract suite's shared fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def scitq_server(procs):
    """A real `scitq server` on this test's database, and a v1 `Server` client of it."""
    from scitq.lib import Server
    procs.server()
    return Server()


@pytest.fixture
def boot(env):
    """Bootstrap of a worker named `name` that joins the test's server (through its URL)."""
    from scitq.cloud.provider import Bootstrap

    def make(name: str, **kw) -> Bootstrap:
        return Bootstrap(worker=name, server_url=env["SCITQ_SERVER"], **{"concurrency": 1, **kw})
    return make
