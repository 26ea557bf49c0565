"""scitq: a distributed task queue for heavy scientific shell work, event-sourced on Redis Streams."""

from __future__ import annotations

__version__ = "2.0.0a1"

__all__ = ["__version__"]
