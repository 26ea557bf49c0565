"""Provides the pure pieces of the `azure` provider's flavor catalog: v1's size filter, a `Flavor` from a resource
SKU, eviction rate ranges, and SKU restrictions."""

from __future__ import annotations

import re
from typing import Any

from scitq.cloud.provider import Flavor

__all__ = ["DEFAULT_EVICTION", "keep_size", "flavor_from_sku", "eviction_from_range", "is_restricted", "is_x64", "text"]

DEFAULT_EVICTION = 5.0          # % per hour when Azure publishes no rate for a size (v1's fallback)


def text(value: Any) -> str:
    """An SDK enum (or a plain string) as its string value."""
    return str(getattr(value, "value", value) or "")


def keep_size(name: str) -> bool:
    """v1's catalog filter: `Standard_*` sizes with premium storage (`s`) and not ARM (`p`)."""
    m = re.match(r"^Standard_[A-Z]+\d+(?:-\d+)?([a-z]*)(?:_|$)", name)
    return bool(m) and "s" in m.group(1) and "p" not in m.group(1)


_GPU_MEM = {"T4": 16, "A10": 24, "A100": 80, "H100": 94, "V100": 16, "P100": 16, "P40": 24, "K80": 12, "M60": 8}


def flavor_from_sku(sku: Any, region: str, *, cost: float = 0.0, eviction: float = 0.0) -> Flavor:
    """A `Flavor` from a resource SKU: RAM and disk in GB, disk at least 30 (v1), tag G for the N families."""
    caps = {c.name: c.value for c in (sku.capabilities or [])}
    name = sku.name
    gpus = int(float(caps.get("GPUs", 0) or 0))
    family = re.match(r"^Standard_([A-Z]+)", name)
    is_gpu = gpus > 0 or bool(family and family.group(1).startswith("N"))
    gpu = next((p for p in name.split("_")[1:] if p.upper() in _GPU_MEM), "") if is_gpu else ""
    return Flavor(
        name=name, provider="azure", region=region,
        cpu=int(float(caps.get("vCPUs", 0) or 0)),
        ram=float(caps.get("MemoryGB", 0) or 0),
        disk=max(30.0, float(caps.get("MaxResourceVolumeMB", 0) or 0) / 1024),
        gpu=f"{gpus}x{gpu}" if gpu and gpus > 1 else gpu,
        gpumem=float(_GPU_MEM.get(gpu.upper(), 0) * max(gpus, 1)) if gpu else 0.0,
        tags="G" if is_gpu else "",
        cost=cost, eviction=eviction)


def eviction_from_range(rate: str) -> float:
    """Azure's eviction rate ranges ("0-5", "10-15", "20+") as their upper bound in % per hour ("20+" → 25)."""
    numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", rate or "")]
    if not numbers:
        return DEFAULT_EVICTION
    return numbers[-1] + (5.0 if rate.strip().endswith("+") else 0.0)


def is_restricted(sku: Any, region: str) -> bool:
    """True when the SKU is not offered to the subscription in `region`."""
    for r in sku.restrictions or []:
        if text(r.type).lower() == "location":
            info = r.restriction_info
            locations = [x.lower() for x in ((info.locations if info else None) or r.get("values") or [])]
            if not locations or region.lower() in locations:
                return True
    return False


def is_x64(sku: Any) -> bool:
    """True when the size can boot the worker image: x86-64 CPUs (the image and most containers are) and
    Hyper-V generation 2 (the Ubuntu 22.04 gen2 image), unless the SKU does not say."""
    caps = {c.name: c.value for c in (sku.capabilities or [])}
    generations = str(caps.get("HyperVGenerations") or "V2").upper().replace(" ", "").split(",")
    return str(caps.get("CpuArchitectureType") or "x64").lower() == "x64" and "V2" in generations
