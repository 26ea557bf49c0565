"""Provides the stores behind the URIs: one small class per kind of storage, chosen by `open_store`.

Every store speaks the same small protocol (`Store`) in its own paths (`bucket/key` for s3,
`container/blob` for Azure, `/path` for FTP and local files, `remote:path` for rclone); the
transfer operations above never look at the protocol again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from scitq.io.errors import Unsupported
from scitq.io.progress import Watch
from scitq.io.uri import URI

__all__ = ["Entry", "Store", "open_store"]


@dataclass
class Entry:
    """One listed object. Attribute names are v1's (`scitq.fetch.list_content`, `info`)."""

    name: str                                   # absolute URI
    rel_name: str                               # relative to the listed folder
    size: int = 0
    creation_date: datetime | None = None
    modification_date: datetime | None = None
    md5: str | None = None
    type: str = "file"                          # "file" or "dir"
    path: str = field(default="", repr=False)   # the store's own path


class Store(Protocol):
    """What every kind of storage provides. Paths are the store's own (see `path_of`)."""

    public: bool     # public sources are retried more (v1)
    writable: bool

    def path_of(self, uri: URI) -> str: ...
    def uri_of(self, path: str) -> str: ...
    def info(self, path: str) -> Entry: ...                                        # FileNotFoundError
    def list(self, path: str, recursive: bool) -> list[Entry]: ...                 # entries under a folder
    def download(self, path: str, local: str, watch: Watch) -> None: ...          # one file
    def upload(self, local: str, path: str, watch: Watch) -> None: ...            # one file
    def remove(self, path: str) -> None: ...                                       # one file
    def md5(self, path: str) -> str | None: ...                                    # computed if needed


def open_store(uri: URI) -> Store:
    """The store serving `uri` (run+ schemes are resolved elsewhere)."""
    proto = uri.proto
    if proto == "file":
        from scitq.io.stores.local import LocalStore
        return LocalStore()
    if proto in ("http", "https"):
        from scitq.io.stores.http import HttpStore
        return HttpStore(proto)
    if proto == "s3":
        from scitq.io.stores.fsspec import s3_store
        return s3_store()
    if proto in ("azure", "az"):
        from scitq.io.stores.fsspec import azure_store
        return azure_store(proto)
    if proto in ("gcs", "gs"):
        from scitq.io.stores.fsspec import gcs_store
        return gcs_store(proto)
    if proto == "ftp":
        from scitq.io.stores.fsspec import FtpStore
        return FtpStore.for_uri(uri)
    if uri.is_run:
        raise Unsupported(f"{uri}: {proto}:// is resolved through ENA/SRA and can only be downloaded")
    from scitq.io.stores.rclone import rclone_store
    return rclone_store(uri)
