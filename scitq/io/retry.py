"""Provides retries with v1's back-off: sleep 10 s, doubled at each failure up to 900 s (configurable)."""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

from scitq.errors import BadInput
from scitq.io.config import io_settings
from scitq.io.errors import NoRetry

__all__ = ["retrying", "FINAL", "describe"]

log = logging.getLogger("scitq.io")
T = TypeVar("T")

# failures another try cannot fix: bad input, missing file, refused permission
FINAL: tuple[type[BaseException], ...] = (BadInput, NoRetry, FileNotFoundError, PermissionError,
                                           IsADirectoryError, NotADirectoryError)

# exceptions whose message says enough without their class name
_PLAIN = (ConnectionError, ConnectionRefusedError, ConnectionResetError, TimeoutError, OSError, PermissionError)

sleep: Callable[[float], None] = time.sleep   # replaced by tests that must not wait


def describe(exc: BaseException) -> str:
    """One line naming an exception for humans (no traceback)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, FileNotFoundError):
        what = exc.filename if getattr(exc, "filename", None) else (text if text not in ("", "None") else "")
        return f"not found: {what}" if what else "not found"
    name = type(exc).__name__
    if text and (getattr(exc, "message", None) == text or type(exc) in _PLAIN):
        return text
    return f"{name}: {text}" if text else name


def retrying(action: Callable[[], T], *, what: str, public: bool = False, tries: int | None = None,
             cancelled: Callable[[], bool] | None = None) -> T:
    """Run `action` until it succeeds, at most `tries` times (settings: retries or public_retries)."""
    cfg = io_settings()
    total = tries if tries is not None else (cfg.public_retries if public else cfg.retries)
    delay = cfg.retry_delay
    for attempt in range(1, max(1, total) + 1):
        try:
            return action()
        except FINAL:
            raise
        except Exception as exc:
            if attempt >= total or (cancelled is not None and cancelled()):
                raise
            log.warning("%s failed (%s), try %d/%d in %.3g s", what, describe(exc), attempt + 1, total, delay)
            sleep(delay)
            delay = min(delay * 2, cfg.retry_max_delay)
    raise AssertionError("unreachable")
