"""Provides the worker's resource cache: each resource URI downloaded once per worker, hard-linked into tasks.

Layout under `base_dir` (v1's `BASE_WORKDIR/resource`):

    resource.json        {"version": 3, "<uri with action>": {"status", "date", "size", "path"}}
    resource.lock        flock held while resource.json is read-modified-written
    locks/<sha1>.lock    flock held by the one caller downloading that URI (others wait on it)
    files/<id>/          the downloaded (and unpacked) content of one URI, read-only

Locks are `fcntl.flock` on a file opened per call, so they exclude threads and processes alike and
vanish with a dead process: nothing to clean after a crash. A cached URI is downloaded again when
its remote size differs or its remote date is newer; when the remote cannot be asked, the cached
copy is used. `run+` URIs (public runs) never change once fetched.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from scitq.errors import ScitqError
from scitq.io.errors import DownloadError
from scitq.io.progress import Watch
from scitq.io.retry import describe, retrying
from scitq.io.stores import open_store
from scitq.io.transfer import get
from scitq.io.uri import URI, parse_uri

__all__ = ["ResourceCache", "MARKER"]

log = logging.getLogger("scitq.io")
VERSION = 3
MARKER = ".scitq-resource-cache"   # tells autoclean this folder is not a work dir


@contextmanager
def _flock(path: Path, shared: bool = False) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # releases the lock


class ResourceCache:
    """Resources shared by every task of one worker (see the module docstring)."""

    def __init__(self, base_dir: Path) -> None:
        self.base = Path(base_dir)
        self.files = self.base / "files"
        self.locks = self.base / "locks"
        self.state_file = self.base / "resource.json"
        self.state_lock = self.base / "resource.lock"
        for d in (self.base, self.files, self.locks):
            d.mkdir(parents=True, exist_ok=True)
        (self.base / MARKER).touch(exist_ok=True)

    # --- state -----------------------------------------------------------------------------------
    def _read(self) -> dict:
        try:
            data = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return {}
        data.pop("version", None)
        return data

    def state(self) -> dict:
        """What the cache holds: {uri: {status, date, size, path}}."""
        with _flock(self.state_lock, shared=True):
            return self._read()

    def _update(self, uri: str, record: dict | None) -> dict | None:
        """Set (or drop) one record atomically; return the previous one."""
        with _flock(self.state_lock):
            data = self._read()
            previous = data.pop(uri, None)
            if record is not None:
                data[uri] = record
            tmp = self.state_file.with_name(f".resource.json.{os.getpid()}.{uuid.uuid4().hex}")
            tmp.write_text(json.dumps({"version": VERSION, **data}, indent=1, sort_keys=True))
            os.replace(tmp, self.state_file)
            return previous

    # --- remote ------------------------------------------------------------------------------------
    @staticmethod
    def _stamp(u: URI) -> tuple[str | None, int | None]:
        """(date, size) of the remote; (None, None) for what never changes (run+ URIs)."""
        if u.is_run:
            return None, None
        store = open_store(u)
        path = store.path_of(u)
        entry = None if u.is_dir else retrying(lambda: store.info(path), what=f"info on {u.base}",
                                               public=store.public)
        if entry is None or entry.type == "dir":
            entries = retrying(lambda: store.list(path, recursive=True), what=f"listing of {u.base}",
                               public=store.public)
            dates = [e.modification_date for e in entries if e.modification_date]
            return (max(dates).isoformat() if dates else None), sum(e.size for e in entries)
        date = entry.modification_date.isoformat() if entry.modification_date else None
        return date, entry.size

    @staticmethod
    def _fresh(record: dict | None, date: str | None, size: int | None) -> bool:
        if not record or record.get("status") != "loaded":
            return False
        if size is not None and record.get("size") is not None and size != record["size"]:
            return False
        if date is not None and record.get("date") is not None and date > record["date"]:
            return False
        return True

    def _present(self, record: dict | None) -> bool:
        return bool(record and record.get("path") and (self.files / record["path"]).is_dir())

    # --- public ----------------------------------------------------------------------------------
    def ensure(self, uri: str, *, watch: Watch | None = None) -> Path:
        """The local folder holding `uri`'s content, downloaded now if absent or changed remotely."""
        try:
            u = parse_uri(uri)
        except ScitqError as exc:
            raise DownloadError(f"bad resource URI: {exc}") from None
        try:
            date, size = self._stamp(u)
        except Exception as exc:
            record = self.state().get(uri)
            if record and record.get("status") == "loaded" and self._present(record):
                log.warning("resource %s cannot be checked (%s): using the cached copy", uri, describe(exc))
                return self.files / record["path"]
            if isinstance(exc, DownloadError):
                raise
            raise DownloadError(f"download of resource {uri}: {describe(exc)}") from None
        record = self.state().get(uri)
        if record and self._fresh(record, date, size) and self._present(record):
            return self.files / record["path"]
        key = hashlib.sha1(uri.encode()).hexdigest()
        with _flock(self.locks / f"{key}.lock"):
            record = self.state().get(uri)   # someone may have done it while we waited
            if record and self._fresh(record, date, size) and self._present(record):
                return self.files / record["path"]
            return self._download(uri, u, date, size, watch)

    def _download(self, uri: str, u: URI, date: str | None, size: int | None, watch: Watch | None) -> Path:
        name = uuid.uuid4().hex
        tmp = self.files / f".{name}.tmp"
        tmp.mkdir()
        try:
            get(u, str(tmp) + "/", watch=watch)
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            self._update(uri, {"status": "failed", "date": date, "size": size, "path": None})
            if isinstance(exc, DownloadError):
                raise
            raise DownloadError(f"download of resource {uri}: {describe(exc)}") from None
        _read_only(tmp)
        final = self.files / name
        os.replace(tmp, final)
        previous = self._update(uri, {"status": "loaded", "date": date, "size": size, "path": name})
        if previous and previous.get("path") and previous["path"] != name:
            shutil.rmtree(self.files / previous["path"], ignore_errors=True)   # tasks keep their hard links
        return final

    def materialize(self, uris: list[str], dest: Path, *, watch: Watch | None = None) -> list[Path]:
        """Make every resource of `uris` present (downloaded once for the worker) and hard-link their
        content, merged, into the folder `dest`. Returns the files linked. Raises DownloadError."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        linked: list[Path] = []
        for uri in uris:
            linked.extend(_link_tree(self.ensure(uri, watch=watch), dest))
        return linked

    def reset(self) -> None:
        """Forget every resource (v1's reset signal): the next use downloads again. Files already
        linked into tasks stay valid."""
        with _flock(self.state_lock):
            self.state_file.unlink(missing_ok=True)
            trash = self.base / f".trash-{uuid.uuid4().hex}"
            os.replace(self.files, trash)
            self.files.mkdir()
        shutil.rmtree(trash, ignore_errors=True)


def _read_only(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for fn in files:
            p = os.path.join(dirpath, fn)
            mode = os.stat(p).st_mode
            os.chmod(p, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _link_tree(src: Path, dest: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, _dirs, files in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target_dir = dest if rel == "." else dest / rel
        target_dir.mkdir(parents=True, exist_ok=True)
        for fn in files:
            s, t = os.path.join(dirpath, fn), target_dir / fn
            if t.exists() or t.is_symlink():
                if os.path.samefile(s, t):
                    out.append(t)
                    continue
                t.unlink()
            try:
                os.link(s, t)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                shutil.copy2(s, t)   # another file system: a copy, still read-only
            out.append(t)
    return out
