"""The flavor catalog against a real server: `scitq flavors update`, v1 updater semantics, `scitq-manage flavor
list`, `Server.flavors`/`flavor_find`, the recruiters' `auto:` flavors, and views equal to a replay.

`CatalogSource` below is a stand-in provider that only answers flavors()/quotas() (no machine is created):
the real providers' calls are tested in tests/cloud."""

from __future__ import annotations

import pytest

from helpers import run_cli
from scitq.cloud.catalog import describe_changes, update_catalog
from scitq.cloud.provider import Flavor, Quota
from scitq.errors import BadInput
from scitq.lib import Server


class CatalogSource:
    """Stand-in provider: a fixed list of flavors and quotas in two regions."""
    name = "azure"
    prefix = "scitq"

    def __init__(self, flavors, quotas=()):
        self._flavors, self._quotas = list(flavors), list(quotas)

    def regions(self):
        return ["westeurope", "northeurope"]

    def flavors(self, region=None):
        return [f for f in self._flavors if region in (None, f.region)]

    def quotas(self):
        return self._quotas


def fl(name, region="westeurope", cpu=4, ram=16.0, cost=0.1, eviction=2.0, tags=""):
    return Flavor(name=name, provider="azure", region=region, cpu=cpu, ram=ram, disk=32, cost=cost,
                  eviction=eviction, tags=tags)


@pytest.fixture
def server(procs):
    procs.server()
    return Server()


def test_an_update_adds_changes_and_removes_rows_as_v1_updaters_and_records_only_changes(server, r):
    from scitq import keys
    first = CatalogSource([fl("D4s"), fl("D8s", cpu=8, ram=32, cost=0.2), fl("D4s", region="northeurope")],
                          [Quota("azure", "westeurope", 40)])
    answer = update_catalog(server.client, first)
    assert answer["added"] == ["northeurope/D4s", "westeurope/D4s", "westeurope/D8s"]
    assert describe_changes(answer)[-1] == "azure: 3 flavors, 3 added, 0 changed, 0 removed"
    events = r.xlen(keys.EVENTS)
    assert update_catalog(server.client, first)["added"] == [] and r.xlen(keys.EVENTS) == events, \
        "an update that changes nothing records nothing"
    second = CatalogSource([fl("D4s", cost=0.12), fl("D16s", cpu=16, ram=64, cost=0.4),
                            fl("D4s", region="northeurope")], [Quota("azure", "westeurope", 48)])
    lines = describe_changes(update_catalog(server.client, second))
    assert lines == ["+ westeurope/D16s", "~ westeurope/D4s: cost 0.1 -> 0.12", "- westeurope/D8s",
                     "quota westeurope: 48 cpus", "azure: 3 flavors, 1 added, 1 changed, 1 removed"]
    rows = server.flavors(limit=None)
    assert {(f["name"], f["region"], f["cost"]) for f in rows} == {
        ("D4s", "westeurope", 0.12), ("D16s", "westeurope", 0.4), ("D4s", "northeurope", 0.1)}


def test_views_equal_a_replay_after_catalog_updates(server):
    update_catalog(server.client, CatalogSource([fl("D4s"), fl("D8s", cpu=8)], [Quota("azure", "westeurope", 8)]))
    update_catalog(server.client, CatalogSource([fl("D8s", cpu=8, cost=0.3)], []))
    report = server.client.rebuild(verify=True)
    assert report["equal"], report


def test_flavor_list_prints_v1_columns_with_v1_filters(server, env):
    update_catalog(server.client, CatalogSource(
        [fl("D4s", cost=0.05), fl("D8s", cpu=8, ram=32, cost=0.2), fl("NC6", cpu=6, ram=56, cost=0.9, tags="G"),
         fl("D8s", region="northeurope", cpu=8, ram=32, cost=0.25, eviction=9), fl("M1", cpu=64, tags="M")],
        [Quota("azure", "westeurope", 40)]))
    res = run_cli("scitq-manage", "flavor", "list", env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["name", "provider", "region", "cpu", "ram", "tags", "gpu", "gpumem", "disk",
                                "cost", "eviction", "available"]
    assert [line.split()[0] for line in lines[1:]] == ["D4s", "D8s", "NC6"], "eviction<=5 and no metal by default"
    assert lines[1].split()[-1] == "10" and lines[2].split()[-1] == "5", "available: 40 cpus of quota"
    res = run_cli("scitq-manage", "flavor", "list", "-H", "--min-cpu", "8", "--max-eviction", "10", env=env)
    assert [(ln.split()[0], ln.split()[2]) for ln in res.stdout.splitlines()] == [("D8s", "westeurope"),
                                                                                   ("D8s", "northeurope")]
    res = run_cli("scitq", "flavors", "list", "-H", "--protofilters", "tags#G", env=env)
    assert [ln.split()[0] for ln in res.stdout.splitlines()] == ["NC6"]
    res = run_cli("scitq-manage", "flavor", "list", "-H", "-r", "northeurope", "--protofilters", "eviction<10",
                  env=env)
    assert [ln.split()[0] for ln in res.stdout.splitlines()] == ["D8s"]
    res = run_cli("scitq-manage", "flavor", "list", "-H", "--limit", "1", env=env)
    assert len(res.stdout.splitlines()) == 1
    bad = run_cli("scitq-manage", "flavor", "list", "--protofilters", "cpu>=eight", env=env)
    assert bad.returncode == 2 and "cpu takes a number" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) <= 2


def test_scitq_flavors_update_records_the_local_provider(server, env):
    res = run_cli("scitq", "flavors", "update", "local", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "+ local/local"
    (row,) = server.flavors(provider="local")
    assert (row["name"], row["cost"], row["available"]) == ("local", 0.0, 4)
    res = run_cli("scitq-manage", "flavor", "update", "local", env=env)
    assert res.stdout.strip() == "local: 1 flavors, 0 added, 0 changed, 0 removed"
    bad = run_cli("scitq-manage", "flavor", "update", "nimbus", env=env)
    assert bad.returncode == 2 and "unknown provider 'nimbus'" in bad.stderr and "Traceback" not in bad.stderr


def test_flavor_find_picks_the_cheapest_available_and_warns_on_shortage(server, capsys):
    update_catalog(server.client, CatalogSource(
        [fl("D8s", cpu=8, cost=1), fl("D16s", region="northeurope", cpu=16, cost=3)],
        [Quota("azure", "westeurope", 8), Quota("azure", "northeurope", 16)]))
    picked = server.flavor_find(cpu=8, n=3)
    assert [p["name"] for p in picked] == ["D8s", "D16s"]
    assert "only 2 of 3 machines available" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="No flavor available"):
        server.flavor_find(cpu=64)


def test_a_recruiter_auto_flavor_is_checked_with_the_catalog_s_protofilter_parser(server, env):
    server.recruiter_create("align", 1, tasks_per_worker=2, flavor="auto:cpu>=8:tags!#G", concurrency=2,
                            provider="azure", region="auto")
    assert server.recruiters(batch="align")[0]["worker_flavor"] == "auto:cpu>=8:tags!#G"
    with pytest.raises(BadInput, match="worker_flavor 'auto:cpu>=x': protofilter 'cpu>=x': cpu takes a number"):
        server.recruiter_create("align", 2, tasks_per_worker=2, flavor="auto:cpu>=x", concurrency=2)
    res = run_cli("scitq-manage", "recruiter", "create", "-b", "b", "-f", "auto:speed>3", "-C", "1", env=env)
    assert res.returncode == 2 and "protofilter 'speed>3' is not" in res.stderr and "Traceback" not in res.stderr


def test_recruiters_match_finds_workers_whose_catalog_flavor_passes_an_auto_rule(server, procs):
    update_catalog(server.client, CatalogSource([fl("D4s"), fl("D8s", cpu=8, ram=32)]))
    server.client.register_worker("small", 1, flavor="D4s")
    server.client.register_worker("big", 1, flavor="D8s")
    server.client.register_worker("static", 1)
    server.recruiter_create("align", 1, tasks_per_worker=2, flavor="auto:cpu>=8", concurrency=2)
    assert [w["name"] for w in server.recruiters_match(batch="align")] == ["big"]
    server.recruiter_create("align", 1, tasks_per_worker=2, flavor="local", concurrency=2)
    assert [w["name"] for w in server.recruiters_match(batch="align")] == ["static"]
