"""Provides the load, memory, disk and network figures a worker reports with its heartbeat (read from /proc).

Speeds (bytes/s) are over the time since the previous call; totals count from the first call (the worker's
start), as v1 did. Both are the machine's, not only this worker's tasks'.
Disks are the whole block devices (no partitions, loop, RAM or device-mapper devices, which would count
the same bytes twice); the network is every interface but the loopback.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

__all__ = ["collect_stats"]

_last: dict[str, tuple[float, float, float]] = {}
_history: list[float] = []
_counters: dict[str, tuple[float, tuple[int, int]]] = {}
_base: dict[str, tuple[int, int]] = {}
_SKIP_DISKS = ("loop", "ram", "zram", "dm-", "sr", "fd", "nbd")


def _cpu() -> tuple[float, float]:
    """CPU user+system % and iowait % since the previous call (Linux /proc/stat)."""
    try:
        with open("/proc/stat") as fh:
            parts = [float(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    total, idle, iowait = sum(parts), parts[3], parts[4] if len(parts) > 4 else 0.0
    prev = _last.get("cpu")
    _last["cpu"] = (total, idle, iowait)
    if prev is None or total <= prev[0]:
        return 0.0, 0.0
    dt = total - prev[0]
    return 100.0 * (dt - (idle - prev[1]) - (iowait - prev[2])) / dt, 100.0 * (iowait - prev[2]) / dt


def _memory() -> float:
    try:
        info = {}
        with open("/proc/meminfo") as fh:
            for line in fh:
                k, _, v = line.partition(":")
                info[k] = float(v.split()[0])
        return 100.0 * (1 - info["MemAvailable"] / info["MemTotal"])
    except (OSError, ValueError, KeyError, ZeroDivisionError):
        return 0.0


def _disk_bytes(diskstats: str = "/proc/diskstats", sys_block: str = "/sys/block") -> tuple[int, int]:
    """(bytes read, bytes written) since boot by the whole disks."""
    try:
        disks = set(os.listdir(sys_block))
    except OSError:
        disks = None
    read = written = 0
    try:
        with open(diskstats) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 10 or parts[2].startswith(_SKIP_DISKS):
                    continue
                if disks is not None and parts[2] not in disks:
                    continue          # a partition: its bytes are already counted in its disk's
                read += int(parts[5]) * 512
                written += int(parts[9]) * 512
    except (OSError, ValueError):
        pass
    return read, written


def _net_bytes(netdev: str = "/proc/net/dev") -> tuple[int, int]:
    """(bytes received, bytes sent) since boot by every interface but the loopback."""
    recv = sent = 0
    try:
        with open(netdev) as fh:
            for line in fh:
                name, sep, rest = line.partition(":")
                if not sep or name.strip() == "lo":
                    continue
                fields = rest.split()
                recv += int(fields[0])
                sent += int(fields[8])
    except (OSError, ValueError, IndexError):
        pass
    return recv, sent


def _speed(kind: str, now: float, totals: tuple[int, int]) -> tuple[float, float]:
    prev = _counters.get(kind)
    _counters[kind] = (now, totals)
    if prev is None or now <= prev[0]:
        return 0.0, 0.0
    dt = now - prev[0]
    return max(0.0, (totals[0] - prev[1][0]) / dt), max(0.0, (totals[1] - prev[1][1]) / dt)


def io_stats() -> dict[str, object]:
    """Disk and network speeds and totals, as heartbeat fields."""
    now = time.monotonic()
    disk, net = _disk_bytes(), _net_bytes()
    disk_read, disk_write = _speed("disk", now, disk)
    net_recv, net_sent = _speed("net", now, net)
    d0, n0 = _base.setdefault("disk", disk), _base.setdefault("net", net)
    return {"disk_read": round(disk_read), "disk_write": round(disk_write),
            "disk_read_total": max(0, disk[0] - d0[0]), "disk_write_total": max(0, disk[1] - d0[1]),
            "net_recv": round(net_recv), "net_sent": round(net_sent),
            "net_recv_total": max(0, net[0] - n0[0]), "net_sent_total": max(0, net[1] - n0[1])}


def collect_stats(workdir: Path) -> dict[str, object]:
    cpu, iowait = _cpu()
    _history.append(cpu)
    del _history[:-10]
    avg = sum(_history) / len(_history)
    arrow = "↑" if cpu > avg + 1 else ("↓" if cpu < avg - 1 else "")
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = ""
    try:
        du = shutil.disk_usage(workdir)
        disk = round(100.0 * du.used / du.total, 1)
    except OSError:
        disk = 0.0
    return {"load": f"{cpu:.1f}{arrow} / {iowait:.1f}", "memory": round(_memory(), 1), "loadavg": load,
            "disk": disk, **io_stats()}
