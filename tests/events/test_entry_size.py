"""Ledger entries in a real stream: entries of one shape store their field names once per listpack node."""

from __future__ import annotations

import json
from pathlib import Path

from scitq import keys
from scitq.events import decode_event
from scitq.events.codec import without_empty_ids

GOLDEN_V5 = Path(__file__).parent / "golden_v5.jsonl"


def _stream_bytes(r, entries: list[dict[str, str]], rounds: int) -> int:
    r.delete(keys.EVENTS)
    pipe = r.pipeline(transaction=False)
    for _ in range(rounds):
        for fields in entries:
            pipe.xadd(keys.EVENTS, fields)
    pipe.execute()
    size = r.memory_usage(keys.EVENTS, samples=0)
    r.delete(keys.EVENTS)
    return size


def test_entries_with_the_same_fields_take_less_of_the_stream_than_entries_with_only_their_ids(r):
    """Given the entries of every event type written today (empty ids included) and the same entries with
    their empty ids left out (as written before), when each set is appended to the ledger stream of a real
    Valkey, then today's takes less memory: the names are stored once per node, not per entry."""
    today = [json.loads(line) for line in GOLDEN_V5.read_text().splitlines()]
    before = [without_empty_ids(f) for f in today]
    assert any(len(b) < len(t) for b, t in zip(before, today))
    assert [decode_event(f) for f in before] == [decode_event(f) for f in today]
    assert _stream_bytes(r, today, 40) < _stream_bytes(r, before, 40)
