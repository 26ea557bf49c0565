"""Provides how a client sends one command to the server's inbox and waits for its answer."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from scitq import keys
from scitq.errors import BadInput, Conflict, NotFound, ScitqError, Unreachable

__all__ = ["send_command", "new_id", "ERROR_KINDS"]

ERROR_KINDS: dict[str, type[ScitqError]] = {
    "bad_input": BadInput, "not_found": NotFound, "conflict": Conflict, "error": ScitqError,
}


def new_id() -> str:
    return uuid.uuid4().hex


def send_command(r: redis.Redis, cmd: str, data: dict[str, Any] | str, *, wait: bool = True,
                 timeout: float = 60.0, idempotency_key: str | None = None) -> Any:
    """Append a command to `scitq:inbox`; with `wait`, block for the server's answer and return its result.

    Redis connection errors propagate as redis exceptions (callers decide: retry, or Unreachable).
    The command is acknowledged (durable) once the XADD returns. Retrying with the same
    `idempotency_key` applies it once. A refusal raises the matching ScitqError subclass.
    """
    cid = new_id()
    payload = data if isinstance(data, str) else json.dumps(data)
    fields = {"cmd": cmd, "id": cid, "idem": idempotency_key or cid, "data": payload, "reply": "1" if wait else "0"}
    r.xadd(keys.INBOX, fields)
    if not wait:
        return None
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Unreachable(f"the scitq server did not answer {cmd} within {timeout:.0f}s",
                              hint="is `scitq server` running? the command stays queued and will be applied when it is")
        got = r.blpop([keys.reply(cid)], timeout=max(1, min(5, int(left))))
        if got is not None:
            break
    answer = json.loads(got[1])
    if answer.get("ok"):
        return answer.get("result")
    kind = ERROR_KINDS.get(answer.get("kind", "error"), ScitqError)
    raise kind(answer.get("error", "refused"), answer.get("hint"))
