"""The dashboard benchmark still runs end to end at a tiny size (its figures exist; their size is not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "tui_startup.py"


def test_the_dashboard_benchmark_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "tui.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--tasks", "300", "--workers", "1", "--load-tasks", "100",
                           "--rounds", "2", "--repeat", "1", "--lag-seconds", "0.3", "--json", str(out)],
                          capture_output=True, text=True, timeout=150, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(out.read_text())
    assert res["seed"]["tasks"] == 300
    assert set(res["startup_headless_s"]) == {"workers", "batches", "tasks", "events"}
    for label in ("latency_idle", "latency_under_load"):
        assert res[label]["task_status_from_api_s"]["n"] == 2
        assert res[label]["batch_pause_from_api_s"]["n"] == 2
    assert "API call -> on screen" in proc.stdout
