"""Provides how a worker registers: through its own outbox, the server answering in a reply list of its own.

A worker's credential (`worker-NAME`) may write only the worker's own keys, so it cannot use the inbox. The
server reads the outbox of every worker it knows and of every name announced in `scitq:workers:announce`
(written by `scitq access add worker NAME`, or by the worker itself when its credential may, like the
operator's admin). A credential made by an earlier scitq (inbox rights, no announcement) registers through
the inbox as before.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from scitq import keys
from scitq.errors import Unreachable, error_of_kind
from scitq.inbox import new_id, send_command

__all__ = ["register", "announce", "register_through_outbox"]

REPLY_TTL = 600


def announce(r: redis.Redis, name: str) -> bool:
    """Make sure the server reads the outbox of `name`: True if it already knows the name or the name was
    announced now; False if this credential may not announce (a `worker-NAME` user: `scitq access add`
    announced it)."""
    try:
        if r.hexists(keys.WORKERS_BY_NAME, name):
            return True
        r.xadd(keys.WORKER_ANNOUNCE, {"name": name})
        return True
    except redis.exceptions.NoPermissionError:
        return False


def register_through_outbox(r: redis.Redis, name: str, payload: str, timeout: float = 15.0) -> Any:
    """Append a registration (`payload`, a RegisterWorker's JSON) to the outbox of `name` and wait for the
    server's answer; returns its result, raises the ScitqError of a refusal, Unreachable without answer."""
    cid = new_id()
    r.xadd(keys.worker_outbox(name), {"f": "register", "id": cid, "data": payload})
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Unreachable(f"the scitq server did not answer the registration of worker {name} within "
                              f"{timeout:.0f}s",
                              hint="is `scitq server` running, and was this worker's user made by "
                                   "`scitq access add worker NAME`?")
        got = r.blpop([keys.worker_reply(name, cid)], timeout=max(1, min(2, int(left))))
        if got is not None:
            break
    r.delete(keys.worker_reply(name, cid))
    answer = json.loads(got[1])
    if answer.get("ok"):
        return answer.get("result")
    raise error_of_kind(answer.get("kind"), answer.get("error", "refused"), answer.get("hint"))


def register(r: redis.Redis, name: str, payload: str, timeout: float = 15.0) -> Any:
    """Register worker `name` (see the module docstring for the ways, in order)."""
    if not announce(r, name):
        try:   # a user made before workers lost the inbox: the old way still works for it
            return send_command(r, "worker.register", payload, timeout=timeout)
        except redis.exceptions.NoPermissionError:
            pass
    return register_through_outbox(r, name, payload, timeout)
