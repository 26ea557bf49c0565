"""Provides the v1 import path `scitq.lib.Server` (and `HTTPException` for scripts that catch it)."""

from __future__ import annotations

from scitq.api.v1 import Server
from scitq.errors import HTTPException

__all__ = ["Server", "HTTPException"]
