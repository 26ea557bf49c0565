"""Native execution on a real worker process: environment, work dirs, live output, timeouts, shell."""

from __future__ import annotations

import os
import time
from pathlib import Path

from helpers import wait_for
from scitq import keys
from scitq.lib import Server


def finished(s: Server, task_id: int) -> dict:
    wait_for(lambda: s.task_get(task_id)["status"] in ("succeeded", "failed"), what=f"task {task_id} to end")
    return s.executions(task_id=task_id)[-1]


def test_a_task_sees_v1_environment_variables_and_its_own_work_dir(procs, env):
    procs.server()
    procs.worker("w1", concurrency=2)
    s = Server()
    t = s.task_create('echo "$CPU|$INPUT|$OUTPUT|$TEMP|$RESOURCE"; ls $INPUT $OUTPUT $TEMP $RESOURCE', shell=True)
    ex = finished(s, t["task_id"])
    assert ex["status"] == "succeeded"
    cpu, inp, out, tmp, res = ex["output"].splitlines()[0].split("|")
    assert int(cpu) == max(1, (os.cpu_count() or 1) // 2)
    base = Path(inp).parent
    assert [Path(p).name for p in (inp, out, tmp, res)] == ["input", "output", "tmp", "resource"]
    assert all(Path(p).parent == base for p in (out, tmp, res))
    # a succeeded execution leaves nothing: its work dir is removed, or kept empty for the next task
    assert not base.exists() or not any(any((base / sub).iterdir()) for sub in ("input", "output", "tmp", "resource"))
    t2 = s.task_create("echo $TEMP; touch $TEMP/scratch $OUTPUT/result", shell=True)
    used = Path(finished(s, t2["task_id"])["output"].strip()).parent
    assert not used.exists(), "a work dir with files in it is removed after success"


def test_the_work_dir_of_a_failed_execution_is_kept_for_debugging(procs):
    procs.server()
    procs.worker("w1")
    s = Server()
    t = s.task_create("echo $OUTPUT; touch $OUTPUT/partial; exit 2", shell=True)
    ex = finished(s, t["task_id"])
    assert ex["status"] == "failed" and ex["return_code"] == 2
    out_dir = Path(ex["output"].strip())
    assert (out_dir / "partial").exists()


def test_without_shell_the_command_is_split_like_v1_and_not_interpreted(procs):
    procs.server()
    procs.worker("w1")
    s = Server()
    t = s.task_create("echo 'a  b' $CPU")
    assert finished(s, t["task_id"])["output"] == "a  b $CPU\n"
    t2 = s.task_create("no-such-program-here")
    ex = finished(s, t2["task_id"])
    assert ex["status"] == "failed" and "FileNotFoundError" in ex["error"]


def test_output_is_streamed_while_the_task_runs_not_only_at_exit(procs, r):
    procs.server()
    procs.worker("w1")
    s = Server()
    t = s.task_create("echo first; sleep 4; echo second >&2", shell=True)
    tid = t["task_id"]
    wait_for(lambda: s.task_get(tid)["status"] == "running", what="the task to run")
    chunks = wait_for(lambda: r.xrange(keys.worker_output("w1", tid, 1)), timeout=3, what="a chunk before the end")
    assert chunks[0][1] == {"fd": "stdout", "text": "first\n"}
    assert s.task_get(tid)["status"] == "running"
    ex = finished(s, tid)
    assert ex["output"] == "first\n" and ex["error"] == "second\n"


def test_run_timeout_kills_the_whole_process_group_and_fails_the_task(procs, tmp_path):
    procs.server()
    procs.worker("w1")
    s = Server()
    marker = tmp_path / "child-survived"
    t = s.task_create(f"(sleep 3; touch {marker}) & sleep 30", shell=True, run_timeout=1)
    started = time.monotonic()
    ex = finished(s, t["task_id"])
    assert time.monotonic() - started < 15
    assert ex["status"] == "failed" and ex["return_code"] == -9
    assert "run timeout" in ex["error"]
    time.sleep(3.5)
    assert not marker.exists(), "the background child was killed with its group"
    from scitq import keys as k
    types = [f["type"] for _, f in s.client.r.xrange(k.EVENTS) if f.get("task") == str(t["task_id"])]
    assert "task.timed_out" in types


def test_the_command_run_is_the_one_current_at_start_not_at_claim(procs):
    procs.server()
    procs.worker("w1", concurrency=1, prefetch=2)
    s = Server()
    blocker = s.task_create("sleep 2")
    later = s.task_create("echo original")
    wait_for(lambda: s.task_get(later["task_id"])["status"] == "assigned", what="the task to be prefetched")
    s.task_update(later["task_id"], command="echo edited")
    ex = finished(s, later["task_id"])
    assert ex["output"] == "edited\n" and ex["command"] == "echo edited"
    assert finished(s, blocker["task_id"])["status"] == "succeeded"


def test_worker_list_shows_heartbeat_load_and_memory(procs, env):
    from helpers import run_cli
    procs.server()
    procs.worker("w-stats")
    wait_for(lambda: Server().workers() and Server().workers()[0]["last_contact_date"], what="a heartbeat")
    res = run_cli("scitq-manage", "worker", "list", env=env)
    header, row = res.stdout.splitlines()[:2]
    assert header.split() == ["worker_id", "name", "status", "concurrency", "creation_date", "last_contact_date",
                              "batch", "load", "memory"]
    assert "w-stats" in row and "running" in row and "/" in row


def test_past_the_disk_threshold_the_worker_removes_old_failed_work_dirs(procs):
    procs.server()
    procs.worker("w-clean", extra_env={"SCITQ_AUTOCLEAN": "0", "SCITQ_AUTOCLEAN_INTERVAL": "0.5"})
    s = Server()
    t = s.task_create("echo $OUTPUT; exit 1", shell=True)
    ex = finished(s, t["task_id"])
    kept = Path(ex["output"].strip()).parent
    wait_for(lambda: not kept.exists(), timeout=20, what="autoclean to remove the failed work dir")
