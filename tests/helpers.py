"""Test helpers: a real Valkey process, real scitq processes, waiting and CLI running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from scitq import keys
from scitq.server.embedded import free_port, valkey_binary

class ValkeyProc:
    """A Valkey server process on 127.0.0.1 with AOF, that tests may stop, kill and restart."""

    def __init__(self, workdir: Path, fsync: str = "always") -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.password = "test-password"
        self.fsync = fsync
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        conf = self.dir / "valkey.conf"
        conf.write_text(f"bind 127.0.0.1\nport {self.port}\nrequirepass {self.password}\ndir {self.dir}\n"
                        f"appendonly yes\nappendfsync {self.fsync}\nsave \"\"\ndatabases 64\n"
                        f"logfile {self.dir / 'valkey.log'}\n")
        self.proc = subprocess.Popen([valkey_binary(), str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        r = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                r.ping()
                return
            except (redis.ConnectionError, redis.BusyLoadingError):
                if time.monotonic() > deadline:
                    raise RuntimeError("valkey did not start")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class Procs:
    """Real scitq processes started by a test, stopped (or killed) at its end."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = env
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []

    def spawn(self, *args: str, log: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        fh = open(self.tmp / log, "ab")
        p = subprocess.Popen([sys.executable, "-m", "scitq.cli.main", *args], env={**self.env, **(extra_env or {})},
                             stdout=fh, stderr=fh, stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def server(self, **kw) -> subprocess.Popen:
        p = self.spawn("server", "--redis", self.env["SCITQ_SERVER"], log="server.log", **kw)
        r = redis.Redis.from_url(self.env["SCITQ_SERVER"], decode_responses=True)
        deadline = time.monotonic() + 30
        while not r.exists(keys.SERVER_ALIVE):
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + (self.tmp / "server.log").read_text())
            time.sleep(0.05)
        return p

    def worker(self, name: str, concurrency: int = 2, prefetch: int = 0, batch: str | None = None,
               **kw) -> subprocess.Popen:
        args = ["worker", "-n", name, "-C", str(concurrency), "-p", str(prefetch)]
        if batch:
            args += ["-b", batch]
        return self.spawn(*args, log=f"worker-{name}.log", **kw)

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def run_cli(*args: str, env: dict[str, str], timeout: float = 60, input: str | None = None):
    """Run a console script as a real process; returns CompletedProcess (text)."""
    return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=timeout, input=input)


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 in front of Valkey whose link can be cut (connections dropped and refused)."""

    def __init__(self, target_port: int) -> None:
        import socket
        import threading
        self.target = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.open = True
        self.conns: list = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        import socket
        import threading
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b) -> None:
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass

    def cut(self) -> None:
        import socket
        self.open = False
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                    c.close()
                except OSError:
                    pass
            self.conns.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.sock.close()
