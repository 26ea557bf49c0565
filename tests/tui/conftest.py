"""Fixtures of the dashboard tests: the fixed data set in a fresh database, and a dashboard factory."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from tui.kit import frozen_clock, seed


@pytest.fixture
def seeded(redis_url: str, r) -> str:
    """A database holding the fixed data set (no server runs: nothing changes it)."""
    seed(r)
    return redis_url


@pytest.fixture
def dashboard(redis_url: str) -> Callable[..., Any]:
    """Make a Dashboard on this test's database (`frozen=True`: the snapshot clock)."""
    from scitq.tui.app import Dashboard

    def make(url: str | None = None, frozen: bool = False, **kw: Any) -> Dashboard:
        if frozen:
            kw.setdefault("clock", frozen_clock())
        return Dashboard(url or redis_url, **kw)
    return make


@pytest.fixture
def server(procs, redis_url):
    """A real scitq server on this test's database; returns the v1 client (fails fast when unreachable)."""
    from scitq.lib import Server
    procs.server()
    return Server(redis_url, persistent=False)
