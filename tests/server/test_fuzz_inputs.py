"""Random and mutated entries in the inbox and a worker outbox never crash the server (property-based)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from scitq import keys
from scitq.events.commands import COMMAND_TYPES, FACT_TYPES
from scitq.inbox import new_id
from scitq.projections.check import check_ledger
from scitq.projections.store import rebuild
from scitq.server.controlplane import ControlPlane
from scitq.settings import Settings

json_values = st.recursive(st.none() | st.booleans() | st.integers(-3, 10**12) | st.text(max_size=20),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                                                     max_size=4), max_leaves=8)
VALID_SUBMIT = {"tasks": [{"command": "echo ok", "retry": 1}]}


def mutate(doc: dict, key: str, value) -> dict:
    out = json.loads(json.dumps(doc))
    target = out["tasks"][0] if "tasks" in out else out
    target[key] = value
    return out


inbox_entries = st.one_of(
    st.dictionaries(st.sampled_from(["cmd", "id", "idem", "data", "reply", "junk"]), st.text(max_size=30), max_size=6),
    st.builds(lambda cmd, data: {"cmd": cmd, "id": new_id(), "data": json.dumps(data), "reply": "1"},
              st.sampled_from(sorted(COMMAND_TYPES)), json_values),
    st.builds(lambda k, v: {"cmd": "task.submit", "id": new_id(), "reply": "1",
                            "data": json.dumps(mutate(VALID_SUBMIT, k, v))},
              st.sampled_from(["command", "retry", "batch", "status", "required_task_ids", "run_timeout", "x"]),
              json_values),
)
outbox_entries = st.one_of(
    st.dictionaries(st.sampled_from(["f", "inc", "seq", "data", "junk"]), st.text(max_size=30), max_size=5),
    st.builds(lambda f, data, seq: {"f": f, "inc": "fuzz", "seq": str(seq), "data": json.dumps(data)},
              st.sampled_from(sorted(FACT_TYPES)), json_values, st.integers(-5, 10**6)),
    st.builds(lambda f, tid, att, rc: {"f": f, "inc": "fuzz", "seq": "x",
                                       "data": json.dumps({"task_id": tid, "attempt": att, "return_code": rc,
                                                           "command": "x"})},
              st.sampled_from(sorted(FACT_TYPES)), st.integers(-1, 5), st.integers(-1, 5), st.integers(-300, 300)),
)


@pytest.fixture
def plane(r):
    cp = ControlPlane(r, Settings(home="/nonexistent"))
    cp.acquire()
    cp.load()
    from scitq.inbox import send_command  # register a worker through the real path
    r.xadd(keys.INBOX, {"cmd": "worker.register", "id": "reg", "reply": "1",
                        "data": json.dumps({"name": "fuzzw", "concurrency": 2})})
    cp.round(block_ms=10)
    r.xadd(keys.INBOX, {"cmd": "task.submit", "id": "seed", "reply": "0", "data": json.dumps(VALID_SUBMIT)})
    cp.round(block_ms=10)
    del send_command
    return cp


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(st.tuples(st.booleans(), st.one_of(inbox_entries, outbox_entries)), min_size=1, max_size=6))
def test_random_inputs_never_crash_the_server_and_change_nothing_they_should_not(plane, r, entries):
    for to_inbox, fields in entries:
        if not fields:
            continue
        r.xadd(keys.INBOX if to_inbox else keys.worker_outbox("fuzzw"), fields)
    plane.round(block_ms=10)
    # the server still answers a valid command
    cid = new_id()
    r.xadd(keys.INBOX, {"cmd": "task.submit", "id": cid, "reply": "1", "data": json.dumps(VALID_SUBMIT)})
    plane.round(block_ms=10)
    answer = json.loads(r.lpop(keys.reply(cid)))
    assert answer["ok"], answer


def test_after_the_fuzzing_the_ledger_is_valid_and_the_views_equal_a_replay(plane, r):
    test_random_inputs_never_crash_the_server_and_change_nothing_they_should_not(plane, r)
    assert check_ledger(r).problems == []
    report, _ = rebuild(r, verify=True)
    assert report.equal, report.differences[:5]
