"""Habits of v1 users and scripts, run the way they run them (CLI or `scitq.lib`) against a real server."""

from __future__ import annotations

import inspect
import os
import stat
import sys

import pytest

from helpers import run_cli, wait_for
from scitq import keys
from scitq.lib import Server


def events_of(r, kind: str) -> list[dict]:
    return [f for _, f in r.xrange(keys.EVENTS) if f["type"] == kind]


def test_a_batch_stopped_before_any_task_of_it_exists_holds_its_later_tasks_until_go(procs, env, r):
    """Given a worker moved to batch e, when e is stopped, tasks queued, one fixed and e started,
    then nothing of e runs before `batch go` and the fixed command is the one that runs."""
    procs.server()
    procs.worker("w-e", concurrency=2, batch="e")
    s = Server()
    wait_for(lambda: s.workers(name="w-e"), what="the worker")
    res = run_cli("scitq-manage", "batch", "stop", "-n", "e", env=env)
    assert res.returncode == 0, res.stderr
    a = run_cli("scitq-launch", "-b", "e", "echo", "typo", env=env)
    b = run_cli("scitq-launch", "-b", "e", "echo", "two", env=env)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    res = run_cli("scitq-manage", "task", "update", "-i", "1", "-c", "echo one", env=env)
    assert res.returncode == 0, res.stderr
    # the worker keeps reporting while it has nothing to do: both tasks stay pending
    beat = float(r.hget(keys.worker_stats("w-e"), "last_contact") or 0)
    wait_for(lambda: float(r.hget(keys.worker_stats("w-e"), "last_contact") or 0) > beat + 1, what="heartbeats")
    assert s.task_status([1, 2]) == ["pending", "pending"]
    assert not s.executions(batch="e")
    assert run_cli("scitq-manage", "batch", "go", "-n", "e", env=env).returncode == 0
    wait_for(lambda: s.task_status([1, 2]) == ["succeeded", "succeeded"], what="both tasks")
    assert [s.executions(task_id=i)[-1]["output"] for i in (1, 2)] == ["one\n", "two\n"]
    assert run_cli("scitq-manage", "batch", "go", "-n", "never-used", env=env).returncode == 0


def test_a_failed_task_is_edited_then_relaunched_and_its_history_keeps_the_first_command(procs, env):
    """v1 docs: `task update -i 1 -d IMAGE` on a failed task, then `task update -i 1 -S pending`."""
    procs.server()
    procs.worker("w1")
    s = Server()
    assert run_cli("scitq-launch", "sh", "-c", "echo broken; exit 3", env=env).returncode == 0
    wait_for(lambda: s.task_status([1]) == ["failed"], what="the failure")
    res = run_cli("scitq-manage", "task", "update", "-i", "1", "-c", "echo repaired", env=env)
    assert res.returncode == 0, res.stderr
    assert s.task_get(1)["status"] == "failed" and s.task_get(1)["command"] == "echo repaired"
    assert run_cli("scitq-manage", "task", "update", "-i", "1", "-S", "pending", env=env).returncode == 0
    wait_for(lambda: s.task_status([1]) == ["succeeded"], what="the relaunch")
    first, second = s.executions(task_id=1)
    assert first["command"] == "sh -c 'echo broken; exit 3'" and first["output"] == "broken\n"
    assert second["command"] == "echo repaired" and second["output"] == "repaired\n"
    # a succeeded task can be edited too (it changes what a relaunch runs)
    assert run_cli("scitq-manage", "task", "update", "-i", "1", "-N", "renamed", env=env).returncode == 0
    assert s.task_get(1)["name"] == "renamed"


def test_editing_a_running_task_stays_refused_with_a_hint(procs, env):
    procs.server()
    procs.worker("w1")
    s = Server()
    t = s.task_create("sleep 30")
    wait_for(lambda: s.task_status([t["task_id"]]) == ["running"], what="the task to run")
    res = run_cli("scitq-manage", "task", "update", "-i", str(t["task_id"]), "-c", "echo new", env=env)
    assert res.returncode == 4, res.stderr
    assert "is running" in res.stderr and "relaunch it with the change" in res.stderr
    s.task_signal(t["task_id"], 9)
    wait_for(lambda: s.task_status([t["task_id"]]) == ["failed"], what="the task killed")


def test_python_m_runs_the_v1_commands_and_local_listings_are_file_uris(tmp_path, env):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "d" / "sub" / "b.txt").write_text("bb")
    for argv in (["scitq-fetch"], [sys.executable, "-m", "scitq.fetch"]):
        res = run_cli(*argv, "list", str(tmp_path / "d"), env=env)
        assert res.returncode == 0, res.stderr
        assert [line.split()[0] for line in res.stdout.splitlines()] == \
            [f"file://{tmp_path}/d/a.txt", f"file://{tmp_path}/d/sub/b.txt"]
        res = run_cli(*argv, "rlist", f"file://{tmp_path}/d", env=env)
        assert [line.split()[0] for line in res.stdout.splitlines()] == ["a.txt", "sub/b.txt"]
    res = run_cli(sys.executable, "-m", "scitq.manage", "--version", env=env)
    assert res.returncode == 0 and res.stdout.startswith("Version: ")
    res = run_cli(sys.executable, "-m", "scitq.launch", "-t", "echo", "hello world", env=env)
    assert res.returncode == 0 and res.stdout == "Command that would be sent: echo 'hello world'\n"
    res = run_cli(sys.executable, "-m", "scitq.launch", "-i", "s3:/x", "echo", env=env)
    assert res.returncode == 2 and res.stderr.startswith("Syntax error : Defect in input")

    from scitq import fetch
    assert [e.name for e in fetch.list_content(f"file://{tmp_path}/d")] == \
        [f"file://{tmp_path}/d/a.txt", f"file://{tmp_path}/d/sub/b.txt"]


@pytest.mark.parametrize("args, first_words", [
    (["-i", "s3:/missing-slash", "echo"], "Syntax error : Defect in input"),
    (["-n", "a", "-n", "b", "echo"], "Syntax error : -n option was set twice."),
    (["-O", "--gpus all", "echo"], "Syntax error : Do not set Docker options if you do not specify a docker."),
])
def test_scitq_launch_errors_start_with_v1s_words(args, first_words, env):
    res = run_cli("scitq-launch", *args, env=env)
    assert res.returncode == 2
    assert res.stderr.startswith(first_words) and len(res.stderr.strip().splitlines()) == 1


def test_config_rclone_install_puts_the_servers_rclone_config_on_a_worker(procs, env, tmp_path):
    conf = tmp_path / "server-rclone.conf"
    conf.write_text("[mys3]\ntype = s3\nprovider = Other\naccess_key_id = k\n")
    procs.server(extra_env={"RCLONE_CONFIG": str(conf), "SCITQ_REMOTE_URI": "mys3://results"})
    res = run_cli("scitq-manage", "config", "rclone", "--show", env=env)
    assert res.returncode == 0 and res.stdout == conf.read_text()
    dest = tmp_path / "etc" / "rclone.conf"
    res = run_cli("scitq-manage", "config", "rclone", "--install", "--dest", str(dest), env=env)
    assert res.returncode == 0, res.stderr
    assert dest.read_text() == conf.read_text()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600, "it holds credentials"
    res = run_cli("scitq-manage", "config", "remote", env=env)
    assert res.returncode == 0 and res.stdout == "mys3://results\n"
    assert Server().config_rclone() == conf.read_text() and Server().config_remote() == "mys3://results"


def test_config_rclone_without_one_on_the_server_says_so_in_one_line(procs, env, tmp_path):
    procs.server(extra_env={"RCLONE_CONFIG": str(tmp_path / "none.conf")})
    res = run_cli("scitq-manage", "config", "rclone", "--install", "--dest", str(tmp_path / "x.conf"), env=env)
    assert res.returncode == 2 and "holds no rclone configuration" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.conf").exists()


def test_every_v1_write_takes_asynchronous_and_the_v1_read_helpers_exist():
    for name in ("task_create", "task_update", "task_delete", "task_relaunch", "task_signal", "worker_update",
                 "worker_delete", "worker_create_signal", "batch_stop", "batch_go", "batch_delete",
                 "batch_relaunch_failed", "task_create_many"):
        assert "asynchronous" in inspect.signature(getattr(Server, name)).parameters, name
    for name in ("worker_executions", "workers_tasks", "queue_size", "config_rclone", "config_remote"):
        assert callable(getattr(Server, name)), name


def test_worker_executions_and_workers_tasks_answer_like_v1(procs):
    procs.server()
    procs.worker("w1", concurrency=2, batch="x")
    s = Server()
    done = s.task_create("true", batch="x", asynchronous=False)
    wait_for(lambda: s.task_status([done["task_id"]]) == ["succeeded"], what="the first task")
    long = s.task_create("sleep 30", batch="x", asynchronous=True)
    wait_for(lambda: s.task_status([long["task_id"]]) == ["running"], what="the second task to run")
    (w,) = s.workers()
    (ex,) = s.worker_executions(w["worker_id"])
    assert ex["task_id"] == long["task_id"] and ex["batch"] == "x" and ex["taskstatus"] == "running"
    assert [e["task_id"] for e in s.worker_executions(w["worker_id"], status="succeeded")] == [done["task_id"]]
    assert sorted((t["status"], t["count"]) for t in s.workers_tasks()) == [("running", 1), ("succeeded", 1)]
    assert all(t["worker_id"] == w["worker_id"] for t in s.workers_tasks())
    assert s.queue_size() == 0
    s.task_signal(long["task_id"], 9, asynchronous=False)
    wait_for(lambda: s.task_status([long["task_id"]]) == ["failed"], what="the task killed")


def test_join_prints_its_last_counts_before_all_tasks_done(procs, capsys):
    procs.server()
    procs.worker("w1")
    s = Server()
    tasks = [s.task_create(f"echo {i}") for i in range(3)]
    assert s.join(tasks)["succeeded"] == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "All tasks done!"
    assert lines[-2] == ("Remaining tasks pending : 0, assigned: 0, accepted: 0, running: 0, failed: 0, "
                         "succeeded: 3")


def test_dates_are_datetimes_in_dict_style_as_in_v1s_docs(procs):
    import datetime
    procs.server()
    procs.worker("w1")
    s = Server()
    wait_for(lambda: s.workers() and s.workers()[0]["last_contact_date"], what="a heartbeat")
    (w,) = s.workers()
    assert isinstance(w["creation_date"], datetime.datetime)
    assert isinstance(w["last_contact_date"], datetime.datetime)
    assert w["last_contact_date"] >= w["creation_date"] - datetime.timedelta(seconds=1)
    t = s.task_create("true")
    assert all(isinstance(t[k], datetime.datetime) for k in ("creation_date", "modification_date", "status_date"))
    assert f"{t['creation_date']:%Y}" == str(t["creation_date"].year)


def test_with_the_server_stopped_an_asynchronous_write_returns_at_once_and_a_synchronous_one_waits(procs, r):
    """Given Valkey up and the server stopped: v1's default write is queued and returns a lazy answer;
    a write with asynchronous=False waits for the server, after the writes queued before it."""
    import threading
    server = procs.server()
    s = Server()
    t = s.task_create("true", batch="held")
    s.batch_stop("held")
    server.terminate()
    server.wait(15)
    assert not r.exists(keys.SERVER_ALIVE), "a server that stops says so at once"
    lazy = s.task_update(t["task_id"], name="renamed")
    assert s.queue_size() == 1 and not lazy.delivered()
    sync_done = threading.Event()
    threading.Thread(target=lambda: (s.task_update(t["task_id"], name="final", asynchronous=False),
                                     sync_done.set()), daemon=True).start()
    assert not sync_done.wait(2), "a synchronous write waits for the server"
    procs.server()
    assert lazy["name"] in ("renamed", "final")
    assert sync_done.wait(60)
    assert s.task_get(t["task_id"])["name"] == "final", "the synchronous write came after the queued one"
    renames = [f for f in events_of(r, "task.updated")]
    assert len(renames) == 2
