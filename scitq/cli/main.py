"""Provides the unified `scitq` command: server, worker, demo, events, task/batch/execution/workers, launch, fetch."""

from __future__ import annotations

import logging
import os
import sys

from scitq import __version__
from scitq.cli.common import ArgParser, redact_logs, run
from scitq.errors import BadInput
from scitq.events.model import USER_WORKER_STATUSES

__all__ = ["main"]

PROG = "scitq"
MANAGE_OBJECTS = {"task": "task", "batch": "batch", "execution": "execution", "workers": "worker",
                  "flavors": "flavor"}
PLURALS = {"task": "tasks", "batch": "batches", "execution": "executions", "worker": "workers",
           "flavor": "flavors"}


def build_parser() -> ArgParser:
    p = ArgParser(prog=PROG, description="scitq: a distributed task queue for heavy scientific shell work.",
                  epilog="Quick start: `scitq demo`. Queue a task: `scitq launch echo hello`. "
                         "Watch: `scitq events tail`.")
    p.add_argument("--version", action="version", version=f"scitq {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    s = sub.add_parser("server", help="run the server (an embedded Valkey unless --redis is given)")
    s.add_argument("--redis", help="use this Redis >= 7 / Valkey (redis:// or rediss:// URL, or a "
                                   "redis+sentinel:// URL for a primary with replicas; the server role's user) "
                                   "instead of the embedded Valkey (default $SCITQ_REDIS)")
    s.add_argument("--port", type=int, help="port of the embedded Valkey (default: the last one, or a free one)")
    s.add_argument("--fsync", choices=["always", "everysec"], default="everysec",
                   help="AOF fsync policy of the embedded Valkey (always: no acknowledged write is ever lost)")
    s.add_argument("--listen", metavar="ADDR",
                   help="also bind the embedded Valkey to ADDR (default: 127.0.0.1 only); it has no TLS")
    _tls_options(s)
    s.add_argument("-v", "--verbose", action="store_true")

    w = sub.add_parser("worker", help="run a worker on this machine")
    w.add_argument("-s", "--server", help="host, redis:// or redis+sentinel:// URL (default $SCITQ_SERVER or the local "
                                         "server)")
    w.add_argument("-n", "--name", help="worker name (default: the host name)")
    w.add_argument("-b", "--batch", help="batch to take tasks from (default: Default)")
    w.add_argument("-C", "--concurrency", type=int, default=1, help="tasks run at once (default 1)")
    w.add_argument("-p", "--prefetch", type=int, default=0, help="tasks claimed in advance (default 0)")
    w.add_argument("-S", "--status", default="running", choices=USER_WORKER_STATUSES)
    w.add_argument("-f", "--flavor", help="flavor of this worker (default local): recruiters recycle workers of "
                                          "their flavor")
    w.add_argument("-a", "--autoclean", type=float, help="disk use %% above which the oldest failed work dirs go "
                                                          "(default 90, SCITQ_AUTOCLEAN)")
    _tls_options(w)
    w.add_argument("-v", "--verbose", action="store_true")

    j = sub.add_parser("jobs", help="run the job runner: deploy and destroy jobs (`scitq server` runs one itself)")
    j.add_argument("-s", "--server", help="redis:// URL of a credential allowed to make worker users (admin's or a "
                                          "`jobs` user; default $SCITQ_SERVER or the local server)")
    j.add_argument("--burst", action="store_true", help="run the jobs waiting now, then exit")

    from scitq.cli import access as access_cli
    access_cli.add_parser(sub)

    d = sub.add_parser("demo", help="start a private server and worker, run a real batch, show progress, stop")
    d.add_argument("--tasks", type=int, default=48, help="how many tasks (default 48)")
    d.add_argument("--concurrency", type=int, default=4)
    d.add_argument("--keep", action="store_true", help="keep the demo data dir")

    from scitq.cli import events as events_cli
    events_cli.add_parser(sub)

    for ours, theirs in MANAGE_OBJECTS.items():
        sp = sub.add_parser(ours, help=f"{PLURALS[theirs]}: same verbs as `scitq-manage {theirs}`",
                            parents=[], add_help=True)
        sp.set_defaults(_manage=theirs)
        sp.add_argument("-s", "--server", help="host, redis:// or redis+sentinel:// URL")
        sp.add_argument("rest", nargs="...", help="verb and options, see `scitq-manage %s --help`" % theirs)

    lp = sub.add_parser("launch", help="queue one task (same options as scitq-launch)", add_help=False)
    lp.add_argument("rest", nargs="...")
    mp2 = sub.add_parser("manage", help="the v1 scitq-manage command line", add_help=False)
    mp2.add_argument("rest", nargs="...")
    fp = sub.add_parser("fetch", help="copy/list/sync data (same as scitq-fetch)", add_help=False)
    fp.add_argument("rest", nargs="...")
    tp = sub.add_parser("tui", help="the terminal dashboard")
    tp.add_argument("-s", "--server")
    tp.add_argument("--read-only", action="store_true")
    return p


def _tls_options(p) -> None:
    p.add_argument("--tls-ca", metavar="FILE", help="CA certificate checking a rediss:// server (SCITQ_TLS_CA)")
    p.add_argument("--tls-cert", metavar="FILE", help="client certificate for rediss:// (SCITQ_TLS_CERT)")
    p.add_argument("--tls-key", metavar="FILE", help="key of the client certificate (SCITQ_TLS_KEY)")
    p.add_argument("--tls-no-verify", action="store_true",
                   help="do not check the server's certificate (insecure; SCITQ_TLS_NO_VERIFY=1)")


def _apply_tls_options(args) -> None:
    """TLS options become the SCITQ_TLS_* environment, read by every connection of this process."""
    import os
    for opt, env in (("tls_ca", "SCITQ_TLS_CA"), ("tls_cert", "SCITQ_TLS_CERT"), ("tls_key", "SCITQ_TLS_KEY")):
        if getattr(args, opt, None):
            os.environ[env] = getattr(args, opt)
    if getattr(args, "tls_no_verify", False):
        os.environ["SCITQ_TLS_NO_VERIFY"] = "1"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cmd is None:
        parser.print_help()
        return 2
    if args.cmd == "launch":
        from scitq.cli.launch import main as launch_main
        return launch_main(args.rest)
    if args.cmd == "manage":
        from scitq.cli.manage import main as manage_main
        return manage_main(args.rest)
    if args.cmd == "fetch":
        from scitq.cli.fetch import main as fetch_main
        return fetch_main(args.rest)
    if getattr(args, "_manage", None):
        from scitq.cli.manage import main as manage_main
        pre = ["-s", args.server] if args.server else []
        return manage_main(pre + (["--debug"] if args.debug else []) + [args._manage] + args.rest)
    return run(PROG, lambda: _dispatch(args), debug=args.debug or None)


def _dispatch(args) -> int:
    _apply_tls_options(args)
    if args.cmd == "server":
        from scitq.server import serve
        from scitq.settings import settings
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                            format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
        redact_logs()
        cfg = settings()
        redis_url = args.redis or cfg.redis
        if args.listen and redis_url:
            raise BadInput("--listen applies to the embedded Valkey only, not with --redis")
        if args.listen and args.listen not in ("127.0.0.1", "localhost", "::1"):
            print(f"{PROG} server: warning: the embedded Valkey listens on {args.listen} without TLS: traffic "
                  "(passwords, commands, outputs) is not encrypted; for TLS use an external Valkey/Redis "
                  "with TLS (`scitq server --redis rediss://...`, see docs/security.md)", file=sys.stderr)
        serve(cfg, redis_url, fsync=args.fsync, port=args.port, listen=args.listen)
        return 0
    if args.cmd == "worker":
        from scitq.cli.worker_v1 import run_worker
        return run_worker(args.server, name=args.name, batch=args.batch, concurrency=args.concurrency,
                          prefetch=args.prefetch, status=args.status, verbose=args.verbose,
                          autoclean=args.autoclean, flavor=args.flavor)
    if args.cmd == "jobs":
        from scitq import jobqueue
        from scitq.connection import check, connect, resolve_url
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
        redact_logs()
        url = resolve_url(args.server)
        os.environ["SCITQ_SERVER"] = url       # the jobs report to the server with it
        r = connect(url)
        check(r)
        jobqueue.run_worker(jobqueue.connection(r), burst=args.burst)
        return 0
    if args.cmd == "access":
        from scitq.cli import access as access_cli
        return access_cli.dispatch(args)
    if args.cmd == "demo":
        from scitq.cli.demo import demo
        return demo(tasks=args.tasks, concurrency=args.concurrency, keep=args.keep)
    if args.cmd == "events":
        from scitq.api.client import Client
        from scitq.cli import events as events_cli
        client = Client(getattr(args, "server", None))
        client.ping()
        return events_cli.dispatch(client, args)
    if args.cmd == "tui":
        from scitq.tui import run_tui
        return run_tui(args.server, read_only=args.read_only)
    raise SystemExit(2)


if __name__ == "__main__":
    sys.exit(main())
