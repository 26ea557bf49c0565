"""Provides `scitq tui`, the terminal dashboard."""

from __future__ import annotations

from scitq.errors import ScitqError

__all__ = ["run_tui"]


def run_tui(server: str | None = None, read_only: bool = False) -> int:
    raise ScitqError("the dashboard is not part of this build yet", hint="use `scitq events tail` and scitq-manage")
