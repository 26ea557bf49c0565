"""Provides the worker's use of the data layer: inputs before a task, outputs after, shared resources.

Return codes of v1: -1001 when inputs or resources cannot be fetched, -1000 when outputs cannot be
uploaded (the reason goes to the task's stderr).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from scitq import io

__all__ = ["TaskDataError", "fetch_inputs", "fetch_resources", "push_outputs", "DOWNLOAD_FAILED", "UPLOAD_FAILED"]

DOWNLOAD_FAILED = -1001
UPLOAD_FAILED = -1000


class TaskDataError(Exception):
    def __init__(self, code: int, message: str, uploaded: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.uploaded = uploaded or []   # what made it before an upload failed


def fetch_inputs(uris: str, dest: Path, timeout: float | None) -> None:
    """Download every input URI into `dest` (emptied first), actions applied."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    dest.chmod(0o777)
    try:
        io.download_inputs(uris.split(), dest, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure is the task's -1001, with its reason
        raise TaskDataError(DOWNLOAD_FAILED, f"input download failed: {exc}") from None


def fetch_resources(uris: str, cache_dir: Path, dest: Path) -> None:
    """Hard-link the worker's cached copy of every resource into `dest` (downloaded once per worker)."""
    try:
        io.ResourceCache(cache_dir).materialize(uris.split(), dest)
    except Exception as exc:  # noqa: BLE001
        raise TaskDataError(DOWNLOAD_FAILED, f"resource download failed: {exc}") from None


def push_outputs(src: Path, uri: str) -> list[str]:
    """Upload everything under `src` to `uri`; the relative paths uploaded."""
    try:
        return list(io.upload_outputs(src, uri))
    except Exception as exc:  # noqa: BLE001
        raise TaskDataError(UPLOAD_FAILED, f"output upload failed: {exc}",
                            list(getattr(exc, "uploaded", []) or [])) from None
