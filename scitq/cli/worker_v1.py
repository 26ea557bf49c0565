"""Provides `scitq-worker` (v1: `scitq-worker [-n NAME] [-s STATUS] [-b BATCH] SERVER CONCURRENCY`) and the worker runner."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

from scitq import access
from scitq.cli.common import ArgParser, redact_logs, run
from scitq.connection import check, connect, resolve_url
from scitq.errors import BadInput, Unreachable
from scitq.settings import settings

__all__ = ["main", "run_worker"]

PROG = "scitq-worker"


def run_worker(server: str | None, *, name: str | None, batch: str | None, concurrency: int, prefetch: int,
               status: str = "running", verbose: bool = False, autoclean: float | None = None,
               flavor: str | None = None) -> int:
    from scitq.worker.agent import Agent

    if concurrency < 0 or prefetch < 0:
        raise BadInput("concurrency and prefetch cannot be negative")
    if flavor is not None and (not flavor.strip() or any(ch.isspace() for ch in flavor)):
        raise BadInput(f"flavor {flavor!r} must be a name without spaces")
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    redact_logs()
    cfg = settings()
    url = resolve_url(server)
    user = access.credential_user(url)
    if user.startswith("worker-"):   # a worker's own user names the worker
        if name is None:
            name = user[len("worker-"):]
        elif user != f"worker-{name}":
            raise BadInput(f"worker name {name!r} does not match the credential's user {user!r}",
                           hint=f"start it as `-n {user[len('worker-'):]}`, or `scitq access add worker {name}`")
    r = connect(url, timeout=30)
    delay = 1.0
    while True:   # a worker outlives Redis outages, including one at its start
        try:
            check(r)
            break
        except Unreachable as exc:
            logging.getLogger("scitq.worker").warning("%s; retrying in %.0fs", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
    access.ensure_worker_credential(r, user)
    agent = Agent(r, cfg, name=name, batch=batch, concurrency=concurrency, prefetch=prefetch, status=status,
                  autoclean=autoclean, restartable=True, flavor=flavor)

    def on_signal(signum, frame):  # noqa: ARG001
        agent.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.run()
    if agent.restart_requested and not agent.stopping:
        _restart(agent.name)
    logging.getLogger("scitq.worker").info("worker %s stopped", agent.name)
    return 0


def _restart(name: str) -> None:
    """v1's restart signal: the same program, with the same arguments, in the same process (new code
    on disk is picked up). Its tasks all ended before this point, so nothing is lost."""
    argv = [sys.executable, *getattr(sys, "orig_argv", [sys.executable, *sys.argv])[1:]]
    logging.getLogger("scitq.worker").info("worker %s restarting: %s", name, " ".join(argv))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def main(argv: list[str] | None = None) -> int:
    p = ArgParser(prog=PROG, description="Run a scitq worker on this machine (v1 command line).")
    p.add_argument("-n", "--name", help="worker name (default: the host name)")
    p.add_argument("-s", "--status", default="running", choices=["running", "paused"], help="initial status")
    p.add_argument("-b", "--batch", help="batch to take tasks from (default: Default)")
    p.add_argument("-a", "--autoclean", type=float, default=None,
                   help="disk use %% above which the oldest failed work dirs are removed (default 90)")
    p.add_argument("-f", "--flavor", help="flavor of this worker (default local): recruiters recycle workers of "
                                          "their flavor")
    p.add_argument("-p", "--prefetch", type=int, default=0, help="tasks claimed in advance (default 0)")
    p.add_argument("server", help="scitq server: host or redis:// URL")
    p.add_argument("concurrency", type=int, help="tasks run at once")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    return run(PROG, lambda: run_worker(args.server, name=args.name, batch=args.batch,
                                        concurrency=args.concurrency, prefetch=args.prefetch, status=args.status,
                                        autoclean=args.autoclean, flavor=args.flavor))


if __name__ == "__main__":
    sys.exit(main())
