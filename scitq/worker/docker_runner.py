"""Provides the Docker runner: a task's command run in its image, its work dir mounted, its output streamed live.

A container gets the execution's `input/ output/ tmp/` mounted read-write on `/input /output /tmp`
and `resource/` read-only on `/resource`, with `CPU INPUT OUTPUT TEMP RESOURCE` in its environment
(v1 semantics), and labels `scitq.task`, `scitq.attempt`, `scitq.worker` so that a restarted worker
finds its containers again and re-attaches to them. The command words are passed to the image as
`docker run IMAGE WORD...` would (a `sh -c '...'` command runs the image's sh). A container is
removed when its command succeeded and kept otherwise, for debugging, until `remove` is called.

Only the worker imports the docker SDK.
"""

from __future__ import annotations

import codecs
import logging
import os
import shlex
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import docker
import requests
from docker import errors as derrors
from docker.auth import AuthConfig, decode_auth, load_config, resolve_index_name, resolve_repository_name
from docker.utils import parse_repository_tag

from scitq.errors import BadInput, NotFound, ScitqError
from scitq.container_options import parse_container_options
from scitq.worker.runner import ExecSpec, OnOutput

__all__ = ["DockerRunner", "DockerProcess", "DockerError", "ImageUnavailable", "parse_container_options",
           "LABEL_TASK", "LABEL_ATTEMPT", "LABEL_WORKER"]

log = logging.getLogger(__name__)

LABEL_TASK = "scitq.task"
LABEL_ATTEMPT = "scitq.attempt"
LABEL_WORKER = "scitq.worker"

STOP_GRACE = 10          # seconds between SIGTERM and SIGKILL on `stop` (docker stop's default)
DRAIN = 10.0             # after the container exited, how long its log streams may take to end
ENGINE_PATIENCE = 60.0   # how long the engine may be unreachable before an execution is given up
LOST_RC = 125            # exit code of an execution whose container the engine lost (docker run's own)

_HINT_ENGINE = "is the Docker engine running and reachable (DOCKER_HOST)?"
_HINT_PULL = ("check the image name; for a private registry give the worker credentials in "
              "~/.docker/config.json (or $DOCKER_CONFIG/config.json) or in its registry_auth settings")


class DockerError(ScitqError):
    """The Docker engine refused or failed an operation on a task's container."""


class ImageUnavailable(DockerError):
    """The image is not on the worker and could not be pulled."""


def _explain(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return text.decode() if isinstance(text, bytes) else str(text)


def _moot(exc: derrors.APIError) -> bool:
    """The engine refused because the container is not in the state the operation needs: nothing to do."""
    text = _explain(exc).lower()
    return exc.status_code == 404 or any(s in text for s in ("is not running", "is not paused", "already paused"))


def _open_to_any_user(workdir: Path) -> None:
    """A container run with `-u uid` must write its /output and /tmp and read /input (v1: chmod 777)."""
    for sub in ("input", "output", "tmp"):
        try:
            os.chmod(workdir / sub, 0o777)
        except OSError:
            pass


class DockerProcess:
    """A task's container: its output read by two threads (stdout, stderr), its exit awaited by a third."""

    def __init__(self, runner: DockerRunner, container_id: str, on_output: OnOutput, since: float | None = None):
        self.ident = container_id
        self.returncode: int | None = None
        self._runner = runner
        self._api = runner.api
        self._on_output = on_output
        self._emit_lock = threading.Lock()
        self._done = threading.Event()
        short = container_id[:12]
        self._readers = [threading.Thread(target=self._read, args=(fd, since), daemon=True, name=f"docker-{fd}-{short}")
                         for fd in ("stdout", "stderr")]
        for t in self._readers:
            t.start()
        threading.Thread(target=self._await_exit, daemon=True, name=f"docker-wait-{short}").start()

    # --- background threads -----------------------------------------------------------------------
    def _emit(self, fd: str, text: str) -> None:
        with self._emit_lock:
            try:
                self._on_output(fd, text)
            except Exception:  # a failing consumer must not stop the stream
                log.exception("container %s: output callback failed", self.ident[:12])

    def _read(self, fd: str, since: float | None) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        kwargs: dict[str, Any] = {"stdout": fd == "stdout", "stderr": fd == "stderr", "stream": True, "follow": True}
        if since:
            kwargs["since"] = float(since)
        try:
            for chunk in self._api.logs(self.ident, **kwargs):
                text = decoder.decode(chunk)
                if text:
                    self._emit(fd, text)
        except (derrors.DockerException, requests.RequestException, OSError) as exc:
            log.warning("container %s: %s stream ended early: %s", self.ident[:12], fd, _explain(exc))
        rest = decoder.decode(b"", final=True)
        if rest:
            self._emit(fd, rest)

    def _await_exit(self) -> None:
        rc: int | None = None
        problem = ""
        unreachable_since: float | None = None
        while True:
            try:
                rc = int(self._api.wait(self.ident)["StatusCode"])
                break
            except derrors.NotFound:
                problem = "the container disappeared"
                break
            except (derrors.DockerException, requests.RequestException, OSError) as exc:
                now = time.monotonic()
                unreachable_since = unreachable_since or now
                if now - unreachable_since > ENGINE_PATIENCE:
                    problem = f"the Docker engine stopped answering: {_explain(exc)}"
                    break
                time.sleep(1.0)
        for t in self._readers:
            t.join(DRAIN)
        if rc is None:
            self._emit("stderr", f"scitq: lost container {self.ident[:12]}: {problem}\n")
            rc = LOST_RC
        elif rc == 0:
            self._runner.remove(self.ident)
        self.returncode = rc
        self._done.set()

    # --- RunningProcess ---------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> int | None:
        """The container's exit code once it exited and its output was read, or None after `timeout` s."""
        return self.returncode if self._done.wait(timeout) else None

    def send_signal(self, signum: int) -> None:
        """SIGTERM: docker stop; SIGKILL: docker kill; SIGTSTP/SIGSTOP: pause; SIGCONT: unpause."""
        if signum == signal.SIGKILL:
            self.kill()
        elif signum == signal.SIGTERM:
            # docker stop blocks for up to its grace period: the caller must not.
            threading.Thread(target=self._quietly, args=(self._api.stop, self.ident),
                             kwargs={"timeout": self._runner.stop_grace}, daemon=True).start()
        elif signum in (signal.SIGTSTP, signal.SIGSTOP):
            self._quietly(self._api.pause, self.ident, raise_=True)
        elif signum == signal.SIGCONT:
            self._quietly(self._api.unpause, self.ident, raise_=True)
        else:
            raise ValueError(f"cannot send signal {signum} to a container")

    def kill(self) -> None:
        """docker kill, now; nothing happens if the container already ended."""
        try:
            self._quietly(self._api.kill, self.ident, raise_=True)
        except (derrors.DockerException, requests.RequestException, OSError) as exc:
            log.warning("container %s: kill failed: %s", self.ident[:12], _explain(exc))

    def _quietly(self, op: Any, *args: Any, raise_: bool = False, **kwargs: Any) -> None:
        try:
            op(*args, **kwargs)
        except derrors.APIError as exc:
            if _moot(exc):
                return
            if raise_:
                raise
            log.warning("container %s: %s failed: %s", self.ident[:12], op.__name__, _explain(exc))
        except (requests.RequestException, OSError) as exc:
            if raise_:
                raise
            log.warning("container %s: %s failed: %s", self.ident[:12], op.__name__, _explain(exc))


class DockerRunner:
    """Starts tasks in containers on one Docker engine, for one worker.

    `client`: a `docker.DockerClient` (default: `docker.from_env()`, made at first use).
    `registry_auth`: credentials by registry, `{"registry.example.org": {"username": u, "password": p}}`
    (`{"auth": base64("u:p")}` and `{"identitytoken": t}` work too); they come before the worker's
    Docker config file (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).
    `worker`: the value of the `scitq.worker` label (default: the short host name, as the worker's).
    `network`: network mode for containers whose options say none; default: the engine's default
    when it has a bridge network, else "none" (an engine run with `--bridge=none`).
    """

    def __init__(self, client: Any = None, *, registry_auth: dict | None = None, worker: str | None = None,
                 network: str | None = None, stop_grace: int = STOP_GRACE) -> None:
        self._client = client
        self.registry_auth = registry_auth or {}
        self.worker = worker or socket.gethostname().split(".")[0]
        self.network = network
        self.stop_grace = stop_grace
        self._network_checked = network is not None
        self._images: set[str] = set()
        self._image_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # --- engine -----------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = docker.from_env()
                    except derrors.DockerException as exc:
                        raise DockerError(f"cannot reach the Docker engine: {_explain(exc)}", hint=_HINT_ENGINE) from None
        return self._client

    @property
    def api(self) -> Any:
        return self.client.api

    def _network_mode(self) -> str | None:
        if not self._network_checked:
            try:
                names = {n["Name"] for n in self.api.networks()}
            except (derrors.DockerException, requests.RequestException, OSError):
                return None
            self.network = None if "bridge" in names else "none"
            self._network_checked = True
        return self.network

    # --- images -----------------------------------------------------------------------------------
    def ensure_image(self, image: str) -> None:
        """Make sure `image` is on the engine: taken as is when present, else pulled once (per runner)."""
        if image in self._images:
            return
        with self._lock:
            lock = self._image_locks.setdefault(image, threading.Lock())
        with lock:
            if image in self._images:
                return
            try:
                self.api.inspect_image(image)
            except derrors.ImageNotFound:
                self._pull(image)
            except derrors.APIError as exc:
                raise ImageUnavailable(f"image {image!r}: {_explain(exc)}", hint=_HINT_PULL) from None
            except (requests.RequestException, OSError) as exc:
                raise DockerError(f"cannot reach the Docker engine: {_explain(exc)}", hint=_HINT_ENGINE) from None
            self._images.add(image)

    def _pull(self, image: str) -> None:
        repo, tag = parse_repository_tag(image)
        try:
            registry, _ = resolve_repository_name(repo)
        except derrors.DockerException as exc:
            raise ImageUnavailable(f"cannot pull image {image}: {_explain(exc)}", hint=_HINT_PULL) from None
        error = ""
        try:
            for item in self.api.pull(repo, tag=tag or "latest", stream=True, decode=True,
                                      auth_config=self.auth_for(registry)):
                if isinstance(item, dict) and item.get("error"):
                    error = str(item["error"])
        except derrors.APIError as exc:
            error = _explain(exc)
        except (derrors.DockerException, requests.RequestException, OSError) as exc:
            raise DockerError(f"cannot pull image {image}: the Docker engine failed: {_explain(exc)}",
                              hint=_HINT_ENGINE) from None
        if error:
            raise ImageUnavailable(f"cannot pull image {image}: {error}", hint=_HINT_PULL)
        log.info("pulled image %s", image)

    def auth_for(self, registry: str) -> dict | None:
        """Credentials for `registry`: from `registry_auth` first, then from the Docker config file."""
        if self.registry_auth:
            entries: dict[str, dict] = {}
            for name, entry in self.registry_auth.items():
                entry = dict(entry)
                if "identitytoken" in entry:
                    entries[name] = {"IdentityToken": entry["identitytoken"]}
                    continue
                if "auth" in entry and "username" not in entry:
                    entry["username"], entry["password"] = decode_auth(entry.pop("auth"))
                entries[name] = {k: v for k, v in entry.items() if k in ("username", "password", "email")}
                entries[name]["serveraddress"] = name
            found = AuthConfig({"auths": entries}).resolve_authconfig(registry)
            if found:
                return found
        try:
            found = load_config().resolve_authconfig(resolve_index_name(registry))
        except (derrors.DockerException, OSError, ValueError) as exc:
            log.warning("cannot read the Docker credentials for %s: %s", registry, exc)
            return None
        return found or None

    # --- containers -------------------------------------------------------------------------------
    def start(self, spec: ExecSpec, on_output: OnOutput) -> DockerProcess:
        """Create and start the container of `spec`; its output goes to `on_output` as it comes."""
        if not spec.container:
            raise BadInput(f"task {spec.task_id}: no container image to run it in")
        try:
            command = shlex.split(spec.command) or None        # no command: the image's own CMD
        except ValueError as exc:
            raise BadInput(f"task {spec.task_id}: command {spec.command!r}: {exc}") from None
        options = parse_container_options(spec.container_options)
        if "user" in options:
            _open_to_any_user(Path(spec.workdir))
        kwargs = self._container_kwargs(spec, options)
        self.ensure_image(spec.container)
        try:
            container = self.api.create_container(spec.container, command, **kwargs)
        except derrors.ImageNotFound as exc:
            self._images.discard(spec.container)
            raise ImageUnavailable(f"image {spec.container}: {_explain(exc)}", hint=_HINT_PULL) from None
        except derrors.APIError as exc:
            raise DockerError(f"cannot create the container of task {spec.task_id}: {_explain(exc)}") from None
        except (requests.RequestException, OSError) as exc:
            raise DockerError(f"cannot reach the Docker engine: {_explain(exc)}", hint=_HINT_ENGINE) from None
        cid = container["Id"]
        try:
            self.api.start(cid)
        except (derrors.DockerException, requests.RequestException, OSError) as exc:
            self.remove(cid)   # it never ran: nothing to debug in it
            raise DockerError(f"cannot start the container of task {spec.task_id}: {_explain(exc)}") from None
        return DockerProcess(self, cid, on_output)

    def _container_kwargs(self, spec: ExecSpec, options: dict[str, Any]) -> dict[str, Any]:
        """`create_container` arguments: scitq's mounts, environment and labels, then the task's options."""
        wd = Path(os.path.abspath(spec.workdir))
        binds = [f"{wd / 'input'}:/input:rw", f"{wd / 'output'}:/output:rw", f"{wd / 'tmp'}:/tmp:rw",
                 f"{wd / 'resource'}:/resource:ro", *options.pop("volumes", [])]
        environment = {"CPU": str(spec.cpu), "INPUT": "/input", "OUTPUT": "/output", "TEMP": "/tmp",
                       "RESOURCE": "/resource", **spec.env, **options.pop("environment", {})}
        labels = {**options.pop("labels", {}), LABEL_TASK: str(spec.task_id), LABEL_ATTEMPT: str(spec.attempt),
                  LABEL_WORKER: self.worker}
        create_keys = ("user", "working_dir", "entrypoint", "hostname")
        create = {k: options.pop(k) for k in create_keys if k in options}
        if "network_mode" not in options:
            mode = self._network_mode()
            if mode:
                options["network_mode"] = mode
        host_config = self.api.create_host_config(binds=binds, **options)
        return {"environment": environment, "labels": labels, "host_config": host_config,
                "stdin_open": False, "tty": False,
                "detach": True, **create}

    def reattach(self, container_id: str, on_output: OnOutput, since: float | None = None) -> DockerProcess:
        """Follow a container started before this worker restarted: its output from `since` (epoch
        seconds; None: all of it) and its real exit code, whether it still runs or already ended."""
        try:
            info = self.api.inspect_container(container_id)
        except derrors.NotFound:
            raise NotFound(f"container {container_id[:12]} no longer exists",
                           hint="it was removed: the execution's output and exit code are lost") from None
        except (derrors.DockerException, requests.RequestException, OSError) as exc:
            raise DockerError(f"cannot reach the Docker engine: {_explain(exc)}", hint=_HINT_ENGINE) from None
        if info["State"].get("Status") == "created":
            raise DockerError(f"container {container_id[:12]} was created but never started",
                              hint="remove it and start the execution again")
        return DockerProcess(self, info["Id"], on_output, since=since)

    def running_containers(self) -> list[dict]:
        """This worker's containers, running or ended but not removed, newest first: `id`, `task_id`,
        `attempt`, `worker`, `image`, `status` (running, paused, exited...), `exit_code` (None while
        it runs), `started_at`, `finished_at` (engine timestamps)."""
        filters = {"label": [LABEL_TASK, f"{LABEL_WORKER}={self.worker}"]}
        try:
            summaries = self.api.containers(all=True, filters=filters)
        except (derrors.DockerException, requests.RequestException, OSError) as exc:
            raise DockerError(f"cannot list containers: {_explain(exc)}", hint=_HINT_ENGINE) from None
        found = []
        for summary in summaries:
            try:
                info = self.api.inspect_container(summary["Id"])
            except derrors.NotFound:
                continue
            labels = info["Config"].get("Labels") or {}
            state = info["State"]
            try:
                task_id, attempt = int(labels[LABEL_TASK]), int(labels.get(LABEL_ATTEMPT, 0))
            except (KeyError, ValueError):
                continue
            running = state.get("Status") in ("running", "paused", "restarting", "created")
            found.append({"id": info["Id"], "task_id": task_id, "attempt": attempt, "worker": labels.get(LABEL_WORKER),
                          "image": info["Config"].get("Image"), "status": state.get("Status"),
                          "exit_code": None if running else state.get("ExitCode"),
                          "started_at": state.get("StartedAt"), "finished_at": state.get("FinishedAt")})
        return found

    def remove(self, container_id: str) -> None:
        """Remove a container (killing it if it still runs); nothing happens if it is already gone."""
        try:
            self.api.remove_container(container_id, force=True)
        except derrors.NotFound:
            pass
        except derrors.APIError as exc:
            if exc.status_code == 409 and "already in progress" in _explain(exc):
                return
            log.warning("container %s: cannot remove it: %s", container_id[:12], _explain(exc))
        except (requests.RequestException, OSError) as exc:
            log.warning("container %s: cannot remove it: %s", container_id[:12], _explain(exc))
