"""The `azure` provider against the provider contract, through the real azure-mgmt SDKs over HTTP to the fake ARM
double (`cloud.fake_azure.FakeARM`, a stateful Resource Manager on loopback, in both long-running-operation
styles) and the Retail Prices API double. Its machines run no worker: `registers` is False."""

from __future__ import annotations

import pytest

from cloud.fake_azure import SUBSCRIPTION, FakeARM, FakePrices, price, sku, usage
from contract import ProviderContract
from scitq.cloud import get_provider

SIZE = "Standard_D2s_v5"


@pytest.fixture(params=["sync", "async"])
def arm(request):
    fake = FakeARM(lro=request.param).start()
    fake.skus = [sku(SIZE, 2, 8), sku("Standard_D4s_v5", 4, 16), sku("Standard_D2s_v5", 2, 8, location="northeurope")]
    fake.spot_quota["westeurope"] = 4
    fake.usages["northeurope"] = [usage("lowPriorityCores", 10, 0)]
    yield fake
    fake.stop()


@pytest.fixture
def prices():
    fake = FakePrices([price(SIZE, 0.02, spot=True), price("Standard_D4s_v5", 0.04, spot=True),
                       price(SIZE, 0.025, spot=True, region="northeurope")]).start()
    yield fake
    fake.stop()


@pytest.fixture
def provider(arm, prices, monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    p = get_provider("azure", regions=("westeurope",), arm_url=arm.url, retries=0,
                     prices_url=prices.url + "/api/retail/prices")
    yield p
    for inst in p.list():
        p.delete(inst.name, inst.region)


@pytest.fixture
def boot(env):
    """The contract's bootstrap, with the scitq version a cloud machine installs (its cloud-init needs one)."""
    import scitq
    from scitq.cloud.provider import Bootstrap

    def make(name: str, **kw) -> Bootstrap:
        return Bootstrap(worker=name, server_url=env["SCITQ_SERVER"], **{"concurrency": 1,
                                                                         "version": scitq.__version__, **kw})
    return make


@pytest.fixture
def region():
    return "westeurope"


@pytest.fixture
def flavor():
    return SIZE


@pytest.fixture
def quota_limit():
    return 2        # 4 Spot cores, 2 a machine


@pytest.fixture
def registers():
    return False


class TestAzureContract(ProviderContract):
    pass
