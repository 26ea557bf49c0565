"""Provides `scitq tui`, the terminal dashboard (Textual): workers, batches, tasks, task detail, events — live.

`run_tui(server, read_only=False)` is what the CLI calls. The app itself is `scitq.tui.app.Dashboard`
(imported on demand: textual is only loaded when the dashboard runs).
"""

from __future__ import annotations

__all__ = ["run_tui"]


def run_tui(server: str | None = None, read_only: bool = False) -> int:
    """Run the dashboard on the scitq at `server` (host, redis:// URL, or the local connection file)."""
    from scitq.connection import resolve_url
    from scitq.tui.app import Dashboard

    url = resolve_url(server)
    result = Dashboard(url, read_only=read_only).run()
    return int(result or 0)
