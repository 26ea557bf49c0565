"""TLS end to end: Debian's redis-server (built with TLS) on loopback with a test CA made at test time.

A server, a worker and a submitter, each with its own ACL user, talk over rediss:// with CA verification
and client certificates; a wrong CA is refused in one clear line; no-verify works and warns.
redis-server comes from .ci/install-redis.sh.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from helpers import run_cli, wait_for
from scitq.server.embedded import free_port


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, key, cert) -> None:
    from cryptography.hazmat.primitives import serialization
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        os.chmod(path.with_suffix(".key"), 0o600)


def _cert(subject: str, key, issuer_name, issuer_key, *, ca: bool = False, server: bool = False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                         x509.DNSName("localhost")]), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


def make_pki(d: Path) -> None:
    """ca.crt signs server.crt (127.0.0.1) and client.crt; wrong-ca.crt is another CA."""
    ca_key = _key()
    ca = _cert("scitq test CA", ca_key, None, None, ca=True)
    _write(d / "ca", None, ca)
    for name, server in (("server", True), ("client", False)):
        k = _key()
        _write(d / name, k, _cert(f"scitq test {name}", k, ca.subject, ca_key, server=server))
    other = _key()
    _write(d / "wrong-ca", None, _cert("another CA", other, None, None, ca=True))


@pytest.fixture
def tls_redis(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: run .ci/install-redis.sh")
    d = tmp_path / "redis"
    d.mkdir()
    make_pki(d)
    port = free_port()
    (d / "users.acl").write_text("user default off\nuser admin on >admin-secret ~* &* +@all\n")
    (d / "redis.conf").write_text("\n".join([
        "bind 127.0.0.1", "port 0", f"tls-port {port}", f"tls-cert-file {d / 'server.crt'}",
        f"tls-key-file {d / 'server.key'}", f"tls-ca-cert-file {d / 'ca.crt'}", "tls-auth-clients yes",
        f"aclfile {d / 'users.acl'}", f"dir {d}", 'save ""', "appendonly yes", "daemonize no",
        f"logfile {d / 'redis.log'}", ""]))
    proc = subprocess.Popen([binary, str(d / "redis.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    admin_url = f"rediss://admin:admin-secret@127.0.0.1:{port}/0"
    r = redis.Redis.from_url(admin_url, ssl_ca_certs=str(d / "ca.crt"), ssl_certfile=str(d / "client.crt"),
                             ssl_keyfile=str(d / "client.key"), socket_connect_timeout=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            r.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server with TLS did not start: " + (d / "redis.log").read_text())
            time.sleep(0.1)
    yield admin_url, d
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def _scitq(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return run_cli(sys.executable, "-m", "scitq.cli.main", *args, env=env, timeout=timeout)


def test_a_server_worker_and_submitter_work_over_tls_with_their_own_users(tls_redis, tmp_path):
    """Given redis-server with TLS and client certificates, users made by `scitq access add` over rediss://
    run a server, a worker (TLS given as options) and a submitter (TLS from the environment) end to end."""
    admin_url, d = tls_redis
    base = {k: v for k, v in os.environ.items() if not k.startswith("SCITQ_")}
    base.update(SCITQ_HOME=str(tmp_path / "home"), SCITQ_HEARTBEAT_INTERVAL="0.5", SCITQ_OUTPUT_FLUSH="0.5",
                SCITQ_REAPER_INTERVAL="0.5", PYTHONUNBUFFERED="1")
    tls = dict(SCITQ_TLS_CA=str(d / "ca.crt"), SCITQ_TLS_CERT=str(d / "client.crt"),
               SCITQ_TLS_KEY=str(d / "client.key"))
    admin_env = {**base, **tls, "SCITQ_SERVER": admin_url}
    urls = {}
    for role, name in (("server", "main"), ("worker", "tls1"), ("submitter", "alice")):
        res = _scitq("access", "add", role, name, env=admin_env)
        assert res.returncode == 0, res.stderr
        urls[role] = res.stdout.strip()
        assert urls[role].startswith(f"rediss://{role}-{name}:")
    procs = []
    try:
        log = open(tmp_path / "server.log", "ab")
        procs.append(subprocess.Popen([sys.executable, "-m", "scitq.cli.main", "server", "--redis", urls["server"]],
                                      env={**base, **tls}, stdout=log, stderr=log, stdin=subprocess.DEVNULL))
        log = open(tmp_path / "worker.log", "ab")
        procs.append(subprocess.Popen([sys.executable, "-m", "scitq.cli.main", "worker", "-s", urls["worker"],
                                       "--tls-ca", tls["SCITQ_TLS_CA"], "--tls-cert", tls["SCITQ_TLS_CERT"],
                                       "--tls-key", tls["SCITQ_TLS_KEY"]],
                                      env=base, stdout=log, stderr=log, stdin=subprocess.DEVNULL))
        sub_env = {**base, **tls, "SCITQ_SERVER": urls["submitter"]}
        res = _scitq("launch", "echo", "hello over tls", env=sub_env)
        assert res.returncode == 0, res.stderr + (tmp_path / "server.log").read_text()
        wait_for(lambda: "succeeded" in _scitq("task", "list", env=sub_env).stdout, timeout=60,
                 what="the task to succeed over TLS")
        out = _scitq("task", "output", "-i", "1", env=sub_env)
        assert "hello over tls" in out.stdout, out.stderr
        assert "worker tls1 registered" in (tmp_path / "worker.log").read_text()

        wrong = _scitq("task", "list", env={**sub_env, "SCITQ_TLS_CA": str(d / "wrong-ca.crt")})
        assert wrong.returncode == 3
        assert wrong.stderr.strip().count("\n") == 0 and "Traceback" not in wrong.stderr, wrong.stderr
        assert "TLS: the certificate of Redis at 127.0.0.1" in wrong.stderr and "is not trusted (self-signed certificate in certificate chain)" in wrong.stderr
        assert "wrong-ca.crt" in wrong.stderr

        w2 = _scitq("worker", "-s", urls["worker"], "--tls-ca", str(d / "wrong-ca.crt"), "--tls-cert",
                    tls["SCITQ_TLS_CERT"], "--tls-key", tls["SCITQ_TLS_KEY"], env=base, timeout=30)
        assert w2.returncode == 3 and "is not trusted" in w2.stderr

        insecure = _scitq("task", "list", env={**sub_env, "SCITQ_TLS_CA": "", "SCITQ_TLS_NO_VERIFY": "1"})
        assert insecure.returncode == 0, insecure.stderr
        assert "NOT verified" in insecure.stderr and "succeeded" in insecure.stdout
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
