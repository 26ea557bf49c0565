"""The archive's files on a local directory: a snapshot gives back the state it was taken from, segments
are checked when read, and the codecs read back what they wrote (pure, no Valkey)."""

from __future__ import annotations

import pytest

from scitq.events import commands as c
from scitq.projections.archive import Archive, ArchiveCorrupt, compress, decode_state, decompress, encode_state
from scitq.projections.state import State
from scitq.projections.store import expected_views
from scitq.server.decide import Decider


def _busy_state() -> State:
    d = Decider(State())
    d.now = 1000.0
    d.command("worker.register", c.RegisterWorker(name="w1", concurrency=2, incarnation="i1"))
    d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command=f"echo {i}", batch="b") for i in range(4)]))
    d.command("recruiter.create", c.CreateRecruiter(batch="b", rank=1, tasks_per_worker=2, worker_flavor="f",
                                                    worker_concurrency=1, maximum_workers=3))
    d.dispatch()
    d.fact("w1", "claimed", c.Claimed(task_id=1, attempt=1), "i1")
    d.fact("w1", "started", c.Started(task_id=1, attempt=1, command="echo 0"), "i1")
    d.fact("w1", "finished", c.Finished(task_id=1, attempt=1, return_code=0), "i1")
    d.take()
    d.state.last_event_id = "1000-7"
    return d.state


def test_a_snapshot_gives_back_the_state_it_was_taken_from_recruiters_and_counters_included():
    state = _busy_state()
    back = decode_state(encode_state(state))
    assert expected_views(back) == expected_views(state)
    assert (back.next_task_id, back.next_execution_id, back.recruiters.keys()) == \
        (state.next_task_id, state.next_execution_id, state.recruiters.keys())


def test_a_snapshot_written_to_the_archive_is_checked_when_read_back(tmp_path):
    arch = Archive(str(tmp_path))
    snap = arch.write_snapshot(_busy_state())
    assert arch.read_snapshot(snap).last_event_id == "1000-7"
    (tmp_path / snap.name).write_bytes(b"not a snapshot")
    with pytest.raises(ArchiveCorrupt, match="checksum differs"):
        arch.read_snapshot(snap)


@pytest.mark.parametrize("codec", ["gz", "xz"])
def test_each_codec_reads_back_what_it_wrote_and_segments_carry_their_task_range(tmp_path, codec):
    assert decompress(compress(b"ledger" * 100, codec), codec) == b"ledger" * 100
    arch = Archive(str(tmp_path), codec=codec)
    seg = arch.write_segment([("1-0", {"type": "task.submitted", "task": "7"}), ("2-0", {"type": "x", "task": "3"}),
                              ("3-0", {"type": "batch.created", "batch": "b"})])
    assert (seg.first, seg.last, seg.count, seg.tasks, seg.codec) == ("1-0", "3-0", 3, [3, 7], codec)
    assert seg.has_task(5) and not seg.has_task(8)
    assert [e for e, _ in arch.read_segment(seg, fresh=True)] == ["1-0", "2-0", "3-0"]
