"""Recruiting completed, pure: which machines are deployed, on which offer, and when they are released.

No Redis and no provider here: the Decider runs in memory with an injected clock (`Decider.now`); the flavor
catalog is recorded by the command `scitq flavors update` sends, and the deploy jobs' reports are sent as the
job runner sends them (`deploy.report` commands).
"""

from __future__ import annotations

import msgspec
import pytest

from scitq.errors import BadInput, Conflict
from scitq.events import commands as c
from scitq.projections.state import State
from scitq.server.decide import Decider
from scitq.server.deploy_plan import choose


def tags(events) -> list[str]:
    return [e.__struct_config__.tag for e in events]


THREE_REGIONS = (
    [{"name": "c8", "provider": "ovh", "region": "r1", "cpu": 8, "ram": 30, "cost": 1.0},
     {"name": "c16", "provider": "ovh", "region": "r2", "cpu": 16, "ram": 60, "cost": 3.0},
     {"name": "c4", "provider": "ovh", "region": "r3", "cpu": 4, "ram": 15, "cost": 0.5}],
    [{"provider": "ovh", "region": "r1", "cpu_limit": 8}, {"provider": "ovh", "region": "r2", "cpu_limit": 16},
     {"provider": "ovh", "region": "r3", "cpu_limit": 4}])


def world(*, pending: dict[str, int] | None = None, recruiters: list[dict] = (), offers=THREE_REGIONS,
          workers: list[tuple[str, str, str]] = (), now: float = 1000.0) -> Decider:
    d = Decider(State())
    d.now = now
    d.name_prefix = "srv"
    flavors, quotas = offers
    providers = {f["provider"] for f in flavors}
    for p in sorted(providers):
        d.command("flavor.update_catalog", msgspec.convert(
            {"provider": p, "flavors": [f for f in flavors if f["provider"] == p],
             "quotas": [q for q in quotas if q["provider"] == p]}, c.UpdateFlavorCatalog))
    for name, batch, flavor in workers:
        d.command("worker.register", c.RegisterWorker(name=name, concurrency=1, batch=batch, flavor=flavor,
                                                      incarnation="i1"))
    for batch, n in (pending or {}).items():
        d.command("task.submit", c.SubmitTasks(tasks=[c.TaskSpec(command=f"echo {i}", batch=batch)
                                                      for i in range(n)]))
    for rec in recruiters:
        d.command("recruiter.create", c.CreateRecruiter(**{"tasks_per_worker": 1, "worker_flavor": "auto:cpu>=8",
                                                           "worker_concurrency": 1, "worker_provider": "ovh",
                                                           "worker_region": "auto", **rec}))
    d.take()
    return d


def deploys(d: Decider) -> list[tuple[str, str, str, float]]:
    """One round of the policy: (worker, region, flavor, cost) of each machine asked for."""
    d.recruit()
    events, effects = d.take()
    asked = [(e.worker, e.region, e.flavor, e.cost) for e in events if tags([e]) == ["deploy.requested"]]
    assert [(f.target, f.fields["op"]) for f in effects if f.kind == "job"] == [(w, "deploy") for w, *_ in asked]
    return asked


def test_the_cheapest_matching_flavor_goes_first_and_the_next_one_once_its_region_quota_is_used():
    """Three regions with cpu quotas 8/16/4, flavors costing 1 (8 cpu, r1), 3 (16 cpu, r2), 0.5 (4 cpu, r3):
    a `cpu>=8` recruiter with 10 tasks deploys the cost-1 flavor first, the cost-3 one once r1's quota is
    used, and the 4-cpu one never (it does not match, cheaper as it is)."""
    d = world(pending={"b": 10}, recruiters=[{"batch": "b"}])
    assert deploys(d) == [("srv-node1", "r1", "c8", 1.0), ("srv-node2", "r2", "c16", 3.0)]
    wanted = [e for e in d.take()[0]]
    assert wanted == []
    assert d.state.recruiters[("b", 1)].deploy_wanted, "the rest of the need is said once, not deployed"
    d.now += 60
    assert deploys(d) == [], "machines being deployed count as workers and quotas stay used: no double deploy"


def test_a_plain_flavor_region_and_provider_deploy_exactly_that_even_outside_the_catalog():
    d = world(pending={"b": 3}, recruiters=[{"batch": "b", "worker_flavor": "local", "worker_provider": "local",
                                              "worker_region": "local", "maximum_workers": 2}], offers=([], []))
    assert deploys(d) == [("srv-node1", "local", "local", 0.0), ("srv-node2", "local", "local", 0.0)]


def test_recycling_comes_before_deploying_and_in_flight_deploys_count_as_workers():
    d = world(pending={"b": 3}, workers=[("w1", "Default", "c8")],
              recruiters=[{"batch": "b", "worker_flavor": "c8", "worker_region": "r1", "maximum_workers": 3}],
              offers=([{"name": "c8", "provider": "ovh", "region": "r1", "cpu": 8, "ram": 30, "cost": 1.0}], []))
    d.recruit()
    events, _ = d.take()
    assert tags(events) == ["worker.recruited", "deploy.requested", "deploy.requested"]
    assert [e.worker for e in events[1:]] == ["srv-node1", "srv-node2"]
    d.now += 5
    assert deploys(d) == []


def test_an_auto_flavor_recycles_idle_workers_whose_catalog_flavor_passes_its_protofilters_before_deploying():
    d = world(pending={"b": 2}, workers=[("small", "Default", "c4"), ("big", "Default", "c16")],
              recruiters=[{"batch": "b", "maximum_workers": 2}])
    d.recruit()
    events, _ = d.take()
    assert [(e.__struct_config__.tag, e.worker) for e in events] == [("worker.recruited", "big"),
                                                                     ("deploy.requested", "srv-node1")]
    assert events[1].flavor == "c8", "the 4-cpu worker does not pass cpu>=8: one machine is deployed instead"


@pytest.mark.parametrize("worker_flavor, rule, recycled", [
    ("c16", "auto:cpu>=8", True),          # a catalog flavor passing the rule
    ("c4", "auto:cpu>=8", False),          # a catalog flavor failing it
    ("local", "auto:cpu>=8", False),       # not in the catalog
    ("c16", "c16", True),                  # the exact name
    ("c16", "auto:cpu>=8:ram>=100", False),
])
def test_an_auto_recruiter_recycles_idle_workers_whose_catalog_flavor_passes_its_protofilters(
        worker_flavor, rule, recycled):
    d = world(pending={"b": 1}, workers=[("w1", "Default", worker_flavor)],
              recruiters=[{"batch": "b", "worker_flavor": rule, "worker_provider": None, "worker_region": None}])
    d.recruit()
    events, _ = d.take()
    assert tags(events) == (["worker.recruited"] if recycled else [])


@pytest.mark.parametrize("what, rec, expected", [
    ("maximum_workers caps the machines", {"maximum_workers": 1}, 1),
    ("maximum_workers 0 never deploys (max_workflow_workers=0)", {"maximum_workers": 0}, 0),
    ("no provider: recycle only", {"worker_provider": None}, 0),
    ("tasks_per_worker divides the need", {"tasks_per_worker": 5, "worker_region": "r2"}, 1),
])
def test_caps_on_deploying(what, rec, expected):
    d = world(pending={"b": 10}, recruiters=[{"batch": "b", "worker_region": "r2", **rec}])
    assert len(deploys(d)) == expected, what


def report(d: Decider, worker: str, step: str, **fields):
    d.command("deploy.report", c.DeployReport(worker=worker, step=step, **fields))
    return d.take()[0]


def test_an_unsupported_flavor_is_blacklisted_in_its_region_and_the_next_offer_is_taken():
    d = world(pending={"b": 1}, recruiters=[{"batch": "b"}])
    [(name, region, flavor, _)] = deploys(d)
    assert (region, flavor) == ("r1", "c8")
    events = report(d, name, "failed", kind="unsupported_flavor", message="flavor c8 unknown", final=True)
    assert tags(events) == ["deploy.failed"]
    d.now += 3600
    assert [(r, f) for _, r, f, _ in deploys(d)] == [("r2", "c16")], "r1/c8 is never tried again"


def test_after_an_auth_error_the_provider_is_not_used_again_and_a_quota_error_waits_before_a_new_try():
    d = world(pending={"b": 1}, recruiters=[{"batch": "b", "worker_region": "r1"}])
    [(name, *_)] = deploys(d)
    report(d, name, "failed", kind="quota", message="Quota exceeded", final=True)
    d.now += 10
    assert deploys(d) == [], "left aside for a while after a quota error"
    d.now += 400
    [(name2, *_)] = deploys(d)
    report(d, name2, "failed", kind="auth", message="401", final=True)
    d.now += 100_000
    assert deploys(d) == [], "bad credentials: never again"


def test_a_failed_try_that_will_be_retried_keeps_the_deploy_alive():
    d = world(pending={"b": 1}, recruiters=[{"batch": "b", "worker_region": "r1"}])
    [(name, *_)] = deploys(d)
    report(d, name, "started", attempt=1)
    report(d, name, "failed", kind="transient", message="timeout", attempt=1, final=False)
    assert d.state.deploys[name].status == "deploying"
    d.now += 1
    assert deploys(d) == []


def running(d: Decider, name: str, batch: str = "b") -> None:
    report(d, name, "started")
    report(d, name, "succeeded", instance="i-1", ipv4="10.0.0.1")
    d.command("worker.register", c.RegisterWorker(name=name, concurrency=1, batch=batch, incarnation="x"))
    d.take()


def test_an_idle_deployed_worker_is_destroyed_after_the_idle_timeout_and_its_cost_is_recorded():
    d = world(pending={"b": 1}, recruiters=[{"batch": "b", "worker_region": "r1"}])
    [(name, *_)] = deploys(d)
    running(d, name)
    assert d.state.workers[d.state.worker_ids[name]].permanent is False
    tid = next(iter(d.state.tasks))
    d.command("task.delete", c.TaskIds(task_ids=[tid]))
    d.take()
    d.release(idle_timeout=300, register_timeout=600)
    d.now += 299
    assert d.release(idle_timeout=300, register_timeout=600) == []
    d.now += 1
    assert d.release(idle_timeout=300, register_timeout=600) == [name]
    events, effects = d.take()
    assert tags(events) == ["destroy.requested"] and events[0].why == "idle" and "idle for 300s" in events[0].reason
    assert [(e.target, e.fields["op"]) for e in effects if e.kind == "job"] == [(name, "destroy")]
    d.now += 60
    events = report(d, name, "destroyed")
    assert tags(events) == ["worker.deleted", "destroy.done"]
    done = events[-1]
    assert done.seconds == 360 and done.cost == pytest.approx(360 * 1.0 / 3600)
    assert d.state.batch_costs == {"b": pytest.approx(0.1)}


def test_a_permanent_worker_is_never_released_and_a_busy_one_waits():
    d = world(pending={"b": 2}, workers=[("static", "Default", "x")])
    d.now += 10_000
    assert d.release(idle_timeout=1, register_timeout=1) == []


def test_a_machine_whose_worker_never_registers_is_destroyed_after_the_register_timeout():
    d = world(pending={"b": 1}, recruiters=[{"batch": "b", "worker_region": "r1"}])
    [(name, *_)] = deploys(d)
    report(d, name, "succeeded", instance="i-1")
    d.now += 599
    assert d.release(idle_timeout=300, register_timeout=600) == []
    d.now += 1
    assert d.release(idle_timeout=300, register_timeout=600) == [name]
    assert d.take()[0][0].why == "never registered"


def test_deleting_a_deployed_worker_destroys_its_machine():
    d = world(pending={"b": 1}, recruiters=[{"batch": "b", "worker_region": "r1"}])
    [(name, *_)] = deploys(d)
    running(d, name)
    d.command("worker.delete", c.WorkerId(worker_id=d.state.worker_ids[name]))
    events, effects = d.take()
    assert tags(events)[-2:] == ["worker.deleted", "destroy.requested"] and events[-1].why == "deleted"
    assert [(e.target, e.fields["op"]) for e in effects if e.kind == "job"] == [(name, "destroy")]


def test_an_evicted_worker_gives_its_tasks_back_without_using_a_retry_and_its_machine_is_destroyed():
    d = world(pending={"b": 1}, recruiters=[{"batch": "b", "worker_region": "r1"}])
    [(name, *_)] = deploys(d)
    running(d, name)
    d.dispatch()
    tid = next(iter(d.state.tasks))
    t = d.state.tasks[tid]
    d.fact(name, "claimed", c.Claimed(task_id=tid, attempt=t.attempt), "x")
    d.fact(name, "started", c.Started(task_id=tid, attempt=t.attempt, command="echo"), "x")
    d.take()
    retry = d.state.tasks[tid].retry
    d.command("worker.update", c.UpdateWorker(worker_id=d.state.worker_ids[name], status="evicted"))
    events, _ = d.take()
    assert "worker.evicted" in tags(events) and tags(events)[-1] == "destroy.requested"
    assert events[-1].why == "evicted"
    assert d.state.tasks[tid].status == "pending" and d.state.tasks[tid].retry == retry


def test_machines_a_provider_runs_that_no_live_deploy_owns_are_destroyed_as_orphans():
    d = world(pending={"b": 1}, recruiters=[{"batch": "b", "worker_region": "r1"}])
    [(name, *_)] = deploys(d)
    d.command("deploy.orphans", c.DeployOrphans(provider="ovh", machines={name: "r1", "srv-node9": "r2"}))
    events, effects = d.take()
    assert [(e.worker, e.why) for e in events] == [("srv-node9", "orphan")]
    assert [(e.target, e.fields) for e in effects if e.kind == "job"] == \
        [("srv-node9", {"op": "destroy", "provider": "ovh", "region": "r2"})]


def test_worker_deploy_names_workers_like_v1_and_refuses_what_no_offer_gives():
    d = world()
    res = d.command("worker.deploy", c.DeployWorkers(number=2, provider="auto", region="auto",
                                                     flavor="auto:cpu>=8:ram>=30", batch="x", concurrency=4))
    assert res == {"workers": ["srv-node1", "srv-node2"], "asked": 2}
    events, _ = d.take()
    assert [(e.region, e.why, e.batch, e.concurrency) for e in events] == [("r1", "user", "x", 4),
                                                                           ("r2", "user", "x", 4)]
    with pytest.raises(Conflict, match="Could not find a flavor satisfying auto:cpu>=8"):
        d.command("worker.deploy", c.DeployWorkers(provider="ovh", region="auto", flavor="auto:cpu>=8"))
    with pytest.raises(BadInput, match="protofilter 'cpu>>8'"):
        d.command("worker.deploy", c.DeployWorkers(provider="ovh", region="auto", flavor="auto:cpu>>8"))


def test_choose_ignores_a_region_whose_quota_is_used_by_live_machines():
    from msgspec import convert
    from scitq.events.model import FlavorFields, QuotaFields
    rows = [convert(f, FlavorFields) for f in THREE_REGIONS[0]]
    quotas = [convert(q, QuotaFields) for q in THREE_REGIONS[1]]
    assert choose("auto:cpu>=8", "auto", "ovh", rows, quotas, {("openstack", "r1"): 8}, {}, 0.0).region == "r2"
    assert choose("auto:cpu>=8", "auto", "ovh", rows, quotas, {("openstack", "r1"): 8, ("openstack", "r2"): 1},
                  {}, 0.0) is None
