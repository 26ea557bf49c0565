"""The provider contract: what every `scitq.cloud` provider does, run against each one.

To run it against a provider, subclass `ProviderContract` in a test module and give these fixtures:

    provider        the Provider under test (fresh for the test; its machines are deleted at the end)
    region          a region it offers
    flavor          a flavor name it offers in that region
    boot            a function (worker name) -> Bootstrap
    quota_limit     how many machines `create` allows before QuotaError (or None: the test is skipped)
    registers       True when created machines really run a worker that registers with the test's scitq
                    server (local, docker); False for fakes of cloud APIs (openstack, azure)

A module with fakes says in its docstring which double answers the provider's calls.
"""

from __future__ import annotations

import pytest

from helpers import wait_for
from scitq.cloud.provider import Flavor, Instance, Provider, ProviderError, Quota, QuotaError, machine_name


class ProviderContract:
    """Tests every provider passes; fixtures above."""

    def names(self, provider: Provider) -> set[str]:
        return {i.name for i in provider.list()}

    def test_the_provider_follows_the_protocol(self, provider):
        assert isinstance(provider, Provider)
        assert provider.name and provider.prefix

    def test_flavors_describe_sizes_and_prices_in_the_offered_regions(self, provider, region, flavor):
        flavors = provider.flavors()
        assert flavors and all(isinstance(f, Flavor) for f in flavors)
        assert region in provider.regions()
        here = provider.flavors(region)
        assert flavor in {f.name for f in here}
        for f in here:
            assert f.provider == provider.name and f.region == region
            assert f.cpu >= 1 and f.ram >= 0 and f.disk >= 0 and f.cost >= 0 and 0 <= f.eviction <= 100
            assert set(f.tags) <= set("GMN")

    def test_quotas_are_cpus_per_region(self, provider, region):
        quotas = provider.quotas()
        assert quotas and all(isinstance(q, Quota) for q in quotas)
        assert region in {q.region for q in quotas}
        for q in quotas:
            assert q.provider == provider.name
            assert q.cpu_limit is None or q.cpu_limit >= 0
            assert q.cpu_used >= 0

    def test_a_created_machine_is_listed_active_registers_and_is_gone_after_delete(
            self, provider, region, flavor, boot, registers, request):
        b = boot("contract-one")
        inst = provider.create(flavor, region, b, timeout=120)
        assert isinstance(inst, Instance)
        assert inst.name == machine_name(provider.prefix, b.worker)
        assert inst.status == "active" and inst.region == region and inst.flavor == flavor
        listed = {i.name: i for i in provider.list()}
        assert inst.name in listed and listed[inst.name].status == "active"
        if registers:
            server = request.getfixturevalue("scitq_server")
            wait_for(lambda: b.worker in {w["name"] for w in server.workers()}, timeout=60,
                     what=f"worker {b.worker} to register")
            wait_for(lambda: server.workers(name=b.worker)[0]["status"] == "running", timeout=60,
                     what=f"worker {b.worker} to run")
            w = server.workers(name=b.worker)[0]
            assert w["concurrency"] == b.concurrency and w["flavor"] == flavor
        provider.delete(inst.name, region)
        assert inst.name not in self.names(provider)
        provider.delete(inst.name, region)          # already gone: fine
        assert inst.name not in self.names(provider)

    def test_a_created_worker_runs_a_task(self, provider, region, flavor, boot, registers, request):
        if not registers:
            pytest.skip("the machines of this provider's double run no worker")
        server = request.getfixturevalue("scitq_server")
        b = boot("contract-task")
        inst = provider.create(flavor, region, b, timeout=120)
        try:
            t = server.task_create("echo from-a-provider", batch=b.batch)
            wait_for(lambda: server.task_get(t["task_id"])["status"] == "succeeded", timeout=90,
                     what="the task to succeed on the created worker")
            assert server.executions(task_id=t["task_id"])[-1]["worker_id"] == server.client.worker_id(b.worker)
        finally:
            provider.delete(inst.name, region)

    def test_creating_the_same_machine_twice_gives_the_one_machine(self, provider, region, flavor, boot):
        b = boot("contract-twice")
        first = provider.create(flavor, region, b, timeout=120)
        try:
            again = provider.create(flavor, region, b, timeout=120)
            assert again.name == first.name
            assert [i.name for i in provider.list()].count(first.name) == 1
        finally:
            provider.delete(first.name, region)

    def test_creating_past_the_quota_is_a_quota_error_and_leaves_nothing(
            self, provider, region, flavor, boot, quota_limit):
        if quota_limit is None:
            pytest.skip("no quota to reach with this provider")
        made = []
        try:
            for i in range(quota_limit):
                made.append(provider.create(flavor, region, boot(f"contract-q{i}"), timeout=120))
            before = self.names(provider)
            with pytest.raises(QuotaError) as err:
                provider.create(flavor, region, boot("contract-over"), timeout=120)
            assert err.value.kind == "quota" and err.value.retryable
            assert self.names(provider) == before
        finally:
            for inst in made:
                provider.delete(inst.name, region)
        assert not {i.name for i in made} & self.names(provider)

    def test_an_unknown_flavor_is_refused_for_good(self, provider, region, boot):
        with pytest.raises(ProviderError) as err:
            provider.create("no-such-flavor", region, boot("contract-bad"), timeout=60)
        assert err.value.kind == "unsupported_flavor" and not err.value.retryable
        assert machine_name(provider.prefix, "contract-bad") not in self.names(provider)

    def test_deleting_a_machine_that_never_existed_is_fine(self, provider, region):
        provider.delete(machine_name(provider.prefix, "never-was"), region)
