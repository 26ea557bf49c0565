"""The workflow benchmark still runs end to end at a tiny size (figures are not checked, only that they exist)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "workflow.py"


def test_the_scatter_gather_benchmark_runs_at_a_tiny_size_in_scitq_rq_and_celery(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--n", "20", "--repeat", "1", "--timeout", "60",
                           "--json", str(out)],
                          capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads(out.read_text())
    assert set(res["systems"]) == {"scitq", "rq", "celery"}
    for name, row in res["systems"].items():
        assert row["tasks"] == 41 and row["failed"] == 0, (name, row)
        run = row["runs"][0]
        assert run["succeeded"] == 41 and run["submit_seconds"] > 0 and run["wall_seconds"] > 0, (name, run)
        assert run["gather_ms"] > 0, (name, run)     # the gather started after its last parent ended
    scitq = res["systems"]["scitq"]
    assert sum(scitq["runs"][0]["sends"]) == 41 and scitq["plain_submit_seconds"] > 0
    assert {"throughput scitq/rq", "throughput scitq/celery", "gather latency rq/scitq"} <= set(res["ratios"])
    assert "scatter/gather" in proc.stdout and "target scitq build+submit" in proc.stdout
    assert "Traceback" not in proc.stderr
