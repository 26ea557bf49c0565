"""Steps are sent in groups: a workflow of thousands of steps costs a handful of inbox commands."""

from __future__ import annotations

import time
import warnings

from scitq import keys
from scitq.lib import Server
from scitq.workflow import Workflow


def submits(r) -> int:
    """Commands ever added to the inbox (the server deletes the ones it applied; the count stays)."""
    return int(r.xinfo_stream(keys.INBOX)["entries-added"]) if r.exists(keys.INBOX) else 0


def test_a_scatter_gather_of_six_thousand_steps_is_sent_in_a_few_commands_with_its_dependencies(server, r, capsys):
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    wf = Workflow(name="big", flavor="local", max_step_workers=1)
    for i in range(3000):
        s1 = wf.step(batch="one", command="true", concurrency=10)
    gather = wf.step(batch="two", command="true", concurrency=1, required_tasks=s1.gather())
    for i in range(3000):
        s3 = wf.step(batch="three", command="true", concurrency=10, required_tasks=gather)
    waves = wf._send()
    elapsed = time.perf_counter() - t0
    print(f"built and sent 6001 steps in {elapsed:.2f}s, {submits(r)} commands")
    assert submits(r) <= 8 + 3, "a few commands for 6001 tasks (a chunk each 2000, a wave per depth; and the " \
                                "rank 1 recruiter of each of the 3 step batches)"
    assert waves >= 1
    ids = [s.task_id for s in s1.gather()]
    assert len(set(ids)) == 3000
    s = Server()
    assert s.task_get(gather.task_id)["required_task_ids"] == ids
    assert s.task_get(s3.task_id)["required_task_ids"] == [gather.task_id]
    assert {t["status"] for t in s.tasks(batch="big.three")} == {"waiting"}
    assert len(s.tasks(batch="big.one")) == 3000


def test_reading_a_task_id_sends_the_unsent_steps_and_only_then(server, r):
    warnings.simplefilter("ignore")
    wf = Workflow(name="lazy", flavor="local", max_step_workers=1)
    a = wf.step(batch="a", command="true", concurrency=1)
    b = wf.step(batch="b", command="true", concurrency=1, required_tasks=a)
    c = wf.step(batch="b", command="true", input=a.output)
    assert submits(r) == 0 and not a.sent
    assert (b.status, c.status) == ("waiting", "pending"), "known before sending"
    assert b.task_id == a.task_id + 1 or b.task_id > a.task_id
    recruiters = 2    # the rank 1 recruiter of each step batch, created with their first tasks
    assert submits(r) == recruiters + 2, "two waves: the parent, then what depends on it"
    assert c.sent and Server().task_get(b.task_id)["required_task_ids"] == [a.task_id]
    d = wf.step(batch="b", command="true", required_tasks=[a, b.task_id])
    assert d.required_task_ids == [a.task_id, b.task_id] and not d.sent and submits(r) == recruiters + 2
    assert d.task_id and submits(r) == recruiters + 3


def test_a_script_that_never_runs_its_workflow_still_gets_its_tasks_sent_at_exit(server, env, tmp_path):
    import subprocess
    import sys
    script = ("from scitq.workflow import Workflow\n"
              "wf = Workflow(name='bye', flavor='local', max_step_workers=1)\n"
              "for i in range(5):\n"
              "    wf.step(batch='b', command='true', concurrency=1)\n")
    res = subprocess.run([sys.executable, "-W", "ignore", "-c", script], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert len(Server().tasks(batch="bye.b")) == 5
