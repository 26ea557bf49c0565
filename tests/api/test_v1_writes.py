"""The write queue under v1's asynchronous writes: order, retries through Unreachable, refusals at read."""

from __future__ import annotations

import pytest

from scitq.api.v1_writes import LazyObject, WriteQueue
from scitq.errors import Conflict, Unreachable


def test_queued_writes_are_delivered_in_order_each_once_after_the_outage():
    q = WriteQueue(put_timeout=1)
    delivered: list[str] = []
    outage = {"tries": 0}

    def send(name):
        def go():
            if outage["tries"] < 2:          # the first two tries meet an outage
                outage["tries"] += 1
                raise Unreachable("away")
            delivered.append(name)
            return {"name": name}
        return go

    lazies = [LazyObject(q.put(send(n), n)) for n in ("a", "b", "c")]
    assert lazies[2]["name"] == "c"          # reading the last waits for all before it
    assert delivered == ["a", "b", "c"]
    q.drain()
    assert q.size() == 0 and all(z.delivered() for z in lazies)


def test_a_queued_write_the_server_refuses_raises_when_its_answer_is_read_and_the_next_ones_go_on(capsys):
    q = WriteQueue(put_timeout=1)

    def refused():
        raise Conflict("task 1 is running")

    bad = LazyObject(q.put(refused, "task.update"))
    good = LazyObject(q.put(lambda: 7, "task.delete"), then=lambda v: {"value": v})
    assert good["value"] == 7 and good == {"value": 7}
    with pytest.raises(Conflict, match="task 1 is running"):
        bad["anything"]
    assert "queued task.update was refused: task 1 is running" in capsys.readouterr().err
