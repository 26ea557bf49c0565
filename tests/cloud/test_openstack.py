"""The `openstack` provider, with the real openstacksdk and keystoneauth1 over HTTP to a fake cloud on loopback.

No OpenStack can run here: every test that talks to a cloud uses the stateful fake Nova/Keystone (with Glance
and Neutron name look-ups) of `fake_openstack.py`, served on 127.0.0.1, and says so in its docstring. The OVH
price catalog is likewise a loopback double answering the catalog's JSON shape."""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from contract import ProviderContract
from helpers import run_cli
from fake_openstack import FakeOpenStack
from scitq.cloud import get_provider
from scitq.cloud.openstack import OpenStackConfig, OpenStackProvider
from scitq.cloud.ovh import OvhPrice, fetch_ovh_prices, flavor_tags, parse_ovh_catalog, ram_gb
from scitq.cloud.provider import (
    AuthError, Bootstrap, CapacityError, Provider, ProviderError, QuotaError, TransientError, UnsupportedFlavor,
)
from scitq.errors import BadInput


PRICES = {"b2-7": OvhPrice(cost=0.0709), "b2-15": OvhPrice(cost=0.1418), "c2-30": OvhPrice(cost=0.4),
          "i1-45": OvhPrice(cost=0.9), "t1-45": OvhPrice(cost=1.9, gpumem=16.0),
          "l4-90": OvhPrice(cost=1.2), "bm-s1": OvhPrice(cost=0.6), "m1.small": OvhPrice(cost=0.02)}


def cloud_init(boot: Bootstrap) -> str:
    return f"#cloud-config\nruncmd:\n  - ['scitq', 'worker', '--name', '{boot.worker}']\n"


@pytest.fixture
def fake(monkeypatch):
    """The fake Nova/Keystone on loopback, with the OS_* variables of an RC file pointing at it."""
    for key in list(os.environ):
        if key.startswith(("OS_", "SCITQ_OPENSTACK_", "OVH_")):
            monkeypatch.delenv(key)
    cloud = FakeOpenStack().start()
    for key, value in cloud.env().items():
        monkeypatch.setenv(key, value)
    yield cloud
    cloud.stop()


def provider(**config) -> OpenStackProvider:
    config.setdefault("regions", ("GRA11", "BHS5"))
    config.setdefault("poll_interval", 0.02)
    return OpenStackProvider(OpenStackConfig(**config), user_data=cloud_init, prices=lambda: PRICES)


def bootstrap(worker: str = "node1") -> Bootstrap:
    return Bootstrap(worker=worker, server_url="redis://worker-node1:pw@192.0.2.1:6379", flavor="b2-7",
                     provider="openstack", region="GRA11", version="2.0.0a1")


def created(fake: FakeOpenStack, region: str = "GRA11") -> list[dict]:
    return [r.body["server"] for r in fake.calls("POST", rf"^/compute/{region}/v2\.1/servers$")]


# ---- create, list, delete

def test_create_starts_a_named_ubuntu_machine_on_ext_net_with_the_key_and_user_data_and_waits_until_active(fake):
    """Uses the fake Nova/Keystone double: the machine is `<prefix>-<worker>`, built from the image
    `Ubuntu 22.04` on the network `Ext-Net` with the key pair, its user-data the bootstrap's cloud-init, and
    create returns only once Nova says ACTIVE, with the machine's IPv4."""
    p = provider()
    inst = p.create("b2-7", "GRA11", bootstrap("node1"))
    assert (inst.name, inst.provider, inst.region, inst.flavor, inst.status) == (
        "scitq-node1", "openstack", "GRA11", "b2-7", "active")
    assert inst.ipv4.startswith("203.0.113.")
    [body] = created(fake)
    assert body["name"] == "scitq-node1"
    assert body["flavorRef"] == "f-b2-7"
    assert body["imageRef"] == "img-0"                      # Ubuntu 22.04
    assert body["networks"] == [{"uuid": "net-0"}]           # Ext-Net
    assert body["key_name"] == "scitq"
    user_data = base64.b64decode(body["user_data"]).decode()
    assert yaml.safe_load(user_data)["runcmd"] == [["scitq", "worker", "--name", "node1"]]
    assert body["metadata"] == {"scitq-worker": "node1", "scitq-flavor": "b2-7"}
    [server] = fake.live("GRA11")
    assert server["status"] == "ACTIVE" and server["id"] == inst.id
    assert len(fake.calls("GET", rf"/servers/{inst.id}$")) > 1      # it polled through BUILD


def test_a_metal_flavor_boots_the_baremetal_image_and_the_key_pair_name_is_configurable(fake):
    """Uses the fake Nova/Keystone double: flavors `bm*` get the `Baremetal - Ubuntu 22.04` image."""
    fake.keypairs = ("lab-key",)
    provider(keypair="lab-key").create("bm-s1", "GRA11", bootstrap("metal"))
    [body] = created(fake)
    assert body["imageRef"] == "img-1" and body["key_name"] == "lab-key"


def test_an_active_image_is_chosen_over_deactivated_ones_of_the_same_name(fake):
    """Uses the fake Nova/Keystone double listing a deactivated `Ubuntu 22.04` before the active one."""
    fake.old_images = ("Ubuntu 22.04",)
    provider().create("b2-7", "GRA11", bootstrap())
    [body] = created(fake)
    assert body["imageRef"] == "img-0"


def test_a_machine_is_created_in_the_region_asked_for(fake):
    """Uses the fake Nova/Keystone double: each region is its own endpoint in the token's catalog."""
    inst = provider().create("b2-15", "BHS5", bootstrap("node2"))
    assert inst.region == "BHS5"
    assert [s["name"] for s in fake.live("BHS5")] == ["scitq-node2"] and fake.live("GRA11") == []


def test_list_returns_only_the_machines_carrying_the_prefix_in_every_region(fake):
    """Uses the fake Nova/Keystone double: machines that are not ours (other names) are never listed."""
    p = provider()
    p.create("b2-7", "GRA11", bootstrap("node1"))
    fake.add_server("BHS5", "scitq-node9", flavor="c2-30")
    fake.add_server("BHS5", "webserver")
    fake.add_server("GRA11", "scitqx-node1")
    listed = sorted(p.list(), key=lambda i: i.name)
    assert [(i.name, i.region, i.status) for i in listed] == [
        ("scitq-node1", "GRA11", "active"), ("scitq-node9", "BHS5", "active")]
    assert [i.flavor for i in listed] == ["b2-7", "c2-30"]


def test_delete_removes_the_machine_and_deleting_a_machine_already_gone_is_not_an_error(fake):
    """Uses the fake Nova/Keystone double."""
    p = provider()
    p.create("b2-7", "GRA11", bootstrap("node1"))
    p.delete("scitq-node1", "GRA11")
    assert fake.live() == [] and fake.deleted == ["scitq-node1"]
    p.delete("scitq-node1", "GRA11")
    p.delete("scitq-never-made", "BHS5")
    assert p.list() == []


def test_a_machine_nova_is_still_deleting_is_not_listed(fake):
    """Uses the fake Nova/Keystone double keeping deleted servers listed (task_state deleting) for a while, as
    Nova does."""
    fake.delete_polls = 3
    p = provider()
    p.create("b2-7", "GRA11", bootstrap("node1"))
    p.delete("scitq-node1", "GRA11")
    assert [s["OS-EXT-STS:task_state"] for s in fake.live()] == ["deleting"]
    assert p.list() == []
    p.delete("scitq-node1", "GRA11")
    assert fake.deleted == ["scitq-node1"]


def test_an_earlier_attempt_for_the_same_worker_is_replaced_not_duplicated(fake):
    """Uses the fake Nova/Keystone double: a retried deploy never leaves two machines for one worker."""
    fake.add_server("GRA11", "scitq-node1", status="BUILD")
    provider().create("b2-7", "GRA11", bootstrap("node1"))
    assert [s["name"] for s in fake.live()] == ["scitq-node1"] and fake.deleted == ["scitq-node1"]


def test_the_provider_satisfies_the_provider_protocol(fake):
    """Uses no cloud: a structural check of the protocol."""
    assert isinstance(provider(), Provider)
    assert provider().name == "openstack" and provider(prefix="lab").prefix == "lab"


def test_the_default_user_data_is_the_bootstrap_cloud_init_of_the_worker(fake):
    """Uses the fake Nova/Keystone double: without a user_data renderer, the machine gets
    `scitq.cloud.bootstrap.cloud_init`, a #cloud-config whose runcmd is a list of strings."""
    OpenStackProvider(OpenStackConfig(regions=("GRA11",), poll_interval=0.02), prices=lambda: PRICES).create(
        "b2-7", "GRA11", bootstrap("node7"))
    [body] = created(fake)
    user_data = base64.b64decode(body["user_data"]).decode()
    assert user_data.startswith("#cloud-config")
    doc = yaml.safe_load(user_data)
    assert doc["runcmd"] and all(isinstance(c, str) for c in doc["runcmd"])
    from scitq.cloud.bootstrap import cloud_init as render
    assert user_data == render(bootstrap("node7"))


def test_the_registry_builds_the_openstack_provider_by_name_and_by_its_ovh_alias(fake, monkeypatch):
    """Uses the fake Nova/Keystone double's RC variables, and OVH_REGIONS as v1 set it."""
    monkeypatch.setenv("OVH_REGIONS", "GRA11 BHS5")
    monkeypatch.setenv("SCITQ_CLOUD_PREFIX", "lab")
    p = get_provider("ovh")
    assert isinstance(p, OpenStackProvider) and p.regions() == ["GRA11", "BHS5"] and p.prefix == "lab"
    q = get_provider("openstack", regions=["BHS5"], keypair="")
    assert q.regions() == ["BHS5"] and q.config.keypair == "" and q.prefix == "lab"
    with pytest.raises(BadInput, match="unknown openstack provider setting"):
        get_provider("openstack", flavour="b2-7")


# ---- the provider contract (tests/cloud/contract.py)

class TestOpenStackContract(ProviderContract):
    """The contract suite run against the openstack provider with the fake Nova/Keystone double (its
    machines run no worker; GRA11 allows 4 cores, so two b2-7 machines)."""

    @pytest.fixture
    def provider(self, fake):
        fake.max_cores["GRA11"] = 4
        p = provider()
        yield p
        for inst in p.list():
            p.delete(inst.name, inst.region)

    @pytest.fixture
    def region(self):
        return "GRA11"

    @pytest.fixture
    def flavor(self):
        return "b2-7"

    @pytest.fixture
    def boot(self):
        return bootstrap

    @pytest.fixture
    def quota_limit(self):
        return 2

    @pytest.fixture
    def registers(self):
        return False


# ---- faults

def test_quota_exceeded_is_a_quota_error_that_may_be_retried_and_leaves_no_machine(fake):
    """Uses the fake Nova/Keystone double answering POST /servers with 403 "Quota exceeded"."""
    fake.faults.quota = True
    with pytest.raises(QuotaError) as caught:
        provider().create("c2-30", "GRA11", bootstrap())
    assert caught.value.retryable and caught.value.region == "GRA11" and caught.value.flavor == "c2-30"
    assert "Quota exceeded" in str(caught.value)
    assert fake.live() == []


def test_no_valid_host_is_a_capacity_error_raised_after_the_machine_is_deleted(fake):
    """Uses the fake Nova/Keystone double: the server goes to ERROR with fault "No valid host was found"."""
    fake.faults.no_valid_host = True
    with pytest.raises(CapacityError) as caught:
        provider().create("c2-30", "GRA11", bootstrap())
    assert "No valid host" in str(caught.value) and caught.value.retryable
    assert fake.live() == [] and fake.deleted == ["scitq-node1"]


def test_another_build_error_is_transient_and_the_machine_is_deleted(fake):
    """Uses the fake Nova/Keystone double: the server goes to ERROR with a fault that is not about capacity."""
    fake.faults.build_error = "Build of instance aborted: Failure prepping block device."
    with pytest.raises(TransientError, match="Failure prepping block device"):
        provider().create("b2-7", "GRA11", bootstrap())
    assert fake.live() == [] and fake.deleted == ["scitq-node1"]


def test_a_machine_that_never_leaves_build_is_deleted_and_reported_as_transient(fake):
    """Uses the fake Nova/Keystone double: the server stays in BUILD past the create timeout."""
    fake.faults.build_forever = True
    with pytest.raises(TransientError) as caught:
        provider().create("b2-7", "GRA11", bootstrap(), timeout=0.3)
    assert "still BUILD" in str(caught.value)
    assert fake.live() == [] and fake.deleted == ["scitq-node1"]


def test_a_create_that_fails_after_the_server_exists_removes_what_it_made(fake):
    """Uses the fake Nova/Keystone double: POST /servers makes the server, then answers 500, so the provider
    never learns its id; it finds the machine by name and deletes it before raising."""
    fake.faults.lost_create = True
    with pytest.raises(TransientError):
        provider().create("b2-7", "GRA11", bootstrap())
    assert fake.live() == [] and fake.deleted == ["scitq-node1"]


def test_a_passing_fault_while_the_machine_builds_does_not_abandon_it(fake):
    """Uses the fake Nova/Keystone double answering 503 to two polls of the building server."""
    fake.faults.flaky_gets = 2
    inst = provider().create("b2-7", "GRA11", bootstrap())
    assert inst.status == "active" and fake.deleted == []
    assert fake.faults.flaky_gets == 0


def test_refused_credentials_are_an_auth_error_that_is_not_retried(fake):
    """Uses the fake Nova/Keystone double: Keystone answers 401 to the token request."""
    fake.faults.auth = True
    for call in (lambda p: p.create("b2-7", "GRA11", bootstrap()), lambda p: p.list(), lambda p: p.quotas(),
                 lambda p: p.flavors("GRA11"), lambda p: p.delete("scitq-node1", "GRA11")):
        with pytest.raises(AuthError) as caught:
            call(provider())
        assert not caught.value.retryable
    assert created(fake) == []


def test_an_unknown_flavor_is_unsupported_and_nothing_is_created(fake):
    """Uses the fake Nova/Keystone double: the flavor is not among Nova's flavors."""
    with pytest.raises(UnsupportedFlavor) as caught:
        provider().create("z9-999", "GRA11", bootstrap())
    assert not caught.value.retryable and caught.value.flavor == "z9-999" and caught.value.region == "GRA11"
    assert "z9-999" in str(caught.value)
    assert created(fake) == [] and fake.live() == []


def test_a_missing_image_or_key_pair_in_a_region_is_unsupported_there(fake):
    """Uses the fake Nova/Keystone double: the metal image is absent, then the key pair is unknown to Nova."""
    fake.images = ("Ubuntu 22.04",)
    with pytest.raises(UnsupportedFlavor, match="Baremetal - Ubuntu 22.04"):
        provider().create("bm-s1", "GRA11", bootstrap())
    with pytest.raises(UnsupportedFlavor, match="key_name"):
        provider(keypair="nobody").create("b2-7", "GRA11", bootstrap())
    assert fake.live() == []


def test_missing_credentials_are_an_auth_error_naming_what_to_set(fake, monkeypatch):
    """Uses the fake Nova/Keystone double's absence: no OS_* variable is set at all."""
    for key in list(os.environ):
        if key.startswith("OS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", "/nonexistent/clouds.yaml")
    with pytest.raises(AuthError) as caught:
        provider().list()
    assert "OS_" in str(caught.value) and "\n" not in str(caught.value)


def test_a_region_the_cloud_does_not_offer_is_unsupported_there(fake):
    """Uses the fake Nova/Keystone double, whose token catalog has no endpoint in region XYZ1."""
    with pytest.raises(UnsupportedFlavor) as caught:
        provider().create("b2-7", "XYZ1", bootstrap())
    assert "XYZ1" in str(caught.value) and not caught.value.retryable
    assert created(fake) == []


def test_without_any_region_flavors_and_quotas_say_what_to_set(fake, monkeypatch):
    """Uses the fake Nova/Keystone double's RC variables, without OS_REGION_NAME."""
    monkeypatch.delenv("OS_REGION_NAME")
    p = provider(regions=())
    assert p.regions() == [] and p.list() == []
    for call in (p.flavors, p.quotas):
        with pytest.raises(BadInput, match="no OpenStack region is configured"):
            call()


def test_an_unreachable_cloud_is_a_transient_error(fake):
    """Uses the fake Nova/Keystone double, stopped before the call."""
    p = provider(api_timeout=5)
    fake.stop()
    with pytest.raises(TransientError):
        p.list()


# ---- flavors, quotas, configuration

def test_flavors_come_from_nova_with_ram_in_gb_ovh_tags_and_prices(fake):
    """Uses the fake Nova/Keystone double (GET /flavors/detail) and an injected price list."""
    flavors = {f.name: f for f in provider().flavors("GRA11")}
    assert "win-b2-7" not in flavors and "b2-7-flex" not in flavors        # v1's updater skips them
    b2 = flavors["b2-7"]
    assert (b2.provider, b2.region, b2.cpu, b2.ram, b2.disk, b2.cost, b2.tags, b2.eviction) == (
        "openstack", "GRA11", 2, 7.0, 50.0, 0.0709, "", 0.0)
    assert flavors["m1.small"].ram == 2.0                                    # 2048 MB
    assert (flavors["t1-45"].tags, flavors["t1-45"].gpu, flavors["t1-45"].gpumem) == ("G", "Tesla V100", 16.0)
    assert flavors["l4-90"].tags == "G" and flavors["bm-s1"].tags == "M" and flavors["i1-45"].tags == "N"
    both = provider().flavors()
    assert {f.region for f in both} == {"GRA11", "BHS5"} and len(both) == 2 * len(flavors)


def test_flavors_without_a_price_are_left_out_and_prices_can_be_turned_off(fake):
    """Uses the fake Nova/Keystone double: a flavor missing from the price catalog would look free."""
    p = OpenStackProvider(OpenStackConfig(regions=("GRA11",)), user_data=cloud_init,
                          prices=lambda: {"b2-7": OvhPrice(cost=0.07)})
    assert [f.name for f in p.flavors()] == ["b2-7"]
    free = OpenStackProvider(OpenStackConfig(regions=("GRA11",), price_url=""), user_data=cloud_init)
    assert {f.cost for f in free.flavors()} == {0.0} and len(free.flavors()) == 8


def test_quotas_come_from_compute_limits_capped_by_the_configured_cpu_quotas(fake):
    """Uses the fake Nova/Keystone double (GET /limits): GRA11 allows 20 cores, BHS5 is unlimited (-1)."""
    p = provider()
    p.create("b2-15", "GRA11", bootstrap())
    quotas = {q.region: q for q in p.quotas()}
    assert (quotas["GRA11"].cpu_limit, quotas["GRA11"].cpu_used, quotas["GRA11"].cpu_free) == (20, 4, 16)
    assert quotas["BHS5"].cpu_limit is None and quotas["BHS5"].cpu_free is None
    capped = {q.region: q.cpu_limit for q in provider(cpu_quotas={"GRA11": 50, "BHS5": 8}).quotas()}
    assert capped == {"GRA11": 20, "BHS5": 8}


def test_the_configuration_reads_v1_ovh_regions_and_cpu_quotas():
    """Uses no cloud: OVH_REGIONS and OVH_CPUQUOTAS are v1's parallel space-separated lists."""
    config = OpenStackConfig.from_env({"OVH_REGIONS": "GRA11 BHS5", "OVH_CPUQUOTAS": "32 16",
                                       "SCITQ_OPENSTACK_KEYPAIR": "lab", "SCITQ_OVH_PRICE_URL": "none"})
    assert config.regions == ("GRA11", "BHS5") and config.cpu_quotas == {"GRA11": 32, "BHS5": 16}
    assert config.keypair == "lab" and config.price_url == ""
    assert OpenStackConfig.from_env({"SCITQ_OPENSTACK_REGIONS": "SBG5,UK1", "OVH_REGIONS": "GRA11"}).regions == (
        "SBG5", "UK1")
    assert (config.image_for("b2-7"), config.image_for("bm-s1")) == ("Ubuntu 22.04", "Baremetal - Ubuntu 22.04")


@pytest.mark.parametrize("env, named", [
    ({"OVH_REGIONS": "GRA11 BHS5", "OVH_CPUQUOTAS": "32"}, "OVH_CPUQUOTAS has 1 value(s) for 2 region(s)"),
    ({"OVH_REGIONS": "GRA11", "OVH_CPUQUOTAS": "many"}, "OVH_CPUQUOTAS must list whole numbers"),
    ({"SCITQ_OPENSTACK_POLL": "soon"}, "SCITQ_OPENSTACK_POLL must be a number"),
])
def test_a_malformed_configuration_is_one_clear_line_naming_the_variable(env, named):
    """Uses no cloud."""
    with pytest.raises(BadInput) as caught:
        OpenStackConfig.from_env(env)
    assert named in str(caught.value) and "\n" not in str(caught.value)


def test_regions_fall_back_to_os_region_name(fake):
    """Uses the fake Nova/Keystone double's RC variables (OS_REGION_NAME=GRA11)."""
    p = OpenStackProvider(OpenStackConfig(poll_interval=0.02), user_data=cloud_init, prices=lambda: PRICES)
    assert p.regions() == ["GRA11"]
    assert [i.region for i in (p.create("b2-7", "GRA11", bootstrap()),)] == ["GRA11"]


def test_a_clouds_yaml_entry_gives_credentials_and_regions(fake, monkeypatch, tmp_path: Path):
    """Uses the fake Nova/Keystone double, reached through a clouds.yaml entry instead of OS_* variables."""
    for key in list(os.environ):
        if key.startswith("OS_"):
            monkeypatch.delenv(key)
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {"ovh": {
        "auth": {"auth_url": fake.auth_url, "username": "user-scitq", "password": "secret",
                 "project_name": "scitq-project", "user_domain_name": "Default", "project_domain_name": "Default"},
        "identity_api_version": 3, "regions": ["BHS5", "GRA11"]}}}))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    monkeypatch.setenv("SCITQ_OPENSTACK_CLOUD", "ovh")
    monkeypatch.setenv("SCITQ_OPENSTACK_POLL", "0.02")
    p = OpenStackProvider.from_env(user_data=cloud_init, prices=lambda: PRICES)
    assert p.regions() == ["BHS5", "GRA11"]
    p.create("b2-7", "BHS5", bootstrap())
    assert [i.region for i in p.list()] == ["BHS5"]


def test_ovh_naming_conventions_give_tags_and_ram():
    """Uses no cloud."""
    assert [flavor_tags(n) for n in ("b2-7", "t1-45", "t2-90", "h100-380", "bm-l1", "i1-180")] == [
        "", "G", "G", "G", "M", "N"]
    assert flavor_tags("b3-64", nvme=True) == "N"
    assert (ram_gb(7000), ram_gb(2048), ram_gb(0)) == (7.0, 2.0, 0.0)


# ---- prices: OVH's public catalog, served by a loopback double

CATALOG = {
    "catalogId": 1234, "locale": {"currencyCode": "EUR", "subsidiary": "FR", "taxRate": 20},
    "plans": [{"planCode": "project.2018", "pricings": []}],
    "addons": [
        {"planCode": "b2-7.consumption", "invoiceName": "b2-7 instance", "product": "publiccloud-instance-b2-7",
         "pricings": [{"intervalUnit": "month", "capacities": ["renew"], "price": 2420000000},
                      {"intervalUnit": "hour", "capacities": ["consumption"], "price": 7090000}],
         "blobs": {"technical": {"storage": {"disks": [{"capacity": 50, "technology": "SSD"}]},
                                 "bandwidth": {"level": 250}}}},
        {"planCode": "b2-7.monthly.postpaid", "pricings": [
            {"intervalUnit": "month", "capacities": ["consumption"], "price": 2420000000}]},
        {"planCode": "b3-64.consumption", "pricings": [
            {"intervalUnit": "hour", "capacities": ["consumption"], "price": 74000000}],
         "blobs": {"technical": {"storage": {"disks": [{"capacity": 400, "technology": "NVMe"}]}}}},
        {"planCode": "t1-90.consumption", "pricings": [
            {"intervalUnit": "hour", "capacities": ["consumption"], "price": 380000000}],
         "blobs": {"technical": {"gpu": {"model": "Tesla V100", "number": 2, "memory": {"size": 16}}}}},
        {"planCode": "b2-7.option.dc-adp.consumption", "pricings": [
            {"intervalUnit": "hour", "capacities": ["consumption"], "price": 1}]},
        {"planCode": "c2-7.consumption", "pricings": [
            {"intervalUnit": "hour", "capacities": ["consumption"], "price": 0}]},
        {"planCode": "snapshot.consumption", "pricings": [{"intervalUnit": "month", "price": 1}]},
    ],
}


@pytest.fixture
def price_catalog():
    """A loopback double of OVH's public catalog API answering the catalog JSON shape."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.path)
            data = json.dumps(CATALOG).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/1.0", seen
    httpd.shutdown()
    httpd.server_close()


def test_ovh_prices_are_the_hourly_consumption_prices_of_the_public_catalog(price_catalog):
    """Uses a loopback double of OVH's public catalog API: `<flavor>.consumption` addons priced per hour in
    1e-8 of the currency; monthly plans, options and zero prices left out; NVMe and GPU read from the blobs."""
    url, seen = price_catalog
    prices = fetch_ovh_prices(url, "FR")
    assert seen == ["/1.0/order/catalog/public/cloud?ovhSubsidiary=FR"]
    assert set(prices) == {"b2-7", "b3-64", "t1-90"}
    assert prices["b2-7"] == OvhPrice(cost=0.0709, bandwidth=250.0)
    assert prices["b3-64"].cost == 0.74 and prices["b3-64"].nvme
    assert (prices["t1-90"].gpu, prices["t1-90"].gpumem, prices["t1-90"].cost) == ("Tesla V100", 32.0, 3.8)
    assert parse_ovh_catalog({}) == {}


def test_flavors_are_priced_from_the_catalog_fetched_once(fake, price_catalog):
    """Uses the fake Nova/Keystone double and a loopback double of OVH's public catalog API."""
    url, seen = price_catalog
    p = OpenStackProvider(OpenStackConfig(regions=("GRA11", "BHS5"), price_url=url, subsidiary="FR"),
                          user_data=cloud_init)
    flavors = p.flavors()
    assert sorted({(f.name, f.cost) for f in flavors}) == [("b2-7", 0.0709)]
    assert {f.region for f in flavors} == {"GRA11", "BHS5"}
    p.flavors("GRA11")
    assert len(seen) == 1


def test_an_unreachable_price_catalog_is_a_transient_error(fake, price_catalog):
    """Uses a loopback address where nothing listens instead of OVH's catalog."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientError, match="price catalog"):
        fetch_ovh_prices(f"http://127.0.0.1:{port}/1.0", timeout=5)
    p = OpenStackProvider(OpenStackConfig(regions=("GRA11",), price_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(ProviderError) as caught:
        p.flavors()
    assert caught.value.kind == "transient"


def test_scitq_flavors_update_openstack_records_the_priced_ovh_flavors_and_quotas(fake, price_catalog, procs, env):
    """Uses the fake Nova/Keystone double and a loopback double of OVH's price catalog, with a real scitq server:
    `scitq flavors update openstack` runs as its own process, configured only by its environment."""
    url, seen = price_catalog
    procs.server()
    child = {**env, **fake.env(), "OVH_REGIONS": "GRA11 BHS5", "OVH_CPUQUOTAS": "10 8",
             "SCITQ_OVH_PRICE_URL": url}
    res = run_cli("scitq", "flavors", "update", "openstack", env=child, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "+ GRA11/b2-7" in res.stdout and "+ BHS5/b2-7" in res.stdout
    from scitq.lib import Server
    rows = Server().flavors(provider="openstack")
    assert {(r["name"], r["region"], r["cost"]) for r in rows} == {("b2-7", "GRA11", 0.0709), ("b2-7", "BHS5", 0.0709)}
    assert {r["region"]: r["available"] for r in rows} == {"GRA11": 5, "BHS5": 4}      # quotas 10 and 8 cpus
    fake.faults.auth = True
    res = run_cli("scitq", "flavors", "update", "openstack", env=child, timeout=120)
    assert res.returncode == 2 and "auth" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert len(Server().flavors(provider="openstack")) == 2
