"""Provides the record of native task processes on the worker's disk, so a restarted worker kills what its
killed predecessor left running.

A native task runs in a process group (a session) of its own, so that signals reach all its
processes; the flip side is that `kill -9` of the worker, even of its whole process group, leaves the
task running. Each started attempt leaves `<task>-<attempt>.json` in the worker's `procs/` dir
(process group id, start time of its leader, boot id), removed when the attempt ends. A worker
starting under the same name and home finds the records its predecessor left and kills those groups:
the server gives these tasks a new attempt, and two attempts of a task never run side by side.

A group is killed only if it is the one recorded: same boot, and its leader (or, once the leader is
gone, each remaining member) started no earlier than the recorded leader; a process id reused by
something else since is left alone. The leader's start time is recorded as read from /proc, or (the
native runner's way, which reads nothing while the new process executes) as the interval of boot clock
ticks around its start: the leader is then the one recorded if it started within that interval.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from pathlib import Path

__all__ = ["ProcessRecords", "boot_ticks", "group_members"]

log = logging.getLogger("scitq.worker")

_NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def boot_ticks() -> int:
    """Now, in the unit of a process's start time in /proc/<pid>/stat: clock ticks since boot."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME) // _NS_PER_TICK


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time in clock ticks since boot) of `pid`, None if it is gone."""
    try:
        raw = _read(f"/proc/{pid}/stat").decode(errors="replace")
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()   # after "pid (comm) "
    return fields[0], int(fields[2]), int(fields[19])


def _read(path: str) -> bytes:
    """A small file's bytes, with plain system calls (no buffered text file: this is on each task's path)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536)
    finally:
        os.close(fd)


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def group_members(pgid: int) -> list[tuple[int, int]]:
    """Living (not zombie) processes of the process group `pgid`, with their start times."""
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        if st and st[1] == pgid and st[0] != "Z":
            out.append((int(entry.name), st[2]))
    return out


class ProcessRecords:
    """The process groups of this worker's running native attempts, one small file each."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._prefix = os.path.join(str(directory), "")   # plain strings on each task's path (no pathlib)
        self.boot = _boot_id()

    def _path(self, task_id: int, attempt: int) -> str:
        return f"{self._prefix}{task_id}-{attempt}.json"

    def record(self, task_id: int, attempt: int, pgid: int, started: tuple[int, int] | None = None) -> None:
        """Note the process group `pgid` of an attempt; `started`: `boot_ticks()` just before and just after
        its leader was started (else its start time is read from /proc)."""
        if started is None:
            st = _stat(pgid)
            data = {"task": task_id, "attempt": attempt, "pgid": pgid, "start": st[2] if st else 0,
                    "boot": self.boot}
        else:
            data = {"task": task_id, "attempt": attempt, "pgid": pgid, "start": started[0],
                    "start_until": started[1], "boot": self.boot}
        path = self._path(task_id, attempt)
        tmp = path[:-len(".json")] + ".tmp"
        try:
            _write(tmp, json.dumps(data).encode())
            os.replace(tmp, path)
        except OSError as exc:   # a full disk: the attempt runs, it just cannot be found after a crash
            log.warning("task %s attempt %s: process group not recorded (%s)", task_id, attempt, exc)

    def forget(self, task_id: int, attempt: int) -> None:
        try:
            os.unlink(self._path(task_id, attempt))
        except OSError:
            pass

    def kill_leftovers(self) -> list[tuple[int, int]]:
        """Kill the process groups recorded by a previous run of this worker; return their (task, attempt)."""
        killed = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                data = json.loads(path.read_text())
                pgid, start, task_id, attempt = int(data["pgid"]), int(data["start"]), data["task"], data["attempt"]
                until = int(data.get("start_until", start))
            except (OSError, ValueError, KeyError, TypeError):
                path.unlink(missing_ok=True)
                continue
            if data.get("boot") == self.boot and pgid > 1 and pgid != os.getpgrp():
                members = group_members(pgid)
                leader = next((s for p, s in members if p == pgid), None)
                ours = start <= leader <= until if leader is not None else all(s >= start for _, s in members)
                if members and ours:
                    try:
                        os.killpg(pgid, signal.SIGKILL)
                        killed.append((task_id, attempt))
                        log.warning("task %s attempt %s: its processes (group %d) outlived the previous run of "
                                    "this worker: killed", task_id, attempt, pgid)
                    except (ProcessLookupError, PermissionError):
                        pass
            path.unlink(missing_ok=True)
        return killed
