"""Provides the worker's staging of task data: inputs downloaded before a task, outputs uploaded after.

    download_inputs(uris, dest, timeout=None) -> None              raises DownloadError (v1 code -1001)
    upload_outputs(src, output_uri) -> list[str]                   raises UploadError (v1 code -1000)
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from scitq.errors import ScitqError
from scitq.io.config import io_settings
from scitq.io.errors import DownloadError, UploadError
from scitq.io.progress import Watch
from scitq.io.retry import describe
from scitq.io import retry as _retry
from scitq.io.stores import open_store
from scitq.io.transfer import _join, _local_files, _target, get
from scitq.io.uri import parse_uri

__all__ = ["download_inputs", "upload_outputs", "UPLOAD_PARALLEL", "UPLOAD_ROUNDS", "INPUT_PARALLEL"]

log = logging.getLogger("scitq.io")
INPUT_PARALLEL = 5
UPLOAD_PARALLEL = 5     # v1: at most 5 uploads at once
UPLOAD_ROUNDS = 5       # v1: RETRY_UPLOAD


def download_inputs(uris: list[str], dest: Path, timeout: float | None = None, *,
                    watch: Watch | None = None) -> None:
    """Download every input URI into the folder `dest` (actions applied), in parallel.

    `timeout` bounds the whole download (seconds, None for no limit); `watch.cancel()` from another
    thread stops it too. Raises DownloadError naming the failed URIs (also for a malformed URI)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if not uris:
        return
    try:
        parsed = [parse_uri(u) for u in uris]
    except ScitqError as exc:
        raise DownloadError(f"bad input URI: {exc}") from None
    watch = watch or Watch()
    if timeout is not None:
        watch.deadline = time.monotonic() + timeout
    pool = ThreadPoolExecutor(max_workers=max(1, min(INPUT_PARALLEL, len(parsed))), thread_name_prefix="scitq-input")
    futures = {pool.submit(get, u, str(dest) + "/", watch=watch): u for u in parsed}
    try:
        done, pending = wait(futures, timeout=timeout)
        if pending:
            watch.cancel("timed out")
            names = ", ".join(str(futures[f]) for f in pending)
            raise DownloadError(f"download of inputs timed out after {timeout:g} s: {names}")
        errors: list[str] = []
        for fut, u in futures.items():
            failure = fut.exception()
            if failure is not None:
                errors.append(str(failure) if isinstance(failure, ScitqError) else f"{u}: {describe(failure)}")
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise DownloadError(errors[0] + more)
    finally:
        pool.shutdown(wait=not watch.cancelled, cancel_futures=True)


def upload_outputs(src: Path, output_uri: str, *, parallel: int = UPLOAD_PARALLEL,
                   rounds: int = UPLOAD_ROUNDS) -> list[str]:
    """Upload every regular file under `src` (recursively; symlinks and FIFOs skipped) to
    `<output_uri>/<relative path>`, in parallel, retried in rounds with less parallelism each time.
    Returns the relative paths uploaded. Raises UploadError (with `.uploaded` and `.failed`)."""
    src = Path(src)
    if not output_uri:
        return []
    try:
        u = parse_uri(output_uri)
        store = open_store(u)
        base, _ = _target(u, store)
    except ScitqError as exc:
        raise UploadError(f"bad output URI: {exc}") from None
    files = _local_files(src) if src.is_dir() else []
    remaining = {rel: path for path, rel in files}
    uploaded: list[str] = []
    delay = io_settings().retry_delay
    last_error = ""
    watch = Watch()
    for round_ in range(1, max(1, rounds) + 1):
        width = max(1, parallel - (round_ - 1))
        with ThreadPoolExecutor(max_workers=max(1, min(width, len(remaining) or 1))) as pool:
            futures = {pool.submit(store.upload, str(path), _join(base, rel), watch): rel
                       for rel, path in sorted(remaining.items())}
            wait(futures)
        for fut, rel in futures.items():
            failure = fut.exception()
            if failure is None:
                uploaded.append(rel)
                remaining.pop(rel)
            else:
                last_error = f"{rel}: {describe(failure)}"
        if not remaining:
            break
        if round_ < rounds:
            log.warning("upload to %s: %d file(s) failed (%s), round %d/%d in %.3g s",
                        u, len(remaining), last_error, round_ + 1, rounds, delay)
            _retry.sleep(delay)
            delay = min(delay * 2, io_settings().retry_max_delay)
    if remaining:
        raise UploadError(f"upload to {u}: {len(remaining)} of {len(files)} file(s) failed: {last_error}",
                          uploaded=sorted(uploaded), failed=sorted(remaining))
    return sorted(uploaded)
