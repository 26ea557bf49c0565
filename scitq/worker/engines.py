"""Provides the worker's engines: the native runner, and the Docker runner made at first use."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from scitq.worker.native_runner import NativeRunner

__all__ = ["Engines"]

log = logging.getLogger("scitq.worker")


class Engines:
    """Where an attempt runs: natively, or in a container when its task names an image."""

    def __init__(self, worker: str, docker_auth: str | None) -> None:
        self.worker = worker
        self.docker_auth = docker_auth
        self.native = NativeRunner()
        self._docker: Any = None

    def for_container(self, container: str | None) -> Any:
        return self.docker() if container else self.native

    @property
    def docker_started(self) -> bool:
        """Whether the Docker runner exists already (no engine is contacted to answer)."""
        return self._docker is not None

    def docker(self) -> Any:
        if self._docker is None:
            from scitq.worker.docker_runner import DockerRunner
            try:
                auth = json.loads(self.docker_auth) if self.docker_auth else None
            except ValueError:
                log.error("SCITQ_DOCKER_AUTH is not valid JSON: ignored")
                auth = None
            self._docker = DockerRunner(worker=self.worker, registry_auth=auth)
        return self._docker

    def container_workdir(self, container_id: str) -> Path | None:
        """The work dir whose `output/` a container of this worker has mounted on /output."""
        try:
            mounts = self.docker().client.containers.get(container_id).attrs.get("Mounts", [])
        except Exception:  # noqa: BLE001
            return None
        for m in mounts:
            if m.get("Destination") == "/output":
                return Path(m["Source"]).parent
        return None
