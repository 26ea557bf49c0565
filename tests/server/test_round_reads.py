"""The server's per-round reads after and before a commit, against a real Valkey: which claimed queue
entries are pending for their worker (read per queue and worker over a range), and the packing of ended
attempts' outputs (the packed value is read only for outputs with live chunks)."""

from __future__ import annotations

import redis

from scitq import keys
from scitq.projections.outputs import read_outputs
from scitq.server.archiver import pack_outputs
from scitq.server.controlplane import _pending_for
from scitq.server.library import ensure_library


def _deliver(r: redis.Redis, batch: str, consumer: str, n: int) -> list[str]:
    """Queue `n` entries in `batch` and deliver them to `consumer`: their ids."""
    q = keys.queue(batch)
    try:
        r.xgroup_create(q, keys.QUEUE_GROUP, id="$", mkstream=True)
    except redis.ResponseError:   # the group exists already
        pass
    for i in range(n):
        r.xadd(q, {"task": str(i)})
    got = r.xreadgroup(keys.QUEUE_GROUP, consumer, {q: ">"}, count=n)
    return [eid for _s, entries in got for eid, _f in entries]


def test_only_the_entries_pending_for_the_claiming_worker_are_found_whatever_their_number(r):
    a = _deliver(r, "B", "w1", 3)
    b = _deliver(r, "B", "w2", 2)
    many = _deliver(r, "C", "w1", 60)   # more pending between the asked ones than one range read returns
    r.xack(keys.queue("B"), keys.QUEUE_GROUP, a[1])
    asked = [("B", a[0], "w1"), ("B", a[1], "w1"), ("B", a[2], "w1"),   # a[1] acknowledged: no longer pending
             ("B", b[0], "w1"),                                          # pending, but for w2
             ("B", b[1], "w2"),
             ("C", many[0], "w1"), ("C", many[59], "w1"),
             ("C", many[30], "w2"),                                      # delivered to w1, not w2
             ("Nope", "1-1", "w1"),                                      # no such queue
             ("B", a[2].partition("-")[0], "w1")]                        # an id without its sequence number
    assert _pending_for(r, asked) == {("B", a[0], "w1"), ("B", a[2], "w1"), ("B", b[1], "w2"),
                                      ("C", many[0], "w1"), ("C", many[59], "w1"),
                                      ("B", a[2].partition("-")[0], "w1")}


def test_outputs_are_packed_only_where_chunks_were_written_and_read_the_same_afterwards(r):
    ensure_library(r)
    s1, s2, s3 = (keys.worker_output("w", t, 1) for t in (1, 2, 3))
    r.xadd(s1, {"fd": "stdout", "text": "one\n"})
    r.xadd(s3, {"fd": "stderr", "text": "three\n"})
    attempts, streams = [(1, 1), (2, 1), (3, 1)], [s1, s2, s3]
    before = read_outputs(r, attempts, streams)
    assert pack_outputs(r, [(1, 1, s1), (2, 1, s2), (3, 1, s3)]) == 2
    assert r.xlen(s1) == 0 and not r.exists(keys.output_packed(2, 1)) and r.exists(keys.output_packed(3, 1))
    assert read_outputs(r, attempts, streams) == before
    r.xadd(s1, {"fd": "stdout", "text": "late\n"})   # a chunk after the packing joins the packed ones
    assert pack_outputs(r, [(1, 1, s1), (2, 1, s2)]) == 1
    assert [text for _id, _fd, text in read_outputs(r, [(1, 1)], [s1])[0]] == ["one\n", "late\n"]
    assert r.xlen(s1) == 0


def test_the_commit_says_how_many_ended_attempts_output_streams_exist_and_is_refused_as_before(r):
    """Given the output streams of three ended attempts, one with chunks, the commit that records their ends
    answers 1 (asked in the same round trip, so that a round whose attempts wrote nothing reads no output);
    a commit fenced out raises `CommitRefused` and writes nothing, probe or not."""
    from scitq.projections.state import State
    from scitq.server.library import CommitRefused
    from scitq.server.recorder import Recorder
    from scitq.server.round import Round
    ensure_library(r)
    r.set(keys.SERVER_LOCK, "me")
    s1, s2, s3 = (keys.worker_output("w", t, 1) for t in (1, 2, 3))
    r.xadd(s2, {"fd": "stdout", "text": "two\n"})
    rec = Recorder(r)
    rec.lock_value = "me"
    rnd = Round(cursors={keys.INBOX: "1-0"})
    assert rec.write(rnd, State(), probe=[s1, s2, s3]) == 1
    assert rec.write(rnd, State()) is None
    assert r.hget(keys.SERVER_CURSOR, keys.INBOX) == "1-0"
    rec.lock_value = "someone-else"
    try:
        rec.write(Round(cursors={keys.INBOX: "2-0"}), State(), probe=[s1, s2])
    except CommitRefused as exc:
        assert exc.reason == "FENCED"
    else:
        raise AssertionError("a fenced commit was not refused")
    assert r.hget(keys.SERVER_CURSOR, keys.INBOX) == "1-0"
