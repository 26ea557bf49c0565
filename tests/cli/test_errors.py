"""Bad input anywhere gives one line on stderr and exit code 2 (3 when the server cannot be reached)."""

from __future__ import annotations

import pytest

from helpers import run_cli
from scitq import keys


def one_line(res) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.mark.parametrize("args, expected", [
    (["scitq-launch", "--retry", "x", "echo"], "--retry takes a whole number"),
    (["scitq-launch", "-n", "a", "-n", "b", "echo"], "-n option was set twice."),
    (["scitq-launch", "-O", "--gpus all", "echo"], "Do not set Docker options if you do not specify a docker."),
    (["scitq-launch", "--bogus", "echo"], "unknown option --bogus"),
    (["scitq-launch", "-b"], "option -b needs a value"),
    (["scitq-manage", "task", "list", "-S", "bogus"], "invalid choice"),
    (["scitq-manage", "frobnicate"], "invalid choice"),
    (["scitq-manage", "task", "output"], "one of the arguments -i/--id -n/--name is required"),
    (["scitq-worker", "somehost"], "the following arguments are required: concurrency"),
    (["scitq", "worker", "-C", "many"], "invalid int value"),
])
def test_malformed_command_lines_exit_2_with_one_line(args, expected, env):
    res = run_cli(*args, env=env)
    assert res.returncode == 2
    assert expected in one_line(res)


def test_scitq_launch_without_arguments_prints_its_usage_and_exits_2(env):
    res = run_cli("scitq-launch", env=env)
    assert res.returncode == 2 and "usage: scitq-launch" in res.stderr


def test_unknown_task_batch_or_worker_exit_2_and_change_nothing(procs, env, r):
    procs.server()
    before = r.xlen(keys.EVENTS)
    for args, expected in ((["scitq-manage", "task", "output", "-i", "999"], "no task 999"),
                           (["scitq-manage", "task", "delete", "-i", "999"], "no task 999"),
                           (["scitq-manage", "batch", "delete", "-n", "nope"], "no batch 'nope'"),
                           (["scitq-manage", "worker", "delete", "-n", "ghost"], "no worker named 'ghost'"),
                           (["scitq-manage", "task", "update", "-i", "999", "-c", "x"], "no task 999"),
                           (["scitq", "events", "history", "--task", "999"], "no event for task 999")):
        res = run_cli(*args, env=env)
        assert res.returncode == 2, (args, res.stderr)
        assert expected in one_line(res)
    assert r.xlen(keys.EVENTS) == before


def test_a_malformed_uri_is_refused_before_anything_is_queued(procs, env, r):
    procs.server()
    res = run_cli("scitq-launch", "-i", "s3:/missing-slash", "echo", env=env)
    assert res.returncode == 2
    line = one_line(res)
    assert "Syntax error : Defect in input" in line
    assert r.xlen(keys.EVENTS) == 0


def test_an_unreachable_server_exits_3_with_one_line(env):
    bad = {**env, "SCITQ_SERVER": "redis://127.0.0.1:1/0"}
    for args in (["scitq-launch", "echo", "hi"], ["scitq-manage", "task", "list"], ["scitq", "events", "tail"]):
        res = run_cli(*args, env=bad)
        assert res.returncode == 3, (args, res.stderr)
        assert "cannot reach Redis at 127.0.0.1:1" in one_line(res)


def test_a_bad_server_address_is_bad_input(env):
    res = run_cli("scitq-manage", "-s", "http://somewhere", "task", "list", env=env)
    assert res.returncode == 2 and "bad server address" in one_line(res)


def test_a_user_cannot_set_a_status_the_workers_set(procs, env):
    procs.server()
    run_cli("scitq-launch", "true", env=env)
    res = run_cli("scitq-manage", "task", "update", "-i", "1", "-S", "running", env=env)
    assert res.returncode == 2 and "set by the workers" in one_line(res)


def test_a_container_environment_name_without_a_value_is_refused_at_submission_in_one_line(env):
    res = run_cli("scitq-launch", "-d", "alpine", "-O", "-e AWS_SECRET_ACCESS_KEY", "echo", env=env)
    assert res.returncode == 2
    line = one_line(res)
    assert "-e: 'AWS_SECRET_ACCESS_KEY' has no value" in line and "worker-secret" not in res.stderr
