"""Provides the load, memory and disk figures a worker reports with its heartbeat (read from /proc)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["collect_stats"]

_last: dict[str, tuple[float, float, float]] = {}
_history: list[float] = []


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
            "disk": disk}
