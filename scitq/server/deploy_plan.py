"""Provides the deploy half of recruiting (pure): which flavor, region and provider each new machine gets.

A recruiter (or `worker deploy`) names a flavor, region and provider; each may be `auto`, and the flavor may be
`auto:<protofilters>` (v1: `auto:cpu>=8:ram>=30`). `choose` picks, for one machine, the first row of v1's flavor
search over the catalog (`scitq.projections.catalog.search`: its protofilters, its eviction and metal defaults,
preferred regions, then the cheapest) that is still `available` within its region's CPU quota, counting the
CPUs of the machines already live or asked for there (`used`). It is called again for each machine with
`used` grown by the previous pick, so a region whose quota is used up gives way to the next cheapest.

An offer whose provider refused our credentials (`auth`), or whose flavor its region refused
(`unsupported_flavor`), is never picked again; one whose deploy failed for good for another reason (quota,
capacity, ...) is left aside for `retry_after` seconds. A plain (provider, region, flavor) the catalog does not
know is offered as is (no known price, no quota): the provider says whether it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from scitq.projections.catalog import PROVIDER_ALIASES, cpus_in_use, flavor_rule, search

__all__ = ["Offer", "choose", "cpu_used", "take", "AUTO", "RETRY_AFTER"]

AUTO = "auto"
RETRY_AFTER = 300.0          # seconds an offer is left aside after a deploy failed there for good (not auth)


@dataclass(frozen=True)
class Offer:
    """The flavor, region and provider picked for one machine, its CPUs and its price per hour."""
    provider: str
    region: str
    flavor: str
    cpu: int = 0
    cost: float = 0.0


def cpu_used(rows: Iterable[Any], deploys: Iterable[Any]) -> dict[tuple[str, str], int]:
    """CPUs of the live machines (asked for, being made, running, being destroyed) per (provider, region)."""
    live = [d for d in deploys if d.status in ("requested", "deploying", "running", "destroying")]
    return cpus_in_use(list(rows), deploys=live)


def take(used: dict[tuple[str, str], int], offer: Offer) -> None:
    """Count the CPUs of `offer` in `used` (its region's quota has that much less room)."""
    key = (PROVIDER_ALIASES.get(offer.provider, offer.provider), offer.region)
    used[key] = used.get(key, 0) + offer.cpu


def choose(flavor: str, region: str, provider: str, rows: Iterable[Any], quotas: Iterable[Any],
           used: Mapping[tuple[str, str], int], unusable: Mapping[tuple[str, str, str], tuple[str, float]],
           now: float, retry_after: float = RETRY_AFTER) -> Offer | None:
    """The offer for one machine asked as (flavor, region, provider), or None when none is available (see
    the module docstring). The caller adds the offer's CPUs to `used` before asking for the next machine."""
    rule = flavor_rule(flavor)
    rows = list(rows)
    banned = {p for (p, _, _), (kind, _) in unusable.items() if kind == "auth"}

    def usable(p: str, r: str, f: str) -> bool:
        if p in banned:
            return False
        kind, when = unusable.get((p, r, f), ("", 0.0))
        return not (kind == "unsupported_flavor" or kind == "auth" or (kind and now - when < retry_after))

    found = search(rows, quotas=quotas, used=used, provider=provider, region=region, limit=None,
                   protofilters=rule or [], name=None if rule is not None else flavor)
    for row in found:
        if row["available"] is not None and row["available"] < 1:
            continue
        if usable(row["provider"], row["region"], row["name"]):
            return Offer(provider=row["provider"], region=row["region"], flavor=row["name"], cpu=int(row["cpu"]),
                         cost=float(row["cost"] or 0.0))
    exact = rule is None and AUTO not in (provider, region)
    if exact and not any((r.provider, r.region, r.name) == (provider, region, flavor) for r in _rows(rows)) \
            and usable(provider, region, flavor):
        return Offer(provider=provider, region=region, flavor=flavor)
    return None


def _rows(rows: list[Any]) -> list[Any]:
    from types import SimpleNamespace
    return [SimpleNamespace(**r) if isinstance(r, dict) else r for r in rows]
