"""Tasks screen: edit, relaunch, pause, delete, signal, and the filters, sort and paging of a long list."""

from __future__ import annotations

from helpers import wait_for
from scitq import keys
from scitq.errors import NotFound
from tui.kit import cursor_to, ledger_types, notifications, run, settle, to_task, until


def _screen_ids(screen) -> list[int]:
    return [row.key for _i, row in sorted(screen.table.rows.items())]


def test_the_command_of_a_task_not_yet_started_is_edited_in_a_modal(server, dashboard):
    a, b = server.task_create_many([{"command": "echo one", "batch": "e"}, {"command": "echo two", "batch": "e"}])

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await to_task(pilot, app, a)
            await pilot.press("c")
            await until(pilot, lambda: app.screen.__class__.__name__ == "EditCommand", what="the editor")
            await pilot.press(*" && echo fast", "ctrl+s")
            await until(pilot, lambda: server.task_get(a)["command"] == "echo one && echo fast", what="the edit")
            await until(pilot, lambda: "echo fast" in str(app.screen.table.row().cells[8]), what="the new command shown")
            # escape leaves the command alone
            await pilot.press("c", *" never", "escape")
            await settle(pilot)
    run(scenario)
    assert server.task_get(a)["command"] == "echo one && echo fast"
    assert server.task_get(b)["command"] == "echo two"


def test_editing_a_running_task_shows_the_servers_refusal_in_one_line(server, procs, dashboard):
    procs.worker("w1", concurrency=1, batch="run")
    (tid,) = server.task_create_many([{"command": "sleep 30", "batch": "run"}])
    wait_for(lambda: server.task_get(tid)["status"] == "running", what="the task to run")

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await to_task(pilot, app, tid)
            await pilot.press("c", *"; echo late", "ctrl+s")
            await until(pilot, lambda: any("not yet started" in n for n in notifications(app)),
                        what="the refusal")
            message = next(n for n in notifications(app) if "not yet started" in n)
            assert "\n" not in message and "Traceback" not in message
            assert app.is_running
    run(scenario)
    assert server.task_get(tid)["command"] == "sleep 30"
    server.task_signal(tid, 9)          # the worker then stops at once
    wait_for(lambda: server.task_get(tid)["status"] == "failed", what="the task killed")


def test_relaunch_pause_resume_and_delete_act_on_the_task_under_the_cursor(server, r, dashboard):
    a, b, c = server.task_create_many([{"command": "true", "batch": "k", "name": n} for n in ("a", "b", "c")])
    server.task_update(a, status="failed")

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("t")
            table = app.screen.table
            await cursor_to(pilot, table, a)
            await pilot.press("r")
            await until(pilot, lambda: server.task_get(a)["status"] == "pending", what="a relaunched")
            await cursor_to(pilot, table, b)
            await pilot.press("p")
            await until(pilot, lambda: server.task_get(b)["status"] == "paused", what="b paused")
            await until(pilot, lambda: "paused" in str(table.row().cells[2]), what="b shown paused")
            await pilot.press("p")
            await until(pilot, lambda: server.task_get(b)["status"] == "pending", what="b resumed")
            await cursor_to(pilot, table, c)
            await pilot.press("d")
            await until(pilot, lambda: app.screen.__class__.__name__ == "Confirm", what="the confirmation")
            assert "task_" in str(app.screen.question)
            await pilot.press("y")
            await until(pilot, lambda: c not in _screen_ids(app.screen), what="c gone from the list")
    run(scenario)
    try:
        server.task_get(c)
        raise AssertionError("task c still exists")
    except NotFound:
        pass
    assert "task.deleted" in ledger_types(r, c)


def test_a_signal_is_sent_to_the_running_task(server, procs, r, dashboard):
    procs.worker("w1", concurrency=1, batch="sig")
    (tid,) = server.task_create_many([{"command": "sleep 30", "batch": "sig"}])
    wait_for(lambda: server.task_get(tid)["status"] == "running", what="the task to run")

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await to_task(pilot, app, tid)
            await pilot.press("k")
            await until(pilot, lambda: app.screen.__class__.__name__ == "Choose", what="the signals")
            await pilot.press("down", "enter")                   # kill
            await until(pilot, lambda: server.task_get(tid)["status"] == "failed", what="the task killed")
            await until(pilot, lambda: "failed" in str(app.screen.table.row().cells[2]), what="shown failed")
    run(scenario)
    assert "task.signalled" in ledger_types(r, tid)
    assert '"signal":9' in next(f["data"] for _e, f in r.xrange(keys.EVENTS) if f["type"] == "task.signalled")


def test_filters_by_batch_status_and_text_and_sorts_by_column(server, dashboard):
    ids = server.task_create_many(
        [{"command": f"align sample{i}", "name": f"s{i:02d}", "batch": "al"} for i in range(12)]
        + [{"command": f"count sample{i}", "name": f"c{i:02d}", "batch": "co"} for i in range(5)])
    for t in ids[:3]:
        server.task_update(t, status="paused")

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("t")
            screen = app.screen
            await until(pilot, lambda: screen.plan.count == 17, what="all tasks")
            assert _screen_ids(screen)[:3] == sorted(ids, reverse=True)[:3]        # newest first
            # status: s cycles through the statuses; `paused` is the first
            await pilot.press("s")
            await until(pilot, lambda: screen.plan.count == 3 and set(_screen_ids(screen)) == set(ids[:3]),
                        what="the paused tasks")
            await pilot.press("x")
            await until(pilot, lambda: screen.plan.count == 17, what="filters cleared")
            # text: `/`, type, enter
            await pilot.press("slash", *"count", "enter")
            await until(pilot, lambda: screen.plan.count == 5 and set(_screen_ids(screen)) == set(ids[12:]),
                        what="the tasks whose command contains 'count'")
            # sort by name (o), ascending (O)
            await pilot.press("o", "O")
            await until(pilot, lambda: screen.query_.sort == "name" and not screen.query_.desc
                        and [str(r.cells[1]) for _i, r in sorted(screen.table.rows.items())] ==
                        [f"c{i:02d}" for i in range(5)], what="sorted by name")
            await pilot.press("x")
            await until(pilot, lambda: screen.plan.count == 17, what="filters cleared")
            # batch filter from the select (set as the Batches screen does)
            screen.set_filter(batch="co")
            await until(pilot, lambda: screen.plan.count == 5, what="batch co")
    run(scenario)


def test_a_long_list_is_paged_only_the_visible_rows_are_read(server, dashboard):
    n = 20_000
    server.task_create_many([{"command": f"echo {i}", "batch": "big"} for i in range(n)])

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("t")
            screen = app.screen
            await until(pilot, lambda: screen.plan.count == n and screen.table.row() is not None, what="the list")
            assert len(screen.table.rows) < 200
            await pilot.press("end")
            await until(pilot, lambda: screen.table.current_key == 1, what="the oldest task at the end")
            assert len(screen.table.rows) < 400
            await pilot.press("home", "pagedown", "pagedown")
            await until(pilot, lambda: screen.table.row() is not None, what="the page read")
            key = screen.table.current_key
            assert key == n - screen.table.cursor
    run(scenario)


def test_z_zips_the_output_of_every_execution_of_the_filtered_tasks(seeded, dashboard, tmp_path, monkeypatch):
    """v1's Download all, on the fixed data set, in read-only mode (it changes nothing on the server)."""
    import zipfile

    from tui.kit import OUTPUT
    monkeypatch.chdir(tmp_path)
    zipped = tmp_path / "scitq_outputs.zip"

    async def scenario():
        app = dashboard(seeded, read_only=True)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("t")
            screen = app.screen
            await settle(pilot)
            # Given the tasks of batch qc (three tasks, one execution each), When `z`
            screen.set_filter(batch="qc")
            await until(pilot, lambda: screen.plan.count == 3, what="the tasks of qc")
            await pilot.press("z")
            await until(pilot, lambda: any("3 task(s)" in n for n in notifications(app)), what="the zip written")
            assert str(zipped) in notifications(app)[-1]
            with zipfile.ZipFile(zipped) as zf:
                assert sorted(zf.namelist()) == sorted(
                    f"output-{t}/output-{fd}-{t}-execution-{t}.txt" for t in (1, 2, 3) for fd in ("std", "err"))
                assert zf.read("output-1/output-std-1-execution-1.txt").decode() == "".join(
                    text for fd, text in OUTPUT[(1, 1)] if fd == "stdout")
                assert "SequenceFormatException" in zf.read("output-3/output-err-3-execution-3.txt").decode()
                assert zf.read("output-2/output-err-2-execution-2.txt") == b""
            # A text filter (read through the task index): tasks named or running `s1`; only 1 and 4 ran
            screen.set_filter(batch=None, text="s1")
            await pilot.press("z")
            await until(pilot, lambda: screen.zipping is None and "1 execution(s)" not in notifications(app)[-1]
                        and "2 execution(s) of 2 task(s)" in notifications(app)[-1], what="the second zip")
            with zipfile.ZipFile(zipped) as zf:
                assert {n.split("/")[0] for n in zf.namelist()} == {"output-1", "output-4"}
            assert not (tmp_path / "scitq_outputs.zip.part").exists()
    run(scenario)
