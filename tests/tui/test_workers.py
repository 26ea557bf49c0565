"""Workers screen: keys pressed in the dashboard change real workers (checked through the API and the ledger)."""

from __future__ import annotations

import json

from helpers import wait_for
from tui.kit import cursor_to, ledger_types, notifications, run, settle, until


def _worker(s, name):
    return next((w for w in s.workers() if w["name"] == name), None)


def test_selected_workers_are_paused_resumed_tuned_and_moved_with_single_keys(server, procs, dashboard):
    procs.worker("w1", concurrency=2, prefetch=0, batch="a")
    procs.worker("w2", concurrency=2, prefetch=0, batch="a")
    wait_for(lambda: _worker(server, "w1") and _worker(server, "w2"), what="two workers registered")

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            screen = app.screen
            await until(pilot, lambda: len(screen.table.rows) == 2, what="both workers listed")
            assert screen.table.current_key == "w1"
            # Given both workers selected (space selects and moves down), When `p`, Then both are paused
            await pilot.press("space", "space")
            assert screen.table.selected == {"w1", "w2"}
            await pilot.press("p")
            await until(pilot, lambda: {_worker(server, n)["status"] for n in ("w1", "w2")} == {"paused"},
                        what="both paused")
            await until(pilot, lambda: all("paused" in str(r.cells[2]) for r in screen.table.rows.values()),
                        what="the screen to show them paused")
            await pilot.press("p")
            await until(pilot, lambda: {_worker(server, n)["status"] for n in ("w1", "w2")} == {"running"},
                        what="both running again")
            # Only w2 selected: concurrency +1 +1 -1, prefetch +1
            await pilot.press("a")                       # all -> none
            assert screen.table.selected == set()
            await pilot.press("down")
            assert screen.table.current_key == "w2"
            await pilot.press("plus", "plus", "minus", "right_square_bracket")
            await until(pilot, lambda: (_worker(server, "w2")["concurrency"], _worker(server, "w2")["prefetch"])
                        == (3, 1), what="w2 at concurrency 3, prefetch 1")
            assert _worker(server, "w1")["concurrency"] == 2
            await pilot.press("left_square_bracket", "left_square_bracket")     # never below 0
            await until(pilot, lambda: _worker(server, "w2")["prefetch"] == 0, what="prefetch back to 0")
            # Move w2 to batch b2 (a prompt, enter submits)
            await pilot.press("m")
            await until(pilot, lambda: app.screen.__class__.__name__ == "Prompt", what="the batch prompt")
            await pilot.press("ctrl+a", "ctrl+k", *"b2", "enter")
            await until(pilot, lambda: _worker(server, "w2")["batch"] == "b2", what="w2 moved to b2")
            await until(pilot, lambda: any(str(r.cells[3]) == "b2" for r in screen.table.rows.values()),
                        what="the screen to show it")
            assert _worker(server, "w1")["batch"] == "a"
            # enter: the worker's tasks
            await until(pilot, lambda: screen.table.current_key == "w2", what="the cursor on w2")
            await pilot.press("enter")
            await until(pilot, lambda: app.screen.__class__.__name__ == "TasksScreen"
                        and app.screen.query_.worker == "w2", what="the tasks of w2")
    run(scenario)


def test_deleting_a_worker_asks_first(server, redis_url, r, dashboard):
    """The worker is registered by command, without a process: a real one would register again at once."""
    server.client.command("worker.register", {"name": "old", "concurrency": 1})
    server.client.command("worker.register", {"name": "keep", "concurrency": 1})

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            screen = app.screen
            await until(pilot, lambda: len(screen.table.rows) == 2, what="two workers")
            # sorted by batch then name: keep, old
            await pilot.press("down")
            assert screen.table.current_key == "old"
            await pilot.press("d")
            await until(pilot, lambda: app.screen.__class__.__name__ == "Confirm", what="the confirmation")
            await pilot.press("n")
            await settle(pilot)
            assert _worker(server, "old") is not None
            await pilot.press("d", "y")
            await until(pilot, lambda: _worker(server, "old") is None, what="the worker deleted")
            assert "worker.deleted" in ledger_types(r)
            await until(pilot, lambda: [row.key for row in screen.table.rows.values()] == ["keep"],
                        what="the screen to drop it")
    run(scenario)


def test_disk_and_network_speeds_show_per_worker_and_totals_under_the_table(seeded, dashboard):
    """Fixed heartbeats: node01 and node02 report disk and network figures, gpu01 (an older worker) does not."""
    async def scenario():
        app = dashboard(seeded, frozen=True)
        async with app.run_test(size=(160, 40)) as pilot:
            screen = app.screen
            await until(pilot, lambda: len(screen.table.rows) == 3, what="three workers")
            cells = {str(r.key): [str(c) for c in r.cells] for r in screen.table.rows.values()}
            assert cells["node01"][9:11] == ["1.2M/340k", "52M/870"]
            assert cells["node02"][9:11] == ["0/4.1k", "1.5k/1.2k"]
            assert cells["gpu01"][9:11] == ["", ""]
            detail = str(screen.detail.render())
            assert "disk read 12GB, written 4.5GB" in detail and "received 1.2TB, sent 301GB" in detail
            await cursor_to(pilot, screen.table, "gpu01")
            await until(pilot, lambda: "no disk or network figures" in str(screen.detail.render()),
                        what="the older worker's line")
    run(scenario)


def test_a_running_worker_reports_its_disk_and_network_speeds(server, procs, dashboard):
    procs.worker("io1", concurrency=1)
    wait_for(lambda: _worker(server, "io1"), what="the worker registered")

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            screen = app.screen

            def io_cells() -> list[str]:
                row = screen.table.row()
                return [str(c) for c in row.cells[9:11]] if row else ["", ""]
            await until(pilot, lambda: all("/" in c for c in io_cells()), timeout=20, what="the speeds shown")
            await until(pilot, lambda: "disk read" in str(screen.detail.render()), what="the totals shown")
    run(scenario)


def test_clean_and_restart_are_orders_to_the_worker_after_a_confirmation(server, procs, redis_url, dashboard):
    """Real workers (an offline one is refused the order); what a worker does with it is tested with the worker."""
    from scitq.api.client import Client
    procs.worker("n1", concurrency=1)
    procs.worker("n2", concurrency=1)
    wait_for(lambda: all((_worker(server, n) or {}).get("status") == "running" for n in ("n1", "n2")),
             what="two workers running")

    def signalled() -> list[tuple[str, int]]:
        return [(f["worker"], json.loads(f["data"])["signal"]) for _eid, f in Client(url=redis_url).events()
                if f["type"] == "worker.signalled"]

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            screen = app.screen
            await until(pilot, lambda: len(screen.table.rows) == 2, what="two workers")
            # Given the cursor on n1, When C then n, Then nothing is sent
            await pilot.press("C")
            await until(pilot, lambda: app.screen.__class__.__name__ == "Confirm", what="the confirmation")
            await pilot.press("n")
            await settle(pilot)
            assert signalled() == []
            # When C then y: the clean order (-1) to n1
            await pilot.press("C", "y")
            await until(pilot, lambda: signalled() == [("n1", -1)], what="n1 told to clean")
            # Both selected, When R then y: the restart order (-2) to each
            await pilot.press("a", "R")
            await until(pilot, lambda: app.screen.__class__.__name__ == "Confirm", what="the confirmation")
            assert "workers n1, n2" in str(app.screen.question)
            await pilot.press("y")
            await until(pilot, lambda: sorted(signalled()[1:]) == [("n1", -2), ("n2", -2)], what="both restarting")
    run(scenario)


def test_read_only_hides_the_worker_orders(server, dashboard):
    server.client.command("worker.register", {"name": "ro", "concurrency": 1})

    async def scenario():
        app = dashboard(read_only=True)
        async with app.run_test(size=(160, 40)) as pilot:
            screen = app.screen
            await until(pilot, lambda: len(screen.table.rows) == 1, what="the worker")
            shown = {b.binding.action for b in screen.active_bindings.values()}
            assert not {"clean", "restart", "delete"} & shown
            await pilot.press("C", "R")
            await settle(pilot)
            assert app.screen is screen            # no confirmation opened
    run(scenario)


def test_an_order_to_an_offline_worker_is_refused_in_one_line(server, dashboard):
    """Registered by command, without a process: the server soon sees it offline and refuses orders to it."""
    server.client.command("worker.register", {"name": "gone", "concurrency": 1})
    wait_for(lambda: _worker(server, "gone")["status"] == "offline", what="the worker offline")

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await until(pilot, lambda: len(app.screen.table.rows) == 1, what="the worker")
            await pilot.press("R", "y")
            await until(pilot, lambda: any("offline" in n for n in notifications(app)), what="the refusal")
    run(scenario)


def test_actions_reach_the_server_in_the_order_they_were_given(dashboard):
    """Given an action slow to send and one quick after it (two keys pressed fast), when both run, then the
    second is sent only after the first: each action has its thread, but they take their turn in order."""
    import time as _time
    sent: list[str] = []

    def slow() -> None:
        _time.sleep(0.3)
        sent.append("first")

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(120, 30)) as pilot:
            app.act("", slow)
            app.act("", sent.append, "second")
            await until(pilot, lambda: len(sent) == 2, what="both actions sent")
    run(scenario)
    assert sent == ["first", "second"]
