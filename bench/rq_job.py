"""The RQ side of the throughput benchmark: the job every RQ worker runs (the same `true` as scitq's task)."""

import subprocess


def run_true() -> int:
    return subprocess.run(["true"], check=True).returncode


def stamp_true() -> list[float]:
    """`true`, returning its wall-clock start and end (the workflow benchmark reads them back)."""
    import time
    t0 = time.time()
    subprocess.run(["true"], check=True)
    return [t0, time.time()]
