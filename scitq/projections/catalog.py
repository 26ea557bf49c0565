"""Provides the flavor catalog's pure side: v1 protofilters (parse, match), the search and `available`.

A protofilter is `<item><comparator><value>` (v1's regexp below), several joined by `:`, as in
`cpu>=8:ram>=30:tags#G`. Items: cpu ram disk gpumem eviction cost (numbers), tags region provider (text).
Comparators: `== != > < >= <=`, `~` / `!~` SQL LIKE with `%` (any text) and `_` (one character), `#` / `!#`
(tags only: has every letter given / has none of them). A recruiter's or a deploy's flavor `auto` or
`auto:<protofilters>` picks the best catalog row; any other flavor is an exact name.

Search (v1 `find_flavor`): rows with eviction <= max_eviction unless a protofilter names `eviction`, no `M`
(metal) tag unless a protofilter names `tags`, cpu/ram/disk at least the minimums, of the provider and region
if given, matching every protofilter; preferred regions first (when a provider is given), then cheapest;
at most `limit` rows. `available` = (quota cpus − cpus of the provider/region's workers − cpus of its pending
deploys) // the flavor's cpus, or None when the region has no known quota.

Nothing here does I/O: the rows come from the catalog views (`scitq.api.client.Client.catalog`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import msgspec

from scitq.errors import BadInput
from scitq.events.model import FLAVOR_FIELDS, FLAVOR_TAGS, FlavorFields, QuotaFields

__all__ = [
    "PROTOFILTER", "SEPARATOR", "ITEMS", "NUMERIC_ITEMS", "COMPARATORS", "DEFAULT_LIMIT", "DEFAULT_EVICTION",
    "PROVIDER_ALIASES", "Protofilter", "parse_protofilters", "flavor_rule", "check_flavor_rule", "matches",
    "preferred_regions", "search", "find", "flavor_key", "quota_key", "encode_flavor", "decode_flavor",
    "encode_quota", "decode_quota", "COLUMNS", "cpus_in_use",
]

PROTOFILTER = re.compile(r"^(?P<item>cpu|ram|disk|tags|gpumem|eviction|region|cost|provider)"
                         r"(?P<comparator>==|!=|>=|>|<|<=|~|#|!~|!#)"
                         r"(?P<value>[0-9\.]+|[A-Za-z0-9_%-]+)$")
SEPARATOR = ":"
ITEMS = ("cpu", "ram", "disk", "tags", "gpumem", "eviction", "region", "cost", "provider")
NUMERIC_ITEMS = ("cpu", "ram", "disk", "gpumem", "eviction", "cost")
COMPARATORS = ("==", "!=", ">", "<", ">=", "<=", "~", "!~", "#", "!#")
DEFAULT_LIMIT = 10          # v1 FLAVOR_DEFAULT_LIMIT
DEFAULT_EVICTION = 5        # v1 FLAVOR_DEFAULT_EVICTION
PROVIDER_ALIASES = {"ovh": "openstack"}
COLUMNS = ("name", "provider", "region", "cpu", "ram", "tags", "gpu", "gpumem", "disk", "cost", "eviction",
           "available")     # v1's `flavor list` columns, in order

_ORDER = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b,
          "<": lambda a, b: a < b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}


def _provider(name: str | None) -> str:
    key = (name or "").lower()
    return PROVIDER_ALIASES.get(key, key)


def _like(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (`%` any text, `_` one character, case-sensitive) as a regexp."""
    return re.compile("".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
                      + r"\Z", re.S)


@dataclass(frozen=True)
class Protofilter:
    item: str
    comparator: str
    value: Any          # float for numeric items, str otherwise

    def __str__(self) -> str:
        v = self.value
        if isinstance(v, float):
            v = int(v) if v.is_integer() else v
        return f"{self.item}{self.comparator}{v}"

    def test(self, row: Mapping[str, Any]) -> bool:
        have = row.get(self.item)
        if self.item == "provider":
            have, value = _provider(have), _provider(self.value)
        else:
            value = self.value
        c = self.comparator
        if c in ("#", "!#"):
            tags = have or ""
            return all(ch in tags for ch in value) if c == "#" else not any(ch in tags for ch in value)
        if c in ("~", "!~"):
            hit = _like(value).match(str(have or "")) is not None
            return hit if c == "~" else not hit
        if self.item in NUMERIC_ITEMS:
            have = float(have or 0)
        else:
            have = str(have or "")
        return _ORDER[c](have, value)


def parse_protofilters(text: str | Iterable[str] | None) -> list[Protofilter]:
    """The protofilters of `text` (`cpu>=8:tags#G`, or a list of single ones); BadInput naming the bad one."""
    if text is None:
        return []
    parts = text.split(SEPARATOR) if isinstance(text, str) else [p for t in text for p in t.split(SEPARATOR)]
    out = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        m = PROTOFILTER.match(part)
        if m is None:
            raise BadInput(f"protofilter {part!r} is not <item><comparator><value>: items "
                           f"{' '.join(ITEMS)}, comparators {' '.join(COMPARATORS)}",
                           hint="e.g. cpu>=8:ram>=30:tags#G")
        item, comp, value = m.group("item"), m.group("comparator"), m.group("value")
        if comp in ("#", "!#") and item != "tags":
            raise BadInput(f"protofilter {part!r}: {comp} applies to tags only")
        if item == "tags" and comp in ("#", "!#") and set(value) - set(FLAVOR_TAGS):
            raise BadInput(f"protofilter {part!r}: tags are letters of {FLAVOR_TAGS}")
        if item in NUMERIC_ITEMS:
            if comp in ("~", "!~"):
                raise BadInput(f"protofilter {part!r}: {comp} applies to tags, region and provider")
            try:
                number = float(value)
            except ValueError:
                raise BadInput(f"protofilter {part!r}: {item} takes a number") from None
            out.append(Protofilter(item, comp, number))
        else:
            out.append(Protofilter(item, comp, value))
    return out


def flavor_rule(flavor: str | None) -> list[Protofilter] | None:
    """A worker flavor as recruiters and deploys give it: `auto` or `auto:<protofilters>` gives its
    protofilters (maybe none), an exact flavor name gives None. BadInput if the protofilters are bad."""
    if flavor is None:
        return None
    if flavor == "auto":
        return []
    if flavor.startswith("auto" + SEPARATOR):
        return parse_protofilters(flavor[len("auto" + SEPARATOR):])
    return None


def check_flavor_rule(flavor: str | None, where: str = "flavor") -> None:
    """Refuse a bad `auto:` flavor in one line (BadInput naming `where`)."""
    try:
        flavor_rule(flavor)
    except BadInput as exc:
        raise BadInput(f"{where} {flavor!r}: {exc.message}", hint=exc.hint) from None


def matches(row: Mapping[str, Any], filters: Iterable[Protofilter]) -> bool:
    """Whether the catalog row (a dict of FlavorFields) passes every protofilter."""
    return all(f.test(row) for f in filters)


def preferred_regions(text: str | None) -> list[tuple[str, re.Pattern[str]]]:
    """v1 PREFERRED_REGIONS: `provider:region,...` (region may hold `%`), as (provider, pattern) pairs."""
    out = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        prov, sep, region = part.partition(":")
        if not sep or not prov or not region:
            raise BadInput(f"preferred region {part!r} is not provider:region", hint="e.g. ovh:GRA%,azure:eastasia")
        out.append((_provider(prov), _like(region)))
    return out


def _available(row: Mapping[str, Any], quotas: Mapping[tuple[str, str], int | None],
               used: Mapping[tuple[str, str], int]) -> int | None:
    key = (_provider(row["provider"]), row["region"])
    limit = quotas.get(key)
    if limit is None:
        return None
    return max(0, (int(limit) - int(used.get(key, 0))) // max(1, int(row["cpu"])))


def search(rows: Iterable[Any], *, quotas: Iterable[Any] = (), used: Mapping[tuple[str, str], int] | None = None,
           min_cpu: float = 0, min_ram: float = 0, min_disk: float = 0, max_eviction: float | None = DEFAULT_EVICTION,
           limit: int | None = DEFAULT_LIMIT, provider: str | None = None, region: str | None = None,
           protofilters: str | Iterable[str] | list[Protofilter] | None = None, name: str | None = None,
           preferred: str | list[tuple[str, re.Pattern[str]]] | None = None) -> list[dict[str, Any]]:
    """v1's flavor search over catalog rows (FlavorFields or dicts of them; see the module docstring).

    `quotas`: QuotaFields (or dicts) per provider/region; `used`: cpus taken per (provider, region) by
    existing workers and pending deploys. Returns dicts with the FlavorFields and `available`."""
    filters = (list(protofilters) if isinstance(protofilters, list) and all(isinstance(p, Protofilter)
                                                                           for p in protofilters)
               else parse_protofilters(protofilters))
    named = {f.item for f in filters}
    prefs = preferred_regions(preferred) if isinstance(preferred, str) or preferred is None else preferred
    quota_map = {(_provider(_get(q, "provider")), _get(q, "region")): _get(q, "cpu_limit") for q in quotas}
    used = {(_provider(p), r): n for (p, r), n in (used or {}).items()}
    want_provider = _provider(provider) if provider and provider != "auto" else None
    want_region = region if region and region != "auto" else None
    out = []
    for raw in rows:
        row = raw if isinstance(raw, dict) else msgspec.structs.asdict(raw)
        if "eviction" not in named and max_eviction is not None and float(row.get("eviction") or 0) > max_eviction:
            continue
        if "tags" not in named and "M" in (row.get("tags") or ""):
            continue
        if row["cpu"] < min_cpu or row["ram"] < min_ram or (row.get("disk") or 0) < min_disk:
            continue
        if want_provider and _provider(row["provider"]) != want_provider:
            continue
        if want_region and row["region"] != want_region:
            continue
        if name is not None and not (_like(name).match(row["name"]) if "%" in name else row["name"] == name):
            continue
        if not matches(row, filters):
            continue
        out.append({**{k: row.get(k) for k in FLAVOR_FIELDS},
                    "available": _available(row, quota_map, used)})

    def preference(row: dict[str, Any]) -> int:
        if not want_provider:
            return 0
        for i, (prov, pattern) in enumerate(prefs):
            if prov == _provider(row["provider"]) and pattern.match(row["region"]):
                return i
        return len(prefs)

    out.sort(key=lambda row: (preference(row), row["cost"], row["provider"], row["region"], row["name"]))
    return out if limit is None else out[:limit]


def find(rows: Iterable[Any], n: int = 1, **criteria: Any) -> list[dict[str, Any]]:
    """v1 `flavor_find`: up to `n` flavors for `n` machines, the best available each time (a pick lowers the
    `available` of every flavor of its region by its cpus). Fewer than `n` when the quotas run out."""
    found = search(rows, **{"limit": None, **criteria})
    picked: list[dict[str, Any]] = []
    free: dict[tuple[str, str], int] = {}    # cpus left per region with a quota
    for row in found:
        if row["available"] is not None:
            key = (row["provider"], row["region"])
            free[key] = max(free.get(key, 0), row["available"] * row["cpu"])
    while len(picked) < n:
        choice = None
        for row in found:
            key = (row["provider"], row["region"])
            if row["available"] is None:
                choice = {**row}
                break
            if free.get(key, 0) >= row["cpu"]:
                free[key] -= row["cpu"]
                choice = {**row, "available": free[key] // row["cpu"]}
                break
        if choice is None:
            break
        picked.append(choice)
    return picked


def cpus_in_use(rows: Iterable[Any], workers: Iterable[Any] = (), deploys: Iterable[Any] = ()
                ) -> dict[tuple[str, str], int]:
    """Cpus taken per (provider, region) by `workers` and pending `deploys` (anything with provider,
    region and flavor, as dicts or attributes), each counted with its catalog flavor's cpus; a worker with
    no provider/region (a static one) or of a flavor the catalog does not know takes none."""
    cpu = {(_provider(_get(r, "provider")), _get(r, "region"), _get(r, "name")): int(_get(r, "cpu")) for r in rows}
    used: dict[tuple[str, str], int] = {}
    for w in (*workers, *deploys):
        prov, region, flavor = (_get(w, k) if _has(w, k) else None for k in ("provider", "region", "flavor"))
        if not prov or not region or not flavor:
            continue
        key = (_provider(prov), region)
        used[key] = used.get(key, 0) + cpu.get((*key, flavor), 0)
    return used


def _has(obj: Any, name: str) -> bool:
    return name in obj if isinstance(obj, Mapping) else hasattr(obj, name)


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name)


# --- view codec -----------------------------------------------------------------------------------
_FLAVOR_ENC = msgspec.json.Encoder()
_FLAVOR_DEC = msgspec.json.Decoder(FlavorFields)
_QUOTA_DEC = msgspec.json.Decoder(QuotaFields)


def flavor_key(provider: str, region: str, name: str) -> str:
    """The field naming a row in the catalog view: `<provider>/<region>/<name>`."""
    return f"{provider}/{region}/{name}"


def quota_key(provider: str, region: str) -> str:
    return f"{provider}/{region}"


def encode_flavor(row: FlavorFields) -> str:
    return _FLAVOR_ENC.encode(row).decode()


def decode_flavor(data: str | bytes) -> FlavorFields:
    return _FLAVOR_DEC.decode(data)


def encode_quota(q: QuotaFields) -> str:
    return _FLAVOR_ENC.encode(q).decode()


def decode_quota(data: str | bytes) -> QuotaFields:
    return _QUOTA_DEC.decode(data)
