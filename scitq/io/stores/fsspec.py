"""Provides the fsspec-backed stores: s3:// (s3fs), azure:// and az:// (adlfs), gcs:// (gcsfs), ftp://.

Credentials come from the standard places, never from code:
* S3: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_PROFILE`, `~/.aws/credentials` and `~/.aws/config`;
  endpoint `SCITQ_S3_ENDPOINT`, else `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, else AWS.
* Azure: `AZURE_STORAGE_CONNECTION_STRING`, or `AZURE_STORAGE_ACCOUNT_NAME` with
  `AZURE_STORAGE_ACCOUNT_KEY` or `AZURE_STORAGE_SAS_TOKEN` (or a service principal,
  `AZURE_STORAGE_CLIENT_ID`/`_SECRET`/`TENANT_ID`); v1's `SCITQ_AZURE_ACCOUNT`/`SCITQ_AZURE_KEY` too.
* GCS: gcsfs's own (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud defaults).
* FTP: anonymous, or `ftp://user:password@host[:port]/path`.
"""

from __future__ import annotations

import base64
import contextlib
import ftplib
import os
import threading
import urllib.parse
from datetime import datetime, timezone
from typing import Any, Iterator

from scitq.errors import BadInput
from scitq.io.config import io_settings
from scitq.io.errors import Unsupported
from scitq.io.progress import Watch
from scitq.io.stores import Entry
from scitq.io.uri import URI

__all__ = ["FsspecStore", "FtpStore", "s3_store", "azure_store", "gcs_store"]

_cache: dict[tuple, Any] = {}
_cache_lock = threading.Lock()


def _cached(key: tuple, build) -> Any:
    with _cache_lock:
        fs = _cache.get(key)
        if fs is None:
            fs = _cache[key] = build()
        return fs


def _date(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    text = str(value)
    if len(text) >= 14 and text[:14].isdigit():   # FTP MLSD: YYYYMMDDHHMMSS
        return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    try:
        return _date(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _md5(info: dict[str, Any]) -> str | None:
    etag = info.get("ETag") or info.get("etag")
    settings = info.get("content_settings") or {}
    content_md5 = settings.get("content_md5") if isinstance(settings, dict) else getattr(settings, "content_md5", None)
    if content_md5:
        return bytes(content_md5).hex()
    if info.get("md5Hash"):
        return base64.b64decode(info["md5Hash"]).hex()
    if isinstance(etag, str) and "ETag" in info:
        etag = etag.strip('"')
        if len(etag) == 32 and "-" not in etag:   # a single-part S3 upload: the ETag is the MD5
            return etag
    return None


class FsspecStore:
    """An fsspec filesystem whose paths are `bucket/key` (or `container/blob`)."""

    public = False
    writable = True

    def __init__(self, fs: Any, proto: str) -> None:
        self.fs = fs
        self.proto = proto

    def path_of(self, uri: URI) -> str:
        return uri.resource

    def uri_of(self, path: str) -> str:
        return f"{self.proto}://{path.lstrip('/')}"

    def _entry(self, info: dict[str, Any], root: str) -> Entry:
        path = info["name"].rstrip("/")
        is_dir = info.get("type") == "directory"
        rel = path[len(root):].lstrip("/") if path.startswith(root + "/") else path.rsplit("/", 1)[-1]
        modified = _date(info.get("LastModified") or info.get("last_modified") or info.get("updated")
                         or info.get("modify") or info.get("mtime"))
        created = _date(info.get("creation_time") or info.get("timeCreated")) or modified
        return Entry(name=self.uri_of(path) + ("/" if is_dir else ""), rel_name=rel + ("/" if is_dir and rel else ""),
                     size=0 if is_dir else int(info.get("size") or 0), creation_date=created,
                     modification_date=modified, md5=None if is_dir else _md5(info),
                     type="dir" if is_dir else "file", path=path)

    def info(self, path: str) -> Entry:
        path = path.rstrip("/")
        return self._entry(self.fs.info(path), path)

    def list(self, path: str, recursive: bool) -> list[Entry]:
        root = path.rstrip("/")
        if recursive:
            found = self.fs.find(root, detail=True, withdirs=False)
            items = [self._entry(info, root) for info in found.values() if info.get("type") != "directory"]
        else:
            items = [self._entry(info, root) for info in self.fs.ls(root, detail=True)]
        return sorted(items, key=lambda e: e.rel_name)

    def download(self, path: str, local: str, watch: Watch) -> None:
        parent = os.path.dirname(local)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self.fs.get_file(path.rstrip("/"), local, callback=watch.callback())

    def upload(self, local: str, path: str, watch: Watch) -> None:
        self.fs.put_file(local, path, callback=watch.callback())

    def remove(self, path: str) -> None:
        self.fs.rm_file(path)

    def md5(self, path: str) -> str | None:
        return self.info(path).md5


def s3_store() -> FsspecStore:
    import s3fs

    endpoint = (io_settings().s3_endpoint or os.environ.get("AWS_ENDPOINT_URL_S3")
                or os.environ.get("AWS_ENDPOINT_URL") or None)
    kwargs: dict[str, Any] = {"use_listings_cache": False, "skip_instance_cache": True}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    key = ("s3", endpoint, os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_PROFILE"), os.getpid())
    return FsspecStore(_cached(key, lambda: s3fs.S3FileSystem(**kwargs)), "s3")


_AZURE_ENV = ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY",
              "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CLIENT_ID", "SCITQ_AZURE_ACCOUNT", "SCITQ_AZURE_KEY")


def azure_store(proto: str) -> FsspecStore:
    import adlfs

    env = {k: os.environ.get(k) for k in _AZURE_ENV}
    kwargs: dict[str, Any] = {"use_listings_cache": False, "skip_instance_cache": True}
    if not env["AZURE_STORAGE_CONNECTION_STRING"] and not env["AZURE_STORAGE_ACCOUNT_NAME"]:
        if env["SCITQ_AZURE_ACCOUNT"]:   # v1 names
            kwargs["account_name"] = env["SCITQ_AZURE_ACCOUNT"]
            if env["SCITQ_AZURE_KEY"]:
                kwargs["account_key"] = env["SCITQ_AZURE_KEY"]
        else:
            raise BadInput(f"{proto}:// has no credentials",
                           hint="set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with "
                                "AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN")
    key = ("azure", tuple(env.values()), os.getpid())
    try:
        fs = _cached(key, lambda: adlfs.AzureBlobFileSystem(**kwargs))
    except ValueError as exc:
        raise BadInput(f"{proto}:// credentials are not usable: {exc}") from None
    return FsspecStore(fs, proto)


def gcs_store(proto: str) -> FsspecStore:
    try:
        import gcsfs
    except ImportError:
        raise Unsupported(f"{proto}:// needs the gcsfs package", hint="pip install gcsfs") from None
    key = ("gcs", os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"), os.getpid())
    return FsspecStore(_cached(key, lambda: gcsfs.GCSFileSystem(skip_instance_cache=True)), proto)


class FtpStore(FsspecStore):
    """ftp://[user[:password]@]host[:port]/path — one connection per operation (ftplib is not thread-safe)."""

    def __init__(self, host: str, port: int, user: str, password: str, netloc: str) -> None:
        self.host, self.port, self.user, self.password, self.netloc = host, port, user, password, netloc
        self.proto = "ftp"

    @classmethod
    def for_uri(cls, uri: URI) -> "FtpStore":
        parts = urllib.parse.urlsplit(f"ftp://{uri.resource}")
        try:
            port = parts.port or 21
        except ValueError:
            raise BadInput(f"{uri}: bad FTP port") from None
        user = urllib.parse.unquote(parts.username or "anonymous")
        password = urllib.parse.unquote(parts.password or ("anonymous@" if user == "anonymous" else ""))
        return cls(parts.hostname or "", port, user, password, parts.netloc)

    @property
    def fs(self) -> Any:   # a fresh connection each time it is asked for
        from fsspec.implementations.ftp import FTPFileSystem

        try:
            return FTPFileSystem(host=self.host, port=self.port, username=self.user, password=self.password,
                                 timeout=io_settings().timeout, skip_instance_cache=True, use_listings_cache=False)
        except ftplib.error_perm as exc:
            if str(exc).startswith("530"):
                raise PermissionError(f"ftp://{self.host}:{self.port}: login as {self.user!r} refused") from None
            raise

    def path_of(self, uri: URI) -> str:
        path = urllib.parse.urlsplit(f"ftp://{uri.resource}").path or "/"
        return urllib.parse.unquote(path)

    def uri_of(self, path: str) -> str:
        return f"ftp://{self.netloc}/{path.lstrip('/')}"

    def info(self, path: str) -> Entry:
        fs = self.fs
        try:
            return self._entry(fs.info(path.rstrip("/") or "/"), path.rstrip("/"))
        finally:
            _close(fs)

    def list(self, path: str, recursive: bool) -> list[Entry]:
        fs = self.fs
        try:
            root = path.rstrip("/") or "/"
            if not fs.exists(root):
                raise FileNotFoundError(self.uri_of(root))
            if recursive:
                found = fs.find(root, detail=True, withdirs=False)
                items = [self._entry(i, root) for i in found.values() if i.get("type") != "directory"]
            else:
                items = [self._entry(i, root) for i in fs.ls(root, detail=True)]
            return sorted(items, key=lambda e: e.rel_name)
        finally:
            _close(fs)

    def download(self, path: str, local: str, watch: Watch) -> None:
        parent = os.path.dirname(local)
        if parent:
            os.makedirs(parent, exist_ok=True)
        fs = self.fs
        try:
            try:
                size = fs.ftp.size(path)
                watch.expect(size or 0)
            except ftplib.Error:
                pass
            with open(local, "wb") as out:
                def write(block: bytes) -> None:
                    out.write(block)
                    watch.advance(len(block))
                with _ftp_not_found(self.uri_of(path)):
                    fs.ftp.retrbinary(f"RETR {path}", write, blocksize=1 << 20)
        finally:
            _close(fs)

    def upload(self, local: str, path: str, watch: Watch) -> None:
        fs = self.fs
        try:
            parent = path.rsplit("/", 1)[0]
            if parent and parent != path:
                fs.makedirs(parent, exist_ok=True)
            watch.expect(os.path.getsize(local))
            with open(local, "rb") as f:
                fs.ftp.storbinary(f"STOR {path}", f, blocksize=1 << 20, callback=lambda b: watch.advance(len(b)))
        finally:
            _close(fs)

    def remove(self, path: str) -> None:
        fs = self.fs
        try:
            with _ftp_not_found(self.uri_of(path)):
                fs.ftp.delete(path)
        finally:
            _close(fs)

    def md5(self, path: str) -> str | None:
        return None


@contextlib.contextmanager
def _ftp_not_found(uri: str) -> Iterator[None]:
    """An FTP 550 reply (no such file) raised as FileNotFoundError naming `uri`."""
    try:
        yield
    except ftplib.error_perm as exc:
        if str(exc).startswith("550"):
            raise FileNotFoundError(uri) from None
        raise


def _close(fs: Any) -> None:
    try:
        fs.ftp.quit()
    except Exception:
        try:
            fs.ftp.close()
        except Exception:
            pass
