"""Workflow(debug=True).run(): v1's interactive debugger, driven through its standard input."""

from __future__ import annotations

import subprocess
import sys

from scitq.lib import Server

SCRIPT = """
from scitq.workflow import Workflow
wf = Workflow(name='dbg', debug=True, shell=True, max_step_workers=1, flavor='local')
for i in range(2):
    step1 = wf.step('first', command=f'echo out-{i}; echo err-{i} >&2', concurrency=2)
    step2 = wf.step('second', command=f'echo child-{i}', required_tasks=step1, concurrency=1)
print('RESULT', wf.run(refresh=1))
"""


def debug(env, tmp_path, answers: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT], env=env, cwd=tmp_path, input=answers,
                          capture_output=True, text=True, timeout=120)


def test_the_debugger_runs_one_task_at_a_time_showing_its_command_and_live_output(server, procs, env, tmp_path):
    procs.worker("w1", concurrency=2, batch="dbg.first")
    procs.worker("w2", concurrency=1, batch="dbg.second")
    # task 1, then its child first (v1 prefers a child of the previous task), then "no": pick from the list
    res = debug(env, tmp_path, "y\nc\ny\nc\nn\n1\nc\ny\nc\n")
    out = res.stdout
    assert res.returncode == 0, res.stderr
    assert "command     | sh -c 'echo out-0; echo err-0 >&2'" in out
    assert "About to launch task [1] first #1, should I run it?" in out
    assert "out-0\n" in out and "err-0\n" in out and "child-0\n" in out
    assert out.index("child-0") < out.index("out-1"), "the child of the task just run comes next"
    assert "1) [2] first #2" in out, "ids: a wave per depth, parents first"
    assert "That's all folks! No more tasks to debug" in out
    assert [t["status"] for t in Server().tasks()] == ["succeeded"] * 4


def test_quitting_the_debugger_leaves_the_other_tasks_in_debug(server, procs, env, tmp_path):
    procs.worker("w1", concurrency=2, batch="dbg.first")
    res = debug(env, tmp_path, "y\nq\n")
    assert res.returncode == 0, res.stderr
    assert "RESULT False" in res.stdout
    assert [t["status"] for t in Server().tasks()] == ["succeeded", "debug", "debug", "debug"]


def test_exiting_the_debugger_releases_the_rest_and_follows_it_in_normal_mode(server, procs, env, tmp_path):
    procs.worker("w1", concurrency=2, batch="dbg.first")
    procs.worker("w2", concurrency=1, batch="dbg.second")
    res = debug(env, tmp_path, "y\nx\n")
    assert res.returncode == 0, res.stderr
    assert "Setting all debug tasks to pending" in res.stdout
    assert "[dbg] all tasks done: 4 succeeded, 0 failed" in res.stdout
    assert [t["status"] for t in Server().tasks()] == ["succeeded"] * 4


def test_a_failed_task_can_be_retried_from_the_debugger(server, procs, env, tmp_path):
    procs.worker("w1", concurrency=1, batch="flaky.b")
    marker = tmp_path / "tried"
    script = ("from scitq.workflow import Workflow\n"
              "wf = Workflow(name='flaky', debug=True, shell=True, max_step_workers=1, flavor='local')\n"
              f"wf.step('b', command='test -e {marker} && echo second-time || (touch {marker}; echo first >&2; "
              "exit 1)', concurrency=1)\n"
              "wf.run()\n")
    res = subprocess.run([sys.executable, "-W", "ignore", "-c", script], env=env, cwd=tmp_path,
                         input="y\ny\nc\n", capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "Task failed, should we retry?" in res.stdout and "second-time" in res.stdout
    assert Server().tasks()[0]["status"] == "succeeded"
