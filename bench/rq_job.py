"""The RQ side of the throughput benchmark: the job every RQ worker runs (the same `true` as scitq's task)."""

import subprocess


def run_true() -> int:
    return subprocess.run(["true"], check=True).returncode
