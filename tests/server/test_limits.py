"""Size limits: a command, each task field, a command batch and an output chunk (real server and worker)."""

from __future__ import annotations

import json
import sys

import pytest

from helpers import wait_for
from scitq import keys
from scitq.api.client import Client
from scitq.errors import BadInput
from scitq.events.limits import MAX_BATCH, MAX_OUTPUT_CHUNK
from scitq.inbox import send_command
from scitq.lib import Server


def test_a_20_mb_command_is_refused_in_one_line_naming_the_field_and_nothing_is_stored(procs, r):
    procs.server()
    with pytest.raises(BadInput, match=r"\$\.tasks\[0\]\.command is 20\.0 MiB, more than the 1\.0 MiB allowed"):
        Server().task_create("echo " + "x" * (20 << 20))
    assert r.xlen(keys.EVENTS) == 0 and not r.exists(keys.task_view(1))
    wait_for(lambda: r.xlen(keys.INBOX) == 0, what="the inbox entry to be deleted")
    used = r.info("memory")["used_memory"]
    assert used < 20 << 20   # not kept anywhere (inbox, ledger, view, idempotency record)


def test_every_other_task_field_is_limited_and_named(procs, r):
    procs.server()
    with pytest.raises(BadInput, match=r"\$\.tasks\[1\]\.name is 100 KiB, more than the 64 KiB allowed"):
        send_command(r, "task.submit", {"tasks": [{"command": "true"}, {"command": "true", "name": "n" * 102400}]})
    t = Server().task_create("true")
    with pytest.raises(BadInput, match=r"\$\.changes\.container_options"):
        send_command(r, "task.update", {"task_id": t["task_id"], "changes": {"container_options": "o" * 70000}})
    assert Server().task_get(t["task_id"])["command"] == "true"


def test_a_command_batch_above_the_limit_is_refused_whole(procs, r):
    procs.server()
    data = json.dumps({"tasks": [{"command": "true"}], "pad": "p" * (MAX_BATCH + 1)})
    r.xadd(keys.INBOX, {"cmd": "task.submit", "id": "big", "reply": "1", "data": data})
    answer = json.loads(wait_for(lambda: r.lpop(keys.reply("big")), what="the answer"))
    assert not answer["ok"] and "more than the 64.0 MiB one command may carry" in answer["error"]
    assert r.xlen(keys.EVENTS) == 0


def test_a_long_output_is_kept_whole_in_chunks_below_the_limit(procs, r):
    procs.server()
    procs.worker("w-out", concurrency=1)
    n = 3 * MAX_OUTPUT_CHUNK + 123
    t = Server().task_create(f"{sys.executable} -c \"import sys; sys.stdout.write('x' * {n})\"")
    wait_for(lambda: Server().task_get(t["task_id"])["status"] == "succeeded", timeout=60, what="the task")
    chunks = Client().output(t["task_id"], 1)   # live or packed, the chunks as the worker wrote them
    texts = [text for _, fd, text in chunks if fd == "stdout"]
    assert all(len(text) <= MAX_OUTPUT_CHUNK for _, _fd, text in chunks)
    assert sum(len(x) for x in texts) == n
