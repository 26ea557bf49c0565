"""Events screen: the ledger tailing live, filtered by type, batch, task and worker."""

from __future__ import annotations

from tui.kit import run, until


def _shown(screen) -> list[dict[str, str]]:
    return [f for _eid, f in screen.shown]


def test_the_ledger_tails_live_and_filters_by_type_batch_and_task(server, dashboard):
    first = server.task_create_many([{"command": "true", "batch": "old"}])

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("e")
            screen = app.screen
            await until(pilot, lambda: screen.loaded, what="the last entries read")
            assert any(f.get("task") == str(first[0]) for f in _shown(screen))
            # live: new events arrive at the bottom, the cursor follows them
            ids = server.task_create_many([{"command": "true", "batch": "new"} for _ in range(3)])
            await until(pilot, lambda: sum(f.get("type") == "task.submitted" and f.get("batch") == "new"
                                           for f in _shown(screen)) == 3, what="3 new submissions")
            assert screen.table.cursor == screen.table.count - 1
            # type prefix
            await pilot.press("slash", *"batch.", "enter")
            await until(pilot, lambda: _shown(screen) and all(f["type"].startswith("batch.") for f in _shown(screen)),
                        what="only batch events")
            server.batch_stop("new")
            await until(pilot, lambda: any(f["type"] == "batch.paused" for f in _shown(screen)),
                        what="the pause, live")
            # task filter (tab to the task field)
            await pilot.press("x")
            await until(pilot, lambda: len(_shown(screen)) > 4, what="filters cleared")
            await pilot.press("slash", "tab", "tab", *str(ids[1]), "enter")
            await until(pilot, lambda: _shown(screen) and all(f.get("task") == str(ids[1]) for f in _shown(screen)),
                        what="only that task's events")
            # enter opens the task
            await pilot.press("enter")
            await until(pilot, lambda: app.screen.__class__.__name__ == "TaskDetail", what="the detail")
            assert app.screen.task_id == ids[1]
    run(scenario)


def test_a_filter_looks_further_back_than_the_lines_kept(server, dashboard, monkeypatch):
    import scitq.tui.screens.events as events_screen
    monkeypatch.setattr(events_screen, "START", 20)          # the screen opens with the last 20 entries
    (early,) = server.task_create_many([{"command": "true", "batch": "early"}])
    server.task_create_many([{"command": "true", "batch": "late"} for _ in range(50)])

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("e")
            screen = app.screen
            await until(pilot, lambda: screen.loaded, what="the last entries read")
            assert not any(f.get("batch") == "early" for f in _shown(screen))
            await pilot.press("slash", "tab", *"early", "enter")
            await until(pilot, lambda: any(f.get("task") == str(early) for f in _shown(screen)),
                        what="the early task found further back")
    run(scenario)
