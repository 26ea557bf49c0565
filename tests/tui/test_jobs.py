"""Jobs screen and v1's "Add worker" form, through a real server, its real job runner and the `local` provider
(real worker processes)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cloud"))
from deploykit import cloud_env, kill_left_machines, machines  # noqa: E402,F401 (fixtures)
from helpers import wait_for  # noqa: E402
from tui.kit import cursor_to, run, until  # noqa: E402
from scitq.events import event_json  # noqa: E402


async def fill(pilot, app, **fields):
    for name, value in fields.items():
        box = app.screen.query_one(f"#add-{name}")
        box.value = value
    await pilot.pause(0.05)


def test_the_add_worker_form_deploys_a_worker_and_the_jobs_screen_follows_its_job(cloud_env, procs, dashboard,
                                                                                   tmp_path):
    from scitq.lib import Server
    procs.server()
    s = Server()

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("j")
            await until(pilot, lambda: app.screen.__class__.__name__ == "JobsScreen", what="the Jobs screen")
            await pilot.press("a")
            await until(pilot, lambda: app.screen.__class__.__name__ == "AddWorker", what="the form")
            assert app.screen.query_one("#add-concurrency").value == "1"
            assert app.screen.query_one("#add-prefetch").value == "0"
            assert app.screen.query_one("#add-number").value == "1"
            await pilot.press("enter")
            await until(pilot, lambda: "Flavor must be specified" in str(app.screen.query_one("#add-error").render()),
                        what="the missing flavor said")
            await fill(pilot, app, flavor="local")
            await pilot.press("enter")
            await until(pilot, lambda: "Region must be specified" in str(app.screen.query_one("#add-error").render()),
                        what="the missing region said")
            await fill(pilot, app, region="local", provider="local", batch="tb", concurrency="2")
            await pilot.press("enter")
            await until(pilot, lambda: app.screen.__class__.__name__ == "JobsScreen", what="the form closed")
            name = f"{cloud_env['SCITQ_SERVER_NAME']}-node1"
            job = lambda: next((j for j in app.screen.jobs if j.id == f"deploy-{name}"), None)  # noqa: E731
            await until(pilot, job, timeout=30, what="the deploy job listed")
            await until(pilot, lambda: job().status == "finished", timeout=60, what="the job finished")
            assert job().progress == 100 and job().worker == name
    run(scenario)
    wait_for(lambda: s.workers(), timeout=60, what="the worker to register")
    [w] = s.workers()
    assert (w["batch"], w["concurrency"]) == ("tb", 2)
    s.worker_delete(w["worker_id"])
    wait_for(lambda: machines(tmp_path) == [], timeout=60, what="the machine destroyed")


def test_a_failed_deploy_job_is_retried_from_the_jobs_screen_by_asking_for_the_deploy_again(cloud_env, procs, dashboard):
    """The provider `nowhere` does not exist: the deploy job fails at once (no retry left: SCITQ_DEPLOY_RETRIES=0);
    `r` asks for the same deploy again, which fails the same way."""
    from scitq.lib import Server
    procs.env["SCITQ_DEPLOY_RETRIES"] = "0"
    procs.server()
    s = Server()
    prefix = cloud_env["SCITQ_SERVER_NAME"]
    s.worker_deploy(1, "b", "r", "f", 1, "nowhere")

    def asked():
        return [event_json(f) for _, f in s.client.events() if f.get("type") == "deploy.requested"]

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("j")
            first = f"deploy-{prefix}-node1"
            job = lambda: next((j for j in getattr(app.screen, "jobs", []) if j.id == first), None)  # noqa: E731
            await until(pilot, lambda: job() is not None and job().status == "failed", timeout=60,
                        what="the failed job")
            await cursor_to(pilot, app.screen.table, first)
            assert "unknown provider 'nowhere'" in str(app.screen.table.row().cells[6])
            await pilot.press("r")
            await until(pilot, lambda: len(asked()) == 2, timeout=30, what="the deploy asked for again")
    run(scenario)
    again = asked()[-1]
    assert again["worker"] == f"{prefix}-node1", "the failed deploy's name is free again: it is reused (v1)"
    assert again.get("why", "user") == "user" and "retry of the failed deploy" in again["reason"]
    wait_for(lambda: [d.status for d in s.client.deploys()] == ["failed"], timeout=60, what="failed again")
