"""Provides the one exception tree of scitq, each error carrying a message and a hint for humans.

    ScitqError                 (exit code 1)
     +-- BadInput              (exit code 2)  malformed spec, bad URI, unknown option, bad value
     |    +-- NotFound         (exit code 2)  unknown task, batch, worker or execution
     +-- Unreachable           (exit code 3)  Redis/Valkey cannot be reached, or the server does not answer
     +-- Refused               (exit code 3)  Redis refused us (authentication, ACL)
     +-- Conflict              (exit code 4)  the command is valid but the current state forbids it
"""

from __future__ import annotations

__all__ = ["ScitqError", "BadInput", "NotFound", "Unreachable", "Refused", "Conflict", "HTTPException",
           "ERROR_KINDS", "error_kind", "error_of_kind"]


class ScitqError(Exception):
    """Base of every error scitq raises on purpose: `message` is one line, `hint` says what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class BadInput(ScitqError, ValueError):
    """The input (a spec, an argument, a URI) is malformed: nothing was changed."""

    exit_code = 2


class NotFound(BadInput, KeyError):
    """The named task, batch, worker or execution does not exist."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class Unreachable(ScitqError, ConnectionError):
    """Redis/Valkey cannot be reached, or the scitq server does not answer in time."""

    exit_code = 3


class Refused(ScitqError):
    """Redis/Valkey answered but refused us (bad password, missing ACL rights)."""

    exit_code = 3


class Conflict(ScitqError):
    """The command is well formed but the current state forbids it (e.g. editing a running task)."""

    exit_code = 4


# The kind of a refusal on the wire (the server's answer to an inbox command), most specific first.
ERROR_KINDS: dict[str, type[ScitqError]] = {
    "not_found": NotFound, "bad_input": BadInput, "conflict": Conflict, "unreachable": Unreachable,
    "error": ScitqError,
}


def error_kind(exc: BaseException) -> str:
    """The wire kind of an error (the server's side of `error_of_kind`)."""
    for kind, cls in ERROR_KINDS.items():
        if isinstance(exc, cls):
            return kind
    return "error"


def error_of_kind(kind: str | None, message: str, hint: str | None = None) -> ScitqError:
    """The error a client raises for a refusal of this wire kind (an unknown kind is a plain ScitqError)."""
    return ERROR_KINDS.get(kind or "error", ScitqError)(message, hint)


# v1 name kept for scripts that catch it around Server calls.
HTTPException = ScitqError
