"""Provides Redis commands sent and read directly on a connection of a client's pool, without redis-py's
per-command work (taking a connection from the pool and giving it back, its retry wrapper, its reply
callbacks): on the path of every task, that work costs more than the round trip. `execute` sends a batch on a
pooled connection (the worker's reads and reports); `Wire` keeps one connection for every round of the
server's control plane. Replies are Valkey's own, decoded as the pool decodes; no reply callback is applied."""

from __future__ import annotations

from typing import Any, Sequence

import redis
from hiredis import pack_command

__all__ = ["Wire", "call", "execute", "flat_entries", "stream_entries"]


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
            return _exchange(conn, packed, len(commands))
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


def call(r: redis.Redis, *args: Any) -> Any:
    """One command sent as `execute` sends it; its reply, a refusal raised (`redis.ResponseError`)."""
    reply = execute(r, [args])[0]
    if isinstance(reply, redis.ResponseError):
        raise reply
    return reply


def _exchange(conn: Any, packed: list[bytes], count: int) -> list[Any]:
    """Send `packed` (`count` commands) on `conn` and read their replies in order, a command Redis refused
    giving its `ResponseError` in its place (the replies after it are still read)."""
    conn.send_packed_command(packed)
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(conn.read_response())
        except redis.ResponseError as exc:
            replies.append(exc)
    return replies


class Wire:
    """One connection taken from the pool of `r` and kept for the commands of every round (the read of the
    inputs, the claims' check, the commit). Commands are packed, sent and read on it directly: redis-py's
    client spends more on each command (taking a connection from the pool and giving it back, its retry
    wrapper, its reply callbacks) than a small round spends on everything else. Replies are Valkey's own
    (decoded as the pool decodes): no reply callback is applied.

    Any failure to send or read closes the connection and is raised (the control plane waits out outages
    itself); the next command opens a new one the way every connection of the pool opens (following the
    connection file or the Sentinels)."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self.r.connection_pool.get_connection()
        return self._conn

    def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send `commands` at once and read their replies, in order; a command Valkey refused gives its
        `redis.ResponseError` in its place (the others are still read)."""
        conn = self._connection()
        try:
            return _exchange(conn, conn.pack_commands(commands), len(commands))
        except BaseException:
            self.close()
            raise

    def call(self, *args: Any) -> Any:
        """One command; a refusal is raised (`redis.ResponseError`)."""
        reply = self.execute([args])[0]
        if isinstance(reply, redis.ResponseError):
            raise reply
        return reply

    def close(self) -> None:
        """Drop the connection (the next command opens another)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.disconnect()
        finally:
            self.r.connection_pool.release(conn)


def stream_entries(reply: Any) -> list[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """An XREAD or XREADGROUP reply (RESP2 list or RESP3 map) as redis-py's `xread` gives it:
    [(stream, [(id, fields)])]."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    return [(stream, [(eid, dict(zip(flat[::2], flat[1::2])) if flat else {}) for eid, flat in entries or ()])
            for stream, entries in pairs]


def flat_entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """The entries of an XREAD or XREADGROUP reply (RESP2 or RESP3), all streams in one list: (id, fields)."""
    return [entry for _stream, entries in stream_entries(reply) for entry in entries]
