"""Provides the Python interfaces: the typed `Client` and the v1-compatible `Server`."""

from __future__ import annotations

from scitq.api.client import Client
from scitq.api.v1 import Server, shell_wrap

__all__ = ["Client", "Server", "shell_wrap"]
