"""Provides OVH Public Cloud's conventions: what its flavor names tell (GPU, metal, NVMe), how it counts RAM, and
its public price catalog (`https://api.ovh.com/1.0/order/catalog/public/cloud?ovhSubsidiary=FR`).

The catalog's shape, as public uses of this API show it (OVH does not formally document it): each instance
flavor is an addon whose `planCode` is `<flavor>.consumption`; its pricing with `intervalUnit` "hour" and
capacity "consumption" gives the price in 1e-8 of the subsidiary's currency (`locale.currencyCode`);
`blobs.technical`, when present, describes storage disks (`technology`), GPUs (`model`, `number`,
`memory.size`) and bandwidth (`level`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from scitq.cloud.provider import TransientError

__all__ = ["OvhPrice", "parse_ovh_catalog", "fetch_ovh_prices", "gpu_of", "flavor_tags", "ram_gb", "skipped_flavor",
           "OVH_CATALOG_URL", "OVH_SUBSIDIARY", "OVH_GPUS", "NVME_FAMILIES"]

OVH_CATALOG_URL = "https://api.ovh.com/1.0"
OVH_SUBSIDIARY = "FR"

# OVH GPU flavor families: name prefix -> (GPU model, memory per GPU in GB)
OVH_GPUS: dict[str, tuple[str, float]] = {
    "t1": ("Tesla V100", 16), "t2": ("Tesla V100S", 32), "l4": ("L4", 24), "l40s": ("L40S", 48),
    "a10": ("A10", 24), "a100": ("A100", 80), "h100": ("H100", 80), "h200": ("H200", 141),
    "rtx5000": ("Quadro RTX 5000", 16),
}
NVME_FAMILIES = ("i1",)                          # OVH families with local NVMe disks (when the catalog says nothing)


def gpu_of(flavor: str) -> tuple[str, float] | None:
    """(GPU model, memory per GPU) of an OVH GPU flavor name such as `t1-45` or `l4-90`, else None."""
    family = flavor.split("-", 1)[0]
    return OVH_GPUS.get(family) if "-" in flavor else None


def flavor_tags(flavor: str, nvme: bool = False) -> str:
    """v1's tags: G for GPU flavors, M for metal (`bm*`), N for local NVMe."""
    tags = ""
    if gpu_of(flavor):
        tags += "G"
    if flavor.startswith("bm"):
        tags += "M"
    if nvme or flavor.split("-", 1)[0] in NVME_FAMILIES:
        tags += "N"
    return tags


def ram_gb(ram_mb: int | float) -> float:
    """Nova's RAM (MB) in GB. OVH sizes RAM in thousands of MB (b2-7 has 7000 MB, sold as 7 GB); a RAM that is
    a multiple of 1024 MB (2048, 4096: other clouds) is read in binary units."""
    ram_mb = float(ram_mb or 0)
    if ram_mb and ram_mb % 1024 == 0:
        return round(ram_mb / 1024, 2)
    return round(ram_mb / 1000, 2)


def skipped_flavor(flavor: str) -> bool:
    """v1's updater skips Windows and flex flavors."""
    return flavor.startswith("win-") or flavor.endswith("-flex")


# ---- prices: OVH's public catalog

@dataclass(frozen=True)
class OvhPrice:
    """One flavor's hourly price and what the catalog says of its hardware."""
    cost: float
    nvme: bool = False
    gpu: str = ""
    gpumem: float = 0.0
    bandwidth: float = 0.0


def parse_ovh_catalog(doc: dict[str, Any]) -> dict[str, OvhPrice]:
    """Hourly prices by flavor name from OVH's public cloud catalog (`/order/catalog/public/cloud`).

    Each instance flavor is an addon whose `planCode` is `<flavor>.consumption`; its pricing with
    `intervalUnit` "hour" and capacity "consumption" gives the price in 1e-8 of the currency
    (`locale.currencyCode`). `blobs.technical` (storage disks' technology, gpu model/number/memory,
    bandwidth level), when present, tells NVMe, GPU and bandwidth. Addons without an hourly price, and
    prices of 0, are left out."""
    prices: dict[str, OvhPrice] = {}
    for addon in doc.get("addons") or []:
        code = str(addon.get("planCode") or "")
        if not code.endswith(".consumption"):
            continue
        name = code[: -len(".consumption")]
        if not name or "." in name:
            continue
        hourly = [p for p in addon.get("pricings") or []
                  if p.get("intervalUnit") == "hour" and "consumption" in (p.get("capacities") or [])]
        if not hourly:
            continue
        cost = float(hourly[0].get("price") or 0) / 1e8
        if cost <= 0:
            continue
        tech = ((addon.get("blobs") or {}).get("technical") or {})
        disks = ((tech.get("storage") or {}).get("disks") or [])
        nvme = any("nvme" in str(d.get("technology", "")).lower() for d in disks if isinstance(d, dict))
        gpu = tech.get("gpu") or {}
        number = float(gpu.get("number") or 1)
        gpumem = float(((gpu.get("memory") or {}).get("size") or 0)) * number
        bandwidth = float((tech.get("bandwidth") or {}).get("level") or 0)
        prices[name] = OvhPrice(cost=round(cost, 6), nvme=nvme, gpu=str(gpu.get("model") or ""), gpumem=gpumem,
                                bandwidth=bandwidth)
    return prices


def fetch_ovh_prices(base_url: str = OVH_CATALOG_URL, subsidiary: str = OVH_SUBSIDIARY, *,
                     timeout: float = 30.0) -> dict[str, OvhPrice]:
    """GET `<base_url>/order/catalog/public/cloud?ovhSubsidiary=<subsidiary>` and parse it; TransientError when
    the catalog cannot be read."""
    url = f"{base_url.rstrip('/')}/order/catalog/public/cloud?" + urllib.parse.urlencode(
        {"ovhSubsidiary": subsidiary})
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            doc = json.load(answer)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TransientError(f"OVH price catalog {url} cannot be read: {exc}", provider="openstack") from None
    if not isinstance(doc, dict):
        raise TransientError(f"OVH price catalog {url} is not a catalog (a JSON object)", provider="openstack")
    return parse_ovh_catalog(doc)
