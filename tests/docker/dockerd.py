"""Provides a private Docker engine for tests: dockerd on its own socket and data root, a busybox image
built locally (no registry is reachable), and a local registry with htpasswd authentication.

Plain module, importable once `tests/docker` is on sys.path (tests/docker/conftest.py puts it there):

    from dockerd import dockerd, docker_client, busybox_image, registry   # session fixtures, in a conftest

Tests using these fixtures should carry `pytest.mark.docker` and `pytest.mark.xdist_group("docker")`
so that, under `pytest -n N --dist loadgroup`, one xdist worker runs them all against one engine.
With CI=true in the environment a missing engine fails the tests; elsewhere they are skipped.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

__all__ = ["Dockerd", "Registry", "TEST_IMAGE", "BUSYBOX_TOOLS", "build_busybox_image", "unavailable",
           "dockerd", "docker_client", "busybox_image", "registry"]

TEST_IMAGE = "scitq-test/busybox:1"
BUSYBOX_TOOLS = ("sh", "echo", "cat", "ls", "sleep", "wc", "env", "printf", "id", "true", "false", "test",
                 "mkdir", "touch", "rm", "seq", "head", "tail", "grep", "pwd", "kill", "date", "dd")


def unavailable(reason: str) -> None:
    """A missing piece fails the test in CI (CI=true) and skips it elsewhere."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: the Docker tests must run; see .ci/install-docker.sh)", pytrace=False)
    pytest.skip(f"{reason} (install it with: sudo bash .ci/install-docker.sh)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ours(root: Path) -> list[int]:
    """Pids of processes whose command line names `root` (dockerd, its containerd and shims)."""
    pids = []
    needle = (str(root) + "/").encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if needle in f.read():
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def _unmount_under(root: Path) -> None:
    try:
        with open("/proc/self/mounts") as f:
            points = [line.split()[1] for line in f]
    except OSError:
        return
    for point in sorted((p for p in points if p.startswith(str(root) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


class Dockerd:
    """A dockerd of our own: no iptables, no bridge (containers use network none or host), vfs storage."""

    def __init__(self, root: Path | None = None) -> None:
        # short path: the engine's unix sockets must stay under 108 characters
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="scitq-dockerd-"))
        self.sock = self.root / "docker.sock"
        self.url = f"unix://{self.sock}"
        self.proc: subprocess.Popen | None = None
        self.log = self.root / "dockerd.log"

    @staticmethod
    def missing() -> str | None:
        """Why a private dockerd cannot run here, or None."""
        if not shutil.which("dockerd"):
            return "dockerd is not installed (Debian package docker.io)"
        if os.geteuid() != 0:
            return "dockerd needs root"
        try:
            import docker  # noqa: F401
        except ImportError:
            return "the docker Python SDK is not installed"
        return None

    @property
    def environ(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.url}

    def start(self, timeout: float = 60.0) -> None:
        (self.root / "daemon.json").write_text("{}")
        args = ["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
                "--config-file", str(self.root / "daemon.json"), "--data-root", str(self.root / "data"),
                "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "dockerd.pid"),
                "-H", self.url, "--log-level", "warn"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.sock.exists():
                try:
                    client = self.client(timeout=5)     # asks the engine its API version
                    client.close()
                    return
                except Exception:
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dockerd did not answer in {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def client(self, timeout: int = 60):
        import docker
        return docker.DockerClient(base_url=self.url, timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def remove_all_containers(self) -> None:
        client = self.client(timeout=30)
        try:
            for c in client.api.containers(all=True):
                try:
                    client.api.remove_container(c["Id"], force=True)
                except Exception:
                    pass
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.remove_all_containers()
            except Exception:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for pid in _ours(self.root):      # its containerd and shims, should dockerd have died abruptly
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None
        _unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def build_busybox_image(client, tag: str = TEST_IMAGE, files: dict[str, bytes] | None = None) -> str:
    """`docker import` of a rootfs holding busybox-static, its common applets, and `files` (path: content)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "etc", "input", "output", "tmp", "resource"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, "bin/busybox")
        for tool in BUSYBOX_TOOLS:
            info = tarfile.TarInfo(f"bin/{tool}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        extra = {"etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
                 "etc/group": b"root:x:0:\nnogroup:x:65534:\n", **(files or {})}
        for path, content in extra.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    repo, _, version = tag.rpartition(":")
    client.api.import_image_from_data(buf.getvalue(), repository=repo, tag=version,
                                      changes=["ENV PATH=/bin"])
    client.images.get(tag)
    return tag


class Registry:
    """Debian's docker-registry on 127.0.0.1 and a free port, with one htpasswd (bcrypt) user."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.user = "scitq"
        self.password = secrets.token_hex(8)
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def missing() -> str | None:
        if not shutil.which("docker-registry"):
            return "docker-registry is not installed (Debian package docker-registry)"
        if not shutil.which("htpasswd"):
            return "htpasswd is not installed (Debian package apache2-utils)"
        return None

    def start(self, timeout: float = 30.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        line = subprocess.run(["htpasswd", "-Bbn", self.user, self.password], check=True, capture_output=True,
                              text=True).stdout.strip()
        (self.root / "htpasswd").write_text(line + "\n")
        config = {"version": 0.1, "log": {"level": "warn"},
                  "storage": {"filesystem": {"rootdirectory": str(self.root / "data")}, "delete": {"enabled": True}},
                  "http": {"addr": self.address, "secret": secrets.token_hex(16)},
                  "auth": {"htpasswd": {"realm": "scitq-test", "path": str(self.root / "htpasswd")}}}
        (self.root / "config.yml").write_text(json.dumps(config))    # JSON is YAML
        self.log = self.root / "registry.log"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(self.root / "config.yml")],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}: "
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:       # up, and asking for credentials
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("docker-registry did not answer")
            time.sleep(0.1)

    @property
    def auth(self) -> dict[str, str]:
        return {"username": self.user, "password": self.password}

    def docker_config(self, directory: Path) -> Path:
        """Write a Docker client config.json holding this registry's credentials; return its directory."""
        import base64
        directory.mkdir(parents=True, exist_ok=True)
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        (directory / "config.json").write_text(json.dumps({"auths": {self.address: {"auth": token}}}))
        return directory

    def push(self, client, local_tag: str, name: str) -> str:
        """Tag `local_tag` as `<registry>/<name>` and push it with the credentials; return the new tag."""
        target = f"{self.address}/{name}"
        repo, _, version = target.rpartition(":")
        client.api.tag(local_tag, repo, version)
        errors = [item["error"] for item in client.api.push(repo, tag=version, stream=True, decode=True,
                                                            auth_config=self.auth) if item.get("error")]
        if errors:
            raise RuntimeError(f"push of {target} failed: {errors}")
        return target

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# --- session fixtures (import them into a conftest to use them) ---------------------------------------

@pytest.fixture(scope="session")
def dockerd():
    """A private Docker engine for the whole session (one per xdist worker that uses it)."""
    reason = Dockerd.missing()
    if reason:
        unavailable(reason)
    engine = Dockerd()
    try:
        engine.start()
    except Exception as exc:
        engine.stop()
        shutil.rmtree(engine.root, ignore_errors=True)
        unavailable(f"cannot start dockerd: {exc}")
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def docker_client(dockerd):
    client = dockerd.client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_image(docker_client) -> str:
    """Tag of a tiny local image (busybox-static applets, PATH=/bin), built with `docker import`."""
    if not (shutil.which("busybox") or os.path.exists("/bin/busybox")):
        unavailable("busybox is not installed (Debian package busybox-static)")
    return build_busybox_image(docker_client)


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """A private registry on 127.0.0.1 asking for a user and password (`.auth`, `.docker_config(dir)`)."""
    reason = Registry.missing()
    if reason:
        unavailable(reason)
    reg = Registry(tmp_path_factory.mktemp("registry"))
    reg.start()
    yield reg
    reg.stop()
