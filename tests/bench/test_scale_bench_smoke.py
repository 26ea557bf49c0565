"""The scale benchmark still runs end to end at a tiny size (figures are not checked, only that they exist)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "scale.py"


def test_scale_benchmark_drains_a_few_hundred_tasks_and_reports_every_figure(tmp_path):
    out = tmp_path / "scale.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tasks", "300", "--chunk", "100", "--backlog", "200",
                           "--workers", "1", "--concurrency", "4", "--probes", "2", "--latency-probes", "5",
                           "--idle-workers", "2", "--idle-seconds", "2", "--timeout", "60", "--json", str(out)],
                          capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(out.read_text())
    assert res["dispatch_at_rest"]["n"] == 5 and res["dispatch_at_rest"]["dispatch_p50_ms"] > 0
    assert res["idle"]["workers"] == 2 and res["idle"]["server_cpu_pct"] >= 0
    drain = res["drain"]
    assert drain["tasks"] == 300 and drain["tasks_per_s"] > 0
    # one sample at least: a fast drain of 300 tasks can end while the first sample's probes run
    assert drain["samples"][-1]["done"] == 300
    assert [x["done"] for x in drain["samples"]] == sorted(x["done"] for x in drain["samples"])
    every = ("valkey_used_memory", "ledger_memory", "ledger_events", "server_rss", "commit_p50_ms", "dispatch_p50_ms")
    assert all(s[k] > 0 for s in drain["samples"] for k in every), drain["samples"]
    assert all(s["tasks_per_s"] >= 0 for s in drain["samples"])
    assert res["archive_policy"]["on"] and res["archive_policy"]["segment"] >= 100
    after = res["after"]
    assert after["server_restart_s"] > 0 and after["history_task_rc"] == 0 and after["history_task_lines"] > 0
    assert after["server_rss_after_archive"] > 0 and after["history_task_archived"], after
    assert "dispatch latency at rest" in proc.stdout and "server restart" in proc.stdout
