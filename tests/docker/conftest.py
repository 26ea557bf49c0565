"""Fixtures of the Docker tests: one private dockerd per session, a local busybox image, a local registry.

The fixtures live in tests/docker/dockerd.py so that other test directories can import them too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dockerd import busybox_image, docker_client, dockerd, registry  # noqa: E402,F401  (fixtures)


@pytest.fixture
def runner(docker_client, busybox_image, request):
    """A DockerRunner on the private engine, labelling its containers with a worker name of its own."""
    from scitq.worker.docker_runner import DockerRunner
    name = f"w{abs(hash(request.node.nodeid)) % 10**8}"
    r = DockerRunner(docker_client, worker=name, stop_grace=3)
    yield r
    for c in r.running_containers():
        r.remove(c["id"])
