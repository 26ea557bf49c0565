"""Provides the worker's work dirs: one per attempt, reused when left empty, removed when the disk fills."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from scitq.worker.engines import Engines

__all__ = ["WorkDirs", "SUBDIRS"]

log = logging.getLogger("scitq.worker")

SUBDIRS = ("input", "output", "tmp", "resource")
GIVEN_GRACE = 300.0   # seconds a work dir just handed out is kept from cleaning, until its task slot names it


class WorkDirs:
    """Work dirs under the worker's base dir; the resource cache lives in `resources/` beside them."""

    def __init__(self, base: Path, engines: Engines) -> None:
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.resources = base / "resources"
        self.engines = engines
        self._clean: list[Path] = []      # emptied work dirs of succeeded tasks, ready for the next one
        self._given: dict[Path, float] = {}   # handed out by make(): when (a clean ignores them for a while)
        self._lock = threading.Lock()

    def make(self) -> Path:
        """A work dir for one attempt. Until the caller's task slot names it, a concurrent clean could take
        it for an unused one: it is kept from cleaning for `GIVEN_GRACE` seconds."""
        with self._lock:
            now = time.monotonic()
            for old in [p for p, t in self._given.items() if now - t > GIVEN_GRACE]:
                del self._given[old]
            if self._clean:          # an emptied work dir of a succeeded task: no file system work
                wd = self._clean.pop()
                self._given[wd] = now
                return wd
            wd = Path(tempfile.mkdtemp(prefix="task-", dir=self.base))
            self._given[wd] = now    # before its sub-dirs: a clean meanwhile leaves it alone
        for sub in SUBDIRS:
            (wd / sub).mkdir()
            os.chmod(wd / sub, 0o777)
        return wd

    def done(self, wd: Path) -> None:
        """The attempt that had `wd` ended and keeps it (a failed task's, for debugging): cleanable from now."""
        with self._lock:
            self._given.pop(wd, None)

    def release(self, wd: Path, keep: int) -> None:
        """A succeeded task's work dir goes: kept for the next task when it is empty (up to `keep`), else removed."""
        empty = _empty(os.path.join(str(wd), ""))
        with self._lock:
            self._given.pop(wd, None)
            if empty and len(self._clean) < keep:
                self._clean.append(wd)
                return
        _remove(wd)

    def clean(self, threshold: float, in_use: set[Path]) -> list[Path]:
        """v1 autoclean: past the disk threshold, the oldest failed work dirs go (and their kept containers).
        A threshold of 0 removes every work dir no task uses (v1's clean signal)."""
        from scitq.io import autoclean
        with self._lock:
            now = time.monotonic()
            just_given = {p for p, t in self._given.items() if now - t <= GIVEN_GRACE}
            in_use = in_use | set(self._clean) | just_given | {self.resources}
        try:
            removed = autoclean(self.base, threshold, in_use)
        except OSError as exc:
            log.warning("autoclean failed: %s", exc)
            return []
        if removed and self.engines.docker_started:
            docker = self.engines.docker()
            gone = {p.resolve() for p in removed}
            try:
                for c in docker.running_containers():
                    wd = self.engines.container_workdir(c["id"])
                    if c.get("status") not in ("running", "paused") and wd is not None and wd.resolve() in gone:
                        docker.remove(c["id"])
            except Exception as exc:  # noqa: BLE001
                log.warning("autoclean: could not remove kept containers: %s", exc)
        return removed


def _empty(prefix: str) -> bool:
    """Whether the sub-dirs of the work dir `prefix` (ending with a separator) hold nothing (plain strings
    and the first entry only: this is on each task's path)."""
    try:
        for sub in SUBDIRS:
            with os.scandir(prefix + sub) as it:
                if next(it, None) is not None:
                    return False
    except OSError:
        return False
    return True


def _remove(wd: Path) -> None:
    """Remove a work dir: the four empty sub-dirs the cheap way, anything else with rmtree."""
    try:
        for sub in SUBDIRS:
            os.rmdir(wd / sub)
        os.rmdir(wd)
    except OSError:
        shutil.rmtree(wd, ignore_errors=True)
