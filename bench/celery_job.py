"""The Celery side of the throughput benchmark: an app on the benchmark's Valkey and the `true` job.

Broker and result backend come from BENCH_CELERY_BROKER / BENCH_CELERY_BACKEND (set by throughput.py).
Everything else is Celery's default (prefork pool, prefetch multiplier 4, early acks, JSON).
"""

import os
import subprocess

from celery import Celery

app = Celery("bench", broker=os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/2"),
             backend=os.environ.get("BENCH_CELERY_BACKEND", "redis://127.0.0.1:6379/3"))
app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                worker_redirect_stdouts=False)


@app.task(name="bench.run_true")
def run_true() -> int:
    return subprocess.run(["true"], check=True).returncode


@app.task(name="bench.stamp_true")
def stamp_true() -> list[float]:
    """`true`, returning its wall-clock start and end (the workflow benchmark reads them back)."""
    import time
    t0 = time.time()
    subprocess.run(["true"], check=True)
    return [t0, time.time()]
