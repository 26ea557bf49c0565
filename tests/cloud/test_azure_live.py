"""Live smoke test of the `azure` provider against real Azure (`-m live`, never in CI).

Runs only with real credentials in the environment: AZURE_SUBSCRIPTION_ID plus what DefaultAzureCredential
accepts (AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID). It creates one small Spot VM in the first region
of AZURE_REGIONS (default westeurope; size SCITQ_AZURE_LIVE_FLAVOR, default Standard_D2s_v5) in its own resource
group, lists it and deletes it, and costs a few cents.
"""

from __future__ import annotations

import os
import uuid

import pytest

from scitq.cloud.azure import AzureConfig, AzureProvider
from scitq.cloud.provider import Bootstrap

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not (os.environ.get("AZURE_SUBSCRIPTION_ID") and os.environ.get("AZURE_CLIENT_ID")),
                       reason="needs AZURE_SUBSCRIPTION_ID and AZURE_CLIENT_ID/SECRET/TENANT_ID"),
]


def test_a_real_spot_vm_is_created_listed_and_deleted():
    """Uses real Azure (no double)."""
    config = AzureConfig.from_env()
    provider = AzureProvider(config, user_data=lambda boot: "#cloud-config\nruncmd:\n  - [echo, scitq live test]\n")
    region = config.regions[0]
    flavor = os.environ.get("SCITQ_AZURE_LIVE_FLAVOR", "Standard_D2s_v5")
    assert any(q.region == region for q in provider.quotas())
    worker = f"live{uuid.uuid4().hex[:6]}"
    boot = Bootstrap(worker=worker, server_url="redis://unused@127.0.0.1:6379", flavor=flavor, provider="azure",
                     region=region)
    name = f"{provider.prefix}-{worker}"
    try:
        inst = provider.create(flavor, region, boot, timeout=900)
        assert inst.status == "active" and inst.ipv4
        assert name in {i.name for i in provider.list()}
    finally:
        provider.delete(name, region)
    assert name not in {i.name for i in provider.list()}
