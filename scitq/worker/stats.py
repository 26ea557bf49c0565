"""Provides the load, memory and disk figures a worker reports with its heartbeat."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["collect_stats"]

_history: list[float] = []


def collect_stats(workdir: Path) -> dict[str, object]:
    try:
        import psutil
        cpu = psutil.cpu_percent(interval=None)
        times = psutil.cpu_times_percent(interval=None)
        iowait = getattr(times, "iowait", 0.0)
        memory = psutil.virtual_memory().percent
    except Exception:  # psutil missing or restricted
        cpu, iowait, memory = 0.0, 0.0, 0.0
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
    return {"load": f"{cpu:.1f}{arrow} / {iowait:.1f}", "memory": round(memory, 1), "loadavg": load,
            "disk": disk}
