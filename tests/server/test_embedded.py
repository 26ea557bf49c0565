"""`scitq server` with no options: an embedded Valkey with a password and AOF, found by local clients."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import run_cli, wait_for
from scitq import keys


def start(home: Path, env: dict) -> subprocess.Popen:
    log = open(home.parent / "server.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "scitq.cli.main", "server"], env=env, stdout=log, stderr=log)


def test_the_embedded_server_starts_answers_local_clients_stops_cleanly_and_resumes(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "SCITQ_SERVER"}
    env["SCITQ_HOME"] = str(home)
    server = start(home, env)
    try:
        conn_file = home / "connection.json"
        wait_for(conn_file.exists, what="the connection file")
        conn = json.loads(conn_file.read_text())
        assert conn["url"].startswith("redis://admin:") and "@127.0.0.1:" in conn["url"]
        assert oct(conn_file.stat().st_mode & 0o777) == "0o600"
        assert "appendonly yes" in (home / "valkey" / "valkey.conf").read_text()
        res = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
            run_cli("scitq-launch", "-n", "kept", "echo", "persisted", env=env)), what="the server to answer")
        assert "Task queued with task id: 1" in res.stdout
        server.send_signal(signal.SIGTERM)
        assert server.wait(20) == 0
        log = (tmp_path / "server.log").read_text()
        assert "embedded Valkey stopped" in log
        server = start(home, env)
        listing = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
            run_cli("scitq-manage", "task", "list", env=env)), what="the restarted server")
        assert "kept" in listing.stdout and "echo persisted" in listing.stdout
        # a password is required: without it Valkey refuses
        import redis
        port = json.loads(conn_file.read_text())["port"]
        bare = redis.Redis(host="127.0.0.1", port=port)
        try:
            bare.ping()
            assert False, "Valkey answered without a password"
        except redis.AuthenticationError:
            pass
        except redis.ResponseError as exc:
            assert "NOAUTH" in str(exc)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)


def test_a_server_killed_with_sigkill_restarts_on_the_same_embedded_valkey(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "SCITQ_SERVER"}
    env["SCITQ_HOME"] = str(home)
    server = start(home, env)
    try:
        wait_for(lambda: run_cli("scitq-launch", "true", env=env).returncode == 0, what="a first task")
        server.send_signal(signal.SIGKILL)
        server.wait()
        server = start(home, env)
        res = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
            run_cli("scitq-launch", "true", env=env)), what="the restarted server")
        assert "task id: 2" in res.stdout
        assert "already running" in (tmp_path / "server.log").read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
        pid_file = home / "valkey" / "valkey.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
