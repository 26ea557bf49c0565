"""The ledger archive and large outputs on S3 (a local moto_server): archive, trim, read history across
archive + tail, rebuild --verify, restart from the snapshot (real server and worker processes, real Valkey)."""

from __future__ import annotations

import sys

from helpers import run_cli, wait_for

from scitq import keys
from scitq.api.client import Client
from scitq.projections.archive import Archive
from scitq.projections.store import read_ledger

SCITQ = [sys.executable, "-m", "scitq.cli.main"]


def test_the_ledger_archived_to_s3_reads_back_as_one_ledger_with_the_live_tail(bucket, s3_env, procs, env, r,
                                                                               monkeypatch):
    url = f"s3://{bucket}/scitq"
    extra = {**s3_env, "SCITQ_ARCHIVE": url, "SCITQ_OUTPUT_ARCHIVE_ABOVE": "100"}
    procs.env.update(extra)
    for k, v in extra.items():
        monkeypatch.setenv(k, v)
    env = {**env, **extra}
    procs.server()
    c = Client()
    ids = c.submit([{"command": f"seq 1 {200 + i}", "batch": "s3"} for i in range(8)])
    procs.worker("w1", concurrency=4, batch="s3")
    wait_for(lambda: len(c.task_ids(status="succeeded", batch="s3")) == 8, timeout=60, what="every task succeeded")
    history = run_cli(*SCITQ, "events", "history", "--task", str(ids[0]), env=env)
    before = list(read_ledger(r))

    done = run_cli(*SCITQ, "events", "archive", "--keep", "4", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    m = Archive(url).manifest()
    assert m.segments and m.snapshots and r.hget(keys.ARCHIVE, "url") == url
    assert r.xlen(keys.EVENTS) < len(before)
    assert run_cli(*SCITQ, "events", "history", "--task", str(ids[0]), env=env).stdout == history.stdout
    verify = run_cli(*SCITQ, "events", "rebuild", "--verify", env=env, timeout=120)
    assert "views equal the replay" in verify.stdout and "snapshot" in verify.stdout, verify.stdout + verify.stderr

    # outputs past the size went to the bucket and read back from it
    wait_for(lambda: r.exists(keys.output_packed(ids[-1], 1)), what="the output packed")
    assert c.output_text(ids[-1], 1)[0] == "".join(f"{i}\n" for i in range(1, 208))
    assert Archive(url).fs.ls(f"{bucket}/scitq/outputs")
