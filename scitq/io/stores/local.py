"""Provides local files (`file:///path` and plain paths) as a store."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import datetime, timezone

from scitq.io.progress import Watch
from scitq.io.stores import Entry
from scitq.io.uri import URI, local_path

__all__ = ["LocalStore", "copy_file", "file_md5"]

CHUNK = 1 << 20


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def file_md5(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def copy_file(src: str, dst: str, watch: Watch) -> None:
    """Copy in chunks, so that a watch can count and stop it."""
    parent = os.path.dirname(dst)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(CHUNK):
            fout.write(chunk)
            watch.advance(len(chunk))
    shutil.copystat(src, dst, follow_symlinks=True)


class LocalStore:
    public = False
    writable = True

    def path_of(self, uri: URI) -> str:
        path = local_path(uri)
        return path + "/" if uri.resource.endswith("/") and not path.endswith("/") else path

    def uri_of(self, path: str) -> str:
        return path

    def _entry(self, path: str, rel: str, st: os.stat_result, is_dir: bool) -> Entry:
        return Entry(name="file://" + path + ("/" if is_dir else ""), rel_name=rel + ("/" if is_dir and rel else ""),
                     size=0 if is_dir else st.st_size, creation_date=_dt(st.st_ctime),
                     modification_date=_dt(st.st_mtime), type="dir" if is_dir else "file", path=path)

    def info(self, path: str) -> Entry:
        path = path.rstrip("/") or "/"
        st = os.stat(path)   # FileNotFoundError
        is_dir = os.path.isdir(path)
        return self._entry(path, os.path.basename(path), st, is_dir)

    def list(self, path: str, recursive: bool) -> list[Entry]:
        root = path.rstrip("/") or "/"
        if not os.path.exists(root):
            raise FileNotFoundError(root)
        if os.path.isfile(root):
            return [self._entry(root, os.path.basename(root), os.stat(root), False)]
        out: list[Entry] = []
        if not recursive:
            with os.scandir(root) as it:
                for de in sorted(it, key=lambda d: d.name):
                    is_dir = de.is_dir(follow_symlinks=True)
                    if not is_dir and not de.is_file(follow_symlinks=True):
                        continue
                    out.append(self._entry(de.path, de.name, de.stat(follow_symlinks=True), is_dir))
            return out
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                if not os.path.isfile(full):
                    continue   # FIFOs, sockets, dangling links
                out.append(self._entry(full, os.path.relpath(full, root), os.stat(full), False))
        return out

    def download(self, path: str, local: str, watch: Watch) -> None:
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a folder (end the URI with '/' to fetch its content)")
        copy_file(path, local, watch)

    def upload(self, local: str, path: str, watch: Watch) -> None:
        copy_file(local, path, watch)

    def remove(self, path: str) -> None:
        os.remove(path)

    def md5(self, path: str) -> str | None:
        return file_md5(path)
