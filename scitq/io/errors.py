"""Provides the data layer's errors, below scitq's one tree (`scitq.errors`).

    ScitqError
     +-- BadInput
     |    +-- Unsupported      the protocol or operation is not available here (never retried)
     +-- TransferError         a transfer failed after its retries (the worker maps it to -1000/-1001)
          +-- DownloadError    an input or resource could not be fetched (-1001)
          +-- UploadError      some outputs could not be stored (-1000); `.uploaded` lists those that were
"""

from __future__ import annotations

from scitq.errors import BadInput, ScitqError

__all__ = ["Unsupported", "TransferError", "DownloadError", "UploadError", "NoRetry"]


class Unsupported(BadInput):
    """The protocol or the operation is not available with this URI on this machine."""


class TransferError(ScitqError):
    """A transfer failed after its retries; the message names the URI and the cause in one line."""

    exit_code = 1


class DownloadError(TransferError):
    """An input or a resource could not be downloaded."""


class UploadError(TransferError):
    """Some outputs could not be uploaded; `uploaded` holds the relative paths that were."""

    def __init__(self, message: str, hint: str | None = None, *, uploaded: list[str] | None = None,
                 failed: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.uploaded = list(uploaded or [])
        self.failed = list(failed or [])


class NoRetry(TransferError):
    """A failure that another try cannot fix (checksum of a public file announced wrong, missing tool...)."""
