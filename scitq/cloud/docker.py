"""Provides the `docker` provider: each "machine" is a container running `scitq worker` on a Docker engine.

The engine is the one the `docker` command line reaches (`DOCKER_HOST` honoured); scitq talks to it through
that command line, so only `scitq.worker` imports the docker SDK. A container is named `<prefix>-<worker>`,
labelled `scitq.prefix`, `scitq.worker`, `scitq.flavor`, runs with the host's network (so that a server on
127.0.0.1 is reached) and gets the worker's credential URL through an env file (never on a command line).

The image (`image=` or SCITQ_DOCKER_WORKER_IMAGE) either has scitq installed (e.g. built from the project's
Dockerfile: the container runs `scitq worker ...`), or, with `mount_python=True`
(SCITQ_DOCKER_WORKER_MOUNT_PYTHON=1), is any image with a shell: this machine's Python environment, its
system libraries and the scitq package in use are mounted read-only and run inside it. `pull=` is passed to
`docker run --pull` (default `missing`; `never` keeps to the images the engine already has).

One region (`local`), one flavor (`local`: the engine's cpus and RAM, cost 0), at most `max_workers`
containers (SCITQ_LOCAL_MAX_WORKERS, default 4) → QuotaError past it. Deleting removes the container (and
the tasks running in it); a container that is gone counts as deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from scitq.cloud.provider import (Bootstrap, Flavor, Instance, ProviderError, Quota, QuotaError, TransientError,
                                  UnsupportedFlavor, machine_name)

__all__ = ["DockerProvider", "REGION", "FLAVOR"]

REGION = "local"
FLAVOR = "local"
GB = 1024 ** 3
HOME_IN_CONTAINER = "/scitq-home"
_STATES = {"running": "active", "created": "building", "restarting": "building", "paused": "stopped",
           "exited": "stopped", "dead": "error", "removing": "gone"}


class DockerProvider:
    """Worker containers on a Docker engine (see the module docstring)."""

    name = "docker"

    def __init__(self, *, prefix: str | None = None, max_workers: int | None = None, image: str | None = None,
                 mount_python: bool | None = None, docker: str | None = None, state_dir: str | Path | None = None,
                 env: dict[str, str] | None = None, docker_host: str | None = None, pull: str = "missing") -> None:
        from scitq.settings import settings
        cfg = settings()
        self.prefix = prefix or cfg.cloud_prefix
        self.max_workers = cfg.local_max_workers if max_workers is None else int(max_workers)
        self.image = image or cfg.docker_worker_image
        self.mount_python = cfg.docker_worker_mount_python if mount_python is None else bool(mount_python)
        self.docker = docker or shutil.which("docker") or "docker"
        self.state_dir = Path(state_dir) if state_dir else cfg.home / "cloud" / "docker"
        self.env = dict(env or {})
        self.docker_host = docker_host
        if pull not in ("always", "missing", "never"):
            raise ValueError(f"pull {pull!r} is not one of always, missing, never")
        self.pull = pull                    # docker run --pull: `never` keeps to the engine's own images

    # --- the docker command line ---------------------------------------------------------------
    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        try:
            res = subprocess.run([self.docker, *args], capture_output=True, text=True, timeout=timeout, env=env,
                                 stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise TransientError(f"docker: the docker command line ({self.docker}) is not installed",
                                 provider=self.name) from None
        except subprocess.TimeoutExpired:
            raise TransientError(f"docker {args[0]}: no answer from the engine in {timeout:.0f}s",
                                 provider=self.name) from None
        if check and res.returncode != 0:
            raise TransientError(f"docker {args[0]}: {_first_line(res.stderr)}", provider=self.name)
        return res

    # --- description ---------------------------------------------------------------------------
    def regions(self) -> list[str]:
        return [REGION]

    def _flavor(self) -> Flavor:
        info = json.loads(self._run("info", "--format", "{{json .}}").stdout or "{}")
        cpu = int(info.get("NCPU") or os.cpu_count() or 1)
        ram = float(info.get("MemTotal") or 0) / GB
        return Flavor(name=FLAVOR, provider=self.name, region=REGION, cpu=cpu, ram=round(ram, 1))

    def flavors(self, region: str | None = None) -> list[Flavor]:
        if region not in (None, REGION):
            return []
        return [self._flavor()]

    def quotas(self) -> list[Quota]:
        cpu = self._flavor().cpu
        running = sum(1 for i in self.list() if i.status in ("active", "building"))
        return [Quota(provider=self.name, region=REGION, cpu_limit=self.max_workers * cpu, cpu_used=running * cpu)]

    # --- machines ------------------------------------------------------------------------------
    def list(self) -> list[Instance]:
        res = self._run("ps", "-a", "--no-trunc", "--filter", f"label=scitq.prefix={self.prefix}",
                        "--format", "{{json .}}")
        out = []
        for line in res.stdout.splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            name = row.get("Names", "").split(",")[0]
            if not name.startswith(self.prefix + "-"):
                continue
            labels = dict(kv.split("=", 1) for kv in row.get("Labels", "").split(",") if "=" in kv)
            out.append(Instance(name=name, provider=self.name, region=REGION,
                                flavor=labels.get("scitq.flavor", FLAVOR), id=row.get("ID", ""),
                                status=_STATES.get(row.get("State", ""), "error"), ipv4="127.0.0.1"))
        return out

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One create at a time among the processes sharing this state dir (quota check and start together)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _environment(self, boot: Bootstrap) -> dict[str, str]:
        env = {**self.env, **boot.env, "SCITQ_SERVER": boot.server_url, "SCITQ_HOME": HOME_IN_CONTAINER,
               "PYTHONUNBUFFERED": "1"}
        if self.mount_python:
            env["PYTHONPATH"] = _scitq_root()
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        for key, value in env.items():
            if "\n" in key or "\n" in value or "=" in key:
                raise ProviderError(f"docker: environment variable {key!r} cannot be passed", provider=self.name)
        return env

    def _mounts(self) -> list[str]:
        if not self.mount_python:
            return []
        paths = {sys.prefix, sys.base_prefix, _scitq_root()}
        for system in ("/usr", "/lib", "/lib64", "/etc/ssl", "/etc/alternatives"):
            if os.path.exists(system):
                paths.add(system)
        args = []
        for p in sorted(paths):
            args += ["-v", f"{os.path.realpath(p)}:{p}:ro"]
        return args

    def _command(self, boot: Bootstrap, flavor: str) -> tuple[str, list[str]]:
        """The container's entrypoint and its arguments (`scitq worker ...`)."""
        if self.mount_python:
            entrypoint, cmd = sys.executable, ["-m", "scitq.cli.main", "worker"]
        else:
            entrypoint, cmd = "scitq", ["worker"]
        cmd += ["-n", boot.worker, "-C", str(boot.concurrency), "-p", str(boot.prefetch), "-f", flavor]
        if boot.batch:
            cmd += ["-b", boot.batch]
        return entrypoint, cmd

    def create(self, flavor: str, region: str, boot: Bootstrap, *, timeout: float = 600.0) -> Instance:
        if region != REGION or flavor != FLAVOR:
            raise UnsupportedFlavor(f"docker: no flavor {flavor!r} in region {region!r} (only {FLAVOR!r} in "
                                    f"{REGION!r})", provider=self.name, region=region, flavor=flavor)
        if not self.image:
            raise UnsupportedFlavor("docker: no worker image configured (SCITQ_DOCKER_WORKER_IMAGE)",
                                    provider=self.name, region=region, flavor=flavor)
        machine = machine_name(self.prefix, boot.worker)
        with self._locked():
            mine = {i.name: i for i in self.list()}
            if machine in mine:
                if mine[machine].status == "active":       # a retried create finds the machine it started
                    return mine[machine]
                self._run("rm", "-f", machine, check=False)
                mine.pop(machine)
            live = [i for i in mine.values() if i.status in ("active", "building")]
            if len(live) >= self.max_workers:
                raise QuotaError(f"docker: {len(live)} worker containers already run, the most allowed is "
                                 f"{self.max_workers} (SCITQ_LOCAL_MAX_WORKERS)", provider=self.name,
                                 region=region, flavor=flavor)
            fd, env_file = tempfile.mkstemp(prefix="scitq-env-", dir=self.state_dir)
            try:
                with os.fdopen(fd, "w") as f:       # mkstemp: mode 0600
                    f.write("".join(f"{k}={v}\n" for k, v in self._environment(boot).items()))
                entrypoint, args = self._command(boot, flavor)
                res = self._run("run", "-d", "--pull", self.pull, "--name", machine, "--network", "host", "--tmpfs", "/tmp",
                                "--label", f"scitq.prefix={self.prefix}", "--label", f"scitq.worker={boot.worker}",
                                "--label", f"scitq.flavor={flavor}", "--env-file", env_file, *self._mounts(),
                                "--entrypoint", entrypoint, self.image, *args, check=False,
                                timeout=min(timeout, 300))
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(env_file)
            if res.returncode != 0:
                self._run("rm", "-f", machine, check=False)
                message = _first_line(res.stderr)
                if any(m in res.stderr for m in ("No such image", "Unable to find image", "pull access denied",
                                                 "manifest unknown", "repository does not exist")):
                    raise UnsupportedFlavor(f"docker: image {self.image!r}: {message}", provider=self.name,
                                            region=region, flavor=flavor)
                raise TransientError(f"docker run: {message}", provider=self.name, region=region, flavor=flavor)
            state = json.loads(self._run("inspect", "--format", "{{json .State}}", machine).stdout or "{}")
            if not state.get("Running"):
                logs = self._run("logs", "--tail", "5", machine, check=False)
                self._run("rm", "-f", machine, check=False)
                raise ProviderError(f"docker: worker {boot.worker} exited at once (code {state.get('ExitCode')}): "
                                    f"{' | '.join((logs.stdout + logs.stderr).strip().splitlines()[-5:])}",
                                    provider=self.name, region=region, flavor=flavor)
        return Instance(name=machine, provider=self.name, region=REGION, flavor=flavor, id=res.stdout.strip(),
                        status="active", ipv4="127.0.0.1")

    def delete(self, name: str, region: str) -> None:
        if not name.startswith(self.prefix + "-"):
            return                                  # not ours: never touched
        res = self._run("rm", "-f", name, check=False)
        if res.returncode != 0 and "No such container" not in res.stderr:
            raise TransientError(f"docker rm: {_first_line(res.stderr)}", provider=self.name, region=region)


def _scitq_root() -> str:
    """The directory holding the scitq package in use (mounted and put on PYTHONPATH with mount_python)."""
    import scitq
    return str(Path(scitq.__file__).resolve().parent.parent)


def _first_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"
