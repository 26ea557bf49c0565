"""Provides the one `Provider` protocol every cloud adapter implements, its value types and its errors.

A provider creates and deletes worker machines and describes what it can offer. It knows nothing of the
ledger: deploy and destroy jobs (`scitq.cloud.jobs`) call it and record what happened. Every call may raise a
`ProviderError`; its `kind` says whether trying again can help:

    auth                bad or expired credentials            not retried
    unsupported_flavor  flavor unknown or refused in region   not retried; blacklisted for that region
    quota               the account's quota is used up        retried later (another region may be picked)
    capacity            no host / SKU not available now       retried later (another region may be picked)
    transient           network, 5xx, timeouts, BUILD stuck   retried

Machines are named `<prefix>-<worker name>`; `list()` returns only the machines carrying the provider's prefix,
so machines that are not ours are never touched (orphan cleaning destroys ours that have no live worker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "Flavor", "Instance", "Quota", "Bootstrap", "Provider",
    "ProviderError", "AuthError", "QuotaError", "CapacityError", "UnsupportedFlavor", "TransientError",
    "ErrorKind", "machine_name",
]

ErrorKind = Literal["auth", "quota", "capacity", "unsupported_flavor", "transient"]
InstanceStatus = Literal["building", "active", "error", "stopped", "evicted", "gone"]


@dataclass(frozen=True)
class Flavor:
    """One machine size offered in one region, as the flavor catalog stores it (v1's flavor + flavormetrics).

    `ram` and `disk` are GB, `gpumem` GB, `cost` per hour in the provider's currency, `eviction` the % chance
    per hour that a spot machine is taken back (0 for on-demand). `tags` is a subset of "GMN": G GPU, M metal,
    N NVMe."""
    name: str
    provider: str
    region: str
    cpu: int
    ram: float
    disk: float = 0.0
    gpu: str = ""
    gpumem: float = 0.0
    tags: str = ""
    cost: float = 0.0
    eviction: float = 0.0
    bandwidth: float = 0.0


@dataclass(frozen=True)
class Instance:
    """A machine a provider runs for us."""
    name: str                   # machine name, `<prefix>-<worker name>`
    provider: str
    region: str
    flavor: str
    id: str = ""                # the provider's own id (server uuid, VM id, pid, container id)
    status: InstanceStatus = "active"
    ipv4: str = ""


@dataclass(frozen=True)
class Quota:
    """CPUs a region allows and uses (None: no quota known, as v1's `available` null)."""
    provider: str
    region: str
    cpu_limit: int | None
    cpu_used: int = 0

    @property
    def cpu_free(self) -> int | None:
        return None if self.cpu_limit is None else max(0, self.cpu_limit - self.cpu_used)


@dataclass(frozen=True)
class Bootstrap:
    """What a new machine needs to become a scitq worker.

    `server_url` carries the worker's own credential (a `worker-<name>` user made for this machine and revoked
    when it is destroyed): never the admin's. Cloud providers render it as cloud-init user-data
    (`scitq.cloud.bootstrap.cloud_init`); `local` and `docker` start `scitq worker` with the same arguments."""
    worker: str                 # the worker's name (the machine is `<prefix>-<worker>`)
    server_url: str
    concurrency: int = 1
    prefetch: int = 0
    batch: str | None = None
    flavor: str = "local"
    provider: str = ""
    region: str = ""
    version: str = ""           # scitq version to install (the server's)
    rclone_conf: str = ""       # rclone configuration to write on the machine
    ca_file: str = ""           # contents of the CA certificate for rediss:// URLs, if any
    env: dict[str, str] = field(default_factory=dict)


def machine_name(prefix: str, worker: str) -> str:
    return f"{prefix}-{worker}"


class ProviderError(Exception):
    """A provider call failed; `kind` classifies it (see the module docstring)."""
    kind: ErrorKind = "transient"

    def __init__(self, message: str, *, provider: str = "", region: str = "", flavor: str = ""):
        super().__init__(message)
        self.provider, self.region, self.flavor = provider, region, flavor

    @property
    def retryable(self) -> bool:
        return self.kind not in ("auth", "unsupported_flavor")


class AuthError(ProviderError):
    kind: ErrorKind = "auth"


class QuotaError(ProviderError):
    kind: ErrorKind = "quota"


class CapacityError(ProviderError):
    kind: ErrorKind = "capacity"


class UnsupportedFlavor(ProviderError):
    kind: ErrorKind = "unsupported_flavor"


class TransientError(ProviderError):
    kind: ErrorKind = "transient"


@runtime_checkable
class Provider(Protocol):
    """One cloud (or this machine). Implementations: `local`, `docker`, `openstack`, `azure`."""

    name: str           # "local", "docker", "openstack", "azure"
    prefix: str         # machine name prefix: only machines carrying it are ours

    def regions(self) -> list[str]:
        """Regions this provider is configured for."""
        ...

    def flavors(self, region: str | None = None) -> list[Flavor]:
        """Flavors offered (in `region`, or in every configured region), with prices where known."""
        ...

    def quotas(self) -> list[Quota]:
        """CPU quota and use per configured region."""
        ...

    def create(self, flavor: str, region: str, boot: Bootstrap, *, timeout: float = 600.0) -> Instance:
        """Start a machine named `machine_name(prefix, boot.worker)` and wait until it runs (status `active`).
        On failure after the machine was partly created, what was created is removed before raising."""
        ...

    def delete(self, name: str, region: str) -> None:
        """Remove the machine `name` and everything created with it; a machine already gone counts as deleted."""
        ...

    def list(self) -> list[Instance]:
        """Our machines (those carrying `prefix`), in every configured region."""
        ...
