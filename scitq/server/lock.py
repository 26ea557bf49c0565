"""Provides `ServerLock`: the one-writer lock of a server (random token, epoch, TTL), taken and kept through Functions."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from typing import Callable, Iterator

import redis

from scitq import keys
from scitq.errors import ScitqError
from scitq.server.library import fcall

__all__ = ["ServerLock", "AlreadyRunning", "machine_identity", "LOCK_TTL"]

log = logging.getLogger("scitq.server")

LOCK_TTL = 10.0   # seconds; refreshed every second by the loop, and by a thread during long work


def machine_identity() -> str:
    """What tells this process space apart from another with the same hostname: the boot id (a clone of
    a VM boots with a new one) and the pid namespace (each container has its own)."""
    parts = []
    for path in ("/proc/sys/kernel/random/boot_id",):
        try:
            parts.append(open(path).read().strip())
        except OSError:
            parts.append("noboot")
    try:
        parts.append(os.readlink("/proc/self/ns/pid").strip("pid:[]"))
    except OSError:
        parts.append("nons")
    return ".".join(p.replace(":", "") for p in parts)


class AlreadyRunning(ScitqError):
    exit_code = 4


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ServerLock:
    """The lock value is `host:pid:machine:token:epoch`. The token is random; the epoch is incremented by
    every acquisition. A holder is known dead only when it ran in this very process space (same host,
    boot id and pid namespace) and its pid is gone; otherwise the lock is waited for until it expires."""

    def __init__(self, r: redis.Redis, ttl: float = LOCK_TTL) -> None:
        self.r = r
        self.ttl_ms = int(ttl * 1000)
        self.identity = f"{os.uname().nodename}:{os.getpid()}:{machine_identity()}:{secrets.token_hex(8)}"
        self.value = ""

    @property
    def epoch(self) -> int:
        tail = self.value.rpartition(":")[2]
        return int(tail) if tail.isdigit() else 0

    def _dead(self, holder: str) -> bool:
        parts = holder.split(":")
        if len(parts) != 5:
            return False
        host, pid, machine = parts[0], parts[1], parts[2]
        return (host == os.uname().nodename and machine == machine_identity() and pid.isdigit()
                and int(pid) != os.getpid() and not _pid_alive(int(pid)))

    def try_acquire(self) -> str | None:
        """Take the lock if free (or held by a dead server of this machine); None and the holder otherwise."""
        previous = ""
        for _ in range(2):
            try:
                self.value = fcall(self.r, "scitq_lock", [keys.SERVER_LOCK, keys.SERVER_EPOCH, keys.SERVER_ALIVE],
                                   [self.identity, self.ttl_ms, previous])
                return None
            except redis.ResponseError as exc:
                msg = str(exc)
                if not msg.startswith("HELD "):
                    raise
                holder = msg[5:]
            if self.value and holder == self.value:   # ours, from before a Redis outage
                previous = holder
                continue
            if self._dead(holder):
                log.info("the previous server (%s) is dead: taking over its lock", holder)
                previous = holder
                continue
            return holder
        return holder

    def acquire(self, wait: float | None = None, stopping: Callable[[], bool] | None = None) -> None:
        """Wait for the lock (for ever unless `wait` seconds are given; then AlreadyRunning is raised)."""
        deadline = None if wait is None else time.monotonic() + wait
        said = ""
        while True:
            holder = self.try_acquire()
            if holder is None:
                log.info("server lock taken (epoch %d)", self.epoch)
                return
            if deadline is not None and time.monotonic() > deadline:
                raise AlreadyRunning(f"another scitq server is running on this Redis ({holder})")
            if holder != said:
                log.warning("another scitq server holds the lock (%s): waiting for it", holder)
                said = holder
            if stopping is not None and stopping():
                raise AlreadyRunning("stopped while waiting for the server lock")
            time.sleep(0.5)

    def refresh(self) -> bool:
        """Extend the lock; False if another server holds it now (we are fenced out)."""
        try:
            fcall(self.r, "scitq_lock_refresh", [keys.SERVER_LOCK, keys.SERVER_ALIVE, keys.SERVER_EPOCH],
                  [self.value, self.ttl_ms])
            return True
        except redis.ResponseError as exc:
            if str(exc).startswith("FENCED"):
                log.error("%s: this server stops writing", exc)
                return False
            raise

    def release(self) -> None:
        with contextlib.suppress(redis.RedisError):
            fcall(self.r, "scitq_lock_release", [keys.SERVER_LOCK, keys.SERVER_ALIVE], [self.value])

    @contextlib.contextmanager
    def kept(self) -> Iterator[None]:
        """Keep the lock refreshed from a thread during long work (a replay, a rebuild)."""
        done = threading.Event()

        def keep() -> None:
            while not done.wait(1.0):
                with contextlib.suppress(redis.RedisError):
                    self.refresh()

        t = threading.Thread(target=keep, name="scitq-lock-keeper", daemon=True)
        t.start()
        try:
            yield
        finally:
            done.set()
            t.join(5)
