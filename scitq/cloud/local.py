"""Provides the `local` provider: each "machine" is a real `scitq worker` process started on this machine.

A machine is a detached process (its own session and process group) running `python -m scitq.cli.main
worker` with the Bootstrap's name, concurrency, prefetch, batch and flavor. The worker's credential URL goes
in its environment (`SCITQ_SERVER`), never on its command line. Each machine leaves a state file
`<state dir>/<machine>.json` (pid, process start time, flavor) and a log `<state dir>/<machine>.log`; the
state dir is `$SCITQ_HOME/cloud/local` unless given. `list()` reads the state files, so the machines are
found again by a restarted server; a process that is gone (or whose pid was reused) is not listed and its
state file is removed.

One region (`local`), one flavor (`local`: this machine's cpus, RAM and disk, cost 0). At most
`max_workers` machines run at once (`SCITQ_LOCAL_MAX_WORKERS`, default 4); `quotas()` expresses it in
cpus (max_workers × the flavor's cpus), so the catalog's `available` is the number of machines still allowed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from scitq.cloud.provider import (Bootstrap, Flavor, Instance, ProviderError, Quota, QuotaError, TransientError,
                                  UnsupportedFlavor, machine_name)

__all__ = ["LocalProvider", "REGION", "FLAVOR", "machine_flavor", "process_alive", "kill_tree"]

REGION = "local"
FLAVOR = "local"
GB = 1024 ** 3


def machine_flavor(provider: str = "local", region: str = REGION, name: str = FLAVOR,
                   path: Path | None = None) -> Flavor:
    """This machine as a flavor: its cpus, RAM (GB) and the size of the disk holding `path` (GB), cost 0."""
    cpu = os.cpu_count() or 1
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    except (ValueError, OSError):
        ram = 0.0
    probe = path if path is not None and path.exists() else Path("/")
    disk = shutil.disk_usage(probe).total / GB
    return Flavor(name=name, provider=provider, region=region, cpu=cpu, ram=round(ram, 1), disk=round(disk, 1))


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None if gone.
    With the pid it identifies a process: a reused pid has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":     # a zombie is gone for us
        return None
    return fields[19]


def process_alive(pid: int, started: str) -> bool:
    return pid > 0 and _start_time(pid) == started


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _signal_groups(pids: list[int], sig: int) -> None:
    groups = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(pid))
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, sig)


def kill_tree(pid: int, started: str, grace: float = 10.0) -> None:
    """Stop the process `pid` (if it is still the one started at `started`), its process group and the
    process groups of its descendants (tasks run in their own groups): SIGTERM, then SIGKILL after `grace`
    seconds."""
    if not process_alive(pid, started):
        return
    pids = [pid, *_descendants(pid)]
    _signal_groups(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not process_alive(pid, started):
            break
        time.sleep(0.05)
    pids = [p for p in pids if _start_time(p) is not None] + _descendants(pid)
    _signal_groups(pids, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process_alive(pid, started) and time.monotonic() < deadline:
        time.sleep(0.05)


class LocalProvider:
    """Real `scitq worker` processes on this machine (see the module docstring)."""

    name = "local"

    def __init__(self, *, prefix: str | None = None, max_workers: int | None = None,
                 state_dir: str | Path | None = None, python: str | None = None, grace: float = 10.0,
                 env: dict[str, str] | None = None) -> None:
        from scitq.settings import settings
        cfg = settings()
        self.prefix = prefix or cfg.cloud_prefix
        self.max_workers = cfg.local_max_workers if max_workers is None else int(max_workers)
        self.state_dir = Path(state_dir) if state_dir else cfg.home / "cloud" / "local"
        self.python = python or sys.executable
        self.grace = grace
        self.env = dict(env or {})

    # --- description ---------------------------------------------------------------------------
    def regions(self) -> list[str]:
        return [REGION]

    def _flavor(self) -> Flavor:
        return machine_flavor(self.name, REGION, FLAVOR, self.state_dir)

    def flavors(self, region: str | None = None) -> list[Flavor]:
        if region not in (None, REGION):
            return []
        return [self._flavor()]

    def quotas(self) -> list[Quota]:
        cpu = self._flavor().cpu
        return [Quota(provider=self.name, region=REGION, cpu_limit=self.max_workers * cpu,
                      cpu_used=len(self.list()) * cpu)]

    # --- state files ---------------------------------------------------------------------------
    def _state(self, machine: str) -> Path:
        return self.state_dir / f"{machine}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One create/delete at a time among every process using this state dir (the quota check and the
        start are one step)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _records(self) -> list[dict]:
        out = []
        if not self.state_dir.is_dir():
            return out
        for path in sorted(self.state_dir.glob(f"{self.prefix}-*.json")):
            try:
                rec = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if process_alive(int(rec.get("pid", 0)), str(rec.get("started", ""))):
                out.append(rec)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
        return out

    def _instance(self, rec: dict) -> Instance:
        return Instance(name=rec["name"], provider=self.name, region=REGION, flavor=rec.get("flavor", FLAVOR),
                        id=str(rec["pid"]), status="active", ipv4="127.0.0.1")

    # --- machines ------------------------------------------------------------------------------
    def list(self) -> list[Instance]:
        return [self._instance(rec) for rec in self._records()]

    def _command(self, boot: Bootstrap, flavor: str) -> list[str]:
        cmd = [self.python, "-m", "scitq.cli.main", "worker", "-n", boot.worker, "-C", str(boot.concurrency),
               "-p", str(boot.prefetch), "-f", flavor]
        if boot.batch:
            cmd += ["-b", boot.batch]
        return cmd

    def _environment(self, boot: Bootstrap, machine: str) -> dict[str, str]:
        env = {**os.environ, **self.env, **boot.env, "SCITQ_SERVER": boot.server_url}
        if boot.rclone_conf:
            path = self.state_dir / f"{machine}.rclone.conf"
            path.write_text(boot.rclone_conf)
            path.chmod(0o600)
            env["RCLONE_CONFIG"] = str(path)
        if boot.ca_file:
            path = self.state_dir / f"{machine}.ca.pem"
            path.write_text(boot.ca_file)
            env["SCITQ_TLS_CA"] = str(path)
        return env

    def create(self, flavor: str, region: str, boot: Bootstrap, *, timeout: float = 600.0) -> Instance:
        if region != REGION:
            raise UnsupportedFlavor(f"local: no region {region!r} (only {REGION!r})", provider=self.name,
                                    region=region, flavor=flavor)
        if flavor != FLAVOR:
            raise UnsupportedFlavor(f"local: no flavor {flavor!r} (only {FLAVOR!r})", provider=self.name,
                                    region=region, flavor=flavor)
        machine = machine_name(self.prefix, boot.worker)
        with self._locked():
            records = self._records()
            for rec in records:
                if rec["name"] == machine:      # a retried create finds the machine it started
                    return self._instance(rec)
            if len(records) >= self.max_workers:
                raise QuotaError(f"local: {len(records)} workers already run, the most allowed is "
                                 f"{self.max_workers} (SCITQ_LOCAL_MAX_WORKERS)", provider=self.name,
                                 region=region, flavor=flavor)
            log = self.state_dir / f"{machine}.log"
            with open(log, "ab") as fh:
                try:
                    proc = subprocess.Popen(self._command(boot, flavor), env=self._environment(boot, machine),
                                            stdin=subprocess.DEVNULL, stdout=fh, stderr=fh,
                                            start_new_session=True, close_fds=True)
                except OSError as exc:
                    raise TransientError(f"local: cannot start a worker: {exc}", provider=self.name,
                                         region=region, flavor=flavor) from exc
            started = None
            while started is None and proc.poll() is None:
                started = _start_time(proc.pid)
            if started is None:
                raise ProviderError(f"local: worker {boot.worker} exited at once (code {proc.returncode}): "
                                    f"{_tail(log)}", provider=self.name, region=region, flavor=flavor)
            rec = {"name": machine, "worker": boot.worker, "pid": proc.pid, "started": started, "flavor": flavor,
                   "log": str(log), "created": time.time()}
            tmp = self._state(machine).with_suffix(".tmp")
            tmp.write_text(json.dumps(rec))
            os.replace(tmp, self._state(machine))
        # the Popen object is dropped: the process is detached and outlives us; reap it if it ends while
        # we still run (avoids a zombie counted as alive by nobody)
        _reap_later(proc)
        return self._instance(rec)

    def delete(self, name: str, region: str) -> None:
        path = self._state(name)
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            return                                  # gone counts as deleted
        kill_tree(int(rec.get("pid", 0)), str(rec.get("started", "")), grace=self.grace)
        _started[:] = [p for p in _started if p.poll() is None]     # reap it if we started it
        for suffix in (".json", ".rclone.conf", ".ca.pem"):
            with contextlib.suppress(OSError):
                (self.state_dir / f"{name}{suffix}").unlink()


def _tail(log: Path, n: int = 5) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-n:])


_started: list[subprocess.Popen] = []


def _reap_later(proc: subprocess.Popen) -> None:
    """Keep a reference to the child so that `poll()` reaps it once it exits (checked at each new start)."""
    _started.append(proc)
    _started[:] = [p for p in _started if p.poll() is None]
