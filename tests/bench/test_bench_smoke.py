"""The throughput benchmark still runs end to end at a tiny size (figures are not checked, only that they exist)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "throughput.py"


def test_throughput_benchmark_runs_at_a_tiny_size(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--n", "50", "--submit-one", "20", "--submit-many", "300",
                           "--timeout", "40", "--json", str(out)],
                          capture_output=True, text=True, timeout=110, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(out.read_text())
    assert set(res["e2e"]) == {"floor", "scitq", "rq", "celery"}
    for name, row in res["e2e"].items():
        assert row["tasks"] == 50 and row["failed"] == 0, (name, row)
        assert row["tasks_per_s"] > 0
    assert res["e2e"]["scitq"]["succeeded"] == 50
    assert set(res["ratios"]) == {"scitq/celery", "scitq/rq", "scitq/floor"}
    assert res["submission"]["one_by_one"]["tasks"] == 20
    assert res["submission"]["batched"]["tasks"] == 300
    assert res["replay"]["tasks"] == 50 + 20 + 300 and res["replay"]["events"] > 0
    assert res["memory"]["ledger_events"] > 0 and res["memory"]["task_view_hash_bytes"] > 0
    assert "end-to-end" in proc.stdout and "ledger replay" in proc.stdout


ROUND_COST = SCRIPT.with_name("round_cost.py")


def test_the_round_cost_benchmark_runs_at_a_tiny_size(tmp_path):
    """bench/round_cost.py drains its tasks a fixed number a round and gives each cost per task."""
    out = tmp_path / "rounds.json"
    proc = subprocess.run([sys.executable, str(ROUND_COST), "--n", "30", "--per-round", "3", "--json", str(out)],
                          capture_output=True, text=True, timeout=110, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(out.read_text())
    assert res["n"] == 30 and res["rounds"] >= 10
    assert res["server_ms_per_task"] > 0 and res["valkey_ms_per_task"] >= 0
    assert res["commands"]["top_per_task"]["fcall"] > 0
    assert "CPU per task" in proc.stdout
