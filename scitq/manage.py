"""Provides v1's `python -m scitq.manage ...`: exactly `scitq-manage ...`."""

from __future__ import annotations

import sys

from scitq.cli.manage import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
