"""Provides v1's `scitq.path.URI`: a storage location handled like a `pathlib.Path` (join, test, list).

    URI('s3://bucket/data') / 'sample1'      -> URI('s3://bucket/data/sample1')
    URI('s3://bucket/data/') + 'x.fastq'     -> 's3://bucket/data/x.fastq' (a str)
    .path  .info  .list()  .exists()  .isfile()  .isdir()

A plain path (no `://`) means a local file (`file://`). Reads go through `scitq.fetch`.
"""

from __future__ import annotations

import posixpath

from scitq import fetch
from scitq.errors import BadInput

__all__ = ["URI"]


class URI:
    """A URI that joins like a path: `URI('s3://b') / 'x'`; `str(uri)` is the URI itself."""

    def __init__(self, uri: str | "URI", proto: str | None = None) -> None:
        uri = str(uri)
        if "://" not in uri:
            uri = "file://" + uri
            proto = "file"
        elif proto is None:
            fetch.check_uri(uri)
            proto = uri.split("://", 1)[0].split("@", 1)[0]
        self.proto = proto
        self.uri = uri

    def __truediv__(self, other: str) -> "URI":
        other = str(other).lstrip("/")
        if "://" in other:
            raise BadInput(f"cannot join {self.uri} with {other!r}: it looks like a complete URI")
        return URI(posixpath.join(self.uri, other), proto=self.proto)

    def __add__(self, other: str) -> str:
        return self.uri + str(other)

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other) if isinstance(other, (URI, str)) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.uri)

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f'URI("{self.uri}")'

    @property
    def path(self) -> str:
        """What follows `://`."""
        return self.uri.split("://", 1)[1]

    @property
    def info(self) -> fetch.Entry:
        """Size, dates and type (`file` or `dir`) of the object; raises if it does not exist."""
        return fetch.info(self.uri)

    def list(self) -> list[fetch.Entry]:
        """Every file under this folder (v1 items: name, rel_name, size, dates)."""
        return fetch.list_content(self.uri)

    def exists(self) -> bool:
        try:
            self.info
        except (fetch.FetchError, fetch.UnsupportedError, BadInput, OSError):
            return False
        return True

    def _is(self, kind: str) -> bool:
        try:
            return self.info.type == kind
        except (fetch.FetchError, fetch.UnsupportedError, BadInput, OSError):
            return False

    def isfile(self) -> bool:
        return self._is("file")

    def isdir(self) -> bool:
        return self._is("dir")
