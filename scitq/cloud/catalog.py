"""Provides the flavor catalog's updater: ask a provider what it offers now and have the server record it.

`update_catalog(client, provider)` calls `provider.flavors()` (priced: a provider fills `cost` and `eviction`
from its own price source, this is the hook for price fetchers) and `provider.quotas()`, and sends them as one
`flavor.update_catalog` command for the provider's configured regions. The server applies v1's updater
semantics: rows gone upstream are removed, changed rows updated, new rows added; nothing is recorded when
nothing changed. `describe_changes(answer)` gives the lines v1's updaters printed.

The search over the catalog is pure and lives below (`scitq.projections.catalog`), shared by the server's
recruiters, `Server.flavors` and `scitq-manage flavor list`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scitq.cloud.provider import Provider

__all__ = ["update_catalog", "describe_changes"]


def _plain(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else dict(obj)


def update_catalog(client: Any, provider: Provider) -> dict[str, Any]:
    """Record `provider`'s flavors and quotas in the catalog (see the module docstring); the server's answer."""
    flavors = [_plain(f) for f in provider.flavors()]
    for f in flavors:
        f["provider"] = provider.name       # a catalog row is keyed by the provider's own name
    quotas = [_plain(q) for q in provider.quotas()]
    for q in quotas:
        q["provider"] = provider.name
    return client.update_flavor_catalog(provider.name, flavors, quotas, regions=provider.regions())


def describe_changes(answer: dict[str, Any]) -> list[str]:
    """One line per change of an update's answer, then a summary line."""
    lines = [f"+ {row}" for row in answer.get("added", [])]
    for row, fields in answer.get("changed", {}).items():
        lines.append(f"~ {row}: " + ", ".join(f"{k} {old} -> {new}" for k, (old, new) in fields.items()))
    lines += [f"- {row}" for row in answer.get("removed", [])]
    for region, limit in answer.get("quotas", {}).items():
        lines.append(f"quota {region}: {'none' if limit is None else f'{limit} cpus'}")
    lines += [f"quota {region}: removed" for region in answer.get("quotas_removed", [])]
    n_add, n_chg, n_rm = (len(answer.get(k, [])) for k in ("added", "changed", "removed"))
    lines.append(f"{answer.get('provider')}: {answer.get('flavors', 0)} flavors, {n_add} added, {n_chg} changed, "
                 f"{n_rm} removed")
    return lines
