"""Provides the deploy half of recruiting (pure): which flavor, region and provider each new machine gets.

A recruiter (or `worker deploy`) names a flavor, region and provider; each may be `auto`, and the flavor may be
`auto:<protofilters>` (v1: `auto:cpu>=8:ram>=30`). `choose` picks, for one machine, the cheapest offer of the
catalog that matches and still fits in its region's CPU quota, counting the CPUs of the machines already live
or asked for there; it is called again for each machine, so a region whose quota is used up gives way to the
next cheapest. An offer whose provider refused our credentials, or whose flavor its region refused, is never
picked again; one whose deploy failed for lack of quota or capacity is left aside for `retry_after` seconds.

Protofilters: items `cpu ram disk tags gpumem eviction region cost provider`, comparators `== != > < >= <=`,
`~` (SQL LIKE, `%` any text), `!~`, `#` (has every tag letter), `!#`. Without a protofilter on `eviction`,
`eviction<=5` applies; without one on `tags`, flavors tagged `M` (metal) are left out (v1 §6.4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from scitq.errors import BadInput

__all__ = ["Offer", "parse_flavor", "matches", "choose", "AUTO", "RETRY_AFTER"]

AUTO = "auto"
RETRY_AFTER = 300.0          # seconds an offer is left aside after a deploy failed there for quota or capacity
_ITEMS = ("cpu", "ram", "disk", "tags", "gpumem", "eviction", "region", "cost", "provider")
_NUMERIC = ("cpu", "ram", "disk", "gpumem", "eviction", "cost")
_FILTER = re.compile(r"^(cpu|ram|disk|tags|gpumem|eviction|region|cost|provider)(==|!=|>=|<=|>|<|!~|~|!#|#)(.+)$")


@dataclass(frozen=True)
class Offer:
    """One flavor in one region of one provider, with its price per hour and its region's CPU quota
    (`cpu_limit` None: unknown, no limit applied)."""
    provider: str
    region: str
    flavor: str
    cpu: int
    ram: float = 0.0
    disk: float = 0.0
    gpumem: float = 0.0
    tags: str = ""
    cost: float = 0.0
    eviction: float = 0.0
    cpu_limit: int | None = None


Filter = tuple[str, str, str]


def parse_flavor(flavor: str) -> list[Filter] | None:
    """The protofilters of an `auto:...` flavor ([] for `auto`), None for a plain flavor name; a bad
    protofilter is refused with one line naming it."""
    if flavor != AUTO and not flavor.startswith(AUTO + ":"):
        return None
    out: list[Filter] = []
    for part in flavor.split(":")[1:]:
        m = _FILTER.match(part.strip())
        if m is None:
            raise BadInput(f"bad protofilter {part!r} in flavor {flavor!r}: expected ITEM OP VALUE with ITEM one of "
                           f"{', '.join(_ITEMS)} and OP one of == != > < >= <= ~ !~ # !#")
        item, op, value = m.groups()
        if item in _NUMERIC and op not in ("~", "!~", "#", "!#"):
            try:
                float(value)
            except ValueError:
                raise BadInput(f"bad protofilter {part!r} in flavor {flavor!r}: {item} takes a number") from None
        out.append((item, op, value))
    return out


def _like(pattern: str, text: str) -> bool:
    rx = "^" + ".*".join(re.escape(p) for p in pattern.split("%")) + "$"
    return re.match(rx, text, re.IGNORECASE) is not None


def _test(value: object, op: str, want: str) -> bool:
    if op in ("~", "!~"):
        return _like(want, str(value)) == (op == "~")
    if op in ("#", "!#"):
        has = all(ch in str(value) for ch in want)
        return has == (op == "#")
    if isinstance(value, (int, float)):
        a, b = float(value), float(want)
    else:
        a, b = str(value), want    # type: ignore[assignment]
    return {"==": a == b, "!=": a != b, ">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[op]  # type: ignore[operator]


def matches(offer: Offer, filters: list[Filter]) -> bool:
    """Whether `offer` passes every protofilter (and v1's defaults on eviction and metal)."""
    named = {item for item, _, _ in filters}
    if "eviction" not in named and offer.eviction > 5:
        return False
    if "tags" not in named and "M" in offer.tags:
        return False
    return all(_test(getattr(offer, item), op, value) for item, op, value in filters)


def choose(flavor: str, region: str, provider: str, offers: Iterable[Offer], used: dict[tuple[str, str], int],
           unusable: dict[tuple[str, str, str], tuple[str, float]], now: float,
           retry_after: float = RETRY_AFTER) -> Offer | None:
    """The cheapest offer for one machine asked as (flavor, region, provider) that fits in its region's quota
    given `used` (CPUs of the live machines per (provider, region)), or None. The caller adds the chosen
    offer's CPUs to `used` before asking for the next machine."""
    filters = parse_flavor(flavor)
    banned_providers = {p for (p, _, _), (kind, _) in unusable.items() if kind == "auth"}

    def usable(o: Offer) -> bool:
        if o.provider in banned_providers:
            return False
        kind, when = unusable.get((o.provider, o.region, o.flavor), ("", 0.0))
        if kind == "unsupported_flavor" or (kind and now - when < retry_after):
            return False
        return o.cpu_limit is None or o.cpu_limit - used.get((o.provider, o.region), 0) >= o.cpu

    fits: Callable[[Offer], bool] = (lambda o: o.flavor == flavor) if filters is None else \
        (lambda o: matches(o, filters))
    found = [o for o in offers
             if (provider == AUTO or o.provider == provider) and (region == AUTO or o.region == region)
             and fits(o) and usable(o)]
    found.sort(key=lambda o: (o.cost, o.provider, o.region, o.flavor))
    return found[0] if found else None
