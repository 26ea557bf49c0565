"""Provides the claim of a worker name: one live worker per name, on one machine and across machines.

Two guards:

* On the machine, the worker holds an exclusive `flock` on `workers/<name>/worker.lock` in its
  home (spool and process records live there) for as long as it runs; a second worker with the
  same name and home is refused at once.
* Across machines, the worker's alive key (`scitq:worker:<name>:alive`, refreshed with a TTL by
  the heartbeat) holds `<incarnation> <token> <host> <home>`. A worker starts only if it sets that
  key where none exists (`SET NX`), or if the live value comes from the same host and home: then it
  holds the lock above, so the previous holder is dead (a restart after `kill -9` does not wait for
  the key to expire). A live name on another host or home is refused with one line, and is free
  again once that worker stops or, if it was killed, once its key expires (`SCITQ_OFFLINE_AFTER`).
"""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
from pathlib import Path

import redis

from scitq import keys
from scitq.errors import Conflict

__all__ = ["NameClaim"]


class NameClaim:
    def __init__(self, r: redis.Redis, name: str, home: Path, ttl: float) -> None:
        self.r = r
        self.name = name
        self.home = home
        self.ttl = max(1, int(ttl))
        self.host = socket.gethostname()
        self.token = uuid.uuid4().hex[:12]        # this process
        self._lock_fd: int | None = None

    # --- on this machine --------------------------------------------------------------------
    def lock_home(self) -> None:
        """Hold the worker's home for this process; Conflict if another live process holds it."""
        if self._lock_fd is not None:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "worker.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise Conflict(f"worker {self.name!r} already runs on this machine (pid {holder}, home {self.home})",
                           hint="give this one another name (-n) or another SCITQ_HOME") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- across machines --------------------------------------------------------------------
    def value(self, incarnation: str) -> str:
        return f"{incarnation} {self.token} {self.host} {self.home}"

    def _parts(self, value: str | None) -> tuple[str, str, str]:
        """(token, host, home) of an alive value; an old-style value (the incarnation alone) has no owner."""
        parts = (value or "").split(" ", 3)
        return (parts[1], parts[2], parts[3]) if len(parts) == 4 else ("", "", "")

    def is_ours(self, value: str | None) -> bool:
        return value is None or self._parts(value)[0] == self.token

    def claim(self, incarnation: str) -> None:
        """Take the name for this process (see the module docstring); Conflict naming the holder if it is live."""
        self.lock_home()
        alive = keys.worker_alive(self.name)
        mine = self.value(incarnation)
        if self.r.set(alive, mine, ex=self.ttl, nx=True):
            return
        current = self.r.get(alive)
        token, host, home = self._parts(current)
        if current is None or token == self.token or not token or (host, home) == (self.host, str(self.home)):
            # free meanwhile, ours, from a version that did not say, or our own predecessor (we hold its lock)
            self.r.set(alive, mine, ex=self.ttl)
            return
        left = self.r.ttl(alive)
        raise Conflict(f"worker name {self.name!r} is in use by a live worker on {host} (home {home})",
                       hint="give this worker another name (-n), or stop the other one; a worker killed without "
                            f"stopping frees its name when its alive key expires (in {max(left, 0)} s)")
