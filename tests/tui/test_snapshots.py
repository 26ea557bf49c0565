"""Every screen of the dashboard, drawn from the fixed data set with a frozen clock (SVG snapshots)."""

from __future__ import annotations

from pathlib import Path

from tui.kit import settle

SIZE = (160, 40)


def _after(*keys: str, then=None):
    async def before(pilot) -> None:
        await settle(pilot)
        for k in keys:
            await pilot.press(k)
            await settle(pilot)
        if then is not None:
            await then(pilot)
            await settle(pilot)
    return before


def test_the_workers_screen_lists_each_worker_with_its_settings_load_and_tasks(snap_compare, seeded, dashboard):
    assert snap_compare(dashboard(seeded, frozen=True), terminal_size=SIZE, run_before=_after())


def test_the_batches_screen_shows_progress_per_batch(snap_compare, seeded, dashboard):
    assert snap_compare(dashboard(seeded, frozen=True), terminal_size=SIZE, run_before=_after("b"))


def test_the_tasks_screen_lists_tasks_newest_first(snap_compare, seeded, dashboard):
    assert snap_compare(dashboard(seeded, frozen=True), terminal_size=SIZE, run_before=_after("t"))


def test_the_tasks_screen_filtered_by_status_and_sorted_by_name(snap_compare, seeded, dashboard):
    assert snap_compare(dashboard(seeded, frozen=True), terminal_size=SIZE,
                        run_before=_after("t", "o", "O", *("s" * 5)))


def test_the_task_detail_shows_commands_executions_history_and_output(snap_compare, seeded, dashboard):
    async def open_task_4(pilot) -> None:
        screen = pilot.app.screen
        screen.table.move_to_key(4)
        await pilot.press("enter")
    assert snap_compare(dashboard(seeded, frozen=True), terminal_size=SIZE,
                        run_before=_after("t", then=open_task_4))


def test_the_events_screen_tails_the_ledger(snap_compare, seeded, dashboard):
    assert snap_compare(dashboard(seeded, frozen=True), terminal_size=SIZE, run_before=_after("e"))


def test_the_help_lists_the_keys_of_the_screen(snap_compare, seeded, dashboard):
    assert snap_compare(dashboard(seeded, frozen=True), terminal_size=SIZE, run_before=_after("t", "question_mark"))


def test_the_command_editor_is_a_modal(snap_compare, seeded, dashboard):
    async def edit_task_7(pilot) -> None:
        pilot.app.screen.table.move_to_key(7)
        await pilot.press("c")
        # a blinking cursor would be drawn or not depending on when the picture is taken
        from textual.widgets import TextArea
        pilot.app.screen.query_one(TextArea).cursor_blink = False
    assert snap_compare(dashboard(seeded, frozen=True), terminal_size=SIZE, run_before=_after("t", then=edit_task_7))


def test_the_batch_pause_offers_the_signals(snap_compare, seeded, dashboard):
    assert snap_compare(dashboard(seeded, frozen=True), terminal_size=SIZE, run_before=_after("b", "down", "p"))


ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = Path(__file__).resolve().parent / "__snapshots__" / "test_snapshots"
DOC_IMAGES = {
    "tui-workers.svg": test_the_workers_screen_lists_each_worker_with_its_settings_load_and_tasks,
    "tui-batches.svg": test_the_batches_screen_shows_progress_per_batch,
    "tui-batch-pause.svg": test_the_batch_pause_offers_the_signals,
    "tui-tasks.svg": test_the_tasks_screen_lists_tasks_newest_first,
    "tui-tasks-filtered.svg": test_the_tasks_screen_filtered_by_status_and_sorted_by_name,
    "tui-edit-command.svg": test_the_command_editor_is_a_modal,
    "tui-task-detail.svg": test_the_task_detail_shows_commands_executions_history_and_output,
    "tui-events.svg": test_the_events_screen_tails_the_ledger,
    "tui-help.svg": test_the_help_lists_the_keys_of_the_screen,
}


def test_the_screenshots_in_the_docs_are_the_current_snapshots():
    """docs/tui.md shows these snapshots: after `--snapshot-update`, copy them to docs/img/ again."""
    guide = (ROOT / "docs" / "tui.md").read_text()
    for image, test in DOC_IMAGES.items():
        snapshot = (SNAPSHOTS / f"{test.__name__}.svg").read_bytes()
        assert (ROOT / "docs" / "img" / image).read_bytes() == snapshot, f"docs/img/{image} is out of date"
        assert f"img/{image}" in guide, f"docs/tui.md does not show {image}"
