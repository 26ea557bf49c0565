"""Provides `Wire`: the control plane's own connection for the commands every round sends, without the client's
per-command work."""

from __future__ import annotations

from typing import Any, Sequence

import redis

__all__ = ["Wire", "stream_entries"]


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
        out: list[Any] = []
        try:
            conn.send_packed_command(conn.pack_commands(commands))
            for _ in commands:
                try:
                    out.append(conn.read_response())
                except redis.ResponseError as exc:
                    out.append(exc)
        except BaseException:
            self.close()
            raise
        return out

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
    """An XREAD reply (RESP2 list or RESP3 map) as redis-py's `xread` gives it: [(stream, [(id, fields)])]."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    return [(stream, [(eid, dict(zip(flat[::2], flat[1::2])) if flat else {}) for eid, flat in entries])
            for stream, entries in pairs]
