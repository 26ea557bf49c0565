"""Real servers for the data layer, on 127.0.0.1 and free ports, one set per test process (xdist worker):
S3 (moto_server), Azure Blob (Azurite), FTP (pyftpdlib), HTTP (http.server, also answering like the
ENA portal for run+fastq://), and short retry delays so that failures are quick."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 60.0, what: str = "server") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """Retries keep their number but sleep milliseconds, so failing tests stay fast."""
    monkeypatch.setenv("SCITQ_IO_RETRY_DELAY", "0.01")
    monkeypatch.setenv("SCITQ_IO_RETRY_MAX_DELAY", "0.05")
    monkeypatch.setenv("SCITQ_IO_RETRIES", "2")
    monkeypatch.setenv("SCITQ_IO_PUBLIC_RETRIES", "3")
    monkeypatch.setenv("SCITQ_IO_TIMEOUT", "10")
    monkeypatch.setenv("RCLONE_CONFIG", "/nonexistent/rclone.conf")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "SCITQ_S3_ENDPOINT", "AZURE_STORAGE_CONNECTION_STRING",
                 "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN",
                 "SCITQ_AZURE_ACCOUNT", "SCITQ_AZURE_KEY", "SCITQ_ENA_URL", "SCITQ_SRA_URL"):
        monkeypatch.delenv(name, raising=False)


# --- S3 ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    exe = shutil.which("moto_server")
    assert exe, "moto[server] is a test dependency"
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, proc, what="moto_server")
    yield f"http://127.0.0.1:{port}"
    stop(proc)
    log.close()


@pytest.fixture
def s3_env(moto, monkeypatch) -> dict[str, str]:
    values = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
              "AWS_ENDPOINT_URL": moto}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def bucket(s3_env) -> str:
    """A new, empty bucket on the local S3."""
    import boto3

    name = f"b-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"]).create_bucket(Bucket=name)
    return name


# --- Azure Blob ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    exe = shutil.which("azurite-blob")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("azurite-blob is not installed: .ci/install-io.sh installs it (npm install -g azurite@3)")
        pytest.skip("azurite-blob is not installed (npm install -g azurite@3)")
    port = free_port()
    where = tmp_path_factory.mktemp("azurite")
    log = open(where / "azurite.log", "w")
    proc = subprocess.Popen([exe, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(where),
                             "--skipApiVersionCheck", "--loose"], stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, proc, what="azurite-blob")
    yield (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
           f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    stop(proc)
    log.close()


@pytest.fixture
def container(azurite, monkeypatch) -> str:
    """A new, empty container on the local Azurite, with its connection string in the environment."""
    from azure.storage.blob import BlobServiceClient

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    name = f"c-{uuid.uuid4().hex[:12]}"
    BlobServiceClient.from_connection_string(azurite).create_container(name)
    return name


# --- FTP -------------------------------------------------------------------------------------------
class FtpServer:
    def __init__(self, root: Path) -> None:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import ThreadedFTPServer

        self.anon_root = root / "anonymous"
        self.user_root = root / "alice"
        self.anon_root.mkdir()
        self.user_root.mkdir()
        auth = DummyAuthorizer()
        auth.add_anonymous(str(self.anon_root), perm="elradfmwMT")
        auth.add_user("alice", "s3cret", str(self.user_root), perm="elradfmwMT")
        handler = type("Handler", (FTPHandler,), {"authorizer": auth, "passive_ports": None})
        handler.log_prefix = ""
        handler.auth_failed_timeout = 0
        self.server = ThreadedFTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.close_all()


@pytest.fixture(scope="session")
def ftp_server(tmp_path_factory):
    import logging

    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    server = FtpServer(tmp_path_factory.mktemp("ftp"))
    yield server
    server.close()


@pytest.fixture
def ftp_dir(ftp_server) -> tuple[str, Path]:
    """(anonymous ftp:// URI of a new folder, the local folder it serves)."""
    name = f"d-{uuid.uuid4().hex[:8]}"
    (ftp_server.anon_root / name).mkdir()
    return f"ftp://127.0.0.1:{ftp_server.port}/{name}", ftp_server.anon_root / name


# --- HTTP (files, recorded ENA answers, request counts) --------------------------------------------
class HttpServer:
    """Serves files under `root`; `routes` maps a path (with query) to (status, body, content type);
    `hits` counts GETs per path; paths under /slow/ are answered after `slow` seconds."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.routes: dict[str, tuple[int, bytes, str]] = {}
        self.hits: dict[str, int] = {}
        self.slow = 0.5
        self.lock = threading.Lock()
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(outer.root), **kw)

            def log_message(self, *args):
                pass

            def do_GET(self):
                with outer.lock:
                    outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                for prefix, (status, body, ctype) in list(outer.routes.items()):
                    if self.path.startswith(prefix):
                        self.send_response(status)
                        self.send_header("Content-Type", ctype)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                if self.path.startswith("/slow/"):
                    time.sleep(outer.slow)
                    self.path = self.path[len("/slow"):]
                return super().do_GET()

            def do_HEAD(self):
                if self.path.startswith("/slow/"):
                    self.path = self.path[len("/slow"):]
                return super().do_HEAD()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def http_server(tmp_path_factory):
    server = HttpServer(tmp_path_factory.mktemp("www"))
    yield server
    server.close()


@pytest.fixture
def web(http_server) -> tuple[str, Path]:
    """(http:// URL of a new folder, the local folder it serves); routes and counts start empty."""
    http_server.routes.clear()
    name = f"w-{uuid.uuid4().hex[:8]}"
    (http_server.root / name).mkdir()
    return f"{http_server.url}/{name}", http_server.root / name


def free_closed_url() -> str:
    """An http:// URL where nothing listens (a port just freed)."""
    return f"http://127.0.0.1:{free_port()}/nothing.txt"


def checkout_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process importing scitq from this checkout."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


def fetch_cli(*args: str, env: dict[str, str] | None = None, cwd: str | Path | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `scitq-fetch` as a real process (the module entry point of this checkout)."""
    return subprocess.run([sys.executable, "-m", "scitq.cli.fetch", *args], capture_output=True, text=True,
                          env=checkout_env(env), cwd=cwd, timeout=timeout)


@pytest.fixture
def child_env():
    return checkout_env()


@pytest.fixture
def run_fetch():
    return fetch_cli


def host_of(url: str) -> str:
    return urlsplit(url).netloc


@pytest.fixture
def dead_url() -> str:
    return free_closed_url()


@pytest.fixture(params=[pytest.param("s3", marks=pytest.mark.xdist_group("s3")),
                        pytest.param("azure", marks=pytest.mark.xdist_group("azure")),
                        pytest.param("ftp", marks=pytest.mark.xdist_group("ftp")),
                        pytest.param("ftp-user", marks=pytest.mark.xdist_group("ftp"))])
def remote(request) -> str:
    """A new, empty folder URI (ending with '/') on each kind of real remote store."""
    kind = request.param
    if kind == "s3":
        return f"s3://{request.getfixturevalue('bucket')}/data/"
    if kind == "azure":
        return f"azure://{request.getfixturevalue('container')}/data/"
    server = request.getfixturevalue("ftp_server")
    name = f"d-{uuid.uuid4().hex[:8]}"
    if kind == "ftp":
        return f"ftp://127.0.0.1:{server.port}/{name}/"
    return f"ftp://alice:s3cret@127.0.0.1:{server.port}/{name}/"
