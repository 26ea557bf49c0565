"""Fixtures for workflow tests: a real server (and real workers, started by each test) on the test database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from scitq import workflow


@pytest.fixture
def server(procs):
    """A real `scitq server` process on this test's database."""
    return procs.server()


@pytest.fixture(autouse=True)
def drop_unsent_steps():
    """Steps a test left unsent are dropped at its end (else the process would send them at exit,
    to a database already gone). Sending at exit is tested in a child process."""
    yield
    for wf in list(workflow._LIVE):
        wf._unsent.clear()


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docker"))
from dockerd import busybox_image, docker_client, dockerd  # noqa: E402,F401  (fixtures of the docker example)
