"""Live behaviour: changes show within a second, Redis outages show a banner and heal, read-only hides actions."""

from __future__ import annotations

import time

from helpers import CuttableProxy
from tui.kit import notifications, run, settle, until


def test_a_change_is_on_screen_within_a_second_of_its_event(server, dashboard):
    server.task_create_many([{"command": "true", "batch": "lat"}])

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("t")
            screen = app.screen
            await until(pilot, lambda: screen.plan.count == 1, what="the first task")
            await settle(pilot)
            start = time.monotonic()
            (tid,) = server.task_create_many([{"command": "true", "batch": "lat"}])
            await until(pilot, lambda: tid in [r.key for r in screen.table.rows.values()], what="the new task")
            assert time.monotonic() - start < 1.0
            await pilot.press("b")
            await settle(pilot)
            start = time.monotonic()
            server.batch_stop("lat")
            await until(pilot, lambda: "paused" in str(app.screen.table.row().cells[1]), what="the pause")
            assert time.monotonic() - start < 1.0
    run(scenario)


def test_when_redis_goes_away_a_banner_says_so_and_the_dashboard_comes_back_by_itself(server, valkey, redis_url,
                                                                                     dashboard):
    proxy = CuttableProxy(valkey.port)
    db = redis_url.rsplit("/", 1)[1]
    via_proxy = f"redis://:{valkey.password}@127.0.0.1:{proxy.port}/{db}"
    server.task_create_many([{"command": "true", "batch": "cut"}])

    async def scenario():
        app = dashboard(via_proxy)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("b")
            await until(pilot, lambda: app.screen.table.current_key == "cut", what="the batch")
            banner = app.screen.query_one("Banner")
            assert not banner.has_class("-shown")
            proxy.cut()
            await until(pilot, lambda: app.offline and banner.has_class("-shown"), what="the banner")
            # an action while Redis is away: one line, no crash
            await pilot.press("p", "enter")
            await until(pilot, lambda: any("cannot reach Redis" in n for n in notifications(app)),
                        what="the action's error")
            server.task_create_many([{"command": "true", "batch": "meanwhile"}])   # the server still works
            await pilot.pause(1.0)
            assert app.is_running
            proxy.restore()
            await until(pilot, lambda: not app.offline and not banner.has_class("-shown"), timeout=15,
                        what="the banner gone")
            await until(pilot, lambda: "meanwhile" in [r.key for r in app.screen.table.rows.values()],
                        what="what happened meanwhile")
    try:
        run(scenario)
    finally:
        proxy.close()


def test_read_only_hides_every_action(server, dashboard):
    server.task_create_many([{"command": "true", "batch": "ro"}])
    server.client.command("worker.register", {"name": "w", "concurrency": 1})

    async def scenario():
        app = dashboard(read_only=True)
        async with app.run_test(size=(160, 40)) as pilot:
            for key, screen_keys in (("w", {"p", "m", "d", "plus", "space"}), ("b", {"p", "g", "r", "d"}),
                                     ("t", {"c", "r", "p", "k", "d"})):
                await pilot.press(key)
                await settle(pilot)
                shown = set(app.screen.active_bindings)
                assert not screen_keys & shown, (key, shown)
                assert {"w", "b", "t", "e", "question_mark", "q"} <= shown
            await pilot.press("b")
            await until(pilot, lambda: app.screen.table.current_key == "ro", what="the batch")
            await pilot.press("p", "d")
            await settle(pilot)
            assert app.screen.__class__.__name__ == "BatchesScreen"      # no dialog opened
            assert "read-only" in str(app.screen.bar.render())
    run(scenario)
    assert server.batches()[0]["paused"] is False
