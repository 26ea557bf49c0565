"""Provides the operations on URIs: get, put, copy, sync, delete, list_content, info.

Each one resolves its URIs to stores once, retries every remote call (v1 back-off, public sources
more), runs file transfers in parallel, and turns whatever went wrong into one ScitqError line:
BadInput (or Unsupported) for a URI that cannot work, TransferError for a transfer that failed.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

from scitq.errors import BadInput, ScitqError
from scitq.io.actions import apply_action, destination_for
from scitq.io.errors import DownloadError, TransferError, Unsupported, UploadError
from scitq.io.progress import Watch
from scitq.io.retry import describe, retrying
from scitq.io.stores import Entry, Store, open_store
from scitq.io.uri import URI, parse_uri

__all__ = ["get", "put", "copy", "sync", "delete", "list_content", "info", "resolve", "is_local", "PARALLEL"]

PARALLEL = 10
PART = ".scitq-part"
T = TypeVar("T")


def _uri(uri: str | URI) -> URI:
    return uri if isinstance(uri, URI) else parse_uri(uri)


def resolve(uri: str | URI) -> tuple[URI, Store, str]:
    """The parsed URI, the store serving it, and its path in that store."""
    u = _uri(uri)
    store = open_store(u)
    return u, store, store.path_of(u)


def is_local(uri: str | URI) -> bool:
    return _uri(uri).proto == "file"


@contextmanager
def _failing_as(kind: type[TransferError], what: str) -> Iterator[None]:
    try:
        yield
    except ScitqError:
        raise
    except Exception as exc:
        raise kind(f"{what}: {describe(exc)}") from exc


def _pool(tasks: Sequence[Callable[[], T]], parallel: int, watch: Watch) -> tuple[list[T], list[str]]:
    """Run `tasks` on `parallel` threads; return results and one-line errors. A Cancelled stops all."""
    results: list[T] = []
    errors: list[str] = []
    if not tasks:
        return results, errors
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(tasks)))) as pool:
        futures = [pool.submit(task) for task in tasks]
        for fut in futures:
            try:
                results.append(fut.result())
            except Exception as exc:
                errors.append(describe(exc))
    watch.check()
    return results, errors


def _fetch_file(store: Store, path: str, target: Path, watch: Watch, what: str) -> Path:
    """One file, retried; written under a temporary name then renamed (never a half file). The temporary
    name is this download's own: two inputs may bring the same file (a folder and a sub-folder of it) at once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f"{target.name}{PART}-{uuid.uuid4().hex[:12]}")

    def once() -> None:
        watch.check()
        store.download(path, str(part), watch)

    try:
        retrying(once, what=what, public=store.public, cancelled=lambda: watch.cancelled)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    watch.file_done()
    return target


def local_target(dest: Path, rel: str, source: str) -> Path:
    """`dest / rel` for a name `rel` read from a remote listing, refused if it would land outside `dest`
    (an object key may hold `..` or a leading `/`: remote names are not trusted)."""
    parts = rel.split("/")
    if rel.startswith("/") or any(p == ".." for p in parts) or "\x00" in rel:
        raise DownloadError(f"{source}: the remote name {rel!r} would be written outside {dest}: refused")
    target = dest / "/".join(p for p in parts if p not in ("", "."))
    if not target.resolve().is_relative_to(dest.resolve()):
        raise DownloadError(f"{source}: the remote name {rel!r} would be written outside {dest}: refused")
    return target


def _is_folder(u: URI, store: Store, path: str) -> bool:
    if u.is_dir:
        return True
    if u.proto in ("http", "https"):
        return False
    entry = retrying(lambda: store.info(path), what=f"info on {u.base}", public=store.public)
    return entry.type == "dir"


def get(uri: str | URI, dest: str | Path, *, watch: Watch | None = None, parallel: int = PARALLEL) -> list[Path]:
    """Download `uri` to `dest` (a folder if it exists as one or ends with '/', else a file name).
    A folder URI (ending with '/') brings its whole content into `dest`. The URI's action is applied.
    Returns the local files. Raises BadInput for a bad URI, DownloadError when the transfer fails."""
    u = _uri(uri)
    watch = watch or Watch()
    dest_str = str(dest)
    into_dir = dest_str.endswith("/") or os.path.isdir(dest_str) or u.mv_dir is not None
    dest_path = destination_for(Path(dest_str), u.action)
    with _failing_as(DownloadError, f"download of {u}"):
        if u.is_run:
            from scitq.io.ena import fetch_run
            return apply_action(u.action, fetch_run(u, dest_path, watch))
        store = open_store(u)
        path = store.path_of(u)
        if _is_folder(u, store, path):
            entries = retrying(lambda: store.list(path, recursive=True), what=f"listing of {u.base}",
                               public=store.public)
            if not entries:
                raise FileNotFoundError(f"{u.base} is empty or does not exist")
            targets = [local_target(dest_path, e.rel_name, f"download of {u}") for e in entries]
            tasks = [(lambda e=e, t=t: _fetch_file(store, e.path, t, watch, f"download of {e.name}"))
                     for e, t in zip(entries, targets)]
            for e in entries:
                watch.expect(e.size)
            files, errors = _pool(tasks, parallel, watch)
            if errors:
                raise DownloadError(f"download of {u}: {len(errors)} of {len(tasks)} file(s) failed: {errors[0]}")
        else:
            target = dest_path / u.name if into_dir else dest_path
            files = [_fetch_file(store, path, target, watch, f"download of {u.base}")]
        return apply_action(u.action, files)


def _local_files(src: Path) -> list[tuple[Path, str]]:
    """Regular files under `src` (recursively) with their relative names; symlinks and FIFOs skipped."""
    out: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for fn in sorted(filenames):
            full = Path(dirpath) / fn
            if full.is_symlink() or not full.is_file():
                continue
            out.append((full, str(full.relative_to(src))))
    return out


def _put_file(store: Store, local: Path, path: str, watch: Watch, what: str) -> str:
    def once() -> None:
        watch.check()
        store.upload(str(local), path, watch)

    retrying(once, what=what, public=False, cancelled=lambda: watch.cancelled)
    watch.file_done()
    return path


def _target(u: URI, store: Store) -> tuple[str, bool]:
    if u.action:
        raise BadInput(f"{u}: actions apply to downloads only")
    if not store.writable:
        raise Unsupported(f"{u}: {u.proto}:// is download only")
    path = store.path_of(u)
    return path, u.is_dir


def _join(path: str, rel: str) -> str:
    return (path.rstrip("/") + "/" + rel) if path.rstrip("/") else rel


def put(src: str | Path, uri: str | URI, *, watch: Watch | None = None, parallel: int = PARALLEL) -> list[str]:
    """Upload a local file or folder to `uri` (a folder if it ends with '/', or when `src` is a folder).
    Returns the URIs written. Raises UploadError when some uploads failed."""
    u = _uri(uri)
    watch = watch or Watch()
    src_path = Path(src)
    with _failing_as(UploadError, f"upload to {u}"):
        store = open_store(u)
        path, into = _target(u, store)
        if not src_path.exists():
            raise BadInput(f"{src}: no such local file or folder")
        if src_path.is_dir():
            pairs = [(f, _join(path, rel)) for f, rel in _local_files(src_path)]
        else:
            pairs = [(src_path, _join(path, src_path.name) if into else path)]
        tasks = [(lambda f=f, p=p: _put_file(store, f, p, watch, f"upload of {f.name}")) for f, p in pairs]
        done, errors = _pool(tasks, parallel, watch)
        if errors:
            raise UploadError(f"upload to {u}: {len(errors)} of {len(tasks)} file(s) failed: {errors[0]}",
                              uploaded=[store.uri_of(p) for p in done])
        return [store.uri_of(p) for p in done]


def copy(src: str | URI, dst: str | URI, file_list: list[str] | None = None, *, watch: Watch | None = None,
         parallel: int = PARALLEL) -> list[str]:
    """Copy between any two URIs (through a temporary local folder when both are remote).
    With `file_list`, only those relative names under the folder `src` are copied. Returns what was written."""
    s, d = _uri(src), _uri(dst)
    watch = watch or Watch()
    if file_list is not None:
        out: list[str] = []
        for rel in file_list:
            out.extend(copy(s.join(rel), d.join(rel), watch=watch, parallel=parallel))
        return out
    if d.proto == "file":
        return [str(p) for p in get(s, d.resource if d.resource.endswith("/") else Path(d.resource),
                                    watch=watch, parallel=parallel)]
    if s.proto == "file":
        if s.action:
            raise BadInput(f"{s}: actions apply to downloads only")
        return put(Path(s.resource), d, watch=watch, parallel=parallel)
    with tempfile.TemporaryDirectory(prefix="scitq-copy-") as tmp:
        files = get(s, tmp + "/", watch=watch, parallel=parallel)
        if s.is_dir or len(files) != 1 or files[0].parent != Path(tmp):
            return put(Path(tmp), d if d.is_dir else d.join(""), watch=watch, parallel=parallel)
        return put(files[0], d, watch=watch, parallel=parallel)


def _matches(rel: str, include: Sequence[str] | None) -> bool:
    if not include:
        return True
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in include)


def _listing(u: URI, store: Store, path: str) -> list[Entry]:
    try:
        return retrying(lambda: store.list(path, recursive=True), what=f"listing of {u.base}", public=store.public)
    except FileNotFoundError:
        return []


def sync(src: str | URI, dst: str | URI, include: Sequence[str] | None = None, *, watch: Watch | None = None,
         parallel: int = PARALLEL) -> list[str]:
    """Make the folder `dst` hold every file of the folder `src` (compared by name and size); never deletes
    on `dst`. `include` keeps only names matching one of the glob patterns. Returns the relative names copied."""
    s, d = _uri(src), _uri(dst)
    watch = watch or Watch()
    with _failing_as(TransferError, f"sync of {s} to {d}"):
        s_store, d_store = open_store(s), open_store(d)
        if not d_store.writable:
            raise Unsupported(f"{d}: {d.proto}:// is download only")
        s_path, d_path = s_store.path_of(s), d_store.path_of(d)
        source = _listing(s, s_store, s_path)
        if not source:
            raise FileNotFoundError(f"{s.base} is empty or does not exist")
        have = {e.rel_name: e.size for e in _listing(d, d_store, d_path)}
        todo = [e for e in source if _matches(e.rel_name, include) and have.get(e.rel_name) != e.size]
        for e in todo:
            watch.expect(e.size)
            if d.proto == "file":
                local_target(Path(d_path), e.rel_name, f"sync of {s} to {d}")

        def one(e: Entry) -> str:
            target = _join(d_path, e.rel_name)
            if d.proto == "file":
                _fetch_file(s_store, e.path, local_target(Path(d_path), e.rel_name, f"sync of {s}"), watch,
                            f"download of {e.name}")
            elif s.proto == "file":
                _put_file(d_store, Path(e.path), target, watch, f"upload of {e.rel_name}")
            else:
                with tempfile.TemporaryDirectory(prefix="scitq-sync-") as tmp:
                    local = _fetch_file(s_store, e.path, Path(tmp) / "f", watch, f"download of {e.name}")
                    _put_file(d_store, local, target, watch, f"upload of {e.rel_name}")
            return e.rel_name

        done, errors = _pool([partial(one, e) for e in todo], parallel, watch)
        if errors:
            raise TransferError(f"sync of {s} to {d}: {len(errors)} of {len(todo)} file(s) failed: {errors[0]}")
        return sorted(done)


def delete(uri: str | URI, include: Sequence[str] | None = None, dryrun: bool = False,
           parallel: int = PARALLEL) -> list[str]:
    """Delete a file, or every file under a folder URI (ending with '/' or being a folder), optionally only
    those matching `include`. With `dryrun`, nothing is deleted. Returns the URIs (to be) deleted."""
    u = _uri(uri)
    with _failing_as(TransferError, f"delete of {u}"):
        store = open_store(u)
        _target(u, store)
        path = store.path_of(u)
        if _is_folder(u, store, path):
            entries = [e for e in _listing(u, store, path) if _matches(e.rel_name, include)]
        else:
            entries = [retrying(lambda: store.info(path), what=f"info on {u}", public=store.public)]
            entries = [e for e in entries if _matches(e.rel_name, include)]
        if dryrun:
            return [e.name for e in entries]
        watch = Watch()

        def one(e: Entry) -> str:
            retrying(lambda: store.remove(e.path), what=f"delete of {e.name}")
            return e.name

        done, errors = _pool([partial(one, e) for e in entries], parallel, watch)
        if errors:
            raise TransferError(f"delete of {u}: {len(errors)} of {len(entries)} file(s) failed: {errors[0]}")
        return sorted(done)


def list_content(uri: str | URI, no_rec: bool = False, md5: bool = False) -> list[Entry]:
    """Files under `uri` (recursively unless `no_rec`, which also lists sub-folders ending with '/'),
    as v1 items: name (absolute URI), rel_name, size, creation_date, modification_date, md5 (with `md5`)."""
    u = _uri(uri)
    with _failing_as(TransferError, f"listing of {u}"):
        store = open_store(u)
        path = store.path_of(u)
        entries = retrying(lambda: store.list(path, recursive=not no_rec), what=f"listing of {u}",
                           public=store.public)
        for e in entries:
            if not md5:
                e.md5 = None
            elif e.md5 is None and e.type == "file" and u.proto == "file":
                e.md5 = store.md5(e.path)
        return entries


def info(uri: str | URI, md5: bool = False) -> Entry:
    """Size, dates, type (file or dir) and, with `md5`, the MD5 of one object."""
    u = _uri(uri)
    with _failing_as(TransferError, f"info on {u}"):
        if u.is_run:
            raise Unsupported(f"{u}: {u.proto}:// has no info (it is resolved at download)")
        store = open_store(u)
        path = store.path_of(u)
        entry = retrying(lambda: store.info(path), what=f"info on {u}", public=store.public)
        if not md5:
            entry.md5 = None
        elif entry.md5 is None and entry.type == "file" and u.proto == "file":
            entry.md5 = store.md5(path)
        return entry
