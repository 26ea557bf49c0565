"""Provides Azure virtual machine prices per region from the public Retail Prices API (no credential needed).

`GET {url}?currencyCode='EUR'&$filter=serviceName eq 'Virtual Machines' and armRegionName eq 'westeurope' and
priceType eq 'Consumption'` answers `{"Items": [...], "NextPageLink": ...}`; pages are followed until the link is
empty. Each item is one meter: `armSkuName` (Standard_D4s_v5), `skuName` ("D4s v5", "D4s v5 Spot", "D4s v5 Low
Priority"), `productName` (Windows meters say so), `retailPrice` per `unitOfMeasure` "1 Hour". Linux meters only;
Spot meters for Spot machines, regular ones otherwise; the lowest price when a size has several meters.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

__all__ = ["PRICES_URL", "vm_prices", "parse_items"]

PRICES_URL = "https://prices.azure.com/api/retail/prices"
MAX_PAGES = 200


def vm_prices(region: str, *, spot: bool = True, currency: str = "EUR", url: str = PRICES_URL,
              timeout: float = 30.0) -> dict[str, float]:
    """Hourly price of each VM size (`armSkuName`) in `region`. Raises OSError / ValueError on a network or format
    failure (the caller decides: a catalog update must not take a failed fetch for "no flavor any more")."""
    flt = (f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and priceType eq 'Consumption'")
    query = urllib.parse.urlencode({"currencyCode": f"'{currency}'", "$filter": flt}, quote_via=urllib.parse.quote)
    link: str | None = f"{url}?{query}"
    items: list[dict] = []
    pages = 0
    while link:
        pages += 1
        if pages > MAX_PAGES:
            raise ValueError(f"Azure retail prices: more than {MAX_PAGES} pages for region {region}")
        req = urllib.request.Request(link, headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            page = json.load(resp)
        if not isinstance(page, dict) or not isinstance(page.get("Items"), list):
            raise ValueError("Azure retail prices: an answer without an Items list")
        items.extend(page["Items"])
        link = page.get("NextPageLink") or None
    return parse_items(items, spot=spot)


def parse_items(items: list[dict], *, spot: bool = True) -> dict[str, float]:
    """The lowest hourly Linux price per `armSkuName`, Spot meters if `spot`, else regular ones."""
    prices: dict[str, float] = {}
    for it in items:
        sku = it.get("armSkuName") or ""
        meter = f"{it.get('skuName', '')} {it.get('meterName', '')}"
        if not sku or "windows" in str(it.get("productName", "")).lower():
            continue
        if it.get("type", "Consumption") != "Consumption" or "hour" not in str(it.get("unitOfMeasure", "1 Hour")).lower():
            continue
        if "low priority" in meter.lower() or ("spot" in meter.lower()) != spot:
            continue
        try:
            price = float(it["retailPrice"])
        except (KeyError, TypeError, ValueError):
            continue
        if sku not in prices or price < prices[sku]:
            prices[sku] = price
    return prices
