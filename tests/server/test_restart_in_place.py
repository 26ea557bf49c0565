"""Restarting the embedded server in place: same port, clients and workers follow, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis

from helpers import run_cli, wait_for
from scitq import keys
from scitq.projections.check import check_ledger

pytestmark = pytest.mark.xdist_group("restart-in-place")

FAST = {"SCITQ_HEARTBEAT_INTERVAL": "0.3", "SCITQ_REAPER_INTERVAL": "0.3", "SCITQ_OUTPUT_FLUSH": "0.5",
        "SCITQ_OFFLINE_AFTER": "20", "SCITQ_REPLY_TIMEOUT": "30", "PYTHONUNBUFFERED": "1"}

JOINER = textwrap.dedent("""
    import json, sys
    from scitq.lib import Server
    s = Server()
    tasks = [s.task_create(f"sleep {sys.argv[2]}; echo task-{i}", shell=True, name=f"t{i}")
             for i in range(int(sys.argv[1]))]
    print("submitted", len(tasks), flush=True)
    counts = s.join(tasks, retry=0)
    print("JOINED " + json.dumps(counts), flush=True)
""")


class Home:
    """One SCITQ_HOME with an embedded `scitq server`, and the processes that found it there."""

    def __init__(self, tmp: Path, name: str = "home") -> None:
        self.tmp = tmp
        self.home = tmp / name
        self.env = {k: v for k, v in os.environ.items() if k not in ("SCITQ_SERVER", "SCITQ_REDIS")}
        self.env.update(FAST, SCITQ_HOME=str(self.home))
        self.server: subprocess.Popen | None = None
        self.others: list[subprocess.Popen] = []

    def conn(self) -> dict:
        return json.loads((self.home / "connection.json").read_text())

    def start_server(self, extra_env: dict[str, str] | None = None, argv: list[str] | None = None) -> int:
        log = open(self.tmp / "server.log", "ab")
        argv = argv or [sys.executable, "-m", "scitq.cli.main", "server"]
        self.server = subprocess.Popen(argv, env={**self.env, **(extra_env or {})}, stdout=log, stderr=log,
                                       stdin=subprocess.DEVNULL)

        def alive():
            try:
                conn = self.conn()
                r = redis.Redis.from_url(conn["url"], socket_connect_timeout=1)
                return conn["port"] if r.exists(keys.SERVER_ALIVE) and conn.get("pid") else None
            except (OSError, ValueError, KeyError, redis.RedisError):
                return None
        return wait_for(alive, timeout=30, interval=0.05, what="the server to answer")

    def stop_server(self) -> None:
        assert self.server is not None
        self.server.send_signal(signal.SIGTERM)
        assert self.server.wait(30) == 0

    def spawn(self, *argv: str, log: str) -> subprocess.Popen:
        fh = open(self.tmp / log, "ab")
        p = subprocess.Popen(list(argv), env=self.env, stdout=fh, stderr=fh, stdin=subprocess.DEVNULL)
        self.others.append(p)
        return p

    def worker(self, name: str, concurrency: int = 2) -> subprocess.Popen:
        return self.spawn(sys.executable, "-m", "scitq.cli.main", "worker", "-n", name, "-C", str(concurrency),
                          log=f"worker-{name}.log")

    def joiner(self, n: int, sleep: float) -> subprocess.Popen:
        return self.spawn(sys.executable, "-c", JOINER, str(n), str(sleep), log="joiner.log")

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.conn()["url"], decode_responses=True)

    def close(self) -> None:
        for p in self.others:
            if p.poll() is None:
                p.terminate()
        for p in self.others:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.server is not None and self.server.poll() is None:
            self.stop_server()


@pytest.fixture
def home(tmp_path):
    h = Home(tmp_path)
    yield h
    h.close()


class Squatter:
    """Another program taking a port: it accepts connections and closes them at once (it is no Redis)."""

    def __init__(self, port: int) -> None:
        import threading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def close(self) -> None:
        self.sock.close()


def executions_per_task(r: redis.Redis) -> dict[str, int]:
    runs: dict[str, int] = {}
    for _, f in r.xrange(keys.EVENTS):
        if f["type"] == "execution.started":
            runs[f["task"]] = runs.get(f["task"], 0) + 1
    return runs


def test_the_embedded_server_restarted_20_times_keeps_its_port_and_its_worker_and_joining_client(home):
    restarts, n_tasks = 20, 60
    port = home.start_server()
    home.worker("w-loop", concurrency=3)
    joiner = home.joiner(n_tasks, 0.3)
    wait_for(lambda: "submitted" in (home.tmp / "joiner.log").read_text(), what="the tasks to be submitted")
    ports, slowest = [], 0.0
    for _ in range(restarts):
        time.sleep(0.3)
        started = time.monotonic()
        home.stop_server()
        ports.append(home.start_server())
        slowest = max(slowest, time.monotonic() - started)
    assert joiner.wait(180) == 0, (home.tmp / "joiner.log").read_text()
    out = (home.tmp / "joiner.log").read_text()
    counts = json.loads(out.split("JOINED ", 1)[1].splitlines()[0])
    r = home.redis()
    runs = executions_per_task(r)
    lost = n_tasks - counts["succeeded"]
    changes = sum(1 for p in ports if p != port)
    print(f"restart loop: {restarts} restarts, port changes = {changes}, tasks lost = {lost}, "
          f"tasks run twice = {sum(1 for v in runs.values() if v > 1)}, slowest restart {slowest:.1f}s")
    assert changes == 0 and lost == 0
    assert all(v == 1 for v in runs.values()) and len(runs) == n_tasks
    assert check_ledger(r).ok
    worker_log = (home.tmp / "worker-w-loop.log").read_text()
    assert "Traceback" not in worker_log


def test_when_the_port_is_taken_meanwhile_the_server_moves_and_clients_follow_it_saying_so_once(home):
    old = home.start_server()
    home.worker("w-follow", concurrency=2)
    joiner = home.joiner(4, 0.2)
    wait_for(lambda: "submitted" in (home.tmp / "joiner.log").read_text(), what="the tasks to be submitted")
    home.stop_server()
    squatter = Squatter(old)
    try:
        new = home.start_server()
        assert new != old
        assert "embedded Valkey moves to port" in (home.tmp / "server.log").read_text()
        assert joiner.wait(120) == 0, (home.tmp / "joiner.log").read_text()
        late = home.joiner(2, 0)
        assert late.wait(60) == 0
        joined = (home.tmp / "joiner.log").read_text()
        assert joined.count('"succeeded": 4') == 1 and joined.count('"succeeded": 2') == 1
        assert joined.count("following it to its new address") == 1
        assert f"127.0.0.1:{new}" in joined
        worker_log = (home.tmp / "worker-w-follow.log").read_text()
        assert worker_log.count("following it to its new address") == 1
    finally:
        squatter.close()


def test_events_tail_follows_the_server_to_its_new_port(home):
    old = home.start_server()
    tail = subprocess.Popen([sys.executable, "-m", "scitq.cli.main", "events", "tail"], env=home.env,
                            stdout=open(home.tmp / "tail.out", "w"), stderr=open(home.tmp / "tail.err", "w"))
    home.others.append(tail)
    try:
        assert run_cli("scitq-launch", "-n", "before", "true", env=home.env).returncode == 0
        home.stop_server()
        squatter = Squatter(old)
        try:
            assert home.start_server() != old
            assert run_cli("scitq-launch", "-n", "after-move", "true", env=home.env).returncode == 0
            wait_for(lambda: "after-move" in (home.tmp / "tail.out").read_text(), what="the tail to follow")
        finally:
            squatter.close()
    finally:
        tail.terminate()
    tail.wait(20)
    err = (home.tmp / "tail.err").read_text()
    assert err.count("following it to its new address") == 1


OLD_SERVER = Path(__file__).parent / "old_server.py"


def ledger_count(home: Home, needle: str) -> int:
    return sum(1 for _, f in home.redis().xrange(keys.EVENTS) if needle in json.dumps(f))


def test_a_rolling_upgrade_while_tasks_run_loses_nothing_runs_nothing_twice_and_join_returns(home):
    """Given tasks running under the previous server version (it writes `worker.signalled` version 1,
    without `order`), when the server is stopped and the newer one started, then each worker restarted
    in place with `worker restart` one after the other: the client in join() returns normally, every
    task ran once and succeeded, and the ledger (old and new entries) replays and checks clean.

    The previous version is this code with `worker.signalled` put back to its version 1 shape in the
    server process only (tests/server/old_server.py), as the release before the change wrote it."""
    n_tasks, names = 40, ["w-up-1", "w-up-2"]
    home.start_server(argv=[sys.executable, str(OLD_SERVER)])
    workers = {name: home.worker(name, concurrency=2) for name in names}
    joiner = home.joiner(n_tasks, 0.4)
    wait_for(lambda: "submitted" in (home.tmp / "joiner.log").read_text(), what="the tasks to be submitted")
    wait_for(lambda: all("registered" in (home.tmp / f"worker-{n}.log").read_text() for n in names),
             what="the workers to register")
    assert run_cli("scitq-manage", "worker", "clean", "-n", names[0], env=home.env).returncode == 0
    wait_for(lambda: ledger_count(home, '"v": "1", "worker": "w-up-1", "data": "{\\"type\\":\\"worker.signalled'),
             what="an order written by the old server")
    running = home.redis()

    # (1) the newer server replaces the old one while tasks run
    home.stop_server()
    home.start_server()
    assert "Traceback" not in (home.tmp / "server.log").read_text()

    # (2) each worker restarted in place, one after the other
    for name in names:
        res = run_cli("scitq-manage", "worker", "restart", "-n", name, env=home.env)
        assert res.returncode == 0, res.stderr
        log = home.tmp / f"worker-{name}.log"
        wait_for(lambda: log.read_text().count("registered") >= 2, timeout=60, what=f"{name} to restart")
        assert workers[name].poll() is None    # the same process, new code (exec in place)

    assert joiner.wait(180) == 0, (home.tmp / "joiner.log").read_text()
    out = (home.tmp / "joiner.log").read_text()
    counts = json.loads(out.split("JOINED ", 1)[1].splitlines()[0])
    assert counts["succeeded"] == n_tasks
    runs = executions_per_task(running)
    assert len(runs) == n_tasks and all(v == 1 for v in runs.values()), runs
    orders = [f for _, f in running.xrange(keys.EVENTS) if f["type"] == "worker.signalled"]
    assert [f["v"] for f in orders] == ["1", "3", "3"]
    history = run_cli("scitq", "events", "history", "--worker", names[0], env=home.env)
    assert history.returncode == 0 and "order=clean" in history.stdout and "order=restart" in history.stdout, \
        history.stdout
    verify = run_cli("scitq", "events", "rebuild", "--verify", env=home.env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    check = run_cli("scitq", "events", "check", env=home.env)
    assert check.returncode == 0, check.stdout + check.stderr


OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def doc_block(name: str) -> str:
    import re
    blocks = dict(re.findall(r"```sh ([\w-]+)\n(.*?)```", OPERATIONS.read_text(), re.S))
    return blocks[name]


def test_the_backup_and_move_commands_of_the_operations_doc_work_as_written(home, tmp_path):
    """Given a running server with a task, when backed up while running (then stopped and backed up
    again), and restored into another SCITQ_HOME, then the server started there has the task."""
    home.start_server()
    assert run_cli("scitq-launch", "-n", "kept", "echo", "moved", env=home.env).returncode == 0
    for name in ("backup-running", "backup-stopped"):
        res = subprocess.run(["bash", "-e", "-c", doc_block(name)], env=home.env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert (tmp_path / "scitq-backup.tar.gz").stat().st_size > 0
        if name == "backup-running":
            assert home.redis().config_get("auto-aof-rewrite-percentage") == {"auto-aof-rewrite-percentage": "100"}
            home.stop_server()
    elsewhere = Home(tmp_path, "moved-home")
    try:
        res = subprocess.run(["bash", "-e", "-c", doc_block("restore")], env=elsewhere.env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        elsewhere.start_server()
        listing = run_cli("scitq-manage", "task", "list", env=elsewhere.env)
        assert "kept" in listing.stdout and "echo moved" in listing.stdout, listing.stdout + listing.stderr
    finally:
        elsewhere.close()


def test_every_long_lived_client_found_through_scitq_home_follows_the_connection_file(tmp_path, monkeypatch,
                                                                                     redis_url, caplog):
    """Given clients made while the connection file names a dead port, when the file is rewritten with the
    server's new address, then each client's next call reaches it (the typed Client, the v1 Server, the
    dashboard's source and a worker's connection), and the move is said once per client."""
    from scitq.api.client import Client
    from scitq.connection import connect, resolve_url, write_connection_file
    from scitq.lib import Server
    from scitq.server.embedded import free_port
    from scitq.tui.source import Source

    monkeypatch.setenv("SCITQ_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SCITQ_SERVER", raising=False)
    conn_file = tmp_path / "home" / "connection.json"
    dead = f"redis://:test-password@127.0.0.1:{free_port()}/{redis_url.rsplit('/', 1)[1]}"
    write_connection_file(conn_file, dead, embedded=True)
    client = Client(timeout=5)
    v1 = Server(persistent=False)
    source = Source(resolve_url())
    worker_r = connect(resolve_url(), timeout=30)
    explicit = connect(redis_url.replace("test-password", "other"))   # an explicit address is kept
    write_connection_file(conn_file, redis_url, embedded=True)
    client.ping()
    assert v1.tasks() == []
    assert source.server_alive() is False
    assert worker_r.ping() and worker_r.ping()
    assert explicit.connection_pool.connection_class is redis.Connection
    said = [rec.getMessage() for rec in caplog.records if "following it to its new address" in rec.getMessage()]
    assert len(said) == 4, said

