"""Provides the `azure` provider: Spot worker VMs through azure-identity and azure-mgmt-compute/network/resource.

Each machine `<prefix>-<worker>` is a VM (Ubuntu 22.04, Spot priority, Deallocate eviction, max price -1 = never
evicted for price) with its NIC `<name>-nic` and Standard public IP `<name>-ip`, in its own resource group named
after it or in a shared one (`SCITQ_AZURE_RESOURCE_GROUP`). The NIC joins one VNet/subnet per region, kept in the
shared network group (`SCITQ_AZURE_NETWORK_GROUP`). The VM boots the cloud-init user-data of
`scitq.cloud.bootstrap` as base64 `customData`. Configuration comes from `AzureConfig.from_env` (v1's
`AZURE_SUBSCRIPTION_ID`, `AZURE_REGIONS`, `AZURE_CPUQUOTAS`; credentials through `DefaultAzureCredential`, which
reads `AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`/`AZURE_TENANT_ID`, a managed identity or the Azure CLI login).
Errors are classified by `classify` (module `azure_errors`); prices come from `azure_prices`.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from scitq.cloud.azure_errors import classify, is_not_found
from scitq.cloud.azure_flavors import (
    DEFAULT_EVICTION, eviction_from_range, flavor_from_sku, is_restricted, is_x64, keep_size, text,
)
from scitq.cloud.azure_prices import PRICES_URL, vm_prices
from scitq.cloud.provider import (
    AuthError, Bootstrap, Flavor, Instance, ProviderError, Quota, TransientError, machine_name,
)
from scitq.errors import BadInput

__all__ = ["AzureConfig", "AzureProvider", "flavor_from_sku", "keep_size", "eviction_from_range"]

log = logging.getLogger(__name__)

UBUNTU_2204 = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"
_LOOPBACK = re.compile(r"^http://(127\.\d+\.\d+\.\d+|\[::1\]|localhost)(:\d+)?(/|$)")


@dataclass(frozen=True)
class AzureConfig:
    """Where and how the provider creates machines; `from_env` reads it from the environment."""
    subscription_id: str = ""
    regions: tuple[str, ...] = ("westeurope",)
    cpu_quotas: dict[str, int] = field(default_factory=dict)   # overrides the subscription's quota per region
    prefix: str = "scitq"
    resource_group: str = ""            # shared group for every machine; "" = one group per machine
    network_group: str = "scitq-network"
    spot: bool = True
    max_price: float = -1.0             # -1: pay up to the regular price, never evicted for price
    image: str = UBUNTU_2204            # publisher:offer:sku:version
    admin_user: str = "scitq"
    ssh_public_key: str = ""            # "" = a random password nobody keeps (inbound is closed anyway)
    os_disk_gb: int = 0                 # 0 = the image's size
    currency: str = "EUR"
    arm_url: str = ""                   # "" = public Azure; http://127.0.0.1:PORT for a test double
    prices_url: str = PRICES_URL
    retries: int = 3                    # the SDK's own retries of 5xx/429/network errors per call

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "AzureConfig":
        env = os.environ if environ is None else environ
        regions = tuple(env.get("AZURE_REGIONS", "").split()) or cls.regions
        quotas: dict[str, int] = {}
        for region, quota in zip(regions, env.get("AZURE_CPUQUOTAS", "").split()):
            try:
                quotas[region] = int(quota)
            except ValueError:
                raise BadInput(f"AZURE_CPUQUOTAS: {quota!r} is not a number of CPUs (region {region})") from None
        key = env.get("SCITQ_AZURE_SSH_KEY", "")
        if key and not key.startswith("ssh-") and os.path.exists(os.path.expanduser(key)):
            with open(os.path.expanduser(key)) as fh:
                key = fh.read().strip()
        return cls(
            subscription_id=env.get("AZURE_SUBSCRIPTION_ID", ""),
            regions=regions,
            cpu_quotas=quotas,
            prefix=env.get("SCITQ_AZURE_PREFIX") or env.get("SCITQ_CLOUD_PREFIX") or cls.prefix,
            resource_group=env.get("SCITQ_AZURE_RESOURCE_GROUP", ""),
            network_group=env.get("SCITQ_AZURE_NETWORK_GROUP") or cls.network_group,
            spot=env.get("SCITQ_AZURE_SPOT", "1").lower() not in ("0", "false", "no"),
            image=env.get("SCITQ_AZURE_IMAGE") or cls.image,
            admin_user=env.get("SCITQ_AZURE_ADMIN_USER") or cls.admin_user,
            ssh_public_key=key,
            os_disk_gb=int(env.get("SCITQ_AZURE_OS_DISK_GB") or 0),
            currency=env.get("SCITQ_AZURE_CURRENCY") or cls.currency,
            arm_url=env.get("SCITQ_AZURE_ARM_URL", ""),
            prices_url=env.get("SCITQ_AZURE_PRICES_URL") or PRICES_URL,
        )


class _StaticToken:
    """The credential given to a loopback test double (the bearer policy is replaced: no token leaves)."""

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken
        return AccessToken("loopback", int(time.time()) + 3600)


class AzureProvider:
    """The `azure` provider (see the module docstring). Keyword arguments named like `AzureConfig` fields
    (`prefix`, `regions`, `resource_group`, ...) override the configuration read from the environment;
    `credential` (a TokenCredential), `user_data` (Bootstrap -> cloud-init text) and `client_kwargs` (given to
    the SDK clients) are injectable."""

    name = "azure"

    def __init__(self, config: AzureConfig | None = None, *, credential: Any = None,
                 user_data: Callable[[Bootstrap], str] | None = None, client_kwargs: dict[str, Any] | None = None,
                 **overrides: Any):
        config = config or AzureConfig.from_env()
        unknown = set(overrides) - {f.name for f in fields(AzureConfig)}
        if unknown:
            raise BadInput(f"azure provider: unknown setting(s) {', '.join(sorted(unknown))}")
        if isinstance(overrides.get("regions"), str):
            overrides["regions"] = tuple(overrides["regions"].split())
        self.config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
        self.prefix = self.config.prefix
        self._credential = credential
        self._user_data = user_data
        self._client_kwargs = dict(client_kwargs or {})
        self._clients: tuple[Any, Any, Any] | None = None
        self._networks: dict[str, str] = {}     # region -> subnet id

    # -- clients ---------------------------------------------------------------------------------------------

    def _sdk(self) -> tuple[Any, Any, Any]:
        """(compute, network, resource) clients, made once."""
        if self._clients is None:
            from azure.mgmt.compute import ComputeManagementClient
            from azure.mgmt.network import NetworkManagementClient
            from azure.mgmt.resource.resources import ResourceManagementClient
            cfg = self.config
            if not cfg.subscription_id:
                raise AuthError("azure: AZURE_SUBSCRIPTION_ID is not set", provider="azure")
            kwargs: dict[str, Any] = {"retry_total": cfg.retries, **self._client_kwargs}
            credential = self._credential
            if cfg.arm_url:
                if cfg.arm_url.startswith("http://"):
                    if not _LOOPBACK.match(cfg.arm_url):
                        raise AuthError(f"azure: SCITQ_AZURE_ARM_URL {cfg.arm_url} must be https "
                                            "(plain http is only for a double on loopback)", provider="azure")
                    from azure.core.pipeline.policies import SansIOHTTPPolicy
                    kwargs.setdefault("authentication_policy", SansIOHTTPPolicy())
                    kwargs.setdefault("polling_interval", 0)
                    credential = credential or _StaticToken()
                kwargs["base_url"] = cfg.arm_url.rstrip("/")
            if credential is None:
                from azure.identity import DefaultAzureCredential
                credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
            self._credential = credential
            sub = cfg.subscription_id
            self._clients = (ComputeManagementClient(credential, sub, **kwargs),
                             NetworkManagementClient(credential, sub, **kwargs),
                             ResourceManagementClient(credential, sub, **kwargs))
        return self._clients

    def _call(self, fn: Callable[[], Any], *, region: str = "", flavor: str = "") -> Any:
        try:
            return fn()
        except ProviderError:
            raise
        except Exception as exc:    # every SDK/network error is classified into the provider's kinds
            raise classify(exc, region=region, flavor=flavor) from exc

    # -- what it offers --------------------------------------------------------------------------------------

    def regions(self) -> list[str]:
        return list(self.config.regions)

    def flavors(self, region: str | None = None) -> list[Flavor]:
        out: list[Flavor] = []
        for reg in [region] if region else self.regions():
            compute = self._sdk()[0]
            skus = self._call(lambda: list(compute.resource_skus.list(filter=f"location eq '{reg}'")), region=reg)
            try:
                prices = vm_prices(reg, spot=self.config.spot, currency=self.config.currency,
                                   url=self.config.prices_url)
            except (OSError, ValueError) as exc:
                raise TransientError(f"azure {reg}: retail prices unavailable: {exc}", provider="azure",
                                     region=reg) from exc
            evictions = self._evictions(reg) if self.config.spot else {}
            for sku in skus:
                if text(sku.resource_type) != "virtualMachines" or not keep_size(sku.name):
                    continue
                if is_restricted(sku, reg) or not is_x64(sku) or sku.name not in prices:
                    continue
                eviction = evictions.get(sku.name.lower(), DEFAULT_EVICTION) if self.config.spot else 0.0
                out.append(flavor_from_sku(sku, reg, cost=prices[sku.name], eviction=eviction))
        return out

    def _evictions(self, region: str) -> dict[str, float]:
        """Spot eviction rates of `region` from Resource Graph's SpotResources ({} when unavailable)."""
        from azure.core.rest import HttpRequest
        query = ("SpotResources | where type =~ 'microsoft.compute/skuspotevictionrate/location' "
                 f"| where location =~ '{region}' "
                 "| project skuName=tostring(sku.name), evictionRate=tostring(properties.evictionRate)")
        req = HttpRequest("POST", "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01",
                          json={"subscriptions": [self.config.subscription_id], "query": query})
        try:
            resp = self._sdk()[0].send_request(req)
            resp.raise_for_status()
            rows = resp.json().get("data") or []
            if isinstance(rows, dict):     # the table form: {"columns": [...], "rows": [[...]]}
                cols = [c["name"] for c in rows.get("columns", [])]
                rows = [dict(zip(cols, r)) for r in rows.get("rows", [])]
            return {str(r["skuName"]).lower(): eviction_from_range(str(r["evictionRate"])) for r in rows}
        except Exception as exc:    # eviction rates are a refinement: fall back to the default rate
            log.warning("azure %s: spot eviction rates unavailable (%s), using %s%%", region, exc, DEFAULT_EVICTION)
            return {}

    def quotas(self) -> list[Quota]:
        out = []
        wanted = "lowprioritycores" if self.config.spot else "cores"
        compute = self._sdk()[0]
        for reg in self.regions():
            usages = self._call(lambda: list(compute.usage.list(reg)), region=reg)
            row = next((u for u in usages if str(u.name.value).lower() == wanted), None)
            limit = int(row.limit) if row is not None else None
            used = int(row.current_value) if row is not None else 0
            if reg in self.config.cpu_quotas:
                limit = self.config.cpu_quotas[reg]
            out.append(Quota("azure", reg, limit, used))
        return out

    # -- machines --------------------------------------------------------------------------------------------

    def _group(self, name: str) -> str:
        return self.config.resource_group or name

    def create(self, flavor: str, region: str, boot: Bootstrap, *, timeout: float = 600.0) -> Instance:
        from scitq.cloud import azure_build as build
        name = machine_name(self.prefix, boot.worker)
        group = self._group(name)
        compute, network, resources = self._sdk()
        deadline = time.monotonic() + timeout
        tags = {"scitq": self.prefix, "scitq-worker": boot.worker}
        # the worker watches the metadata service for the Spot eviction of its machine (scitq.worker.eviction)
        boot = dataclasses.replace(boot, env={"SCITQ_EVICTION_WATCH": "azure", **boot.env})
        user_data = base64.b64encode(self._render(boot).encode()).decode()
        existing = self._existing(group, name, region, flavor)
        if existing is not None:      # a retried deploy: the machine is there already
            status = self._wait_running(group, name, region, flavor, deadline)
            return replace(existing, status=status)
        created = False
        try:
            if self.config.resource_group:
                self._ensure_group(group, region)
            else:
                self._call(lambda: resources.resource_groups.create_or_update(
                    group, build.resource_group(region, tags)), region=region, flavor=flavor)
            created = True
            subnet = self._subnet(region)
            ip = self._call(lambda: network.public_ip_addresses.begin_create_or_update(
                group, f"{name}-ip", build.public_ip(region, tags)).result(), region=region, flavor=flavor)
            nic = self._call(lambda: network.network_interfaces.begin_create_or_update(
                group, f"{name}-nic", build.nic(region, tags, subnet, ip.id)).result(), region=region, flavor=flavor)
            password = None if self.config.ssh_public_key else build.random_password()
            vm = build.virtual_machine(self.config, name, flavor, region, tags, nic.id, user_data, password)
            poller = self._call(lambda: compute.virtual_machines.begin_create_or_update(group, name, vm),
                                region=region, flavor=flavor)
            self._call(lambda: poller.result(timeout=max(1.0, deadline - time.monotonic())),
                       region=region, flavor=flavor)
            if not poller.done():
                raise TransientError(f"azure {region}: {name} not provisioned within {timeout:.0f} s",
                                     provider="azure", region=region, flavor=flavor)
            status = self._wait_running(group, name, region, flavor, deadline)
            return Instance(name=name, provider="azure", region=region, flavor=flavor,
                            id=self._vm_id(group, name), status=status, ipv4=ip.ip_address or "")
        except BaseException as exc:
            if created:
                self._remove(name, region, group, quiet=True)
            if isinstance(exc, ProviderError):
                exc.provider, exc.region, exc.flavor = "azure", region, flavor
            raise

    def _existing(self, group: str, name: str, region: str, flavor: str) -> Instance | None:
        """Our VM `name` if it exists and did not fail (a failed one is removed first), else None."""
        compute, network, _ = self._sdk()
        try:
            vm = compute.virtual_machines.get(group, name)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise classify(exc, region=region, flavor=flavor) from exc
        props = vm.properties
        if props is not None and str(props.provisioning_state or "").lower() == "failed":
            self._remove(name, region, group, quiet=False)
            return None
        try:
            ipv4 = network.public_ip_addresses.get(group, f"{name}-ip").ip_address or ""
        except Exception:       # the address is a convenience here
            ipv4 = ""
        size = props.hardware_profile.vm_size if props is not None and props.hardware_profile else flavor
        return Instance(name=name, provider="azure", region=region, flavor=str(size or flavor),
                        id=(props.vm_id if props is not None else None) or vm.id or "", status="building", ipv4=ipv4)

    def _render(self, boot: Bootstrap) -> str:
        if self._user_data is not None:
            return self._user_data(boot)
        from scitq.cloud.bootstrap import cloud_init
        return cloud_init(boot)

    def _subnet(self, region: str) -> str:
        """The id of the shared subnet of `region`, made (with its group and VNet) the first time."""
        if region in self._networks:
            return self._networks[region]
        from scitq.cloud import azure_build as build
        _, network, resources = self._sdk()
        group, vnet = self.config.network_group, f"{self.prefix}-vnet-{region}"
        try:
            found = network.virtual_networks.get(group, vnet)
        except Exception as exc:
            if not is_not_found(exc):
                raise classify(exc, region=region) from exc
            self._ensure_group(group, region)
            found = self._call(lambda: network.virtual_networks.begin_create_or_update(
                group, vnet, build.vnet(region, {"scitq": self.prefix})).result(), region=region)
        subnets = found.properties.subnets if found.properties else None
        if not subnets:
            raise TransientError(f"azure {region}: VNet {vnet} has no subnet", provider="azure", region=region)
        self._networks[region] = subnets[0].id
        return subnets[0].id

    def _ensure_group(self, group: str, region: str) -> None:
        """Create the shared group `group` if it does not exist (an existing one, maybe the user's, is left as is)."""
        from scitq.cloud import azure_build as build
        resources = self._sdk()[2]
        if not self._call(lambda: resources.resource_groups.check_existence(group), region=region):
            self._call(lambda: resources.resource_groups.create_or_update(
                group, build.resource_group(region, {"scitq": self.prefix})), region=region)

    def _wait_running(self, group: str, name: str, region: str, flavor: str, deadline: float) -> str:
        compute = self._sdk()[0]
        while True:
            view = self._call(lambda: compute.virtual_machines.instance_view(group, name), region=region, flavor=flavor)
            status = _status([s.code for s in (view.statuses or [])], spot=self.config.spot)
            if status == "active":
                return status
            if status == "error":
                raise TransientError(f"azure {region}: {name} failed to start", provider="azure", region=region,
                                     flavor=flavor)
            if time.monotonic() > deadline:
                raise TransientError(f"azure {region}: {name} not running in time (status {status})",
                                     provider="azure", region=region, flavor=flavor)
            time.sleep(2.0)

    def _vm_id(self, group: str, name: str) -> str:
        vm = self._call(lambda: self._sdk()[0].virtual_machines.get(group, name))
        return (vm.properties.vm_id if vm.properties else None) or vm.id or ""

    def delete(self, name: str, region: str) -> None:
        self._remove(name, region, self._group(name), quiet=False)

    def _remove(self, name: str, region: str, group: str, *, quiet: bool) -> None:
        """Delete the VM, its disk, NIC and public IP (in that order: Azure refuses to remove what is attached),
        then the group when it is the machine's own. What is already gone is skipped. With `quiet`, failures
        are logged and swallowed (cleaning up after a failed create must not hide why it failed)."""
        compute, network, resources = self._sdk()
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("VM", lambda: compute.virtual_machines.begin_delete(group, name).result()),
            ("disk", lambda: compute.disks.begin_delete(group, f"{name}-osdisk").result()),
            ("NIC", lambda: network.network_interfaces.begin_delete(group, f"{name}-nic").result()),
            ("public IP", lambda: network.public_ip_addresses.begin_delete(group, f"{name}-ip").result()),
        ]
        if not self.config.resource_group:
            steps.append(("resource group", lambda: resources.resource_groups.begin_delete(group).result()))
        for what, step in steps:
            try:
                step()
            except Exception as exc:
                if is_not_found(exc):
                    continue
                err = classify(exc, region=region)
                if not quiet:
                    raise err from exc
                log.warning("azure %s: could not remove the %s of %s: %s", region, what, name, err)

    def list(self) -> list[Instance]:
        compute, network, _ = self._sdk()
        regions = {r.lower().replace(" ", "") for r in self.regions()}
        vms = self._call(lambda: list(compute.virtual_machines.list_all(status_only="true")))
        vms = [vm for vm in vms if vm.name.startswith(f"{self.prefix}-")
               and str(vm.location).lower().replace(" ", "") in regions]
        addresses: dict[str, str] = {}
        if vms:
            try:        # one call for every address; an address is a convenience in a listing
                addresses = {ip.id.lower(): ip.properties.ip_address or "" for ip in
                             network.public_ip_addresses.list_all() if ip.id and ip.properties}
            except Exception as exc:
                log.warning("azure: public addresses not listed: %s", exc)
        out = []
        for vm in vms:
            props = vm.properties
            group = _group_of(vm.id)
            if props is not None and props.instance_view is not None:
                codes = [s.code for s in (props.instance_view.statuses or [])]
            else:
                view = self._call(lambda: compute.virtual_machines.instance_view(group, vm.name))
                codes = [s.code for s in (view.statuses or [])]
            spot = props is not None and text(props.priority).lower() == "spot"
            ip_id = (f"/subscriptions/{self.config.subscription_id}/resourceGroups/{group}"
                     f"/providers/Microsoft.Network/publicIPAddresses/{vm.name}-ip")
            ipv4 = addresses.get(ip_id.lower(), "")
            size = props.hardware_profile.vm_size if props is not None and props.hardware_profile else ""
            out.append(Instance(name=vm.name, provider="azure", region=vm.location, flavor=str(size or ""),
                                id=(props.vm_id if props is not None else None) or vm.id or "",
                                status=_status(codes, spot=spot), ipv4=ipv4))
        return out


def _status(codes: list[str | None], *, spot: bool) -> str:
    """The provider status from an instance view's status codes."""
    low = [str(c).lower() for c in codes if c]
    prov = next((c.split("/", 1)[1] for c in low if c.startswith("provisioningstate/")), "")
    power = next((c.split("/", 1)[1] for c in low if c.startswith("powerstate/")), "")
    if prov == "failed":
        return "error"
    if prov == "deleting":
        return "gone"
    if power == "running":
        return "active"
    if power in ("deallocated", "deallocating"):
        return "evicted" if spot else "stopped"
    if power in ("stopped", "stopping"):
        return "stopped"
    return "building"


def _group_of(resource_id: str | None) -> str:
    m = re.search(r"/resourceGroups/([^/]+)/", resource_id or "", re.IGNORECASE)
    return m.group(1) if m else ""
