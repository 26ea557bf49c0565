"""Workflows screen: the step batches of each workflow with what each step needs, through the real server."""

from __future__ import annotations

import warnings

from scitq.tui.screens.workflows import split_step
from tui.kit import cursor_to, run, settle, until


def build(name: str, url: str) -> None:
    from scitq.workflow import Workflow
    warnings.simplefilter("ignore")
    wf = Workflow(name=name, server=url, flavor="local", max_step_workers=1)
    scatter = [wf.step(batch="count", command="true", concurrency=2) for _ in range(3)]
    gather = wf.step(batch="total", command="true", concurrency=1, required_tasks=scatter)
    wf.step(batch="report", command="true", concurrency=1, required_tasks=gather)
    wf._send()


def test_a_batch_name_is_a_step_only_with_a_workflow_and_a_step_around_its_dot():
    assert split_step("qc.fastp") == ("qc", "fastp")
    assert split_step("Default") is None and split_step(".x") is None and split_step("x.") is None


def test_the_workflows_screen_lists_each_step_with_its_counts_and_the_steps_it_needs(server, redis_url, dashboard):
    build("sg", redis_url)
    server.task_create_many([{"command": "true", "batch": "plain"}])

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("W")
            screen = app.screen
            assert screen.MODE == "workflows"
            await until(pilot, lambda: len(screen.table.rows) == 3, what="the three steps")
            await settle(pilot)
            rows = {r.key: [str(c) for c in r.cells] for r in screen.table.rows.values()}
            assert set(rows) == {"sg.count", "sg.total", "sg.report"}, "a batch that is no step is not listed"
            assert rows["sg.count"][:2] == ["sg", "count"]
            needs = {k: v[-2] for k, v in rows.items()}
            assert needs == {"sg.count": "·", "sg.total": "count", "sg.report": "total"}
            pending = 4 + 1     # workflow, step, state, progress, then waiting, pending
            assert rows["sg.count"][pending] == "3" and rows["sg.total"][pending - 1] == "1"
            await cursor_to(pilot, screen.table, "sg.count")
            await settle(pilot)
            detail = str(screen.detail.render())
            assert "Recruiters of sg.count" in detail
            assert ("rank 1: flavor local in region auto, concurrency 2, 2 tasks per worker, at most 1 worker, "
                    "recycle only") in detail
            await cursor_to(pilot, screen.table, "sg.total")
            await pilot.press("p")
            await until(pilot, lambda: app.screen.__class__.__name__ == "Choose", what="the pause choices")
            await pilot.press("enter")
            await until(pilot, lambda: next(b for b in server.batches() if b["batch"] == "sg.total")["paused"],
                        what="the step paused")
    run(scenario)


def test_the_workflows_screen_shows_the_workers_its_recruiters_moved_into_a_step(server, r, redis_url, dashboard):
    """Given an idle live worker of flavor local, the server's recruiter of the first step moves it there,
    and the screen names it under the step's recruiters."""
    from scitq import keys
    from scitq.inbox import send_command
    send_command(r, "worker.register", {"name": "w-idle", "concurrency": 1, "flavor": "local", "incarnation": "i"})
    r.set(keys.worker_alive("w-idle"), "i", ex=120)
    build("rc", redis_url)

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("W")
            screen = app.screen
            await until(pilot, lambda: len(screen.table.rows) == 3, what="the three steps")
            await cursor_to(pilot, screen.table, "rc.count")
            await until(pilot, lambda: "Workers in the step: w-idle" in str(screen.detail.render()), timeout=30,
                        what="the recruited worker under the step")
    run(scenario)


def test_the_workflows_screen_draws_the_steps_of_each_workflow(snap_compare, server, redis_url, dashboard):
    build("qc", redis_url)

    async def before(pilot) -> None:
        await pilot.press("W")
        await until(pilot, lambda: len(pilot.app.screen.table.rows) == 3, what="the three steps")
        await settle(pilot)
    assert snap_compare(dashboard(frozen=True), terminal_size=(160, 12), run_before=before)


def test_the_workflows_screenshot_in_the_docs_is_the_current_snapshot():
    """docs/tui.md shows this snapshot: after `--snapshot-update`, copy it to docs/img/ again."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    snap = root / "tests" / "tui" / "__snapshots__" / "test_workflows" / \
        "test_the_workflows_screen_draws_the_steps_of_each_workflow.svg"
    assert (root / "docs" / "img" / "tui-workflows.svg").read_bytes() == snap.read_bytes()
    assert "img/tui-workflows.svg" in (root / "docs" / "tui.md").read_text()


def test_a_recruiter_is_described_with_every_field_v1_gives_it():
    from scitq.projections.views import RecruiterView
    from scitq.tui.screens.workflows import describe_recruiter
    rec = RecruiterView(batch="wf.align", rank=2, tasks_per_worker=4, worker_flavor="b2-7", worker_concurrency=4,
                        worker_prefetch=1, worker_provider="ovh", worker_region="GRA11", maximum_workers=3,
                        minimum_tasks=10)
    assert describe_recruiter(rec) == ("rank 2: flavor b2-7 from ovh/GRA11, concurrency 4 (prefetch 1), 4 tasks per "
                                       "worker, at most 3 workers, from 10 pending tasks")
