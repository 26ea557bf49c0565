"""Fixtures for workflow tests: a real server (and real workers, started by each test) on the test database."""

from __future__ import annotations

import pytest


@pytest.fixture
def server(procs):
    """A real `scitq server` process on this test's database."""
    return procs.server()
