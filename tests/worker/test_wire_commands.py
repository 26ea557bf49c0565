"""The worker's one-round-trip commands: the same replies as redis-py's, errors in place, a stale connection retried."""

from __future__ import annotations

import redis

from scitq.io.wire import execute, flat_entries


def test_replies_come_in_order_decoded_with_a_refused_command_s_error_in_its_place(r):
    r.hset("scitq:test:wire:h", mapping={"a": "1", "b": "é"})
    got = execute(r, [("HMGET", "scitq:test:wire:h", "a", "b", "c"), ("XADD", "scitq:test:wire:s", "5-1", "f", "v"),
                      ("XADD", "scitq:test:wire:s", "5-1", "f", "again"), ("HGET", "scitq:test:wire:h", "b")])
    assert got[0] == ["1", "é", None] and got[1] == "5-1" and got[3] == "é"
    assert isinstance(got[2], redis.ResponseError) and "equal or smaller" in str(got[2])
    assert r.xlen("scitq:test:wire:s") == 1 and r.ping()   # the connection is still in step after the error


def test_a_queue_read_gives_the_entries_redis_py_gives(r):
    r.xgroup_create("scitq:test:wire:q", "g", id="0", mkstream=True)
    for i in range(3):
        r.xadd("scitq:test:wire:q", {"task": str(i), "run": '{"command": "true"}'})
    r.xgroup_create("scitq:test:wire:q", "h", id="0")
    ours = flat_entries(execute(r, [("XREADGROUP", "GROUP", "g", "c", "COUNT", 2, "BLOCK", 10, "STREAMS",
                                       "scitq:test:wire:q", ">")])[0])
    theirs = r.xreadgroup("h", "c", {"scitq:test:wire:q": ">"}, count=2, block=10)[0][1]
    assert ours == [(eid, fields) for eid, fields in theirs] and len(ours) == 2
    empty = execute(r, [("XREADGROUP", "GROUP", "g", "c", "COUNT", 5, "BLOCK", 10, "STREAMS",
                         "scitq:test:wire:q", ">"), ("XREADGROUP", "GROUP", "g", "c", "COUNT", 5, "BLOCK", 10,
                                                      "STREAMS", "scitq:test:wire:q", ">")])
    assert len(flat_entries(empty[0])) == 1 and flat_entries(empty[1]) == []


def test_a_pooled_connection_the_server_dropped_is_replaced_and_the_commands_succeed(r):
    assert execute(r, [("PING",)]) == ["PONG"]
    r.client_kill_filter(_type="normal", skipme=False)   # every connection dropped (a restart, say)
    assert execute(r, [("PING",), ("ECHO", "x")]) == ["PONG", "x"]
