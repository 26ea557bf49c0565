"""The flavor catalog's pure search: v1 protofilters, defaults, order, `available` and `flavor_find` (tables)."""

from __future__ import annotations

import pytest

from scitq.errors import BadInput
from scitq.events.model import FlavorFields, QuotaFields
from scitq.projections.catalog import check_flavor_rule, find, flavor_rule, parse_protofilters, search


def F(name, provider="ovh", region="GRA11", cpu=2, ram=7.0, disk=50.0, tags="", cost=0.1, eviction=0.0,
      gpumem=0.0, gpu=""):
    return FlavorFields(name=name, provider=provider, region=region, cpu=cpu, ram=ram, disk=disk, tags=tags,
                        cost=cost, eviction=eviction, gpumem=gpumem, gpu=gpu)


CATALOG = [
    F("b2-7", cpu=2, ram=7, cost=0.07),
    F("b2-30", cpu=8, ram=30, disk=200, cost=0.29),
    F("b2-30", region="SBG5", cpu=8, ram=30, disk=200, cost=0.30),
    F("t1-45", cpu=8, ram=45, disk=400, tags="GN", gpu="V100", gpumem=16, cost=1.9),
    F("bm-l1", cpu=32, ram=128, disk=1000, tags="MN", cost=3.5),
    F("Standard_D8s", provider="azure", region="westeurope", cpu=8, ram=32, disk=64, cost=0.12, eviction=10),
    F("Standard_D4s", provider="azure", region="westeurope", cpu=4, ram=16, disk=32, cost=0.05, eviction=3),
]


def names(rows):
    return [(r["name"], r["region"]) for r in rows]


@pytest.mark.parametrize("criteria, expected", [
    # defaults: eviction <= 5, no metal (M), cheapest first, at most 10
    ({}, [("Standard_D4s", "westeurope"), ("b2-7", "GRA11"), ("b2-30", "GRA11"), ("b2-30", "SBG5"),
          ("t1-45", "GRA11")]),
    ({"min_cpu": 8}, [("b2-30", "GRA11"), ("b2-30", "SBG5"), ("t1-45", "GRA11")]),
    ({"min_ram": 40}, [("t1-45", "GRA11")]),
    ({"min_disk": 300}, [("t1-45", "GRA11")]),
    ({"max_eviction": 10, "min_cpu": 8}, [("Standard_D8s", "westeurope"), ("b2-30", "GRA11"), ("b2-30", "SBG5"),
                                          ("t1-45", "GRA11")]),
    ({"provider": "azure"}, [("Standard_D4s", "westeurope")]),
    ({"provider": "openstack", "region": "SBG5"}, [("b2-30", "SBG5")]),
    ({"limit": 2}, [("Standard_D4s", "westeurope"), ("b2-7", "GRA11")]),
    # protofilters
    ({"protofilters": "cpu>=8:ram>=30"}, [("b2-30", "GRA11"), ("b2-30", "SBG5"), ("t1-45", "GRA11")]),
    ({"protofilters": "tags#G"}, [("t1-45", "GRA11")]),
    ({"protofilters": "tags#M"}, [("bm-l1", "GRA11")]),             # naming tags lifts the no-metal default
    ({"protofilters": "tags!#G:cpu==8"}, [("b2-30", "GRA11"), ("b2-30", "SBG5")]),
    ({"protofilters": "eviction<=20:cpu==8:provider==azure"}, [("Standard_D8s", "westeurope")]),
    ({"protofilters": "region~GRA%:cpu>2"}, [("b2-30", "GRA11"), ("t1-45", "GRA11")]),
    ({"protofilters": "region!~GRA%:provider==ovh"}, [("b2-30", "SBG5")]),
    ({"protofilters": "cost<0.1"}, [("Standard_D4s", "westeurope"), ("b2-7", "GRA11")]),
    ({"protofilters": "gpumem>=16"}, [("t1-45", "GRA11")]),
    ({"protofilters": "cpu!=8:cpu!=2"}, [("Standard_D4s", "westeurope")]),
    ({"protofilters": "region==SBG5"}, [("b2-30", "SBG5")]),
    ({"protofilters": ["cpu>=8", "disk>200"]}, [("t1-45", "GRA11")]),
])
def test_search_follows_v1(criteria, expected):
    assert names(search(CATALOG, **criteria)) == expected


def test_preferred_regions_come_first_when_a_provider_is_given_then_cost():
    rows = search(CATALOG, provider="ovh", protofilters="cpu==8:tags!#G", preferred="ovh:SBG%,azure:eastasia")
    assert names(rows) == [("b2-30", "SBG5"), ("b2-30", "GRA11")]
    rows = search(CATALOG, protofilters="cpu==8:tags!#G", preferred="ovh:SBG%")
    assert names(rows) == [("b2-30", "GRA11"), ("b2-30", "SBG5")], "no provider given: cost only"


def test_available_is_quota_less_used_cpus_over_the_flavor_cpus_or_none_without_a_quota():
    quotas = [QuotaFields(provider="openstack", region="GRA11", cpu_limit=40)]
    rows = {(r["name"], r["region"]): r["available"]
            for r in search(CATALOG, quotas=quotas, used={("ovh", "GRA11"): 10}, limit=None)}
    assert rows[("b2-7", "GRA11")] == 15 and rows[("b2-30", "GRA11")] == 3
    assert rows[("b2-30", "SBG5")] is None and rows[("Standard_D4s", "westeurope")] is None
    full = search(CATALOG, quotas=quotas, used={("openstack", "GRA11"): 45}, protofilters="region==GRA11")
    assert {r["available"] for r in full} == {0}


def test_flavor_find_takes_the_cheapest_then_moves_region_once_its_quota_is_used():
    """Three regions with cpu quotas 8/16/4; flavors cost 1 (8 cpu, r1), 3 (16 cpu, r2), 0.5 (4 cpu, r3):
    `cpu>=8` for 3 machines picks the cost-1 flavor, then the cost-3 one, never the 4-cpu one."""
    rows = [F("a8", provider="azure", region="r1", cpu=8, ram=32, cost=1),
            F("a16", provider="azure", region="r2", cpu=16, ram=64, cost=3),
            F("a4", provider="azure", region="r3", cpu=4, ram=16, cost=0.5)]
    quotas = [QuotaFields(provider="azure", region=r, cpu_limit=c) for r, c in (("r1", 8), ("r2", 16), ("r3", 4))]
    picked = find(rows, n=3, quotas=quotas, protofilters="cpu>=8")
    assert [p["name"] for p in picked] == ["a8", "a16"]
    assert [p["available"] for p in picked] == [0, 0]
    assert [p["name"] for p in find(rows, n=1, quotas=quotas, min_cpu=1)] == ["a4"]


def test_flavor_find_without_quota_gives_n_times_the_best():
    picked = find(CATALOG, n=2, min_cpu=8)
    assert [(p["name"], p["region"]) for p in picked] == [("b2-30", "GRA11")] * 2


@pytest.mark.parametrize("text, message", [
    ("cpu>>8", "is not <item><comparator><value>"),
    ("speed>3", "is not <item><comparator><value>"),
    ("cpu>=eight", "cpu takes a number"),
    ("ram~3%", "~ applies to tags, region and provider"),
    ("cpu#G", "# applies to tags only"),
    ("tags#X", "tags are letters of GMN"),
    ("cpu>=8 ram>=3", "is not <item><comparator><value>"),
])
def test_bad_protofilters_are_refused_in_one_line_naming_the_bad_part(text, message):
    with pytest.raises(BadInput) as err:
        parse_protofilters(text)
    assert message in err.value.message and "\n" not in err.value.message


def test_a_flavor_rule_is_auto_with_protofilters_or_an_exact_name():
    assert flavor_rule("b2-30") is None
    assert flavor_rule("auto") == []
    assert [str(p) for p in flavor_rule("auto:cpu>=8:tags#G")] == ["cpu>=8", "tags#G"]
    with pytest.raises(BadInput) as err:
        check_flavor_rule("auto:cpu>=x", "recruiter Default/1: worker_flavor")
    assert err.value.message.startswith("recruiter Default/1: worker_flavor 'auto:cpu>=x': protofilter")
