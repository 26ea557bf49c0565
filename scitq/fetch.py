"""Provides v1's `scitq.fetch` library: the same function names over the data layer (`scitq.io`).

    get(uri, destination)                 put(source, uri)
    copy(source, destination, file_list=None)
    sync(source, destination, include=None, process=10)
    delete(uri, include=None, dryrun=False)     recursive_delete(uri)
    list_content(uri, no_rec=False, md5=False)  info(uri, md5=False)
    check_uri(uri)                        ncdu(uri, only_file=False)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from scitq import io as _io
from scitq.io import URI, Entry, TransferError, Unsupported, check_uri
from scitq.io.ncdu import ncdu_export
from scitq.io.progress import Watch

__all__ = ["get", "put", "copy", "sync", "delete", "recursive_delete", "list_content", "info", "check_uri",
           "ncdu", "FetchError", "UnsupportedError", "FASTQ_PARITY", "Entry"]

FetchError = TransferError           # v1 names
UnsupportedError = Unsupported
FASTQ_PARITY = re.compile(r"^.*?([12])\.f(?:ast)?q(?:\.gz)?$")   # read 1 or 2 of a paired FASTQ file


def get(uri: str, destination: str | Path = ".", *, watch: Watch | None = None, process: int = 10) -> list[Path]:
    """Download `uri` into `destination` (a folder or a file name); returns the local files."""
    return _io.get(uri, destination, watch=watch, parallel=process)


def put(source: str | Path, uri: str, *, watch: Watch | None = None, process: int = 10) -> list[str]:
    """Upload a local file or folder to `uri`; returns the URIs written."""
    return _io.put(source, uri, watch=watch, parallel=process)


def copy(source: str, destination: str, file_list: list[str] | None = None, *, watch: Watch | None = None,
         process: int = 10) -> list[str]:
    """Copy between two URIs (either may be local)."""
    return _io.copy(source, destination, file_list, watch=watch, parallel=process)


def sync(source: str, destination: str, include: Sequence[str] | None = None, process: int = 10, *,
         watch: Watch | None = None) -> list[str]:
    """Copy what `destination` lacks (by name and size); never deletes. Returns the relative names copied."""
    return _io.sync(source, destination, include, watch=watch, parallel=process)


def delete(uri: str, include: Sequence[str] | None = None, dryrun: bool = False) -> list[str]:
    """Delete a file or a folder's files (with `include`, only the matching ones)."""
    return _io.delete(uri, include, dryrun)


def recursive_delete(uri: str, include: Sequence[str] | None = None, dryrun: bool = False) -> list[str]:
    """Delete every file under the folder `uri`."""
    u = _io.parse_uri(uri)
    return _io.delete(u if u.is_dir else u.join(""), include, dryrun)


def list_content(uri: str, no_rec: bool = False, md5: bool = False) -> list[Entry]:
    return _io.list_content(uri, no_rec, md5)


def info(uri: str, md5: bool = False) -> Entry:
    return _io.info(uri, md5)


def ncdu(uri: str, only_file: bool = False) -> str | None:
    """Browse the sizes under `uri` with ncdu (rclone remotes: `rclone ncdu`). With `only_file`, or when
    ncdu is not installed, write the ncdu export and return its path instead."""
    u: URI = _io.parse_uri(uri)
    if not only_file and u.proto not in _BUILTIN and shutil.which("rclone"):
        from scitq.io.stores.rclone import rclone_store
        store = rclone_store(u)
        subprocess.run([store.exe, "--config", store.config, "ncdu", f"{store.remote}:{u.resource}"])
        return None
    entries = _io.list_content(u if u.is_dir or u.proto == "file" else u.join(""))
    fd, path = tempfile.mkstemp(prefix="scitq-ncdu-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(ncdu_export(str(u.base).rstrip("/"), entries), f)
    if only_file or not shutil.which("ncdu"):
        return path
    subprocess.run(["ncdu", "-f", path])
    os.unlink(path)
    return None


_BUILTIN = {"file", "s3", "azure", "az", "gcs", "gs", "ftp", "http", "https", "run+fastq", "run+submitted"}


if __name__ == "__main__":   # v1: `python -m scitq.fetch ...` is exactly `scitq-fetch ...`
    import sys

    from scitq.cli.fetch import main

    sys.exit(main())
