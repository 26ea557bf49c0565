"""Batches screen: pause/go (with a signal), relaunch of failed tasks, deletion — through the real server."""

from __future__ import annotations

from helpers import wait_for
from scitq.errors import NotFound
from tui.kit import cursor_to, run, settle, until


def _batch(s, name):
    return next((b for b in s.batches() if b["batch"] == name), None)


def test_a_batch_is_paused_and_resumed_from_its_line(server, dashboard):
    server.task_create_many([{"command": "true", "batch": "one"}, {"command": "true", "batch": "two"}])

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("b")
            screen = app.screen
            await cursor_to(pilot, screen.table, "two")
            await pilot.press("p")
            await until(pilot, lambda: app.screen.__class__.__name__ == "Choose", what="the pause choices")
            await pilot.press("enter")                       # first choice: pause, no signal
            await until(pilot, lambda: _batch(server, "two")["paused"], what="batch two paused")
            await until(pilot, lambda: "paused" in str(screen.table.row().cells[1]), what="shown paused")
            assert not _batch(server, "one")["paused"]
            await pilot.press("g", "enter")
            await until(pilot, lambda: not _batch(server, "two")["paused"], what="batch two going again")
    run(scenario)


def test_pausing_with_stop_pauses_running_tasks_and_go_with_cont_resumes_them(server, procs, dashboard):
    procs.worker("w1", concurrency=1, batch="long")
    (tid,) = server.task_create_many([{"command": "sleep 30", "batch": "long"}])
    wait_for(lambda: server.task_get(tid)["status"] == "running", what="the task to run")

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("b")
            await until(pilot, lambda: app.screen.table.current_key == "long", what="the batch listed")
            await pilot.press("p", "down", "enter")          # second choice: SIGSTOP
            await until(pilot, lambda: server.task_get(tid)["status"] == "paused", what="the task paused")
            assert _batch(server, "long")["paused"]
            await pilot.press("g", "down", "enter")          # second choice: SIGCONT
            await until(pilot, lambda: server.task_get(tid)["status"] == "running", what="the task running again")
            await until(pilot, lambda: not _batch(server, "long")["paused"], what="the batch going")
            # Then pause with SIGTERM: the running task ends (failed), nothing new starts
            await pilot.press("p", "down", "down", "enter")
            await until(pilot, lambda: server.task_get(tid)["status"] == "failed", what="the task terminated")
    run(scenario)
    ex = server.executions(task_id=tid)
    assert ex[-1]["return_code"] != 0


def test_relaunch_failed_relaunches_only_the_failed_tasks_of_the_batch(server, dashboard):
    ids = server.task_create_many([{"command": "false", "batch": "x", "name": f"t{i}"} for i in range(3)])
    other = server.task_create_many([{"command": "false", "batch": "y"}])
    for t in ids[:2] + other:
        server.task_update(t, status="failed")

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("b")
            await until(pilot, lambda: app.screen.table.current_key == "x", what="batch x")
            await until(pilot, lambda: "2" in str(app.screen.table.row().cells[9]), what="2 failed shown")
            await pilot.press("r")
            await until(pilot, lambda: app.screen.__class__.__name__ == "Confirm", what="the confirmation")
            await pilot.press("y")
            await until(pilot, lambda: server.task_status(ids) == ["pending"] * 3, what="relaunched")
    run(scenario)
    assert server.task_status(other) == ["failed"]


def test_deleting_a_batch_asks_then_removes_it_and_its_tasks(server, dashboard):
    ids = server.task_create_many([{"command": "true", "batch": "gone"} for _ in range(3)])
    server.task_create_many([{"command": "true", "batch": "stays"}])

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("b")
            screen = app.screen
            await cursor_to(pilot, screen.table, "gone")
            await pilot.press("d", "n")
            await settle(pilot)
            assert _batch(server, "gone") is not None
            await pilot.press("d", "y")
            await until(pilot, lambda: _batch(server, "gone") is None, what="the batch deleted")
            await until(pilot, lambda: [r.key for r in screen.table.rows.values()] == ["stays"], what="redrawn")
    run(scenario)
    for t in ids:
        try:
            server.task_get(t)
            raise AssertionError(f"task {t} still exists")
        except NotFound:
            pass


def test_enter_on_a_batch_lists_its_tasks(server, dashboard):
    server.task_create_many([{"command": "true", "batch": "p"}] * 2 + [{"command": "true", "batch": "q"}] * 3)

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("b")
            await cursor_to(pilot, app.screen.table, "q")
            await pilot.press("enter")
            await until(pilot, lambda: app.screen.__class__.__name__ == "TasksScreen", what="the tasks")
            await until(pilot, lambda: app.screen.plan.count == 3 and app.screen.query_.batch == "q",
                        what="the tasks of q only")
    run(scenario)


def test_the_duration_column_shows_the_runtimes_of_ended_tasks_as_they_end(server, procs, dashboard):
    """Average [min-max] of the succeeded tasks' runtimes, then ✗ and the failed ones' average."""
    procs.worker("w1", concurrency=2, batch="timed")
    server.task_create_many([{"command": "sleep 1", "batch": "timed"}, {"command": "sleep 3", "batch": "timed"}])

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("b")
            screen = app.screen
            await until(pilot, lambda: screen.table.current_key == "timed", what="the batch listed")

            def duration() -> str:
                row = screen.table.row()
                from scitq.tui.screens.batches import COLUMNS
                return str(row.cells[[c.key for c in COLUMNS].index("duration")]) if row else ""
            await until(pilot, lambda: duration() == "2s [1-3]", timeout=30, what="2s [1-3] for the two sleeps")
            # When a task fails, Then its runtime comes after ✗ (read again within a few seconds)
            server.task_create_many([{"command": "false", "batch": "timed"}])
            await until(pilot, lambda: duration() == "2s [1-3] ✗0s", timeout=30, what="the failure's runtime")
    run(scenario)
