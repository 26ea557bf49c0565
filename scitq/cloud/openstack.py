"""Provides the `openstack` provider (OVH conventions) through openstacksdk, priced from OVH's public catalog.

Credentials are OpenStack's own: the `OS_*` variables of an RC file, or an entry of clouds.yaml named by
`SCITQ_OPENSTACK_CLOUD` (or `OS_CLOUD`). Regions come from `SCITQ_OPENSTACK_REGIONS`, v1's `OVH_REGIONS`, the
clouds.yaml entry, or `OS_REGION_NAME`, in that order; CPU quotas from `SCITQ_OPENSTACK_CPUQUOTAS` or v1's
`OVH_CPUQUOTAS` (parallel lists) cap what the cloud's own limits allow. A machine is the image `Ubuntu 22.04`
(`Baremetal - Ubuntu 22.04` for `bm*` flavors) on the network `Ext-Net` with a key pair, its user-data the
cloud-init of its `Bootstrap`. Flavors are priced from OVH's public catalog (`scitq.cloud.ovh`). Errors are
classified as `scitq.cloud.provider` says:

    401, bad or missing credentials           AuthError
    403 "Quota exceeded" (413 on old Novas)   QuotaError
    ERROR with fault "No valid host"          CapacityError      (the server is deleted first)
    unknown flavor, image, network, key       UnsupportedFlavor
    BUILD past the timeout, 5xx, network      TransientError     (a server already made is deleted first)
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from scitq.cloud.provider import (
    AuthError, Bootstrap, CapacityError, Flavor, Instance, InstanceStatus, ProviderError, Quota, QuotaError,
    TransientError, UnsupportedFlavor, machine_name,
)
from scitq.cloud.ovh import (
    OVH_CATALOG_URL, OVH_SUBSIDIARY, OvhPrice, fetch_ovh_prices, flavor_tags, gpu_of, ram_gb, skipped_flavor,
)
from scitq.errors import BadInput

__all__ = [
    "OpenStackConfig", "OpenStackProvider", "DEFAULT_IMAGE", "DEFAULT_METAL_IMAGE", "DEFAULT_NETWORK",
    "DEFAULT_KEYPAIR",
]

log = logging.getLogger(__name__)

DEFAULT_IMAGE = "Ubuntu 22.04"
DEFAULT_METAL_IMAGE = "Baremetal - Ubuntu 22.04"
DEFAULT_NETWORK = "Ext-Net"
DEFAULT_KEYPAIR = "scitq"
DEFAULT_PREFIX = "scitq"
PRICE_TTL = 3600.0                               # seconds a fetched price catalog is reused

_STATUSES: dict[str, InstanceStatus] = {
    "ACTIVE": "active", "BUILD": "building", "REBUILD": "building", "RESIZE": "building",
    "VERIFY_RESIZE": "building", "MIGRATING": "building", "HARD_REBOOT": "building", "REBOOT": "building",
    "ERROR": "error", "SHUTOFF": "stopped", "STOPPED": "stopped", "SUSPENDED": "stopped", "PAUSED": "stopped",
    "SHELVED": "stopped", "SHELVED_OFFLOADED": "stopped", "DELETED": "gone", "SOFT_DELETED": "gone",
}


def _words(value: str | None) -> list[str]:
    return [w for w in re.split(r"[\s,]+", value or "") if w]


@dataclass(frozen=True)
class OpenStackConfig:
    """How the provider reaches the cloud and what machines it makes (every field has an env variable)."""
    cloud: str | None = None             # SCITQ_OPENSTACK_CLOUD (else OS_CLOUD, else the OS_* variables)
    regions: tuple[str, ...] = ()        # SCITQ_OPENSTACK_REGIONS, OVH_REGIONS, clouds.yaml, OS_REGION_NAME
    cpu_quotas: dict[str, int] = field(default_factory=dict)   # SCITQ_OPENSTACK_CPUQUOTAS, OVH_CPUQUOTAS
    image: str = DEFAULT_IMAGE           # SCITQ_OPENSTACK_IMAGE
    metal_image: str = DEFAULT_METAL_IMAGE   # SCITQ_OPENSTACK_METAL_IMAGE, for flavors `bm*`
    gpu_image: str = ""                  # SCITQ_OPENSTACK_GPU_IMAGE, for GPU flavors (default: `image`)
    network: str = DEFAULT_NETWORK       # SCITQ_OPENSTACK_NETWORK
    keypair: str = DEFAULT_KEYPAIR       # SCITQ_OPENSTACK_KEYPAIR ("" for none)
    prefix: str = DEFAULT_PREFIX         # SCITQ_CLOUD_PREFIX: machine names are <prefix>-<worker>
    price_url: str = OVH_CATALOG_URL     # SCITQ_OVH_PRICE_URL ("" or "none": no prices, every cost 0)
    subsidiary: str = OVH_SUBSIDIARY     # SCITQ_OVH_SUBSIDIARY: OVH's price list (and currency) to use
    poll_interval: float = 5.0           # SCITQ_OPENSTACK_POLL: seconds between two looks at a building server
    api_timeout: float = 60.0            # SCITQ_OPENSTACK_API_TIMEOUT: seconds one API call may take

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "OpenStackConfig":
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, key in (("cloud", "SCITQ_OPENSTACK_CLOUD"), ("image", "SCITQ_OPENSTACK_IMAGE"),
                          ("metal_image", "SCITQ_OPENSTACK_METAL_IMAGE"), ("gpu_image", "SCITQ_OPENSTACK_GPU_IMAGE"),
                          ("network", "SCITQ_OPENSTACK_NETWORK"), ("prefix", "SCITQ_CLOUD_PREFIX"),
                          ("subsidiary", "SCITQ_OVH_SUBSIDIARY")):
            if env.get(key):
                values[name] = env[key]
        for name, key in (("keypair", "SCITQ_OPENSTACK_KEYPAIR"), ("price_url", "SCITQ_OVH_PRICE_URL")):
            if key in env:
                values[name] = "" if env[key].lower() in ("", "none") else env[key]
        for name, key in (("poll_interval", "SCITQ_OPENSTACK_POLL"), ("api_timeout", "SCITQ_OPENSTACK_API_TIMEOUT")):
            if env.get(key):
                try:
                    values[name] = float(env[key])
                except ValueError:
                    raise BadInput(f"{key} must be a number of seconds, not {env[key]!r}") from None
        if "prefix" in values and not re.fullmatch(r"[a-z][a-z0-9-]*", values["prefix"]):
            raise BadInput(f"SCITQ_CLOUD_PREFIX must be lowercase letters, digits and '-', starting with a letter, "
                           f"not {values['prefix']!r}")
        regions_key = next((k for k in ("SCITQ_OPENSTACK_REGIONS", "OVH_REGIONS") if env.get(k)), None)
        regions = _words(env.get(regions_key)) if regions_key else []
        quotas_key = next((k for k in ("SCITQ_OPENSTACK_CPUQUOTAS", "OVH_CPUQUOTAS") if env.get(k)), None)
        if quotas_key:
            quotas = _words(env[quotas_key])
            if len(quotas) != len(regions):
                raise BadInput(f"{quotas_key} has {len(quotas)} value(s) for {len(regions)} region(s)"
                               f"{' in ' + regions_key if regions_key else ''}: the two lists go in parallel")
            try:
                values["cpu_quotas"] = {r: int(q) for r, q in zip(regions, quotas)}
            except ValueError:
                raise BadInput(f"{quotas_key} must list whole numbers of CPUs, not {env[quotas_key]!r}") from None
        if regions:
            values["regions"] = tuple(regions)
        return cls(**values)

    def image_for(self, flavor: str) -> str:
        if flavor.startswith("bm"):
            return self.metal_image
        if gpu_of(flavor) and self.gpu_image:
            return self.gpu_image
        return self.image


# ---- the provider

def _default_user_data(boot: Bootstrap) -> str:
    from scitq.cloud import bootstrap    # lazily: the cloud-init renderer lives with the other providers
    return bootstrap.cloud_init(boot)


class OpenStackProvider:
    """OpenStack (OVH conventions) through openstacksdk. One connection per region, made on first use."""

    name = "openstack"

    def __init__(self, config: OpenStackConfig | None = None, *,
                 user_data: Callable[[Bootstrap], str] | str | None = None,
                 prices: Callable[[], dict[str, OvhPrice]] | None = None, **settings: Any) -> None:
        """`config` (default: from the environment), with any of its fields overridden by keyword (as
        `scitq.cloud.get_provider("openstack", regions=["GRA11"])` does); `user_data` renders a Bootstrap
        (default `scitq.cloud.bootstrap.cloud_init`); `prices` replaces the fetch of OVH's price catalog."""
        config = config if config is not None else OpenStackConfig.from_env()
        unknown = set(settings) - {f.name for f in dataclasses.fields(OpenStackConfig)}
        if unknown:
            raise BadInput(f"unknown openstack provider setting(s): {', '.join(sorted(unknown))}")
        if "regions" in settings:
            settings["regions"] = tuple(_words(settings["regions"]) if isinstance(settings["regions"], str)
                                        else settings["regions"])
        self.config = dataclasses.replace(config, **settings)
        self.prefix = self.config.prefix
        self._user_data = user_data
        self._prices_source = prices
        self._prices: tuple[float, dict[str, OvhPrice]] | None = None
        self._conns: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **kwargs: Any) -> "OpenStackProvider":
        return cls(OpenStackConfig.from_env(environ), **kwargs)

    # ---- Provider protocol
    def regions(self) -> list[str]:
        if self.config.regions:
            return list(self.config.regions)
        if self.config.cloud or os.environ.get("OS_CLOUD"):
            found = self._clouds_yaml_regions()
            if found:
                return found
        region = os.environ.get("OS_REGION_NAME")
        return [region] if region else []

    def flavors(self, region: str | None = None) -> list[Flavor]:
        regions = [region] if region else self._configured_regions()
        prices = self._price_list()
        out: list[Flavor] = []
        for r in regions:
            with self._errors(r):
                listed = list(self._conn(r).compute.flavors(details=True))
            for f in listed:
                name = str(f.name)
                if skipped_flavor(name) or getattr(f, "is_disabled", False):
                    continue
                price = prices.get(name) if prices is not None else OvhPrice(cost=0.0)
                if price is None:
                    log.warning("openstack: flavor %s has no hourly price in OVH's catalog: left out", name)
                    continue
                gpu = gpu_of(name)
                out.append(Flavor(
                    name=name, provider=self.name, region=r, cpu=int(f.vcpus or 0), ram=ram_gb(f.ram or 0),
                    disk=float(f.disk or 0), gpu=price.gpu or (gpu[0] if gpu else ""),
                    gpumem=price.gpumem or (gpu[1] if gpu else 0.0), tags=flavor_tags(name, price.nvme),
                    cost=price.cost, eviction=0.0, bandwidth=price.bandwidth))
        return out

    def quotas(self) -> list[Quota]:
        out = []
        for r in self._configured_regions():
            with self._errors(r):
                limits = self._conn(r).compute.get_limits().absolute
            limit = limits.total_cores
            limit = None if limit is None or int(limit) < 0 else int(limit)
            mine = self.config.cpu_quotas.get(r)
            if mine is not None:
                limit = mine if limit is None else min(limit, mine)
            out.append(Quota(provider=self.name, region=r, cpu_limit=limit,
                             cpu_used=int(limits.total_cores_used or 0)))
        return out

    def create(self, flavor: str, region: str, boot: Bootstrap, *, timeout: float = 600.0) -> Instance:
        name = machine_name(self.prefix, boot.worker)
        user_data = self._render(boot)
        with self._errors(region, flavor):
            conn = self._conn(region)
            flavor_id = self._flavor_id(conn, flavor, region)
            image_id = self._find_one(conn.image.images(name=self.config.image_for(flavor)), "image",
                                      self.config.image_for(flavor), region, flavor)
            network_id = self._find_one(conn.network.networks(name=self.config.network), "network",
                                        self.config.network, region, flavor)
            for stale in self._named(conn, name):      # an earlier attempt for this worker: never two machines
                log.info("openstack: deleting %s (%s), left by an earlier attempt", name, stale.id)
                conn.compute.delete_server(stale.id, ignore_missing=True)
            try:
                server = conn.compute.create_server(
                    name=name, flavor_id=flavor_id, image_id=image_id, networks=[{"uuid": network_id}],
                    key_name=self.config.keypair or None,
                    user_data=base64.b64encode(user_data.encode()).decode("ascii"),
                    metadata={"scitq-worker": boot.worker, "scitq-flavor": flavor})
            except Exception as exc:
                # the answer may be lost while the server was made: look for it by name and remove it
                if _status(exc) is None or _status(exc) >= 500:
                    self._remove_named(conn, name)
                raise
            return self._wait_active(conn, server.id, name, flavor, region, timeout)

    def delete(self, name: str, region: str) -> None:
        with self._errors(region):
            conn = self._conn(region)
            for server in self._named(conn, name):
                conn.compute.delete_server(server.id, ignore_missing=True)

    def list(self) -> list[Instance]:
        out = []
        for r in self.regions():
            with self._errors(r):
                servers = list(self._conn(r).compute.servers(details=True, name=f"^{self.prefix}-"))
            for s in servers:
                if str(s.name).startswith(f"{self.prefix}-") and not _deleting(s):
                    out.append(self._instance(s, r))
        return out

    # ---- helpers
    def _configured_regions(self) -> list[str]:
        regions = self.regions()
        if not regions:
            raise BadInput("no OpenStack region is configured: set SCITQ_OPENSTACK_REGIONS (or v1's OVH_REGIONS), "
                           "OS_REGION_NAME, or the regions of the clouds.yaml entry")
        return regions

    def _render(self, boot: Bootstrap) -> str:
        source = self._user_data
        if source is None:
            return _default_user_data(boot)
        return source if isinstance(source, str) else source(boot)

    def _conn(self, region: str) -> Any:
        with self._lock:
            conn = self._conns.get(region)
            if conn is None:
                conn = self._conns[region] = self._connect(region)
            return conn

    def _connect(self, region: str) -> Any:
        import openstack.config
        import openstack.connection
        import openstack.exceptions as osx
        cloud = self.config.cloud or None
        loader = openstack.config.OpenStackConfig()
        try:
            try:
                config = loader.get_one(cloud=cloud, region_name=region, api_timeout=self.config.api_timeout)
            except osx.ConfigException as exc:
                # an RC file names one region (OS_REGION_NAME); the regions configured for scitq may be others
                if "not a valid region name" not in str(exc) or cloud or os.environ.get("OS_CLOUD"):
                    raise
                config = loader.get_one(cloud=cloud, api_timeout=self.config.api_timeout)
                config.config["region_name"] = region
            return openstack.connection.Connection(config=config)
        except osx.ConfigException as exc:
            if "not a valid region name" in str(exc):
                raise UnsupportedFlavor(f"OpenStack region {region} is not one of cloud {cloud}'s regions in "
                                        f"clouds.yaml", provider=self.name, region=region) from None
            raise AuthError(f"OpenStack credentials are missing or unusable ({_short(exc)}): set the OS_* "
                            f"variables of an RC file, or SCITQ_OPENSTACK_CLOUD to a clouds.yaml entry",
                            provider=self.name, region=region) from None

    def _clouds_yaml_regions(self) -> list[str]:
        import openstack.config
        cloud = self.config.cloud or os.environ.get("OS_CLOUD")
        try:
            found = [c.region_name for c in openstack.config.OpenStackConfig().get_all() if c.name == cloud]
        except Exception as exc:
            log.warning("openstack: cannot read clouds.yaml: %s", _short(exc))
            return []
        return [r for r in dict.fromkeys(found) if r]

    def _price_list(self) -> dict[str, OvhPrice] | None:
        """Prices by flavor (cached PRICE_TTL seconds), or None when prices are turned off."""
        if self._prices_source is None and not self.config.price_url:
            return None
        now = time.monotonic()
        if self._prices is None or now - self._prices[0] > PRICE_TTL:
            source = self._prices_source or (lambda: fetch_ovh_prices(self.config.price_url, self.config.subsidiary))
            self._prices = (now, source())
        return self._prices[1]

    def _flavor_id(self, conn: Any, flavor: str, region: str) -> str:
        for f in conn.compute.flavors(details=True):
            if f.name == flavor and not getattr(f, "is_disabled", False):
                return str(f.id)
        raise UnsupportedFlavor(f"flavor {flavor} is not offered in OpenStack region {region}",
                                provider=self.name, region=region, flavor=flavor)

    def _find_one(self, found: Iterator[Any], what: str, name: str, region: str, flavor: str) -> str:
        named = [item for item in found if item.name == name]
        named.sort(key=lambda item: str(getattr(item, "status", "") or "").lower() not in ("active", ""))
        if named:
            return str(named[0].id)     # an active one first (a cloud may keep deactivated images of a name)
        raise UnsupportedFlavor(f"{what} {name!r} does not exist in OpenStack region {region}",
                                provider=self.name, region=region, flavor=flavor)

    def _named(self, conn: Any, name: str) -> list[Any]:
        """Servers called exactly `name` (Nova filters names by regular expression)."""
        pattern = "^" + re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", name) + "$"
        return [s for s in conn.compute.servers(details=True, name=pattern) if s.name == name]

    def _remove_named(self, conn: Any, name: str) -> None:
        try:
            for s in self._named(conn, name):
                log.info("openstack: deleting %s (%s), made by a failed create", name, s.id)
                conn.compute.delete_server(s.id, ignore_missing=True)
        except Exception as exc:   # the original error matters more; orphan cleaning will retry
            log.warning("openstack: could not clean up %s after a failed create: %s", name, _short(exc))

    def _remove(self, conn: Any, server_id: str, name: str) -> None:
        try:
            conn.compute.delete_server(server_id, ignore_missing=True)
        except Exception as exc:
            log.warning("openstack: could not delete %s (%s): %s", name, server_id, _short(exc))
            self._remove_named(conn, name)

    def _wait_active(self, conn: Any, server_id: str, name: str, flavor: str, region: str,
                     timeout: float) -> Instance:
        import openstack.exceptions as osx
        deadline = time.monotonic() + timeout
        status, problem = "BUILD", ""
        while True:
            try:
                server = conn.compute.get_server(server_id)
                status, problem = str(server.status or "").upper(), ""
            except osx.NotFoundException:
                raise TransientError(f"{name} vanished while it was being built in {region}",
                                     provider=self.name, region=region, flavor=flavor) from None
            except Exception as exc:
                if _status(exc) in (401, 403):
                    self._remove(conn, server_id, name)
                    raise
                problem = _short(exc)      # a passing fault while polling: look again until the deadline
                server = None
            if server is not None and status == "ACTIVE":
                return self._instance(server, region, flavor)
            if server is not None and status == "ERROR":
                fault = server.fault or {}
                message = str(fault.get("message") or "no fault given") if isinstance(fault, dict) else str(fault)
                self._remove(conn, server_id, name)
                error = CapacityError if "no valid host" in message.lower() else TransientError
                raise error(f"{name} ({flavor}) failed to build in {region}: {message}",
                            provider=self.name, region=region, flavor=flavor)
            if time.monotonic() >= deadline:
                self._remove(conn, server_id, name)
                why = f"still {status}" + (f" ({problem})" if problem else "")
                raise TransientError(f"{name} ({flavor}) not running after {timeout:g} s in {region}: {why}; "
                                     f"deleted", provider=self.name, region=region, flavor=flavor)
            time.sleep(max(0.0, min(self.config.poll_interval, deadline - time.monotonic())))

    def _instance(self, server: Any, region: str, flavor: str | None = None) -> Instance:
        metadata = server.metadata or {}
        if flavor is None:
            flavor = metadata.get("scitq-flavor") or getattr(server.flavor, "name", None) or ""
        return Instance(name=str(server.name), provider=self.name, region=region, flavor=str(flavor),
                        id=str(server.id), status=_STATUSES.get(str(server.status or "").upper(), "building"),
                        ipv4=_ipv4(server, self.config.network))

    @contextmanager
    def _errors(self, region: str, flavor: str = "") -> Iterator[None]:
        """Translate openstacksdk and keystoneauth exceptions into classified ProviderErrors."""
        try:
            yield
        except ProviderError:
            raise
        except Exception as exc:
            raise _classify(exc, self.name, region, flavor) from exc


def _deleting(server: Any) -> bool:
    """Nova lists a deleted server for a while (task_state `deleting`): it is gone for us."""
    return (str(getattr(server, "task_state", "") or "").lower() == "deleting"
            or str(server.status or "").upper() in ("DELETED", "SOFT_DELETED"))


def _ipv4(server: Any, network: str) -> str:
    addresses = server.addresses or {}
    nets = [network] + [n for n in addresses if n != network]
    for net in nets:
        for a in addresses.get(net) or []:
            if isinstance(a, dict) and a.get("version") == 4 and a.get("addr"):
                return str(a["addr"])
    return str(getattr(server, "access_ipv4", "") or "")


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "http_status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def _short(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    text = str(details) if details else str(exc)
    return " ".join(text.split())[:300] or type(exc).__name__


def _classify(exc: BaseException, provider: str, region: str, flavor: str) -> ProviderError:
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as osx
    status = _status(exc)
    text = _short(exc)
    where = f"OpenStack {region}" if region else "OpenStack"
    kw = {"provider": provider, "region": region, "flavor": flavor}
    if status is None and isinstance(exc, (ksa.MissingRequiredOptions, ksa.AuthPluginException)):
        return AuthError(f"OpenStack credentials are missing ({text}): set the OS_* variables of an RC file, or "
                         f"SCITQ_OPENSTACK_CLOUD to a clouds.yaml entry", **kw)
    if status == 401 or isinstance(exc, ksa.Unauthorized):
        return AuthError(f"{where} refused the credentials: {text}", **kw)
    if isinstance(exc, (ksa.EndpointNotFound, osx.ServiceDisabledException)):
        return UnsupportedFlavor(f"{where}: this cloud offers no compute service in region {region or '(none)'} "
                                 f"({text})", **kw)
    if status in (403, 413) and "quota" in text.lower():
        return QuotaError(f"{where} quota exceeded: {text}", **kw)
    if status == 403:
        return AuthError(f"{where} forbids it: {text}", **kw)
    if status in (400, 404, 409) and "flavor" in text.lower():
        return UnsupportedFlavor(f"{where} refuses flavor {flavor}: {text}", **kw)
    if status is not None and 400 <= status < 500 and status not in (408, 429):
        return UnsupportedFlavor(f"{where} refused the request for {flavor or 'a machine'}: {text}", **kw)
    return TransientError(f"{where} failed: {text}", **kw)
