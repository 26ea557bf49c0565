"""Provides http(s):// sources (download only) over the standard library."""

from __future__ import annotations

import email.utils
import os
import urllib.error
import urllib.request
from datetime import datetime

from scitq.io.config import io_settings
from scitq.io.errors import Unsupported
from scitq.io.progress import Watch
from scitq.io.stores import Entry
from scitq.io.uri import URI

__all__ = ["HttpStore", "http_get", "open_url"]

CHUNK = 1 << 20
USER_AGENT = "scitq-fetch/2"


def open_url(url: str, *, method: str = "GET", timeout: float | None = None):
    """urlopen with scitq's user agent and timeout; HTTP 404/410 become FileNotFoundError."""
    req = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT})
    try:
        return urllib.request.urlopen(req, timeout=timeout or io_settings().timeout)
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            raise FileNotFoundError(f"{url} (HTTP {exc.code})") from None
        if exc.code in (401, 403):
            raise PermissionError(f"{url} (HTTP {exc.code})") from None
        raise ConnectionError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ConnectionError(f"{url}: {exc.reason}") from None


def http_get(url: str, local: str, watch: Watch) -> None:
    """Stream `url` into the file `local`."""
    parent = os.path.dirname(local)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open_url(url) as resp, open(local, "wb") as out:
        watch.expect(int(resp.headers.get("Content-Length") or 0))
        while chunk := resp.read(CHUNK):
            out.write(chunk)
            watch.advance(len(chunk))


class HttpStore:
    public = True
    writable = False

    def __init__(self, proto: str) -> None:
        self.proto = proto

    def path_of(self, uri: URI) -> str:
        return f"{self.proto}://{uri.resource}"

    def uri_of(self, path: str) -> str:
        return path

    def info(self, path: str) -> Entry:
        try:
            resp = open_url(path, method="HEAD")
        except ConnectionError:
            resp = open_url(path)   # some servers refuse HEAD
        with resp:
            size = int(resp.headers.get("Content-Length") or 0)
            modified = resp.headers.get("Last-Modified")
        date: datetime | None = email.utils.parsedate_to_datetime(modified) if modified else None
        name = path.rstrip("/").rsplit("/", 1)[-1]
        return Entry(name=path, rel_name=name, size=size, creation_date=date, modification_date=date, path=path)

    def list(self, path: str, recursive: bool) -> list[Entry]:
        raise Unsupported(f"{path}: http(s):// cannot be listed")

    def download(self, path: str, local: str, watch: Watch) -> None:
        http_get(path, local, watch)

    def upload(self, local: str, path: str, watch: Watch) -> None:
        raise Unsupported(f"{path}: http(s):// is download only")

    def remove(self, path: str) -> None:
        raise Unsupported(f"{path}: http(s):// is download only")

    def md5(self, path: str) -> str | None:
        return None
