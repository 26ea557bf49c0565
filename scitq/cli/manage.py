"""Provides `scitq-manage`: v1's objects and verbs to list and steer tasks, batches, workers, executions."""

from __future__ import annotations

import sys
from typing import Any

from scitq import __version__
from scitq.api.v1 import Server
from scitq.cli.common import ArgParser, fmt_date, run, table
from scitq.errors import BadInput, NotFound
from scitq.io.uri import redact
from scitq.events.model import USER_WORKER_STATUSES, WORKER_STATUSES
from scitq.events.worker import CLEAN, RESET_RESOURCES, RESTART
from scitq.projections.views import ExecutionView
from scitq.server.decide import BATCH_GO_SIGNALS, BATCH_STOP_SIGNALS, TASK_SIGNALS
from scitq.settings import EXECUTION_STATUS, TASK_STATUS

__all__ = ["main", "build_parser"]

PROG = "scitq-manage"
NOT_HERE = {"db", "ansible", "debug"}
RCLONE_CONF = "/etc/rclone.conf"


def build_parser(prog: str = PROG) -> ArgParser:
    p = ArgParser(prog=prog, description="List and steer scitq tasks, batches, workers and executions.")
    p.add_argument("-s", "--server", help="scitq server: host or redis:// URL (default $SCITQ_SERVER or the local server)")
    p.add_argument("-t", "--timeout", type=int, default=150, help="how long to wait for the server's answers (s)")
    p.add_argument("--version", action="store_true", help="print the version")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    objects = p.add_subparsers(dest="object", metavar="OBJECT")

    def common_list(sp, *, status_choices=None):
        sp.add_argument("-H", "--no-header", action="store_true", help="no column headers")
        sp.add_argument("-L", "--long", action="store_true", help="more columns, full strings")
        if status_choices:
            sp.add_argument("-S", "--status", choices=status_choices, help="only this status")

    def ident(sp, required=True):
        g = sp.add_mutually_exclusive_group(required=required)
        g.add_argument("-i", "--id", type=int, help="task id")
        g.add_argument("-n", "--name", help="task name")

    # worker
    w = objects.add_parser("worker", help="workers").add_subparsers(dest="verb", metavar="VERB")
    sp = w.add_parser("list", help="list workers")
    common_list(sp, status_choices=WORKER_STATUSES)
    sp.add_argument("-b", "--batch")
    for verb in ("update", "delete"):
        sp = w.add_parser(verb, help=f"{verb} a worker" + (
            " (without -i/-n: every worker of the batch given with -b)" if verb == "update" else ""))
        g = sp.add_mutually_exclusive_group(required=verb == "delete")
        g.add_argument("-i", "--id", type=int, help="worker id")
        g.add_argument("-n", "--name", help="worker name")
        if verb == "update":
            sp.add_argument("-S", "--status", choices=USER_WORKER_STATUSES)
            sp.add_argument("-b", "--batch")
            sp.add_argument("-C", "--concurrency", type=int)
            sp.add_argument("-p", "--prefetch", type=int)
            sp.add_argument("-f", "--flavor", help="the worker's flavor (recruiters recycle workers of their flavor)")
    for verb, what in (("clean", "remove every work dir the worker is not using (kept failed tasks' dirs)"),
                       ("restart", "restart the worker once its running tasks end (same program, same options)"),
                       ("reset-resources", "make the worker forget its cached resources")):
        sp = w.add_parser(verb, help=what)
        g = sp.add_mutually_exclusive_group(required=True)
        g.add_argument("-i", "--id", type=int, help="worker id")
        g.add_argument("-n", "--name", help="worker name")
    sp = w.add_parser("deploy", help="deploy new workers on machines of a provider (one deploy job each)")
    sp.add_argument("-f", "--flavor", required=True, help="flavor, `auto` or `auto:cpu>=8:ram>=30` (the cheapest "
                                                          "matching one within quota)")
    sp.add_argument("-r", "--region", required=True, help="region, or `auto`")
    sp.add_argument("-P", "--provider", required=True, help="provider (local, docker, openstack/ovh, azure), or "
                                                            "`auto`")
    sp.add_argument("-N", "--number", type=int, default=1, help="how many workers (default 1)")
    sp.add_argument("-b", "--batch", help="batch the workers join (default Default)")
    sp.add_argument("-C", "--concurrency", type=int, default=1, help="tasks run at once (default 1)")
    sp.add_argument("-p", "--prefetch", type=int, default=0, help="tasks claimed in advance (default 0)")

    # job (deploy and destroy jobs)
    j = objects.add_parser("job", help="deploy and destroy jobs").add_subparsers(dest="verb", metavar="VERB")
    sp = j.add_parser("list", help="list the jobs, newest first")
    sp.add_argument("-H", "--no-header", action="store_true", help="no column headers")
    sp.add_argument("-L", "--long", action="store_true", help="the log of each job")
    for verb, what in (("delete", "forget a job (not a running one)"), ("retry", "run a failed job again")):
        sp = j.add_parser(verb, help=what)
        sp.add_argument("-i", "--id", required=True, help="job id, e.g. deploy-myserver-node1")

    # task
    t = objects.add_parser("task", help="tasks").add_subparsers(dest="verb", metavar="VERB")
    sp = t.add_parser("list", help="list tasks")
    common_list(sp, status_choices=TASK_STATUS)
    sp.add_argument("-b", "--batch")
    sp = t.add_parser("relaunch", help="put a task back in the queue (a new attempt)")
    ident(sp)
    sp = t.add_parser("output", help="output of the latest execution of a task")
    ident(sp)
    g = sp.add_mutually_exclusive_group()
    g.add_argument("-o", "--output", action="store_true", help="stdout only")
    g.add_argument("-e", "--error", action="store_true", help="stderr only")
    sp = t.add_parser("update", help="change a task (a task not yet started, or with -S pending a relaunch)")
    ident(sp)
    sp.add_argument("-N", "--new-name")
    sp.add_argument("-c", "--command")
    sp.add_argument("-S", "--status", choices=TASK_STATUS)
    sp.add_argument("-b", "--batch")
    sp.add_argument("-d", "--docker")
    sp.add_argument("-O", "--option")
    sp.add_argument("-j", "--input")
    sp.add_argument("-o", "--output")
    sp.add_argument("-r", "--resource")
    sp.add_argument("-R", "--requirements", help='task ids, e.g. "1 2"')
    sp.add_argument("--retry", type=int)
    sp.add_argument("--run-timeout", type=int)
    sp.add_argument("--download-timeout", type=int)
    sp = t.add_parser("delete", help="delete a task")
    ident(sp)
    sp = t.add_parser("signal", help="send a Unix signal to a running task")
    ident(sp)
    sp.add_argument("-N", "--signal", type=int, required=True, choices=TASK_SIGNALS)

    # batch
    b = objects.add_parser("batch", help="batches").add_subparsers(dest="verb", metavar="VERB")
    sp = b.add_parser("list", help="list batches")
    sp.add_argument("-H", "--no-header", action="store_true")
    sp.add_argument("-L", "--long", action="store_true", help="add the cost of the deployed machines' time in "
                                                              "each batch")
    sp = b.add_parser("stop", help="pause batches: no new task starts (optionally signal running ones)")
    sp.add_argument("-n", "--name", action="append", required=True)
    g = sp.add_mutually_exclusive_group()
    g.add_argument("-N", "--signal", type=int, choices=BATCH_STOP_SIGNALS, default=0)
    g.add_argument("--term", dest="signal", action="store_const", const=15, help="SIGTERM to running tasks")
    g.add_argument("--kill", dest="signal", action="store_const", const=9, help="SIGKILL to running tasks")
    g.add_argument("--pause", dest="signal", action="store_const", const=20, help="SIGTSTP to running tasks")
    sp = b.add_parser("go", help="resume batches (optionally SIGCONT running tasks)")
    sp.add_argument("-n", "--name", action="append", required=True)
    g = sp.add_mutually_exclusive_group()
    g.add_argument("-N", "--signal", type=int, choices=BATCH_GO_SIGNALS, default=0)
    g.add_argument("--cont", dest="signal", action="store_const", const=18)
    sp = b.add_parser("delete", help="delete batches and their tasks")
    sp.add_argument("-n", "--name", action="append", required=True)
    sp = b.add_parser("relaunch", help="relaunch every failed task of batches")
    sp.add_argument("-n", "--name", action="append", required=True)

    # execution
    e = objects.add_parser("execution", help="executions (attempts)").add_subparsers(dest="verb", metavar="VERB")
    sp = e.add_parser("list", help="list executions, newest first")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("-i", "--id", type=int, help="task id")
    g.add_argument("-n", "--name", help="task name")
    common_list(sp, status_choices=EXECUTION_STATUS)
    sp.add_argument("-b", "--batch")
    sp.add_argument("-l", "--limit", type=int, default=10)
    sp = e.add_parser("output", help="output of executions")
    g = sp.add_mutually_exclusive_group(required=True)
    g.add_argument("-i", "--id", type=int, help="task id")
    g.add_argument("-n", "--name", help="task name")
    g.add_argument("-x", "--execution-id", type=int)
    sp.add_argument("-N", "--relative", type=int, default=None, help="0 latest, -1 previous...")
    sp.add_argument("-l", "--limit", type=int, default=10)
    g = sp.add_mutually_exclusive_group()
    g.add_argument("-o", "--output", action="store_true")
    g.add_argument("-e", "--error", action="store_true")
    sp.add_argument("-H", "--no-header", action="store_true")
    sp.add_argument("-S", "--status", choices=EXECUTION_STATUS)
    sp.add_argument("-C", "--columns", help="comma-separated columns")

    # recruiter
    r = objects.add_parser("recruiter", help="recruiters: move idle workers into batches with pending tasks") \
        .add_subparsers(dest="verb", metavar="VERB")
    sp = r.add_parser("list", help="list recruiters")
    sp.add_argument("-b", "--batch")
    sp.add_argument("-H", "--no-header", action="store_true", help="no column headers")
    sp.add_argument("-L", "--long", action="store_true", help="more columns")
    for verb in ("create", "update"):
        create = verb == "create"
        sp = r.add_parser(verb, help="create a recruiter (or replace the one of that batch and rank)" if create
                          else "change a recruiter (only the options given)")
        sp.add_argument("-b", "--batch", required=True)
        sp.add_argument("-n", "--rank", type=int, default=1, help="rank among the batch's recruiters (default 1)")
        sp.add_argument("-f", "--flavor", required=create, help="flavor of the workers to recruit (exact name)")
        sp.add_argument("-r", "--region", help="region to deploy in (with -P: deploying is not available yet)")
        sp.add_argument("-P", "--provider", help="provider to deploy with (with -r)")
        sp.add_argument("-C", "--concurrency", type=int, required=create, help="concurrency of a recruited worker")
        sp.add_argument("-p", "--prefetch", type=int, help="prefetch of a recruited worker (default 0)")
        sp.add_argument("-T", "--tasks-per-worker", type=int,
                        help="pending tasks per worker wanted" + (" (default: the concurrency)" if create else ""))
        sp.add_argument("-m", "--minimum-tasks", type=int, help="act only when this many tasks are pending")
        sp.add_argument("-W", "--maximum-workers", type=int, help="at most this many workers in the batch")
    sp = r.add_parser("delete", help="delete a recruiter")
    sp.add_argument("-b", "--batch", required=True)
    sp.add_argument("-n", "--rank", type=int, default=1)

    # flavor
    f = objects.add_parser("flavor", help="the flavor catalog").add_subparsers(dest="verb", metavar="VERB")
    sp = f.add_parser("list", help="search the flavor catalog (v1 filters and protofilters)")
    sp.add_argument("-P", "--provider", help="only this provider")
    sp.add_argument("-r", "--region", help="only this region")
    sp.add_argument("--min-cpu", type=float, default=0, help="at least this many cpus")
    sp.add_argument("--min-ram", type=float, default=0, help="at least this much RAM (GB)")
    sp.add_argument("--min-disk", type=float, default=0, help="at least this much disk (GB)")
    sp.add_argument("--max-eviction", type=float, default=5,
                    help="at most this eviction rate (%%/hour, default 5) unless a protofilter names eviction")
    sp.add_argument("--limit", type=int, default=10, help="at most this many flavors (default 10, 0: all)")
    sp.add_argument("--protofilters", help="v1 protofilters, e.g. 'cpu>=8:ram>=30:tags#G'")
    sp.add_argument("-H", "--no-header", action="store_true", help="no column headers")
    sp.add_argument("-L", "--long", action="store_true", help="full strings")
    sp = f.add_parser("update", help="ask a provider for its flavors, prices and quotas and record them")
    sp.add_argument("provider", help="local, docker, openstack (ovh) or azure")

    # config
    c = objects.add_parser("config", help="configuration the server shares").add_subparsers(dest="verb",
                                                                                           metavar="VERB")
    sp = c.add_parser("rclone", help="the server's rclone configuration: print it, or install it here")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--install", action="store_true", help=f"write it to {RCLONE_CONF} (or --dest)")
    g.add_argument("--show", action="store_true", help="print it (the default)")
    sp.add_argument("--dest", default=RCLONE_CONF, help=f"file written by --install (default {RCLONE_CONF})")
    c.add_parser("remote", help="the server's remote URI (SCITQ_REMOTE_URI)")

    for name in sorted(NOT_HERE):
        objects.add_parser(name, help=f"{name} (not in this version)").add_argument("rest", nargs="*")
    return p


def _task_ids(server: Server, args: Any) -> list[int]:
    if getattr(args, "id", None) is not None:
        server.client.task(args.id)  # NotFound if unknown
        return [args.id]
    ids = server.client.task_ids(name=args.name)
    if not ids:
        raise NotFound(f"no task named {args.name!r}")
    return ids


def _worker_id(server: Server, args: Any) -> int:
    if args.id is not None:
        return args.id
    return server.client.worker_id(args.name)


def dispatch(args: Any, out=sys.stdout) -> int:
    if args.version:
        print(f"Version: {__version__}")
        return 0
    if not args.object:
        raise BadInput("an object is needed: worker, task, batch, execution or recruiter")
    if args.object in NOT_HERE:
        raise BadInput(f"'{args.object}' is not available in this version of scitq")
    if not getattr(args, "verb", None):
        raise BadInput(f"a verb is needed after '{args.object}'")
    server = Server(args.server, persistent=False)
    server.client.timeout = args.timeout
    server.client.ping()
    return globals()[f"_{args.object}_{args.verb.replace('-', '_')}"](server, args, out)


# --- config ------------------------------------------------------------------------------------
def _config_rclone(server: Server, args: Any, out) -> int:
    text = server.config_rclone()
    if not args.install:
        out.write(text)
        return 0
    import os
    try:
        parent = os.path.dirname(os.path.abspath(args.dest))
        os.makedirs(parent, exist_ok=True)
        fd = os.open(args.dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)   # it holds credentials
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except OSError as exc:
        raise BadInput(f"cannot write {args.dest}: {exc.strerror}") from None
    print(f"rclone configuration installed in {args.dest}", file=out)
    return 0


def _config_remote(server: Server, args: Any, out) -> int:
    print(server.config_remote() or "", file=out)
    return 0


# --- the flavor catalog ------------------------------------------------------------------------
def _flavor_list(server: Server, args: Any, out) -> int:
    from scitq.projections.catalog import COLUMNS
    rows = server.flavors(min_cpu=args.min_cpu, min_ram=args.min_ram, min_disk=args.min_disk,
                          max_eviction=args.max_eviction, limit=args.limit or None, provider=args.provider,
                          region=args.region, protofilters=args.protofilters)
    table([[row[c] for c in COLUMNS] for row in rows], None if args.no_header else list(COLUMNS), args.long, out)
    return 0


def _flavor_update(server: Server, args: Any, out) -> int:
    from scitq.cloud import get_provider
    from scitq.cloud.catalog import describe_changes, update_catalog
    from scitq.cloud.provider import ProviderError
    provider = get_provider(args.provider)
    try:
        answer = update_catalog(server.client, provider)
    except ProviderError as exc:
        raise BadInput(f"provider {args.provider}: {exc} ({exc.kind})") from None
    for line in describe_changes(answer):
        print(line, file=out)
    return 0


# --- workers -----------------------------------------------------------------------------------
def _worker_list(server: Server, args: Any, out) -> int:
    c = server.client
    ws = c.workers()
    if args.batch:
        ws = [w for w in ws if w.batch == args.batch]
    if args.status:
        ws = [w for w in ws if w.status == args.status]
    counts: dict[int, dict[str, int]] = {}
    machines: dict[str, Any] = {}
    if args.long:
        machines = {d.worker: d for d in c.deploys() if d.status != "destroyed"}
        for ex in c.executions():
            if ex.latest and ex.worker_id is not None:
                d = counts.setdefault(ex.worker_id, {})
                d[ex.status] = d.get(ex.status, 0) + 1
    headers = ["worker_id", "name", "status", "concurrency", "creation_date", "last_contact_date", "batch",
               "load", "memory"]
    if args.long:
        headers += ["prefetch", "disk", "held", "pending", "accepted", "running", "failed", "succeeded",
                    "provider", "region", "flavor", "ipv4"]
    rows = []
    for w in ws:
        row = [w.worker_id, w.name, w.status, w.concurrency, fmt_date(w.creation_date),
               fmt_date(w.last_contact_date), w.batch, w.load, w.memory]
        if args.long:
            cnt = counts.get(w.worker_id, {})
            m = machines.get(w.name)
            row += [w.prefetch, w.disk, w.held] + [cnt.get(s) for s in
                                                            ("pending", "accepted", "running", "failed", "succeeded")]
            row += [m.provider, m.region, w.flavor, m.ipv4 or None] if m is not None else [None, None, w.flavor, None]
        rows.append(row)
    table(rows, None if args.no_header else headers, args.long, out)
    return 0


def _worker_update(server: Server, args: Any, out) -> int:
    if args.id is None and args.name is None:
        if not args.batch:
            raise BadInput("say which worker: -i ID, -n NAME, or -b BATCH for every worker of a batch")
        targets = [w.worker_id for w in server.client.workers() if w.batch == args.batch]
        if not targets:
            raise NotFound(f"no worker in batch {args.batch!r}")
        for wid in targets:
            server.worker_update(wid, concurrency=args.concurrency, prefetch=args.prefetch, status=args.status,
                                 flavor=args.flavor)
        print(f"{len(targets)} worker(s) of batch {args.batch} updated", file=out)
        return 0
    server.worker_update(_worker_id(server, args), concurrency=args.concurrency, prefetch=args.prefetch,
                         status=args.status, batch=args.batch, flavor=args.flavor)
    return 0


def _worker_delete(server: Server, args: Any, out) -> int:
    server.worker_delete(_worker_id(server, args))
    return 0


def _worker_deploy(server: Server, args: Any, out) -> int:
    if args.number < 1:
        raise BadInput(f"-N/--number must be at least 1, not {args.number}")
    res = server.worker_deploy(args.number, args.batch, args.region, args.flavor, args.concurrency, args.provider,
                               prefetch=args.prefetch)
    names = (res or {}).get("workers", [])
    print(f"deploying {len(names)} worker(s): {' '.join(names)}", file=out)
    if len(names) < args.number:
        print(f"only {len(names)} of {args.number}: no more offer matches {args.flavor} within quota", file=out)
    return 0


def _jobs_conn(server: Server) -> Any:
    from scitq import jobqueue
    return jobqueue, jobqueue.connection(server.client.r)


def _job_list(server: Server, args: Any, out) -> int:
    jq, conn = _jobs_conn(server)
    headers = ["job", "target", "status", "progress", "created", "ended", "details"]
    rows = []
    for j in jq.jobs(conn):
        last = j.error or (j.log.splitlines()[-1] if j.log else "")
        rows.append([j.id, j.worker, j.status, f"{j.progress}%", fmt_date(j.created), fmt_date(j.ended),
                     j.log if args.long else last[:60]])
    table(rows, None if args.no_header else headers, args.long, out)
    return 0


def _job_delete(server: Server, args: Any, out) -> int:
    jq, conn = _jobs_conn(server)
    jq.delete(conn, args.id)
    print(f"job {args.id} deleted", file=out)
    return 0


def _job_retry(server: Server, args: Any, out) -> int:
    jq, conn = _jobs_conn(server)
    job = next((j for j in jq.jobs(conn) if j.id == args.id), None)
    if job is None:
        raise NotFound(f"no job {args.id!r} (see `scitq-manage job list`)")
    if job.op == "deploy":      # a new deploy of what the failed one asked for, recorded in the ledger
        res = server.client.retry_deploy(job.worker)
        print(f"deploying again: {' '.join(res.get('workers', []))}", file=out)
        return 0
    jq.retry(conn, args.id)
    print(f"job {args.id} queued again", file=out)
    return 0


def _worker_signal(server: Server, args: Any, signal: int, what: str, out) -> int:
    wid = _worker_id(server, args)
    server.worker_create_signal(wid, None, signal)
    print(f"worker {args.name or wid}: {what}", file=out)
    return 0


def _worker_clean(server: Server, args: Any, out) -> int:
    return _worker_signal(server, args, CLEAN, "cleaning its unused work dirs", out)


def _worker_restart(server: Server, args: Any, out) -> int:
    return _worker_signal(server, args, RESTART, "restarting once its running tasks end", out)


def _worker_reset_resources(server: Server, args: Any, out) -> int:
    return _worker_signal(server, args, RESET_RESOURCES, "forgetting its cached resources", out)


# --- tasks -------------------------------------------------------------------------------------
def _task_list(server: Server, args: Any, out) -> int:
    ts = server.client.tasks(status=args.status, batch=args.batch)
    headers = ["task_id", "name", "status", "command", "creation_date", "modification_date", "status_date", "batch"]
    extra = ["container", "container_options", "input", "output", "resource", "required_task_ids", "retry",
             "run_timeout", "download_timeout", "accept_failure", "blocked_by"]
    rows = []
    for t in ts:
        row = [t.task_id, t.name, t.status, t.command, fmt_date(t.creation_date),
               fmt_date(t.modification_date), fmt_date(t.status_date), t.batch]
        if args.long:
            row += [getattr(t, k) for k in extra]
        rows.append(row)
    table(rows, None if args.no_header else headers + (extra if args.long else []), args.long, out)
    return 0


def _task_relaunch(server: Server, args: Any, out) -> int:
    for tid in _task_ids(server, args):
        res = server.task_relaunch(tid)
        if res.get("already_queued"):
            print("This task is already in queue", file=out)
    return 0


def _latest_execution(server: Server, task_id: int) -> ExecutionView:
    exs = server.client.executions(task_id)
    if not exs:
        raise NotFound(f"No execution for this task {task_id}")
    return max(exs, key=lambda e: e.execution_id)


def _task_output(server: Server, args: Any, out) -> int:
    for tid in _task_ids(server, args):
        ex = _latest_execution(server, tid)
        stdout, stderr = server.client.output_text(tid, ex.attempt)
        if args.output:
            out.write(redact(stdout))
        elif args.error:
            out.write(redact(stderr))
        else:
            table([[stdout, stderr]], ["output", "error"], True, out)
    return 0


def _task_update(server: Server, args: Any, out) -> int:
    reqs = None
    if args.requirements is not None:
        reqs = [int(x) for x in args.requirements.replace(",", " ").split()]
    for tid in _task_ids(server, args):
        server.task_update(tid, command=args.command, name=args.new_name, status=args.status, batch=args.batch,
                           container=args.docker, container_options=args.option, input=args.input,
                           output=args.output, resource=args.resource, required_task_ids=reqs, retry=args.retry,
                           run_timeout=args.run_timeout, download_timeout=args.download_timeout)
    return 0


def _task_delete(server: Server, args: Any, out) -> int:
    for tid in _task_ids(server, args):
        server.task_delete(tid)
    return 0


def _task_signal(server: Server, args: Any, out) -> int:
    for tid in _task_ids(server, args):
        server.task_signal(tid, args.signal)
    return 0


# --- batches -----------------------------------------------------------------------------------
def _batch_list(server: Server, args: Any, out) -> int:
    # v1's columns where v1 had them (scripts read them by position), then the tasks blocked by a failed
    # required task (a status v1 did not have)
    rows = [[b["batch"], b["pending"], b["accepted"], b["running"], b["failed"], b["succeeded"], b["workers"],
             "paused" if b["paused"] else "", b.get("blocked")] for b in server.batches()]
    headers = ["batch", "pending", "accepted", "running", "failed", "succeeded", "workers", "state", "blocked"]
    if args.long:     # what the deployed machines' time in the batch cost (price per hour x hours)
        costs = server.client.batch_costs()
        for row in rows:
            row.append(f"{costs.get(row[0], 0.0):.4f}")
        headers.append("cost")
    table(rows, None if args.no_header else headers, False, out)
    return 0


def _batch_stop(server: Server, args: Any, out) -> int:
    for name in args.name:
        server.batch_stop(name, args.signal or 0)
    return 0


def _batch_go(server: Server, args: Any, out) -> int:
    for name in args.name:
        server.batch_go(name, args.signal or 0)
    return 0


def _batch_delete(server: Server, args: Any, out) -> int:
    for name in args.name:
        server.batch_delete(name)
    return 0


def _batch_relaunch(server: Server, args: Any, out) -> int:
    for name in args.name:
        res = server.batch_relaunch_failed(name)
        print(f"{name}: {len(res['relaunched'])} failed task(s) relaunched", file=out)
    return 0


# --- recruiters --------------------------------------------------------------------------------
def _recruiter_list(server: Server, args: Any, out) -> int:
    recs = server.client.recruiters(batch=args.batch)
    headers = ["batch", "rank", "flavor", "region", "provider", "concurrency"]
    if args.long:
        headers += ["prefetch", "tasks_per_worker", "minimum_tasks", "maximum_workers"]
    rows = []
    for rec in recs:
        row = [rec["batch"], rec["rank"], rec["worker_flavor"], rec["worker_region"], rec["worker_provider"],
               rec["worker_concurrency"]]
        if args.long:
            row += [rec["worker_prefetch"], rec["tasks_per_worker"], rec["minimum_tasks"], rec["maximum_workers"]]
        rows.append(row)
    table(rows, None if args.no_header else headers, args.long, out)
    return 0


def _recruiter_options(args: Any) -> dict[str, Any]:
    return dict(flavor=args.flavor, concurrency=args.concurrency, region=args.region, provider=args.provider,
                prefetch=args.prefetch, tasks_per_worker=args.tasks_per_worker, minimum_tasks=args.minimum_tasks,
                maximum_workers=args.maximum_workers)


def _recruiter_create(server: Server, args: Any, out) -> int:
    options = _recruiter_options(args)
    if options["tasks_per_worker"] is None:       # v1: one round of tasks per worker
        options["tasks_per_worker"] = args.concurrency
    res = server.recruiter_create(args.batch, args.rank, **options)
    print(f"recruiter {args.batch}/{args.rank} {'replaced' if res.get('replaced') else 'created'}", file=out)
    return 0


def _recruiter_update(server: Server, args: Any, out) -> int:
    res = server.recruiter_update(args.batch, args.rank, **_recruiter_options(args))
    changed = res.get("changed") or []
    print(f"recruiter {args.batch}/{args.rank}: " + (", ".join(changed) + " changed" if changed else "unchanged"),
          file=out)
    return 0


def _recruiter_delete(server: Server, args: Any, out) -> int:
    server.recruiter_delete(args.batch, args.rank)
    print(f"recruiter {args.batch}/{args.rank} deleted", file=out)
    return 0


# --- executions --------------------------------------------------------------------------------
def _executions_for(server: Server, args: Any) -> list[ExecutionView]:
    c = server.client
    if getattr(args, "execution_id", None) is not None:
        exs = [c.execution(args.execution_id)]
    elif args.id is not None or args.name is not None:
        exs = [e for tid in _task_ids(server, args) for e in c.executions(tid)]
    else:
        exs = c.executions()
    if getattr(args, "batch", None):
        ids = set(c.task_ids(batch=args.batch))
        exs = [e for e in exs if e.task_id in ids]
    if args.status:
        exs = [e for e in exs if e.status == args.status]
    exs.sort(key=lambda e: e.execution_id, reverse=True)
    return exs


def _execution_list(server: Server, args: Any, out) -> int:
    exs = _executions_for(server, args)[: args.limit]
    task_cmd = {}
    headers = ["execution_id", "task_id", "worker_id", "status", "command", "creation_date", "modification_date",
               "latest"]
    rows = []
    for e in exs:
        cmd = e.command or task_cmd.setdefault(e.task_id, server.client.task(e.task_id).command)
        row = [e.execution_id, e.task_id, e.worker_id, e.status, cmd, fmt_date(e.creation_date),
               fmt_date(e.modification_date), e.latest]
        if args.long:
            so, se = server.client.output_text(e.task_id, e.attempt)
            row += [so[-50:], se[-50:], e.output_files]
        rows.append(row)
    table(rows, None if args.no_header else headers + (["output", "error", "output_files"] if args.long else []),
          args.long, out)
    return 0


def _execution_output(server: Server, args: Any, out) -> int:
    exs = _executions_for(server, args)
    if args.relative is not None:
        idx = -args.relative
        exs = exs[idx: idx + 1] if 0 <= idx < len(exs) else []
    exs = exs[: args.limit]
    if not exs:
        raise NotFound("no execution matches")
    cols = args.columns.split(",") if args.columns else (["output"] if args.output else
                                                          ["error"] if args.error else ["output", "error"])
    rows = []
    for e in exs:
        so, se = server.client.output_text(e.task_id, e.attempt)
        data = {**e.to_dict(), "output": so, "error": se}
        unknown = [c for c in cols if c not in data]
        if unknown:
            raise BadInput(f"unknown column(s): {', '.join(unknown)}")
        rows.append([data[c] for c in cols])
    if len(cols) == 1 and args.no_header:
        for r in rows:
            out.write(str(r[0]))
        return 0
    table(rows, None if args.no_header else cols, True, out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return run(PROG, lambda: dispatch(args), debug=args.debug or None)


if __name__ == "__main__":
    sys.exit(main())
