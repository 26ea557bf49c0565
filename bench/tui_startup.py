#!/usr/bin/env python3
"""Dashboard benchmark: start-up time and update latency of `scitq tui` over a ledger of 100,000 tasks.

    python3 bench/tui_startup.py [--tasks 100000] [--workers 50] [--rounds 20] [--json FILE]

On one private Valkey (127.0.0.1, a free port, a temporary dir) with a real `scitq server`:

1. Seeds N tasks with `Server(url).task_create_many` (4 batches) and times it.
2. Start-up, in a real terminal: `scitq tui` started in tmux (160x50), timed until the first screen
   shows the task totals, then until the Tasks screen (`t`) shows its first page. Skipped without tmux.
3. Start-up, in-process (Textual headless): from creating the app until each screen shows its data
   (median of --repeat 3), plus the import time of the dashboard.
4. Update latency: a change made through the API (task paused/resumed, batch paused/resumed) until the
   dashboard shows it; from the API call, and from the ledger entry's own time.
5. Under load: W real `scitq worker` processes (concurrency 1) run tasks of another batch (`true` by
   default: as many events per second as they can make) while
   the same latencies are measured again, with the lag of the dashboard's event loop (a 20 ms timer's
   lateness) and the time a key press takes to move the cursor.

Every process started here is stopped at the end (also on Ctrl-C or a failure). `--json FILE` writes
the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import redis

from scitq import keys
from scitq.server.embedded import free_port, valkey_binary


class BenchError(RuntimeError):
    pass


class Procs:
    """Subprocesses of the benchmark (Valkey, the server, then workers), each in its own process group."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []

    def spawn(self, args: list[str], log: str, env: dict[str, str]) -> subprocess.Popen:
        fh = open(self.logdir / log, "ab")
        p = subprocess.Popen(args, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def stop_all(self) -> None:
        """Workers first, then the server, then Valkey (a worker without Redis would wait for it)."""
        groups = [self.procs[2:], self.procs[1:2], self.procs[:1]]
        for group in groups:
            for p in group:
                if p.poll() is None:
                    try:
                        os.killpg(p.pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
            deadline = time.monotonic() + 15
            for p in group:
                try:
                    p.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


async def until(pilot: Any, predicate: Callable[[], Any], what: str, timeout: float = 30.0,
                step: float = 0.002) -> None:
    """Poll with plain sleeps (Pilot.pause waits for the screen to be idle, which a busy feed delays)."""
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(step)


class Tmux:
    """One private tmux server (its own socket name), removed with its socket file by `close`."""

    def __init__(self, env: dict[str, str]) -> None:
        self.sock = f"scitq-bench-{secrets.token_hex(4)}"
        # COLUMNS/LINES (set by some parents, pytest among them) would override the 160x50 pane's size
        self.env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
        self.path = ""

    def __call__(self, *a: str) -> str:
        return subprocess.run(["tmux", "-L", self.sock, *a], env=self.env, capture_output=True, text=True,
                              timeout=10).stdout

    def start(self, command: str) -> None:
        self("new-session", "-d", "-s", "tui", "-x", "160", "-y", "50", command)
        self.path = self.path or self("display-message", "-p", "#{socket_path}").strip()

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "tui")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], env=self.env, capture_output=True)
        if self.path:
            Path(self.path).unlink(missing_ok=True)


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"n": len(values), "median": statistics.median(values), "p95": p95, "max": ordered[-1]}


class Bench:
    res: dict[str, Any]

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.procs = Procs(tmp)
        self.password = secrets.token_hex(12)
        self.port = free_port()
        self.url = f"redis://:{self.password}@127.0.0.1:{self.port}/0"
        self.env = {**os.environ, "SCITQ_SERVER": self.url, "SCITQ_HOME": str(tmp / "home"),
                    "PYTHONUNBUFFERED": "1"}
        self.res: dict[str, Any] = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                                    "tasks": args.tasks, "workers": args.workers}

    # --- processes -------------------------------------------------------------------------------
    def start(self) -> None:
        conf = self.tmp / "valkey.conf"
        conf.write_text(f"bind 127.0.0.1\nport {self.port}\nrequirepass {self.password}\ndir {self.tmp}\n"
                        "appendonly yes\nappendfsync everysec\nsave \"\"\n")
        self.procs.spawn([valkey_binary(), str(conf)], "valkey.out", self.env)
        r = redis.Redis.from_url(self.url, decode_responses=True)

        def up() -> bool:
            try:
                return bool(r.ping())
            except redis.ConnectionError:
                return False
        wait_until(up, 20, "Valkey")
        self.procs.spawn([sys.executable, "-m", "scitq.cli.main", "server", "--redis", self.url], "server.out",
                         self.env)
        wait_until(lambda: r.exists(keys.SERVER_ALIVE), 30, "the scitq server")
        self.r = r
        from scitq.lib import Server
        self.server = Server(self.url, persistent=False)

    def seed(self) -> None:
        n = self.args.tasks
        specs = [{"command": f"echo sample {i}", "name": f"s{i:06d}", "batch": f"b{i % 4}"} for i in range(n)]
        t0 = time.perf_counter()
        self.server.task_create_many(specs)
        took = time.perf_counter() - t0
        self.res["seed"] = {"tasks": n, "seconds": took, "tasks_per_s": n / took,
                            "ledger_entries": self.r.xlen(keys.EVENTS)}

    # --- 2. start-up in a terminal ---------------------------------------------------------------
    def startup_tmux(self) -> None:
        if shutil.which("tmux") is None:
            self.res["startup_terminal"] = {"skipped": "tmux is not installed"}
            return
        tmux = Tmux(self.env)
        runs = []
        try:
            for _ in range(self.args.repeat):
                t0 = time.perf_counter()
                tmux.start(f"{sys.executable} -m scitq.cli.main tui -s '{self.url}'")
                try:
                    wait_until(lambda: f"Pending {self.args.tasks:,}" in tmux.screen(), 30, "the first screen", 0.01)
                except BenchError as exc:
                    raise BenchError(f"{exc}; the terminal showed:\n{tmux.screen()}") from None
                first = time.perf_counter() - t0
                t1 = time.perf_counter()
                tmux("send-keys", "-t", "tui", "t")
                wait_until(lambda: f"{self.args.tasks:,} task(s)" in tmux.screen()
                           and f" s{self.args.tasks - 1:06d} " in tmux.screen(), 30, "the tasks page", 0.01)
                tasks = time.perf_counter() - t1
                runs.append((first, tasks))
                tmux("send-keys", "-t", "tui", "q")
                wait_until(lambda: "tui" not in tmux("list-sessions"), 10, "the dashboard to quit")
        finally:
            tmux.close()
        self.res["startup_terminal"] = {
            "process_to_first_screen_s": summary([a for a, _ in runs]),
            "key_t_to_tasks_page_s": summary([b for _, b in runs]),
        }

    def terminal_keys(self, label: str, rounds: int = 6) -> None:
        """In tmux: `s` cycles the status filter of the Tasks screen; time until the new status is drawn."""
        if shutil.which("tmux") is None:
            return
        from scitq.settings import TASK_STATUS
        tmux = Tmux(self.env)

        def filters() -> str:
            lines = tmux.screen().splitlines()
            return lines[2] if len(lines) > 2 else ""
        out = []
        try:
            tmux.start(f"{sys.executable} -m scitq.cli.main tui -s '{self.url}'")
            wait_until(lambda: "Workers" in tmux.screen(), 30, "the dashboard")
            tmux("send-keys", "-t", "tui", "t")
            wait_until(lambda: "all statuses" in filters(), 30, "the tasks screen")
            for status in TASK_STATUS[:min(rounds, len(TASK_STATUS))]:
                t0 = time.perf_counter()
                tmux("send-keys", "-t", "tui", "s")
                wait_until(lambda: f" {status} " in filters(), 30, f"the {status} filter drawn", 0.005)
                out.append(time.perf_counter() - t0)
            tmux("send-keys", "-t", "tui", "q")
        finally:
            tmux.close()
        self.res.setdefault(label, {})["terminal_key_to_screen_s"] = summary(out)

    # --- 3-5. in-process ---------------------------------------------------------------------------
    def imports(self) -> None:
        code = "import time; t = time.perf_counter(); import scitq.tui.app; print(time.perf_counter() - t)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=self.env)
        self.res["import_s"] = float(out.stdout.strip() or "nan")

    async def startup_headless(self) -> None:
        from scitq.tui.app import Dashboard
        checks = {
            "workers": lambda s: s.table.count > 0 or (not s.busy and s.bar.info),
            "batches": lambda s: s.table.count >= 4,
            "tasks": lambda s: s.table.row() is not None and s.plan.count == self.args.tasks,
            "events": lambda s: s.loaded and s.table.count > 0,
        }
        out: dict[str, Any] = {}
        for mode, ready in checks.items():
            runs = []
            for _ in range(self.args.repeat):
                t0 = time.perf_counter()
                app = Dashboard(self.url, start=mode)
                async with app.run_test(size=(160, 50)) as pilot:
                    await until(pilot, lambda: app.screen_of(mode) and ready(app.screen_of(mode)),
                                f"the {mode} screen to fill", step=0.005)
                    runs.append(time.perf_counter() - t0)
            out[mode] = summary(runs)
        self.res["startup_headless_s"] = out

    async def latencies(self, label: str, rounds: int) -> dict[str, Any]:
        """API change -> visible; also from the ledger entry's time; plus loop lag and key response."""
        from scitq.tui.app import Dashboard
        app = Dashboard(self.url, start="tasks")
        res: dict[str, Any] = {}
        lags: list[float] = []
        async with app.run_test(size=(160, 50)) as pilot:
            tasks = app.screen
            tasks.set_filter(batch="b1")               # tasks nobody runs (the load runs batch `load`)
            await until(pilot, lambda: tasks.plan.query.batch == "b1" and tasks.table.row() is not None,
                        "the first page of b1")
            top = tasks.table.current_key
            api, ledger = [], []
            for i in range(rounds):
                status = "paused" if i % 2 == 0 else "pending"
                t0 = time.perf_counter()
                await asyncio.to_thread(self.server.task_update, top, status=status)
                await until(pilot, lambda: status in str(tasks.table.rows[0].cells[2]) if 0 in tasks.table.rows
                            else False, f"task {top} {status} on screen")
                seen, wall = time.perf_counter(), time.time()
                api.append(seen - t0)
                last = self.r.xrevrange(keys.EVENTS, count=20_000)
                entry = next((eid for eid, f in last if f.get("task") == str(top)
                              and f.get("type") == "task.status_set"), None)
                if entry:
                    ledger.append(max(0.0, wall - int(entry.split("-")[0]) / 1000))
            res["task_status_from_api_s"] = summary(api)
            res["task_status_from_event_s"] = summary(ledger)
            await pilot.press("b")
            batches = app.screen
            await until(pilot, lambda: batches.table.count >= 4, "the batches")
            api = []
            for i in range(rounds):
                fn = self.server.batch_stop if i % 2 == 0 else self.server.batch_go
                want = "paused" if i % 2 == 0 else "running"
                t0 = time.perf_counter()
                await asyncio.to_thread(fn, "b0")
                await until(pilot, lambda: any(r.key == "b0" and want in str(r.cells[1])
                                               for r in batches.table.rows.values()), f"b0 {want} on screen")
                api.append(time.perf_counter() - t0)
            res["batch_pause_from_api_s"] = summary(api)
            # the event loop's lag and a key press, over a few seconds
            await pilot.press("t")
            stop = time.perf_counter() + self.args.lag_seconds
            keys_s = []
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                await asyncio.sleep(0.02)
                lags.append(max(0.0, time.perf_counter() - t0 - 0.02))
                if len(lags) % 10 == 0:
                    before = tasks.table.cursor
                    k0 = time.perf_counter()
                    app.simulate_key("down" if before < 20 else "home")
                    await until(pilot, lambda: tasks.table.cursor != before, "the cursor to move", step=0.001)
                    keys_s.append(time.perf_counter() - k0)
            res["event_loop_lag_s"] = summary(lags)
            res["key_to_cursor_s"] = summary(keys_s)
        self.res[label] = res
        return res

    def load(self) -> None:
        n = self.args.workers
        if n <= 0:
            return
        self.server.task_create_many([{"command": self.args.load_command, "batch": "load"}
                                      for _ in range(self.args.load_tasks)])
        for i in range(n):
            self.procs.spawn([sys.executable, "-m", "scitq.cli.main", "worker", "-n", f"w{i:02d}", "-C", "1",
                              "-b", "load"], f"worker-{i:02d}.out", {**self.env, "SCITQ_HOME": str(self.tmp / f"w{i}")})
        wait_until(lambda: len(self.server.workers()) >= n, 180, f"{n} workers registered", 0.5)
        start = self.r.xlen(keys.EVENTS)
        t0 = time.perf_counter()
        time.sleep(self.args.lag_seconds)
        self.res["load"] = {"workers": n, "command": self.args.load_command,
                            "ledger_events_per_s": (self.r.xlen(keys.EVENTS) - start) / (time.perf_counter() - t0)}

    def run(self) -> None:
        phases: dict[str, float] = {}
        self.res["phases_s"] = phases

        def phase(name: str, fn: Callable[[], Any]) -> None:
            t0 = time.perf_counter()
            fn()
            phases[name] = round(time.perf_counter() - t0, 2)
        phase("start", self.start)
        phase("seed", self.seed)
        phase("imports", self.imports)
        phase("startup_terminal", self.startup_tmux)
        phase("startup_headless", lambda: asyncio.run(self.startup_headless()))
        phase("latency_idle", lambda: asyncio.run(self.latencies("latency_idle", self.args.rounds)))
        phase("keys_idle", lambda: self.terminal_keys("latency_idle", self.args.rounds))
        if self.args.workers:
            phase("load", self.load)
            phase("latency_under_load", lambda: asyncio.run(self.latencies("latency_under_load", self.args.rounds)))
            phase("keys_under_load", lambda: self.terminal_keys("latency_under_load", self.args.rounds))
            load = next(b for b in self.server.batches() if b["batch"] == "load")
            self.res["load"]["succeeded_during_run"] = load.get("succeeded")


def report(res: dict[str, Any]) -> str:
    def ms(d: dict[str, float] | None) -> str:
        if not d:
            return "-"
        return f"{1000 * d['median']:.0f} ms (p95 {1000 * d['p95']:.0f}, max {1000 * d['max']:.0f})"
    lines = [f"tasks: {res['tasks']:,}   (seeded in {res['seed']['seconds']:.1f} s, "
             f"{res['seed']['tasks_per_s']:,.0f}/s, ledger {res['seed']['ledger_entries']:,} entries)",
             f"import of the dashboard: {1000 * res['import_s']:.0f} ms"]
    term = res.get("startup_terminal", {})
    if "skipped" in term:
        lines.append(f"terminal start-up: skipped ({term['skipped']})")
    else:
        lines.append(f"terminal: process start -> first screen with totals  {ms(term['process_to_first_screen_s'])}")
        lines.append(f"terminal: key t -> first page of tasks                {ms(term['key_t_to_tasks_page_s'])}")
    for mode, d in res["startup_headless_s"].items():
        lines.append(f"in-process: app created -> {mode:<8} shown          {ms(d)}")
    for label in ("latency_idle", "latency_under_load"):
        if label not in res:
            continue
        d = res[label]
        title = "idle" if label == "latency_idle" else f"{res['load']['workers']} workers running " \
                f"(~{res['load']['ledger_events_per_s']:,.0f} ledger events/s)"
        lines.append(f"-- {title}")
        lines.append(f"   task status: API call -> on screen            {ms(d['task_status_from_api_s'])}")
        lines.append(f"   task status: ledger entry -> on screen        {ms(d['task_status_from_event_s'])}")
        lines.append(f"   batch pause: API call -> on screen            {ms(d['batch_pause_from_api_s'])}")
        lines.append(f"   key press -> cursor moved (in-process)        {ms(d['key_to_cursor_s'])}")
        if "terminal_key_to_screen_s" in d:
            lines.append(f"   key press -> drawn in the terminal (tmux)     {ms(d['terminal_key_to_screen_s'])}")
        lines.append(f"   event loop lag (20 ms timer)                  {ms(d['event_loop_lag_s'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", type=int, default=100_000, help="tasks in the ledger (default 100000)")
    p.add_argument("--workers", type=int, default=50, help="worker processes for the run under load (0: none)")
    p.add_argument("--load-tasks", type=int, default=20_000, help="tasks the workers run meanwhile")
    p.add_argument("--load-command", default="true",
                   help="their command (default `true`: the most events per second the workers can make)")
    p.add_argument("--rounds", type=int, default=20, help="changes timed for each latency")
    p.add_argument("--repeat", type=int, default=3, help="start-ups timed for each figure (median)")
    p.add_argument("--lag-seconds", type=float, default=3.0,
                   help="how long the event loop lag (and the ledger rate under load) is sampled")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, Valkey data)")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="scitq-tui-bench-"))
    bench = Bench(args, tmp)

    def on_term(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        bench.run()
    except BenchError as exc:
        print(f"benchmark failed: {exc} (logs in {tmp})", file=sys.stderr)
        args.keep = True
        return 1
    finally:
        bench.procs.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(report(bench.res))
    if args.json:
        Path(args.json).write_text(json.dumps(bench.res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
