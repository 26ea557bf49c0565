"""Provides the server's Valkey Function library (commit.lua): loading it, and `Ops`, the round's writes for it."""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Any, Iterable

import msgspec
import redis

from scitq.errors import Refused

__all__ = ["LIBRARY", "SOURCE", "ensure_library", "fcall", "Ops", "CommitRefused"]

LIBRARY = "scitq"
SOURCE = (Path(__file__).with_name("commit.lua")).read_text()
_CHUNK = 1000   # members per variadic command (Lua's unpack has a stack limit)
_PACK = msgspec.msgpack.Encoder().encode


class CommitRefused(Exception):
    """The commit function checked the round and wrote nothing; `reason` is its first word
    (FENCED, LEDGER, BADID, BADTYPE, BADOP; anything else: a write failed, the views may be half written)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.reason = message.split(" ", 1)[0]


def ensure_library(r: redis.Redis, force: bool = False) -> bool:
    """Load the library unless the same source is already loaded; True if it was (re)loaded."""
    if not force:
        try:
            libs = r.execute_command("FUNCTION", "LIST", "LIBRARYNAME", LIBRARY, "WITHCODE")
        except redis.ResponseError:
            libs = []
        for lib in libs or []:
            info = dict(zip(lib[::2], lib[1::2])) if isinstance(lib, list) else lib
            name = info.get("library_name", info.get(b"library_name"))
            code = info.get("library_code", info.get(b"library_code"))
            if isinstance(name, bytes):
                name, code = name.decode(), (code or b"").decode()
            if name == LIBRARY and code == SOURCE:
                return False
    try:
        r.execute_command("FUNCTION", "LOAD", "REPLACE", SOURCE)
    except redis.exceptions.NoPermissionError as exc:
        raise Refused(f"the server's Redis user may not load the scitq library ({str(exc).splitlines()[0]})",
                      hint="give it the server role's rules: `scitq access add server NAME` with an admin URL "
                           "(docs/security.md)") from None
    return True


def fcall(r: Any, function: str, keys: list[str], args: list[Any]) -> Any:
    """FCALL `function`; if Valkey lost the library (FUNCTION FLUSH, a new Valkey), load it and call again."""
    try:
        return r.execute_command("FCALL", function, len(keys), *keys, *args)
    except redis.ResponseError as exc:
        if "function not found" not in str(exc).lower():
            raise
    ensure_library(r, force=True)
    return r.execute_command("FCALL", function, len(keys), *keys, *args)


class Ops:
    """The writes of one round, gathered with the pipeline methods the view writer uses, sent as one
    `scitq_commit` call: keys are declared once (KEYS), the ops go as one MessagePack argument, a list of
    [COMMAND, key index, args...] (one argument instead of thousands: packing and parsing them per argument
    cost more than the writes)."""

    def __init__(self, lock_key: str, events_key: str, epoch_key: str) -> None:
        self._index: dict[str, int] = {}
        self.keys: list[str] = []
        self.ops: list[list[Any]] = []
        self._key(lock_key)
        self._key(events_key)
        self._key(epoch_key)

    @property
    def count(self) -> int:
        return len(self.ops)

    def _key(self, key: str) -> int:
        i = self._index.get(key)
        if i is None:
            self.keys.append(key)
            i = self._index[key] = len(self.keys)
        return i

    def _op(self, cmd: str, key: str, args: Iterable[Any]) -> None:
        op = [cmd, self._key(key)]
        op.extend(args)
        self.ops.append(op)

    def _chunked(self, cmd: str, key: str, items: list[Any], width: int = 1) -> None:
        step = _CHUNK * width
        if len(items) <= step:
            self._op(cmd, key, items)
            return
        for i in range(0, len(items), step):
            self._op(cmd, key, items[i:i + step])

    # --- the subset of redis-py's pipeline used by the recorder and the view writer ---------------
    def xadd(self, key: str, fields: dict[str, Any], id: str = "*") -> None:  # noqa: A002
        op = ["XADD", self._key(key), id]
        op.extend(chain.from_iterable(fields.items()))
        self.ops.append(op)

    def xtrim(self, key: str, maxlen: int, approximate: bool = False) -> None:
        self._op("XTRIM", key, ["MAXLEN", "~", maxlen] if approximate else ["MAXLEN", maxlen])

    def xdel(self, key: str, *ids: str) -> None:
        self._chunked("XDEL", key, list(ids))

    def xack(self, key: str, group: str, *ids: str) -> None:
        self._op("XACK", key, [group, *ids])

    def hset(self, key: str, field: str | None = None, value: Any = None,
             mapping: dict[str, Any] | None = None) -> None:
        if field is None and mapping is not None and len(mapping) <= _CHUNK:
            op = ["HSET", self._key(key)]
            op.extend(chain.from_iterable(mapping.items()))
            self.ops.append(op)
            return
        flat: list[Any] = [] if field is None else [field, value]
        flat.extend(chain.from_iterable((mapping or {}).items()))
        self._chunked("HSET", key, flat, 2)

    def hdel(self, key: str, *fields: str) -> None:
        self._chunked("HDEL", key, list(fields))

    def sadd(self, key: str, *members: Any) -> None:
        self._chunked("SADD", key, list(members))

    def srem(self, key: str, *members: Any) -> None:
        self._chunked("SREM", key, list(members))

    def zadd(self, key: str, mapping: dict[Any, Any]) -> None:
        flat: list[Any] = []
        for member, score in mapping.items():
            flat += [score, member]
        self._chunked("ZADD", key, flat, 2)

    def zrem(self, key: str, *members: Any) -> None:
        self._chunked("ZREM", key, list(members))

    def bitfield_set(self, key: str, bits: dict[int, int]) -> None:
        """Bit n of the bitmap `key` set to `bits[n]` (0 or 1): BITFIELD SET u1 ops."""
        self._chunked("BITFIELD", key, [x for n, v in bits.items() for x in ("SET", "u1", n, v)], 4)

    def set(self, key: str, value: Any, ex: int | None = None) -> None:
        self._op("SET", key, [value] if ex is None else [value, "EX", ex])

    def lpush(self, key: str, *values: Any) -> None:
        self._op("LPUSH", key, values)

    def expire(self, key: str, seconds: int) -> None:
        self._op("EXPIRE", key, [seconds])

    def delete(self, *names: str) -> None:
        for key in names:
            self._op("DEL", key, ())

    def call_args(self, lock_value: str, ttl_ms: int, view_prefix: str) -> tuple[list[str], list[Any]]:
        return self.keys, [lock_value, ttl_ms, view_prefix, _PACK(self.ops)]
