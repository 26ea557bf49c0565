"""The `azure` provider, driven through the real azure-mgmt-compute/network/resource SDKs over HTTP.

No Azure endpoint is reachable here and no emulator of ARM compute exists: every test uses the fake ARM double
(`cloud.fake_azure.FakeARM`, a stateful ARM served on loopback) and, for prices, the Retail Prices API double
(`FakePrices`). Only the HTTP answers are fake; the SDKs, their serialisation and their long-running-operation
polling are the real ones.
"""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from cloud.fake_azure import SUBSCRIPTION, FakeARM, FakePrices, price, sku, usage
from scitq.cloud.azure import AzureConfig, AzureProvider, eviction_from_range, keep_size
from scitq.cloud.provider import (
    AuthError, Bootstrap, CapacityError, Provider, QuotaError, TransientError, UnsupportedFlavor,
)

CLOUD_INIT = "#cloud-config\nruncmd:\n  - [sh, -c, 'echo hello']\n"
SIZE = "Standard_D2s_v5"


def _boot(worker: str = "node1") -> Bootstrap:
    return Bootstrap(worker=worker, server_url="redis://worker-node1:secret@203.0.113.1:6379", flavor=SIZE,
                     provider="azure", region="westeurope")


@pytest.fixture(params=["sync", "async"])
def arm(request):
    """The fake ARM double, in each long-running-operation style."""
    fake = FakeARM(lro=request.param).start()
    yield fake
    fake.stop()


@pytest.fixture
def prices():
    fake = FakePrices([
        price("Standard_D2s_v5", 0.02, spot=True), price("Standard_D2s_v5", 0.10),
        price("Standard_D2s_v5", 0.19, windows=True, spot=True), price("Standard_D2s_v5", 0.015, low_priority=True),
        price("Standard_D4s_v5", 0.04, spot=True), price("Standard_D4s_v5", 0.20),
        price("Standard_D4ps_v5", 0.03, spot=True), price("Standard_D4_v5", 0.03, spot=True),
        price("Standard_NC4as_T4_v3", 0.16, spot=True), price("Standard_E2s_v5", 0.05),
        price("Standard_DS2_v2", 0.01, spot=True), price("Standard_F2s_v2", 0.01, spot=True),
    ], page=3).start()
    yield fake
    fake.stop()


def _provider(arm: FakeARM, prices: FakePrices | None = None, **cfg) -> AzureProvider:
    defaults = dict(subscription_id=SUBSCRIPTION, regions=("westeurope",), arm_url=arm.url, retries=0,
                    prices_url=(prices.url + "/api/retail/prices") if prices else "http://127.0.0.1:9/none")
    return AzureProvider(AzureConfig(**{**defaults, **cfg}), user_data=lambda boot: CLOUD_INIT)


def test_the_azure_provider_implements_the_provider_protocol(arm):
    """Uses the fake ARM double (no call is made: only the shape is checked)."""
    assert isinstance(_provider(arm), Provider)


def test_create_sends_a_spot_vm_with_deallocate_eviction_and_the_cloud_init_as_custom_data(arm):
    """Uses the fake ARM double: the VM body is asserted on the camelCase JSON the SDK really sent."""
    inst = _provider(arm).create(SIZE, "westeurope", _boot())
    assert inst.name == "scitq-node1" and inst.status == "active" and inst.provider == "azure"
    assert inst.ipv4.startswith("203.0.113.") and inst.flavor == SIZE and inst.id
    (put,) = arm.received("PUT", "virtualmachines")
    props = put.body["properties"]
    assert props["priority"] == "Spot" and props["evictionPolicy"] == "Deallocate"
    assert props["billingProfile"] == {"maxPrice": -1}
    assert props["hardwareProfile"] == {"vmSize": SIZE}
    assert props["storageProfile"]["imageReference"]["sku"] == "22_04-lts-gen2"
    assert props["storageProfile"]["osDisk"]["deleteOption"] == "Delete"
    user_data = base64.b64decode(props["osProfile"]["customData"]).decode()
    assert user_data == CLOUD_INIT and isinstance(yaml.safe_load(user_data)["runcmd"], list)
    nic_id = props["networkProfile"]["networkInterfaces"][0]["id"]
    assert nic_id.lower().endswith("/resourcegroups/scitq-node1/providers/microsoft.network/networkinterfaces/scitq-node1-nic")
    (nic,) = arm.received("PUT", "networkinterfaces")
    ipcfg = nic.body["properties"]["ipConfigurations"][0]["properties"]
    assert ipcfg["publicIPAddress"]["id"].lower().endswith("/publicipaddresses/scitq-node1-ip")
    assert "/virtualnetworks/scitq-vnet-westeurope/subnets/" in ipcfg["subnet"]["id"].lower()
    assert arm.names("resourcegroups") == ["scitq-network", "scitq-node1"]
    polled = [r for r in arm.requests if r.path.startswith("/operations/")]
    assert bool(polled) is (arm.lro == "async")


def test_a_second_machine_reuses_the_regions_vnet(arm):
    """Uses the fake ARM double: the shared VNet is created once per region."""
    provider = _provider(arm)
    provider.create(SIZE, "westeurope", _boot("node1"))
    provider.create(SIZE, "westeurope", _boot("node2"))
    assert len(arm.received("PUT", "virtualnetworks")) == 1
    assert {i.name for i in provider.list()} == {"scitq-node1", "scitq-node2"}


def test_delete_removes_the_vm_its_nic_its_public_ip_and_its_own_resource_group(arm):
    """Uses the fake ARM double."""
    provider = _provider(arm)
    provider.create(SIZE, "westeurope", _boot())
    provider.delete("scitq-node1", "westeurope")
    assert arm.names("virtualmachines") == [] and arm.names("networkinterfaces") == []
    assert arm.names("publicipaddresses") == [] and arm.names("resourcegroups") == ["scitq-network"]
    deleted = [r.path.lower().rsplit("/", 2)[-2] for r in arm.requests if r.method == "DELETE"]
    assert deleted.index("virtualmachines") < deleted.index("networkinterfaces") < deleted.index("publicipaddresses")
    assert provider.list() == []


def test_with_a_shared_resource_group_delete_keeps_the_group(arm):
    """Uses the fake ARM double: the shared group is made once, and never rewritten (it may be the user's)."""
    provider = _provider(arm, resource_group="scitq-workers")
    provider.create(SIZE, "westeurope", _boot())
    provider.create(SIZE, "westeurope", _boot("node2"))
    assert arm.names("resourcegroups") == ["scitq-network", "scitq-workers"]
    assert sorted(r.path.rsplit("/", 1)[-1] for r in arm.received("PUT", "resourcegroups")) == ["scitq-network",
                                                                                         "scitq-workers"]
    provider.delete("scitq-node2", "westeurope")
    provider.delete("scitq-node1", "westeurope")
    assert arm.names("resourcegroups") == ["scitq-network", "scitq-workers"]
    assert arm.names("virtualmachines") == [] and arm.names("publicipaddresses") == []


def test_deleting_a_machine_already_gone_counts_as_deleted(arm):
    """Uses the fake ARM double: nothing of the machine exists, not even its group."""
    _provider(arm).delete("scitq-ghost", "westeurope")
    _provider(arm, resource_group="scitq-workers").delete("scitq-ghost", "westeurope")


def test_list_shows_only_our_machines_and_a_deallocated_spot_vm_as_evicted(arm):
    """Uses the fake ARM double: a VM without our prefix is somebody else's and never listed."""
    provider = _provider(arm)
    provider.create(SIZE, "westeurope", _boot("node1"))
    provider.create(SIZE, "westeurope", _boot("node2"))
    _provider(arm, prefix="other").create(SIZE, "westeurope", _boot("node3"))
    arm.evict("scitq-node2")
    listed = {i.name: i for i in provider.list()}
    assert set(listed) == {"scitq-node1", "scitq-node2"}
    assert listed["scitq-node1"].status == "active" and listed["scitq-node2"].status == "evicted"
    assert listed["scitq-node1"].ipv4.startswith("203.0.113.") and listed["scitq-node1"].flavor == SIZE


def test_quota_exceeded_409_operation_not_allowed_is_a_quota_error_and_leaves_nothing(arm):
    """Uses the fake ARM double: the VM PUT answers 409 OperationNotAllowed, as Azure does when cores run out."""
    arm.fault("PUT", "virtualmachines", status=409, code="OperationNotAllowed",
              message="Operation could not be completed as it results in exceeding approved LowPriorityCores quota.")
    with pytest.raises(QuotaError) as err:
        _provider(arm).create(SIZE, "westeurope", _boot())
    assert err.value.retryable and "OperationNotAllowed" in str(err.value) and "\n" not in str(err.value)
    assert arm.names("networkinterfaces") == [] and arm.names("publicipaddresses") == []
    assert arm.names("resourcegroups") == ["scitq-network"]


@pytest.mark.parametrize("code", ["SkuNotAvailable", "AllocationFailed", "ZonalAllocationFailed"])
def test_no_capacity_is_a_capacity_error(arm, code):
    """Uses the fake ARM double."""
    arm.fault("PUT", "virtualmachines", status=409, code=code)
    with pytest.raises(CapacityError) as err:
        _provider(arm).create(SIZE, "westeurope", _boot())
    assert err.value.region == "westeurope" and err.value.flavor == SIZE


def test_a_vm_whose_operation_ends_failed_is_classified_from_its_code_and_cleaned_up(arm):
    """Uses the fake ARM double: the VM PUT is accepted (201 + Azure-AsyncOperation) and its operation ends Failed
    with AllocationFailed; the partly created machine (VM in Failed state, NIC, IP, group) is removed."""
    arm.fault("PUT", "virtualmachines", code="AllocationFailed", lro=True)
    with pytest.raises(CapacityError):
        _provider(arm).create(SIZE, "westeurope", _boot())
    assert arm.received("PUT", "networkinterfaces") and arm.received("DELETE", "networkinterfaces")
    assert arm.names("virtualmachines") == [] and arm.names("networkinterfaces") == []
    assert arm.names("publicipaddresses") == [] and arm.names("resourcegroups") == ["scitq-network"]


def test_a_partly_created_vm_in_a_shared_group_is_cleaned_up_before_raising(arm):
    """Uses the fake ARM double: NIC and IP created, the VM PUT fails; the shared group stays, the rest goes."""
    arm.fault("PUT", "virtualmachines", code="SkuNotAvailable", lro=True)
    with pytest.raises(CapacityError):
        _provider(arm, resource_group="scitq-workers").create(SIZE, "westeurope", _boot())
    assert arm.names("virtualmachines") == [] and arm.names("networkinterfaces") == []
    assert arm.names("publicipaddresses") == [] and arm.names("resourcegroups") == ["scitq-network", "scitq-workers"]


def test_a_401_is_an_auth_error_not_retried(arm):
    """Uses the fake ARM double."""
    arm.fault("PUT", "resourcegroups", status=401, code="InvalidAuthenticationToken")
    with pytest.raises(AuthError) as err:
        _provider(arm).create(SIZE, "westeurope", _boot())
    assert not err.value.retryable


def test_a_403_authorization_failure_is_an_auth_error(arm):
    """Uses the fake ARM double: the identity lacks the role to list VMs."""
    arm.fault("GET", "virtualmachines", status=403, code="AuthorizationFailed")
    with pytest.raises(AuthError, match="AuthorizationFailed"):
        _provider(arm).list()


def test_a_credential_that_cannot_get_a_token_is_an_auth_error():
    """Uses no double: the classification alone (a real DefaultAzureCredential without configuration would try
    the metadata service, which tests never call)."""
    from azure.identity import CredentialUnavailableError

    from scitq.cloud.azure_errors import classify
    err = classify(CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token"), region="westeurope")
    assert isinstance(err, AuthError) and str(err).count("\n") == 0


def test_an_unknown_vm_size_is_an_unsupported_flavor(arm):
    """Uses the fake ARM double: Azure answers 400 InvalidParameter with target vmSize."""
    arm.faults.clear()
    arm.fault("PUT", "virtualmachines", status=400, code="InvalidParameter",
              message="The value Standard_Nope of parameter 'vmSize' is not allowed.")
    with pytest.raises(UnsupportedFlavor) as err:
        _provider(arm).create("Standard_Nope", "westeurope", _boot())
    assert not err.value.retryable and err.value.flavor == "Standard_Nope"
    assert arm.names("virtualmachines") == [] and arm.names("networkinterfaces") == []


def test_a_server_error_is_transient(arm):
    """Uses the fake ARM double: a 503 on the NIC PUT (the SDK's own retries are off in this test)."""
    arm.fault("PUT", "networkinterfaces", status=503, code="ServiceUnavailable")
    with pytest.raises(TransientError):
        _provider(arm).create(SIZE, "westeurope", _boot())
    assert arm.names("publicipaddresses") == [] and arm.names("resourcegroups") == ["scitq-network"]


def test_an_unreachable_arm_is_transient():
    """Uses no double: nothing listens on the port, the connection is refused."""
    provider = AzureProvider(AzureConfig(subscription_id=SUBSCRIPTION, arm_url="http://127.0.0.1:9", retries=0),
                             user_data=lambda boot: CLOUD_INIT)
    with pytest.raises(TransientError):
        provider.list()


def test_plain_http_is_refused_outside_loopback():
    """Uses no double: the configuration is refused before any request."""
    provider = AzureProvider(AzureConfig(subscription_id=SUBSCRIPTION, arm_url="http://management.example"))
    with pytest.raises(Exception, match="must be https"):
        provider.list()


def test_flavors_keep_v1s_sizes_with_spot_prices_and_published_eviction_rates(arm, prices):
    """Uses the fake ARM double (SKUs, Resource Graph) and the Retail Prices API double (paged)."""
    arm.skus = [sku("Standard_D2s_v5", 2, 8), sku("Standard_D4s_v5", 4, 16, resource_disk_mb=150 * 1024),
                sku("Standard_D4ps_v5", 4, 16, arch="Arm64"), sku("Standard_D4_v5", 4, 16),
                sku("Standard_E2s_v5", 2, 16), sku("Standard_NC4as_T4_v3", 4, 28, gpus=1),
                sku("Standard_F2s_v2", 2, 4, restricted=True), sku("Standard_D2s_v5", 2, 8, location="eastus"),
                sku("Standard_DS2_v2", 2, 7, generations="V1")]
    arm.spot_eviction = [{"location": "westeurope", "skuName": "standard_d2s_v5", "evictionRate": "0-5"},
                         {"location": "westeurope", "skuName": "standard_nc4as_t4_v3", "evictionRate": "20+"}]
    flavors = {f.name: f for f in _provider(arm, prices).flavors("westeurope")}
    assert set(flavors) == {"Standard_D2s_v5", "Standard_D4s_v5", "Standard_NC4as_T4_v3"}
    d2, d4, nc = flavors["Standard_D2s_v5"], flavors["Standard_D4s_v5"], flavors["Standard_NC4as_T4_v3"]
    assert (d2.cpu, d2.ram, d2.disk, d2.cost, d2.eviction, d2.tags) == (2, 8.0, 30.0, 0.02, 5.0, "")
    assert (d4.disk, d4.cost, d4.eviction) == (150.0, 0.04, 5.0)       # no published rate: v1's default 5
    assert (nc.tags, nc.gpu, nc.gpumem, nc.eviction) == ("G", "T4", 16.0, 25.0)
    assert len(prices.queries) == 4                                    # 12 meters, 3 a page
    flt = prices.queries[0]["$filter"][0]
    assert "armRegionName eq 'westeurope'" in flt and "serviceName eq 'Virtual Machines'" in flt
    assert prices.queries[0]["currencyCode"] == ["'EUR'"]


def test_flavors_on_demand_use_the_regular_meters_and_no_eviction(arm, prices):
    """Uses the fake ARM double and the Retail Prices API double."""
    arm.skus = [sku("Standard_D2s_v5", 2, 8), sku("Standard_E2s_v5", 2, 16)]
    flavors = {f.name: f for f in _provider(arm, prices, spot=False).flavors("westeurope")}
    assert (flavors["Standard_D2s_v5"].cost, flavors["Standard_D2s_v5"].eviction) == (0.10, 0.0)
    assert flavors["Standard_E2s_v5"].cost == 0.05
    assert not arm.received("POST", "resourcegraph")


def test_flavors_fail_transiently_when_prices_cannot_be_fetched(arm, prices):
    """Uses the fake ARM double and the Retail Prices API double answering 503: a failed fetch must not read as
    "no flavor any more" (the catalog update would delete every row)."""
    arm.skus = [sku("Standard_D2s_v5", 2, 8)]
    prices.fail = 1
    with pytest.raises(TransientError, match="retail prices"):
        _provider(arm, prices).flavors("westeurope")


def test_quotas_come_from_the_spot_core_usage_unless_configured(arm):
    """Uses the fake ARM double: Spot machines count against lowPriorityCores."""
    arm.usages["westeurope"] = [usage("cores", 100, 10), usage("lowPriorityCores", 40, 12),
                                usage("standardDSv5Family", 50, 0)]
    arm.usages["northeurope"] = [usage("lowPriorityCores", 20, 0)]
    (q,) = _provider(arm).quotas()
    assert (q.region, q.cpu_limit, q.cpu_used, q.cpu_free) == ("westeurope", 40, 12, 28)
    (q,) = _provider(arm, spot=False).quotas()
    assert (q.cpu_limit, q.cpu_used) == (100, 10)
    two = _provider(arm, cpu_quotas={"northeurope": 8}, regions=("westeurope", "northeurope"))
    assert [(q.region, q.cpu_limit) for q in two.quotas()] == [("westeurope", 40), ("northeurope", 8)]


def test_configuration_reads_v1s_environment():
    """Uses no double: configuration only."""
    cfg = AzureConfig.from_env({"AZURE_SUBSCRIPTION_ID": "s", "AZURE_REGIONS": "westeurope eastus",
                                "AZURE_CPUQUOTAS": "16 8", "SCITQ_AZURE_RESOURCE_GROUP": "shared"})
    assert cfg.regions == ("westeurope", "eastus") and cfg.cpu_quotas == {"westeurope": 16, "eastus": 8}
    assert cfg.resource_group == "shared" and cfg.spot and cfg.max_price == -1
    with pytest.raises(ValueError, match="AZURE_CPUQUOTAS"):
        AzureConfig.from_env({"AZURE_REGIONS": "westeurope", "AZURE_CPUQUOTAS": "many"})


@pytest.mark.parametrize("name,kept", [("Standard_D4s_v5", True), ("Standard_D4ps_v5", False),
                                       ("Standard_D4_v5", False), ("Standard_E4-2ads_v5", True),
                                       ("Basic_A1", False), ("Standard_NC24ads_A100_v4", True)])
def test_the_catalog_keeps_standard_premium_storage_x86_sizes(name, kept):
    """Uses no double: v1's size filter."""
    assert keep_size(name) is kept


def test_eviction_ranges_read_as_their_upper_bound():
    """Uses no double."""
    assert [eviction_from_range(r) for r in ("0-5", "10-15", "20+", "")] == [5.0, 15.0, 25.0, 5.0]


def test_the_json_received_is_valid_for_every_put(arm):
    """Uses the fake ARM double: every PUT body is a JSON object with a location (as ARM requires)."""
    _provider(arm).create(SIZE, "westeurope", _boot())
    puts = [r for r in arm.requests if r.method == "PUT"]
    assert puts and all(isinstance(r.body, dict) and r.body.get("location") == "westeurope" for r in puts)
    assert json.dumps([r.body for r in puts])


def test_a_vm_that_never_finishes_provisioning_times_out_transiently_and_is_removed(arm):
    """Uses the fake ARM double: the VM's operation stays InProgress until the VM is deleted."""
    arm.fault("PUT", "virtualmachines", stuck=True)
    with pytest.raises(TransientError, match="not provisioned"):
        _provider(arm).create(SIZE, "westeurope", _boot(), timeout=1.0)
    assert arm.names("virtualmachines") == [] and arm.names("networkinterfaces") == []
    assert arm.names("resourcegroups") == ["scitq-network"]


def test_a_missing_subscription_is_a_clear_auth_error():
    """Uses no double: the configuration is refused before any request."""
    provider = AzureProvider(AzureConfig(subscription_id="", arm_url="http://127.0.0.1:9"))
    with pytest.raises(AuthError, match="AZURE_SUBSCRIPTION_ID"):
        provider.list()


def test_creating_the_same_machine_again_returns_it_without_a_second_vm(arm):
    """Uses the fake ARM double: a retried deploy finds the VM it made and sends no second VM body."""
    provider = _provider(arm)
    first = provider.create(SIZE, "westeurope", _boot())
    again = provider.create(SIZE, "westeurope", _boot())
    assert (again.name, again.id, again.ipv4, again.status) == (first.name, first.id, first.ipv4, "active")
    assert len(arm.received("PUT", "virtualmachines")) == 1


def test_a_vm_left_failed_by_an_earlier_attempt_is_replaced(arm):
    """Uses the fake ARM double: the first attempt's VM stays in provisioning state Failed (cleanup failed too)."""
    arm.fault("PUT", "virtualmachines", code="AllocationFailed", lro=True)
    arm.fault("DELETE", "virtualmachines", status=500, code="InternalServerError")
    provider = _provider(arm, resource_group="scitq-workers")
    with pytest.raises(CapacityError):
        provider.create(SIZE, "westeurope", _boot())
    assert arm.names("virtualmachines") == ["scitq-node1"]
    inst = provider.create(SIZE, "westeurope", _boot())
    assert inst.status == "active" and arm.names("virtualmachines") == ["scitq-node1"]


def test_the_fake_enforces_the_spot_core_quota_and_lists_its_use(arm):
    """Uses the fake ARM double with a quota of 4 Spot cores: two 2-cpu machines fit, the third is refused."""
    arm.skus = [sku(SIZE, 2, 8)]
    arm.spot_quota["westeurope"] = 4
    provider = _provider(arm)
    provider.create(SIZE, "westeurope", _boot("node1"))
    provider.create(SIZE, "westeurope", _boot("node2"))
    with pytest.raises(QuotaError):
        provider.create(SIZE, "westeurope", _boot("node3"))
    (q,) = provider.quotas()
    assert (q.cpu_limit, q.cpu_used, q.cpu_free) == (4, 4, 0)
    assert {i.name for i in provider.list()} == {"scitq-node1", "scitq-node2"}


def test_keyword_settings_override_the_environment(monkeypatch):
    """Uses no double: `get_provider("azure", prefix=..., regions=...)` passes such keywords."""
    monkeypatch.setenv("AZURE_REGIONS", "eastus")
    p = AzureProvider(prefix="lab", regions="westeurope northeurope", resource_group="shared")
    assert (p.prefix, p.regions(), p.config.resource_group) == ("lab", ["westeurope", "northeurope"], "shared")
    with pytest.raises(ValueError, match="unknown setting"):
        AzureProvider(colour="blue")
