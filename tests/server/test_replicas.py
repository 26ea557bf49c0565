"""A primary with replicas: Sentinel addresses, answers only once a replica holds the round (WAIT), ACL users
on every node. The failover itself (kill -9 of the primary) is tests/chaos/test_sentinel.py."""

from __future__ import annotations

import pytest
import redis

from helpers import run_cli, wait_for
from scitq import access, keys
from scitq.api.client import Client
from scitq.connection import connect, nodes, parse_sentinel_url, replicas_to_wait
from scitq.errors import BadInput, Unreachable
from scitq.server.embedded import free_port
from scitq.settings import Settings
from sentinel_cluster import PASSWORD, SERVICE, SentinelCluster

pytestmark = pytest.mark.xdist_group("replicas")


def test_a_sentinel_url_names_its_sentinels_service_credential_and_database():
    a = parse_sentinel_url("redis+sentinel://admin:p%40ss@10.0.0.1:26379,10.0.0.2,[::1]:5000/scitq?db=2"
                           "&sentinel_password=s3")
    assert a.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("::1", 5000))
    assert (a.service, a.username, a.password, a.db, a.sentinel_password) == ("scitq", "admin", "p@ss", 2, "s3")


@pytest.mark.parametrize("url, said", [
    ("redis+sentinel://127.0.0.1:x/scitq", "the port of '127.0.0.1:x' is not a number"),
    ("redis+sentinel://127.0.0.1:26379/", "names no service"),
    ("redis+sentinel://127.0.0.1:26379/scitq?colour=blue", "unknown option 'colour'"),
])
def test_a_bad_sentinel_url_is_one_line_naming_what_is_wrong_with_exit_code_2(url, said, env):
    with pytest.raises(BadInput, match=said):
        parse_sentinel_url(url)
    res = run_cli("scitq", "workers", "list", env={**env, "SCITQ_SERVER": url})
    assert res.returncode == 2
    assert said in res.stderr and len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_sentinels_that_do_not_answer_are_one_line_with_exit_code_3(env):
    url = f"redis+sentinel://:secret@127.0.0.1:{free_port()}/scitq"
    res = run_cli("scitq", "workers", "list", env={**env, "SCITQ_SERVER": url})
    assert res.returncode == 3
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "secret" not in line
    assert "no Sentinel at 127.0.0.1:" in line and "names a primary that is up" in line


def test_replicas_are_waited_for_through_sentinel_by_default_and_never_with_one_node(r):
    sentinel = connect("redis+sentinel://127.0.0.1:1/scitq")   # lazy: nothing is contacted
    assert replicas_to_wait(sentinel, Settings()) == 1
    assert replicas_to_wait(r, Settings()) == 0
    assert replicas_to_wait(r, Settings(wait_replicas=2)) == 2
    assert replicas_to_wait(sentinel, Settings(wait_replicas=0)) == 0


@pytest.fixture
def nodes_only(tmp_path):
    """A primary alone at first (a replica is started by the test), no Sentinel."""
    c = SentinelCluster(tmp_path / "nodes")
    c.start_node(c.node_ports[0])
    yield c
    c.stop()


def test_a_command_no_replica_confirmed_is_not_acknowledged_and_answered_once_a_replica_holds_it(
        nodes_only, procs, env, monkeypatch):
    primary, replica = nodes_only.node_ports
    url = f"redis://:{PASSWORD}@127.0.0.1:{primary}/0"
    for k, v in {"SCITQ_SERVER": url, "SCITQ_WAIT_REPLICAS": "1", "SCITQ_WAIT_TIMEOUT": "0.2"}.items():
        monkeypatch.setenv(k, v)
        env[k] = v
    procs.spawn("server", "--redis", url, log="server.log")
    rp = redis.Redis.from_url(url, decode_responses=True)
    wait_for(lambda: rp.exists(keys.SERVER_ALIVE), what="the server to start")
    client = Client(url=url, timeout=10)
    spec = [{"command": "echo replicated"}]

    with pytest.raises(Unreachable, match="not acknowledged.*did not confirm it within 0.2s") as err:
        client.submit(spec, idempotency_key="one-submission")
    assert "same idempotency key" in (err.value.hint or "")
    with pytest.raises(Unreachable, match="not acknowledged"):        # still no replica: still not
        client.submit(spec, idempotency_key="one-submission")

    nodes_only.start_node(replica, replica_of=primary)
    ids = wait_for(lambda: _submit_or_none(client, spec), timeout=30, what="the answer once a replica holds it")
    submitted = [f["task"] for _, f in rp.xrange(keys.EVENTS) if f["type"] == "task.submitted"]
    assert submitted == [str(i) for i in ids], "applied once, whatever the number of tries"
    replica_view = nodes_only.node_client(replica, decode_responses=True)
    assert replica_view.xlen(keys.EVENTS) == rp.xlen(keys.EVENTS)


def _submit_or_none(client: Client, spec: list[dict], key: str = "one-submission") -> list[int] | None:
    try:
        return client.submit(spec, idempotency_key=key)
    except Unreachable:
        return None


@pytest.fixture
def cluster(tmp_path):
    c = SentinelCluster(tmp_path / "cluster")
    c.start()
    yield c
    c.stop()


def test_a_user_added_through_sentinel_exists_on_the_primary_and_on_each_replica_and_goes_from_all(cluster, env):
    admin = connect(cluster.url)
    assert len(nodes(admin)) == 2
    res = run_cli("scitq", "access", "add", "submitter", "lab", "-s", cluster.url, env=env)
    assert res.returncode == 0, res.stderr
    url = res.stdout.strip()
    assert url.startswith("redis+sentinel://submitter-lab:") and url.endswith(f"/{SERVICE}")
    connect(url).ping()                       # through the Sentinels, as the new user
    for port in cluster.node_ports:
        node = cluster.node_client(port, decode_responses=True)
        assert node.execute_command("ACL", "GETUSER", "submitter-lab"), f"the user is on the node of port {port}"
        password = url.split(":")[2].split("@")[0]
        assert redis.Redis(host="127.0.0.1", port=port, username="submitter-lab", password=password).ping()
    access.revoke(admin, "submitter-lab")
    for port in cluster.node_ports:
        assert cluster.node_client(port).execute_command("ACL", "GETUSER", "submitter-lab") is None


def test_the_replica_and_sentinel_example_of_the_operations_doc_runs_and_scitq_works_on_it_with_role_users(
        tmp_path, procs, env):
    """The sh block of docs/operations.md sets up two nodes and three Sentinels; then, as the next block says,
    users of the server and submitter roles are added through the Sentinels, the server runs with its
    user, and a submission is acknowledged (the server may WAIT, the replica holds the round)."""
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    block = re.search(r"```sh replica-and-sentinel\n(.*?)```", doc, re.S).group(1)
    d = tmp_path / "ha"
    values = {"HOST": "127.0.0.1", "P1": str(free_port()), "P2": str(free_port()), "D": str(d),
              "SENTINELS": " ".join(str(free_port()) for _ in range(3)), "PYTHON": sys.executable}
    script = 'python() { "$PYTHON" "$@"; }\nset -e\n' + block + 'echo "$ADMIN"\n'
    try:
        res = subprocess.run(["bash", "-c", script], env={**env, **values}, capture_output=True, text=True,
                             timeout=120)
        assert res.returncode == 0, res.stderr
        admin = res.stdout.strip()
        wait_for(lambda: _knows_replica(admin), what="the Sentinels to know the replica")
        server_url, submitter_url = (
            run_cli("scitq", "access", "add", role, name, "-s", admin, env=env).stdout.strip()
            for role, name in (("server", "main"), ("submitter", "lab")))
        assert server_url.startswith("redis+sentinel://server-main:") and submitter_url.startswith(
            "redis+sentinel://submitter-lab:")
        procs.spawn("server", "--redis", server_url, log="server.log")
        client = Client(url=submitter_url, timeout=30)
        wait_for(lambda: client.server_alive(), what="the server to start")
        ids = wait_for(lambda: _submit_or_none(client, [{"command": "true"}], "doc-example"), timeout=60,
                       what="an acknowledged submission")   # retried with its key while the replica syncs
        replica = redis.Redis(host="127.0.0.1", port=int(values["P2"]), username="submitter-lab",
                              password=submitter_url.split(":")[2].split("@")[0], decode_responses=True)
        assert [f["task"] for _, f in replica.xrange(keys.EVENTS) if f["type"] == "task.submitted"] == [
            str(i) for i in ids], "the acknowledged submission is on the replica"
    finally:
        for pid_file in d.glob("*/*.pid"):
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass


def _knows_replica(url: str) -> bool:
    try:
        return len(nodes(connect(url))) == 2
    except redis.RedisError:
        return False


def test_a_worker_spool_keeps_what_no_replica_holds_and_forgets_it_once_one_does(nodes_only, tmp_path):
    """Reports shipped to a primary alone are delivered (the server sees them) but stay in the worker's
    spool, sent again, until a replica confirms them; the duplicates are refused by their ids."""
    from scitq.worker.spool import Spool

    primary, replica = nodes_only.node_ports
    rp = nodes_only.node_client(primary, decode_responses=True)
    spool = Spool(tmp_path / "spool", rp, wait_replicas=1, wait_timeout=0.1)
    outbox = keys.worker_outbox("w1")
    spool.start()
    try:
        for i in range(5):
            spool.append(outbox, {"n": str(i)})
        wait_for(lambda: rp.xlen(outbox) == 5, what="the reports delivered")
        assert spool.backlog() == 5, "kept: no replica holds them"
        nodes_only.start_node(replica, replica_of=primary)
        wait_for(lambda: spool.backlog() == 0, timeout=30, what="the spool to forget them")
        assert [f["n"] for _, f in rp.xrange(outbox)] == [str(i) for i in range(5)], "each once"
        assert nodes_only.node_client(replica).xlen(outbox) == 5
    finally:
        spool.stop()
