"""Provides cloud providers (local, docker, OpenStack/OVH, Azure) by name: `get_provider(name, **config)`.

Each provider lives in its own module, imported only when asked for (the cloud SDKs are heavy):

    local       scitq.cloud.local:LocalProvider           real `scitq worker` processes on this machine
    docker      scitq.cloud.docker:DockerProvider         the same in containers on a Docker engine
    openstack   scitq.cloud.openstack:OpenStackProvider   OpenStack through openstacksdk (alias: ovh)
    azure       scitq.cloud.azure:AzureProvider           Azure through azure-identity and azure-mgmt-compute

`config` goes to the provider's constructor as keyword arguments; what is not given comes from the settings
(`SCITQ_*` environment, see `scitq.settings`) and the provider's own environment (`OS_*`, `AZURE_*`).
"""

from __future__ import annotations

import importlib
from typing import Any

from scitq.cloud.provider import (AuthError, Bootstrap, CapacityError, Flavor, Instance, Provider, ProviderError,
                                  Quota, QuotaError, TransientError, UnsupportedFlavor, machine_name)
from scitq.errors import BadInput

__all__ = [
    "get_provider", "provider_names", "canonical_name", "PROVIDERS", "ALIASES",
    "Flavor", "Instance", "Quota", "Bootstrap", "Provider", "ProviderError", "AuthError", "QuotaError",
    "CapacityError", "UnsupportedFlavor", "TransientError", "machine_name",
]

PROVIDERS: dict[str, str] = {
    "local": "scitq.cloud.local:LocalProvider",
    "docker": "scitq.cloud.docker:DockerProvider",
    "openstack": "scitq.cloud.openstack:OpenStackProvider",
    "azure": "scitq.cloud.azure:AzureProvider",
}
ALIASES: dict[str, str] = {"ovh": "openstack"}


def provider_names() -> list[str]:
    """Every name `get_provider` accepts, aliases included."""
    return sorted([*PROVIDERS, *ALIASES])


def canonical_name(name: str) -> str:
    """The provider's own name for `name` (an alias such as `ovh` gives `openstack`); BadInput if unknown."""
    key = (name or "").strip().lower()
    key = ALIASES.get(key, key)
    if key not in PROVIDERS:
        raise BadInput(f"unknown provider {name!r}: one of {', '.join(provider_names())}")
    return key


def get_provider(name: str, **config: Any) -> Provider:
    """The provider called `name` (see the module docstring), built with `config`."""
    key = canonical_name(name)
    module_name, _, class_name = PROVIDERS[key].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BadInput(f"provider {name!r} cannot be loaded: {exc}",
                       hint="install the SDK it names") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise BadInput(f"provider {name!r} is not available in this version of scitq ({module_name} has no "
                       f"{class_name})")
    return cls(**config)
