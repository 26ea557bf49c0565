"""Provides commands sent in one round trip on a connection of a client's pool, without redis-py's per-command
bookkeeping (on each task's path, a redis-py command or pipeline costs the worker about twice the round trip)."""

from __future__ import annotations

from typing import Any, Sequence

import redis
from hiredis import pack_command

__all__ = ["execute", "stream_entries"]


def execute(r: redis.Redis, commands: Sequence[tuple]) -> list[Any]:
    """Send `commands` (tuples of str, bytes or numbers) in one round trip; their replies in order, decoded as
    `r` decodes them, a command Redis refused as its `ResponseError`. A connection lost during the exchange
    (a pooled connection gone stale, say) is dropped and the commands are sent once more on a new one; a
    second loss raises `ConnectionError` or `TimeoutError` (as redis-py's own retries do). Only for commands
    that may run twice: reads, writes that Redis refuses the second time (XADD with explicit ids), and a
    queue read (entries whose reply was lost stay pending, and the server takes them back)."""
    packed = [b"".join(pack_command(command) for command in commands)]
    pool = r.connection_pool
    for last in (False, True):
        conn = pool.get_connection()
        try:
            conn.send_packed_command(packed)
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except redis.ResponseError as exc:
                    replies.append(exc)
            return replies
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()
            if last:
                raise
        except BaseException:
            conn.disconnect()   # replies left unread must never reach the next user of the connection
            raise
        finally:
            pool.release(conn)
    raise AssertionError("unreachable")


def stream_entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """The entries of an XREAD or XREADGROUP reply (RESP2 or RESP3), in order: (id, fields)."""
    if not reply:
        return []
    streams = reply.items() if isinstance(reply, dict) else reply
    out = []
    for _stream, entries in streams:
        for eid, flat in entries or ():
            out.append((eid, dict(zip(flat[::2], flat[1::2])) if flat else {}))
    return out
