"""The `docker` provider against the provider contract: real worker containers on the private Docker engine
of the tests (busybox image never pulled, this machine's Python and scitq mounted read-only, host network), joining a real
server on the test's Valkey (no double)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from contract import ProviderContract

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docker"))

from dockerd import busybox_image, docker_client, dockerd  # noqa: E402,F401  (fixtures)

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]


@pytest.fixture
def provider(env, tmp_path, dockerd, busybox_image, monkeypatch):
    from scitq.cloud.docker import DockerProvider
    monkeypatch.setenv("DOCKER_HOST", dockerd.url)
    timings = {k: v for k, v in env.items() if k.startswith("SCITQ_") and k not in ("SCITQ_SERVER", "SCITQ_HOME")}
    p = DockerProvider(image=busybox_image, mount_python=True, max_workers=2, state_dir=tmp_path / "docker",
                       prefix=f"t{abs(hash(str(tmp_path))) % 10**6}", env=timings, pull="never")
    yield p
    for inst in p.list():
        p.delete(inst.name, inst.region)


@pytest.fixture
def region():
    return "local"


@pytest.fixture
def flavor():
    return "local"


@pytest.fixture
def quota_limit():
    return 2


@pytest.fixture
def registers():
    return True


class TestDockerContract(ProviderContract):
    pass


def test_the_credential_goes_through_an_env_file_not_the_container_command(provider, boot, docker_client):
    inst = provider.create("local", "local", boot("envfile"))
    c = docker_client.containers.get(inst.name)
    url = boot("x").server_url
    assert url not in " ".join(c.attrs["Config"]["Cmd"] or [])
    assert f"SCITQ_SERVER={url}" in c.attrs["Config"]["Env"]
    assert not list(provider.state_dir.glob("scitq-env-*")), "the env file is removed once the container runs"
    assert c.attrs["HostConfig"]["NetworkMode"] == "host"


def test_a_missing_image_is_refused_for_good(provider, boot):
    from scitq.cloud.provider import UnsupportedFlavor
    provider.image = "scitq-test/no-such-image:1"
    with pytest.raises(UnsupportedFlavor):
        provider.create("local", "local", boot("noimage"))
    assert not provider.list()
