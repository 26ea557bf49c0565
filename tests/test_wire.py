"""What client and server share on the wire: key names and their inverse, error kinds, queue groups."""

from __future__ import annotations

import pytest

from scitq import keys
from scitq.errors import BadInput, Conflict, NotFound, ScitqError, Unreachable, error_kind, error_of_kind
from scitq.queues import ensure_queue_group


@pytest.mark.parametrize("name", ["w1", "node:7", "a-b.c"])
def test_the_worker_name_is_read_back_from_its_outbox_key(name):
    assert keys.worker_of_outbox(keys.worker_outbox(name)) == name


def test_other_keys_name_no_worker():
    assert keys.worker_of_outbox(keys.INBOX) is None
    assert keys.worker_of_outbox(keys.worker_alive("w1")) is None
    assert keys.worker_of_outbox(f"{keys.PREFIX}:worker::outbox") is None


def test_each_error_travels_as_its_kind_and_comes_back_as_the_same_class():
    for exc in (BadInput("b"), NotFound("n"), Conflict("c"), Unreachable("u"), ScitqError("e")):
        back = error_of_kind(error_kind(exc), exc.message, "a hint")
        assert type(back) is type(exc) and back.message == exc.message and back.hint == "a hint"
    assert type(error_of_kind("strange", "x")) is ScitqError


def test_the_queue_group_is_created_once_whoever_asks_first(r):
    ensure_queue_group(r, "qb")
    ensure_queue_group(r, "qb")
    assert [g["name"] for g in r.xinfo_groups(keys.queue("qb"))] == [keys.QUEUE_GROUP]
