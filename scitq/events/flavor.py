"""Provides the event of the flavor catalog: a provider's flavors, prices and quotas changed."""

from __future__ import annotations

from scitq.events.base import Event
from scitq.events.model import FlavorFields, QuotaFields

__all__ = ["FlavorCatalogUpdated"]


class FlavorCatalogUpdated(Event, tag="flavor.catalog_updated", kw_only=True):
    """The catalog of `provider` was refreshed (`scitq flavors update`) and changed (v1 updater semantics):
    `upserted` rows are new or changed (whole rows), `removed` are the [region, name] of rows gone upstream,
    `quotas` the regions' quotas that are new or changed, `quotas_removed` the regions no longer quoted.
    An update that changes nothing is not recorded."""
    provider: str
    upserted: list[FlavorFields] = []
    removed: list[tuple[str, str]] = []
    quotas: list[QuotaFields] = []
    quotas_removed: list[str] = []
