"""Task detail: live output of the running attempt, commands as submitted and as run, executions, history."""

from __future__ import annotations

from helpers import wait_for
from scitq.errors import NotFound
from tui.kit import open_detail, run, settle, until

# six lines on each stream, holding after the third until GATE exists (at most a minute), so a slow
# dashboard start on a loaded machine still sees the task running
TICKER = ("for i in 1 2 3 4 5 6; do echo out$i; echo err$i >&2; sleep 0.4; "
          "if [ $i = 3 ]; then n=0; while [ ! -e GATE ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; fi; done")


def eid_of(server, tid: int) -> int:
    return server.executions(task_id=tid)[-1]["execution_id"]


def _lines(view) -> list[tuple[str, str]]:
    return list(view.lines)


def test_the_output_of_the_running_attempt_follows_as_it_is_written(server, procs, dashboard, tmp_path,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    procs.worker("w1", concurrency=1, batch="live")
    gate = tmp_path / "gate"
    t = server.task_create(TICKER.replace("GATE", str(gate)), shell=True, batch="live", name="ticker")
    tid = t["task_id"]
    wait_for(lambda: server.task_get(tid)["status"] == "running", what="the task to run")

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            detail = await open_detail(pilot, app, tid)
            # lines come while the task runs (it ends after ~2.4 s)
            await until(pilot, lambda: ("stdout", "out2") in _lines(detail.output), what="out2")
            assert server.task_get(tid)["status"] == "running"
            gate.touch()
            await until(pilot, lambda: ("stderr", "err6") in _lines(detail.output), timeout=15, what="err6")
            lines = _lines(detail.output)
            assert [x for fd, x in lines if fd == "stdout"] == [f"out{i}" for i in range(1, 7)]
            assert [x for fd, x in lines if fd == "stderr"] == [f"err{i}" for i in range(1, 7)]
            # the history follows the ledger, up to the success
            await until(pilot, lambda: any("task.succeeded" in str(r.cells[1])
                                           for r in detail.history_table.rows.values()), what="the success")
            kinds = [str(r.cells[1]) for _i, r in sorted(detail.history_table.rows.items())]
            assert kinds[0] == "task.submitted" and "execution.started" in kinds
            await until(pilot, lambda: "succeeded" in str(detail.exec_table.rows[0].cells[3]), what="exec row")
            assert str(detail.exec_table.rows[0].cells[2]) == "w1"
            assert str(detail.exec_table.rows[0].cells[6]) == "0"
            # o saves both streams under v1's names
            eid = int(str(detail.exec_table.rows[0].cells[0]))
            await pilot.press("o")
            await until(pilot, lambda: (tmp_path / f"output-err-{tid}-execution-{eid}.txt").exists(), what="saved")
    run(scenario)
    assert (tmp_path / f"output-std-{tid}-execution-{eid_of(server, tid)}.txt").read_text().split() == \
        [f"out{i}" for i in range(1, 7)]


def test_the_detail_shows_the_command_as_run_when_it_was_changed_since(server, procs, dashboard):
    procs.worker("w1", concurrency=1, batch="ch")
    t = server.task_create("echo first", batch="ch")
    tid = t["task_id"]
    wait_for(lambda: server.task_get(tid)["status"] == "succeeded", what="the first run")
    server.batch_stop("ch")                                               # so that it does not run again
    server.task_update(tid, command="echo second", status="pending")      # relaunched with a new command

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            detail = await open_detail(pilot, app, tid)
            await until(pilot, lambda: detail.t is not None and detail.executions, what="the task read")
            await settle(pilot)
            info = dict(detail.info_rows)
            assert info["Command"] == "echo second"          # as submitted (edited since)
            assert info["At start"] == "echo first"          # as frozen when the attempt started
            await until(pilot, lambda: ("stdout", "first") in _lines(detail.output), what="the old output")
            # actions work from the detail too: pause (p), then delete (d, y) and back to the list
            await pilot.press("p")
            await until(pilot, lambda: server.task_get(tid)["status"] == "paused", what="paused")
            await pilot.press("d", "y")
            await until(pilot, lambda: app.screen.__class__.__name__ == "TasksScreen", what="back to the list")
    run(scenario)
    try:
        server.task_get(tid)
        raise AssertionError("the task still exists")
    except NotFound:
        pass


def test_escape_goes_back_and_a_deleted_task_says_so(server, dashboard):
    (tid,) = server.task_create_many([{"command": "true", "batch": "z"}])

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            detail = await open_detail(pilot, app, tid)
            await until(pilot, lambda: detail.t is not None, what="the task read")
            server.task_delete(tid)
            await until(pilot, lambda: detail.t is None, what="the deletion seen")
            await pilot.press("escape")
            await until(pilot, lambda: app.screen.__class__.__name__ == "TasksScreen", what="back")
    run(scenario)


def test_the_detail_hides_credentials_inside_uris(server, dashboard):
    (tid,) = server.task_create_many([{"command": "wget https://u:hunter2@127.0.0.1/x?sig=abc123", "batch": "sec",
                                       "input": "ftp://user:s3cr3t@127.0.0.1/data/r1.fq"}])

    async def scenario():
        app = dashboard()
        async with app.run_test(size=(160, 40)) as pilot:
            detail = await open_detail(pilot, app, tid)
            await until(pilot, lambda: detail.t is not None, what="the task read")
            await settle(pilot)
            info = dict(detail.info_rows)
            assert info["Command"] == "wget https://u:***@127.0.0.1/x?sig=***"
            assert info["Input"] == "ftp://user:***@127.0.0.1/data/r1.fq"
            assert not any(s in text for _, text in detail.info_rows for s in ("hunter2", "s3cr3t", "abc123"))
    run(scenario)
