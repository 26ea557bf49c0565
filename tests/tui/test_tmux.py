"""End to end: the real `scitq tui` in a terminal (tmux), driven by keys, read from the screen."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from helpers import wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def test_pausing_a_batch_from_the_terminal(server, redis_url, env):
    server.task_create_many([{"command": "true", "batch": "tmux-batch"} for _ in range(3)])
    sock = f"scitq-tui-{uuid.uuid4().hex[:10]}"          # one tmux server per test (xdist-safe)

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", sock, *args], env=env, capture_output=True, text=True,
                              timeout=10).stdout

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "tui")

    socket_path = ""
    try:
        tmux("new-session", "-d", "-s", "tui", "-x", "160", "-y", "50",
             f"{sys.executable} -m scitq.cli.main tui -s '{redis_url}'")
        socket_path = tmux("display-message", "-p", "#{socket_path}").strip()
        wait_for(lambda: "Workers" in screen() and "server up" in screen(), timeout=20, what="the dashboard")
        tmux("send-keys", "-t", "tui", "b")
        wait_for(lambda: "tmux-batch" in screen(), what="the batch on screen")
        tmux("send-keys", "-t", "tui", "p")
        wait_for(lambda: "Pause batch tmux-batch" in screen(), what="the pause dialog")
        tmux("send-keys", "-t", "tui", "Enter")
        wait_for(lambda: server.batches()[0]["paused"] is True, what="the batch paused (API)")
        wait_for(lambda: any("tmux-batch" in line and "paused" in line for line in screen().splitlines()),
                 what="the batch shown paused")
        tmux("send-keys", "-t", "tui", "q")
        wait_for(lambda: "tui" not in tmux("list-sessions"), timeout=10, what="the dashboard to quit")
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], env=env, capture_output=True)
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)
