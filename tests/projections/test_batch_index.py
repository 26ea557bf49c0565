"""The by-batch index: bitmaps of keys.BATCH_CHUNK task ids (real Valkey), listed, counted and paged like the
sorted set it replaced."""

from __future__ import annotations

import random

from scitq import keys
from scitq.projections.store import _Index, batch_count, batch_ids, batch_page, batch_pages, dump_views


def _index(r, members: dict[str, list[int]], removed: dict[str, list[int]] | None = None) -> None:
    ix = _Index()
    for batch, ids in members.items():
        for t in ids:
            ix.batch(batch, t, 1)
    for batch, ids in (removed or {}).items():
        for t in ids:
            ix.batch(batch, t, 0)
    pipe = r.pipeline(transaction=True)
    ix.flush(pipe)
    pipe.execute()


def test_a_batch_spread_over_several_chunks_lists_counts_and_pages_as_a_sorted_set_would(r):
    """Given a batch whose task ids lie in three chunks far apart (and another batch in between), listing,
    counting and paging it by rank, ascending and descending, across chunk edges, give what ZRANGE and
    ZREVRANGE of its ids would."""
    C = keys.BATCH_CHUNK
    ids = sorted({1, 2, C - 1, C, C + 7, *range(5 * C - 3, 5 * C + 40), 9 * C + 100})
    others = [3, 4, C + 1, 5 * C + 50]
    _index(r, {"far": ids, "near": others})
    assert batch_ids(r, "far") == ids and batch_count(r, "far") == len(ids)
    assert batch_ids(r, "far", "near") == sorted(ids + others) and batch_count(r, "far", "near") == len(ids) + len(others)
    rnd = random.Random(7)
    for _ in range(200):
        start = rnd.randrange(0, len(ids) + 3)
        stop = start + rnd.randrange(0, 12)
        assert batch_page(r, "far", start, stop) == ids[start:stop + 1], (start, stop)
        assert batch_page(r, "far", start, stop, desc=True) == ids[::-1][start:stop + 1], (start, stop)
    assert batch_pages(r, ["far", "near", "none"], 0, 2) == [ids[:3], others[:3], []]
    assert batch_page(r, "none", 0, 10) == [] and batch_count(r, "none") == 0 and batch_ids(r, "none") == []


def test_a_task_leaving_its_batch_clears_its_bit_and_an_emptied_chunk_reads_as_no_task(r):
    """Given tasks in two chunks of a batch, when every task of one chunk leaves it, the batch lists,
    counts and pages only the others, and `dump_views` (what `rebuild --verify` compares) shows the
    batch's task ids alone, whatever empty chunk is left."""
    C = keys.BATCH_CHUNK
    _index(r, {"b": [5, 6, 2 * C + 1]})
    _index(r, {}, removed={"b": [5, 6]})
    assert batch_ids(r, "b") == [2 * C + 1] and batch_count(r, "b") == 1
    assert batch_page(r, "b", 0, 0) == [2 * C + 1] and batch_page(r, "b", 0, 5, desc=True) == [2 * C + 1]
    assert dump_views(r)[keys.tasks_by_batch("b")] == {str(2 * C + 1)}
    _index(r, {}, removed={"b": [2 * C + 1]})
    assert keys.tasks_by_batch("b") not in dump_views(r)


def test_a_batch_named_like_a_chunk_key_keeps_its_own_index(r):
    """Batch names may hold `:`: the chunk key puts the chunk number first, so no two batches share a key."""
    _index(r, {"x": [1], "x:3": [2], "3:x": [3]})
    assert (batch_ids(r, "x"), batch_ids(r, "x:3"), batch_ids(r, "3:x")) == ([1], [2], [3])
    assert keys.batch_of_chunk(keys.batch_chunk("x:3", 12)) == ("x:3", 12)
    assert keys.batch_of_chunk(keys.tasks_by_batch("x")) is None
