"""Provides the base Struct of every ledger event and the policy it carries (frozen, tagged, kw-only)."""

from __future__ import annotations

from typing import ClassVar

import msgspec

__all__ = ["Event", "SCHEMA_VERSION"]

# the version of an event type that declares none. Version 2 is the compact entry: `data` no longer
# repeats the type and the ids written as plain fields (`task`, `batch`, `worker`); the decoder takes
# them from those fields. Entries of version 1 (everything inside `data`) are read as they are.
SCHEMA_VERSION = 2


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True):
    """A fact appended to `scitq:events` by the server. `ts` is the server's clock (epoch seconds).

    Rules: never rename a tag; new fields only with defaults; a change of shape gets a new `version`
    of that type and an upcaster (old entry -> new shape) in `scitq.events.upcasters`.
    """

    version: ClassVar[int] = SCHEMA_VERSION   # written as the entry's `v`
    ts: float = 0.0

    # plain fields copied onto the stream entry so `redis-cli XRANGE` can be read and filtered
    def ids(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for attr, field in (("task_id", "task"), ("batch", "batch"), ("worker", "worker")):
            value = getattr(self, attr, None)
            if value is not None and value != "" and value is not msgspec.UNSET:
                out[field] = str(value)
        return out
