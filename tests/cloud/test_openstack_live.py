"""A smoke test of the `openstack` provider against a real OpenStack (OVH) project: never run in CI.

Run it on demand with the credentials of an RC file (or SCITQ_OPENSTACK_CLOUD naming a clouds.yaml entry):

    source openrc.sh && python -m pytest tests/cloud/test_openstack_live.py -m live

It starts one machine of the cheapest small flavor in the first configured region, checks it is listed, and
deletes it. The machine's user-data is an empty cloud-config: it never becomes a worker."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from scitq.cloud.openstack import OpenStackProvider
from scitq.cloud.provider import Bootstrap

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not (os.environ.get("OS_AUTH_URL") or os.environ.get("OS_CLOUD")
                            or os.environ.get("SCITQ_OPENSTACK_CLOUD")),
                       reason="no OpenStack credentials (OS_AUTH_URL, OS_CLOUD or SCITQ_OPENSTACK_CLOUD)"),
]


def test_a_real_openstack_creates_lists_and_deletes_one_machine_of_the_smallest_flavor():
    """Uses the real OpenStack of the environment's credentials (no double)."""
    provider = OpenStackProvider.from_env(user_data="#cloud-config\n{}\n")
    region = provider.regions()[0]
    flavors = [f for f in provider.flavors(region) if not f.tags]       # no GPU, no metal
    smallest = min(flavors, key=lambda f: (f.cpu, f.ram, f.cost))
    worker = f"smoke-{uuid.uuid4().hex[:8]}"
    name = f"{provider.prefix}-{worker}"
    try:
        inst = provider.create(smallest.name, region, Bootstrap(worker=worker, server_url="redis://127.0.0.1"),
                               timeout=900)
        assert inst.status == "active" and inst.name == name
        assert name in [i.name for i in provider.list()]
    finally:
        provider.delete(name, region)
    deadline = time.monotonic() + 300
    while name in [i.name for i in provider.list()] and time.monotonic() < deadline:
        time.sleep(5)
    assert name not in [i.name for i in provider.list()]
