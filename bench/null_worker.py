#!/usr/bin/env python3
"""A `scitq worker` whose native runner starts no process: every attempt succeeds at once (benchmarks only).

    python3 bench/null_worker.py worker -n NAME -C 4 -p 8      # the arguments of `scitq worker`

Everything else is the real worker: registration, claims from the queue, the spool and its outbox,
every report (claimed, started, finished) and the server's acknowledgements. Only the process the
task's command would start is replaced, so that what a benchmark measures is the server's and
Valkey's cost per task, not `fork`/`exec`. This file lives in bench/ and is never imported by scitq.

With SCITQ_BENCH_CLAIMS=FILE, the worker appends "task_id wall_clock" to FILE at each claim (the
moment the queue entry reached the worker), from which dispatch latency is computed.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from scitq.worker import native_runner
from scitq.worker.reporter import Reporter


class NullProcess:
    """A finished execution: exit code 0, no output."""

    def __init__(self, spec) -> None:
        self.ident = f"null-{spec.task_id}"

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def send_signal(self, signum: int) -> None:
        pass

    def kill(self) -> None:
        pass


def _null_start(self, spec, on_output):  # noqa: ARG001
    return NullProcess(spec)


def install(claims_file: str | None) -> None:
    native_runner.NativeRunner.start = _null_start
    if not claims_file:
        return
    fh = open(claims_file, "a", buffering=1)
    lock = threading.Lock()
    original = Reporter.report

    def report(self, fact, task_id, attempt, **data):
        if fact == "claimed" or (fact == "started" and data.get("entry")):   # a start may be the claim too
            with lock:
                fh.write(f"{task_id} {time.time():.6f}\n")
        return original(self, fact, task_id, attempt, **data)

    Reporter.report = report


def main() -> int:
    install(os.environ.get("SCITQ_BENCH_CLAIMS"))
    from scitq.cli.main import main as scitq_main
    return scitq_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
