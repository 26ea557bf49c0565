"""Provides the disk autoclean of a worker's work dirs (v1's `-a AUTOCLEAN`, default 90 %)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Callable

from scitq.io.resources import MARKER

__all__ = ["autoclean", "disk_usage_percent"]

log = logging.getLogger("scitq.io")


def disk_usage_percent(path: Path) -> float:
    """Used share of the file system holding `path`, in percent."""
    du = shutil.disk_usage(path)
    return 100.0 * du.used / du.total if du.total else 0.0


def autoclean(workdir_base: Path, threshold_percent: float, in_use: set[Path], *,
              usage: Callable[[Path], float] = disk_usage_percent) -> list[Path]:
    """While the disk holding `workdir_base` is used at `threshold_percent` or more, remove its oldest
    sub-folder (by modification time) that is not in `in_use`. Successful executions remove their
    own work dir, so what is left are failed ones kept for debugging. Hidden folders and resource
    caches (see ResourceCache) are never candidates. Returns the folders removed, oldest first."""
    base = Path(workdir_base)
    if not base.is_dir() or usage(base) < threshold_percent:
        return []
    keep = {Path(p).resolve() for p in in_use}
    candidates = []
    for d in base.iterdir():
        if d.name.startswith(".") or d.is_symlink() or not d.is_dir():
            continue
        if d.resolve() in keep or (d / MARKER).exists():
            continue
        candidates.append((d.stat().st_mtime, d))
    candidates.sort()
    removed: list[Path] = []
    for _mtime, d in candidates:
        if usage(base) < threshold_percent:
            break
        shutil.rmtree(d, ignore_errors=True)
        log.info("autoclean: removed %s", d)
        removed.append(d)
    return removed
