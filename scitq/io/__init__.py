"""Provides the data layer's URI grammar check: `<proto>[@opt…]://<resource>[|<action>]` (v1)."""

from __future__ import annotations

import re

from scitq.errors import BadInput

__all__ = ["check_uri"]

_URI = re.compile(r"^(?P<proto>[A-Za-z][A-Za-z0-9+._-]*)(?P<opts>(@[A-Za-z0-9_.-]+)*)://(?P<resource>[^|]+)"
                  r"(\|(?P<action>gunzip|untar|unzip|mv:[^|/][^|]*))?$")


def check_uri(uri: str) -> str:
    """Return `uri` if it follows the grammar; raise BadInput naming what is wrong otherwise."""
    if not isinstance(uri, str) or not uri.strip():
        raise BadInput("empty URI")
    if "://" not in uri:
        if uri.startswith("/") or uri.startswith("."):
            return uri          # a local path means file://
        raise BadInput(f"{uri!r} is not a URI: expected <proto>://<resource> or a local path")
    m = _URI.match(uri)
    if m is None:
        if "|" in uri:
            raise BadInput(f"{uri!r}: unknown action after '|' (gunzip, untar, unzip or mv:<dir>)")
        raise BadInput(f"{uri!r} does not follow <proto>[@opt]://<resource>[|<action>]")
    return uri
