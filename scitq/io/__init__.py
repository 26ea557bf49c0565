"""Provides scitq's data layer: one URI grammar and one set of operations over every kind of storage.

URIs are v1's `<proto>[@opt…]://<resource>[|<action>]`; plain paths mean `file://`. Protocols:
`file://`, `s3://` (s3fs), `azure://`/`az://` (adlfs), `gcs://` (gcsfs, when installed), `ftp://`,
`http(s)://` (download only), `run+fastq://<run>`/`run+submitted://<run>` (ENA, else SRA) and any
rclone remote `<remote>://` (when rclone and a remote of that name exist). Actions: `|gunzip`,
`|untar`, `|unzip`, `|mv:<dir>`. A trailing `/` names a folder (its whole content).

For users and `scitq-fetch` (see also the v1 module `scitq.fetch`):

    check_uri(uri) -> uri                       BadInput naming what is wrong
    parse_uri(uri) -> URI
    get(uri, dest) -> list[Path]                put(src, uri) -> list[str]
    copy(src, dst) -> list[str]                 sync(src, dst, include=None) -> list[str]
    delete(uri, include=None, dryrun=False)     list_content(uri, no_rec=False, md5=False) -> list[Entry]
    info(uri, md5=False) -> Entry

For the worker:

    download_inputs(uris, dest: Path, timeout: float | None = None) -> None
        every input into `dest` (actions applied), in parallel, bounded by `timeout` seconds;
        raises DownloadError (a TransferError; v1 return code -1001).
    upload_outputs(src: Path, output_uri: str) -> list[str]
        every regular file under `src` to `<output_uri>/<relative path>`, 5 at a time, 5 rounds;
        returns the relative paths; raises UploadError (v1 -1000) whose `.uploaded` lists what made it.
    ResourceCache(base_dir: Path)
        .materialize(uris, dest: Path) -> list[Path]   downloaded once per worker (threads and
            processes wait for one download), kept across restarts, refreshed when the remote
            date/size changes, hard-linked read-only into `dest`; raises DownloadError.
        .reset()                                        forget everything (next use downloads again)
    autoclean(workdir_base: Path, threshold_percent: float, in_use: set[Path]) -> list[Path]
        removes the oldest unused work dirs while the disk is used above the threshold.

Errors: BadInput/Unsupported (never retried) and TransferError > DownloadError, UploadError.
Settings (retries, timeouts, endpoints) are environment variables listed in `scitq.io.config`.
Importing this package is cheap: fsspec and the SDKs are imported by the stores that need them.
"""

from __future__ import annotations

from scitq.io.config import IOSettings, io_settings
from scitq.io.errors import DownloadError, NoRetry, TransferError, Unsupported, UploadError
from scitq.io.progress import Cancelled, Watch
from scitq.io.resources import ResourceCache
from scitq.io.staging import download_inputs, upload_outputs
from scitq.io.stores import Entry
from scitq.io.transfer import copy, delete, get, info, list_content, put, sync
from scitq.io.uri import URI, check_uri, parse_uri
from scitq.io.workdirs import autoclean, disk_usage_percent

__all__ = [
    "check_uri", "parse_uri", "URI", "Entry",
    "get", "put", "copy", "sync", "delete", "list_content", "info",
    "download_inputs", "upload_outputs", "ResourceCache", "autoclean", "disk_usage_percent",
    "Watch", "Cancelled", "TransferError", "DownloadError", "UploadError", "Unsupported", "NoRetry",
    "IOSettings", "io_settings",
]
