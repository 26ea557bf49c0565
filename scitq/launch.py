"""Provides v1's `python -m scitq.launch ...`: exactly `scitq-launch ...`."""

from __future__ import annotations

import sys

from scitq.cli.launch import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
