"""Provides how a client sends commands to the server's inbox and waits for their answers (the wire, once)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis

from scitq import keys
from scitq.errors import Unreachable, error_of_kind

__all__ = ["send_command", "post_command", "wait_reply", "new_id"]


def new_id() -> str:
    return uuid.uuid4().hex


def post_command(r: Any, cmd: str, payload: str, *, wait: bool = True, idempotency_key: str | None = None) -> str:
    """Append one command to `scitq:inbox` (on `r`, a client or a pipeline); returns its id (the reply key's).

    `payload` is the command's JSON. Retrying with the same `idempotency_key` applies it once.
    """
    cid = new_id()
    r.xadd(keys.INBOX, {"cmd": cmd, "id": cid, "idem": idempotency_key or cid, "data": payload,
                        "reply": "1" if wait else "0"})
    return cid


def wait_reply(r: redis.Redis, cid: str, cmd: str, timeout: float, deadline: float | None = None) -> Any:
    """Block until the server answers command `cid` (within `timeout` s, or until `deadline`, a monotonic
    time shared by several commands); return its result.

    A refusal raises the ScitqError subclass of its kind; no answer in time raises Unreachable.
    """
    deadline = time.monotonic() + timeout if deadline is None else deadline
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
    raise error_of_kind(answer.get("kind"), answer.get("error", "refused"), answer.get("hint"))


def send_command(r: redis.Redis, cmd: str, data: dict[str, Any] | str, *, wait: bool = True,
                 timeout: float = 60.0, idempotency_key: str | None = None) -> Any:
    """Append a command to `scitq:inbox`; with `wait`, block for the server's answer and return its result.

    Redis connection errors propagate as redis exceptions (callers decide: retry, or Unreachable).
    The command is acknowledged (durable) once the XADD returns. Retrying with the same
    `idempotency_key` applies it once. A refusal raises the matching ScitqError subclass.
    """
    payload = data if isinstance(data, str) else json.dumps(data)
    cid = post_command(r, cmd, payload, wait=wait, idempotency_key=idempotency_key)
    if not wait:
        return None
    return wait_reply(r, cid, cmd, timeout)
