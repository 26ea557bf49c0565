"""Provides `scitq demo`: a private server and worker run a real batch with live progress, then stop."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scitq.errors import ScitqError

__all__ = ["demo"]


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    fh = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "scitq.cli.main", *args], env=env, stdout=fh, stderr=fh,
                            stdin=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen, name: str, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"  {name} did not stop in {timeout:.0f}s: killing it")
            proc.kill()
            proc.wait()


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


def demo(tasks: int = 48, concurrency: int = 4, keep: bool = False) -> int:
    if tasks < 2:
        raise ScitqError("the demo needs at least 2 tasks")
    home = Path(tempfile.mkdtemp(prefix="scitq-demo-"))
    env = {**os.environ, "SCITQ_HOME": str(home), "SCITQ_SERVER": "", "SCITQ_OUTPUT_FLUSH": "1"}
    os.environ["SCITQ_HOME"] = str(home)
    os.environ.pop("SCITQ_SERVER", None)
    print(f"scitq demo: a private server (embedded Valkey) and one worker, data in {home}")
    server = _spawn(["server"], env, home / "server.log")
    worker = None
    try:
        from scitq.api.v1 import Server
        from scitq.connection import read_connection_file
        from scitq.settings import settings

        deadline = time.monotonic() + 30
        while read_connection_file(settings().connection_file) is None:
            if server.poll() is not None or time.monotonic() > deadline:
                raise ScitqError(f"the server did not start (see {home / 'server.log'})")
            time.sleep(0.1)
        client = Server(persistent=False)
        client.client.wait_server(30)
        print("  server up; starting a worker with concurrency", concurrency)
        worker = _spawn(["worker", "-n", "demo-worker", "-b", "demo", "-C", str(concurrency), "-p", "2"], env,
                        home / "worker.log")

        specs, expected = [], {}
        for i in range(tasks - 1):
            n = 1000 + 997 * i
            specs.append({"command": f"seq 1 {n} | awk '{{s += $1 * $1}} END {{printf \"%.0f\\n\", s}}'; sleep 0.{i % 5 + 2}",
                          "shell": True, "name": f"squares-{i + 1}", "batch": "demo"})
            expected[f"squares-{i + 1}"] = str(n * (n + 1) * (2 * n + 1) // 6)
        marker = home / "flaky.marker"
        specs.append({"command": f"if [ -e {marker} ]; then echo recovered; else touch {marker}; "
                                 "echo 'first attempt fails on purpose' >&2; exit 1; fi",
                      "shell": True, "name": "flaky", "batch": "demo", "retry": 1})
        t0 = time.monotonic()
        ids = client.task_create_many(specs)
        print(f"  queued {len(ids)} tasks in batch 'demo' (task 'flaky' fails once and is retried)\n")
        tty = sys.stdout.isatty()
        last_print = 0.0
        while True:
            b = client.client.batch("demo")
            done = b.succeeded + b.failed
            running = b.running
            waiting = b.pending + b.assigned + b.accepted
            rate = b.succeeded / max(time.monotonic() - t0, 1e-6)
            line = (f"  {_bar(done, len(ids))} {done}/{len(ids)} done  running {running}  waiting {waiting}  "
                    f"failed {b['failed']}  {rate:5.1f} tasks/s")
            now = time.monotonic()
            if tty:
                print("\r" + line, end="", flush=True)
            elif now - last_print >= 1.0 or done == len(ids):
                print(line, flush=True)
                last_print = now
            if done == len(ids):
                break
            if worker.poll() is not None:
                raise ScitqError(f"the worker stopped unexpectedly (see {home / 'worker.log'})")
            if now - t0 > 300:
                raise ScitqError("the demo did not finish in 5 minutes")
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        if tty:
            print()
        rows = client.tasks(batch="demo")
        wrong = []
        for t in rows:
            if t["name"] in expected:
                ex = max(client.client.executions(t["task_id"]), key=lambda e: e.execution_id)
                out, _ = client.client.output_text(t["task_id"], ex.attempt)
                if out.strip() != expected[t["name"]]:
                    wrong.append(t["name"])
        ok = sum(1 for t in rows if t["status"] == "succeeded")
        print(f"\n  {ok}/{len(rows)} tasks succeeded in {elapsed:.1f}s; outputs checked: "
              f"{len(expected) - len(wrong)}/{len(expected)} correct")
        flaky = next(t for t in rows if t["name"] == "flaky")
        print(f"\n  history of task 'flaky' (scitq events history --task {flaky['task_id']}):")
        from scitq.cli.events import format_event
        for eid, f in client.client.events():
            if f.get("task") == str(flaky["task_id"]):
                print("    " + format_event(eid, f)[11:])
        status = 0 if ok == len(rows) and not wrong else 1
    finally:
        print("\n  stopping the worker and the server...")
        if worker is not None:
            _stop(worker, "worker")
        _stop(server, "server")
        if keep:
            print(f"  demo data kept in {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    print("  done." if status == 0 else "  the demo did not go as expected (see above)")
    return status
