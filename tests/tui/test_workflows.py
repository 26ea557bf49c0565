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
            await cursor_to(pilot, screen.table, "sg.total")
            await pilot.press("p")
            await until(pilot, lambda: app.screen.__class__.__name__ == "Choose", what="the pause choices")
            await pilot.press("enter")
            await until(pilot, lambda: next(b for b in server.batches() if b["batch"] == "sg.total")["paused"],
                        what="the step paused")
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
