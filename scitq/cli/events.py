"""Provides `scitq events`: a task's/batch's/worker's history (archive + live ledger), the live tail, rebuild
and verify, archive."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any

from scitq import keys
from scitq.api.client import Client, EventFilter
from scitq.connection import describe
from scitq.errors import BadInput, NotFound, ScitqError, Unreachable
from scitq.events.codec import event_json
from scitq.io.uri import redact

__all__ = ["add_parser", "dispatch", "format_event"]

_SKIP = {"type", "ts", "task_id", "batch", "worker"}


def add_parser(sub: Any) -> None:
    ev = sub.add_parser("events", help="audit the ledger: history, tail, rebuild --verify")
    verbs = ev.add_subparsers(dest="verb", metavar="VERB")
    h = verbs.add_parser("history", help="every event of a task, batch, worker or workflow, oldest first")
    g = h.add_mutually_exclusive_group(required=True)
    g.add_argument("--task", type=int)
    g.add_argument("--batch")
    g.add_argument("--worker")
    g.add_argument("--workflow", help="a workflow's batches (NAME.*), their recruiters, and their workers' events "
                                      "while they were in them")
    h.add_argument("--json", action="store_true", help="one JSON object per line")
    t = verbs.add_parser("tail", help="follow the ledger live (Ctrl-C to stop)")
    t.add_argument("--type", help="only events whose type starts with this (e.g. task. or worker.offline)")
    t.add_argument("--task", type=int)
    t.add_argument("--batch")
    t.add_argument("--worker")
    t.add_argument("--from-start", action="store_true", help="print the whole ledger first")
    t.add_argument("--count", type=int, help="stop after this many events")
    t.add_argument("--json", action="store_true")
    r = verbs.add_parser("rebuild", help="replay the ledger into fresh views (and compare with --verify)")
    r.add_argument("--verify", action="store_true", help="report whether the stored views equal the replay")
    r.add_argument("--from-zero", action="store_true",
                   help="replay from the first entry, not from the archive's latest snapshot")
    a = verbs.add_parser("archive", help="move old ledger entries to the archive now (SCITQ_ARCHIVE), then trim them")
    a.add_argument("--keep", type=int, help="entries the live ledger keeps (default SCITQ_ARCHIVE_KEEP)")
    a.add_argument("--age", type=float, help="also archive entries older than this many seconds (default SCITQ_ARCHIVE_AGE)")
    a.add_argument("--no-trim", action="store_true", help="archive, but leave the live ledger as it is")
    a.add_argument("--json", action="store_true")
    verbs.add_parser("rejected", help="inputs set aside (malformed commands or worker reports), with reasons")
    verbs.add_parser("check", help="check every task's events form a valid path (and no result was accepted twice)")


def format_event(eid: str, f: dict[str, str], as_json: bool = False) -> str:
    try:   # the whole event (type and ids included), an entry of an older version in today's shape
        data = event_json(f)
    except ScitqError:
        try:
            data = json.loads(f.get("data", "{}"))
        except ValueError:
            data = {"corrupt": f.get("data")}
    if as_json:
        return redact(json.dumps({"id": eid, **data}))
    ts = data.get("ts") or int(eid.split("-")[0]) / 1000
    when = datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    ids = " ".join(f"{k}={f[k]}" for k in ("task", "batch", "worker") if f.get(k))
    rest = " ".join(f"{k}={_show(v)}" for k, v in data.items() if k not in _SKIP and v not in (None, [], {}, ""))
    return redact(f"{when}  {f.get('type', '?'):<26} {ids}  {rest}".rstrip())


def _show(v: Any) -> str:
    if isinstance(v, str):
        return f'"{v}"' if (" " in v or not v) else v
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def _filter(args: Any) -> EventFilter:
    return EventFilter(type=getattr(args, "type", None) or "", batch=args.batch or "",
                       task="" if args.task is None else str(args.task), worker=args.worker or "")


def _in_workflow(name: str) -> Any:
    """A filter of ledger entries for `history --workflow`: events of the batches `<name>.*` (tasks,
    recruiters, recruitments), and a worker's own events from when it enters such a batch to when it
    leaves it (included)."""
    prefix = f"{name}."
    inside: set[str] = set()

    def keep(f: dict[str, str]) -> bool:
        batch, worker, kind = f.get("batch", ""), f.get("worker"), f.get("type", "")
        ours = batch.startswith(prefix)
        if worker and kind.startswith("worker."):
            was = worker in inside
            if kind == "worker.deleted":
                inside.discard(worker)
            elif batch:                 # the events that set a worker's batch name it
                (inside.add if ours else inside.discard)(worker)
            return ours or was
        return ours

    return keep


def dispatch(client: Client, args: Any, out=sys.stdout) -> int:
    if not args.verb:
        raise BadInput("a verb is needed: history, tail, rebuild, archive, check or rejected")
    if args.verb == "history":
        n, wanted = 0, _filter(args)
        keep = _in_workflow(args.workflow) if args.workflow else wanted.match
        entries = client.task_events(args.task) if args.task is not None else client.ledger()
        for eid, f in entries:
            if keep(f):
                print(format_event(eid, f, args.json), file=out)
                n += 1
        if n == 0:
            what = (f"task {args.task}" if args.task is not None else f"batch {args.batch!r}" if args.batch
                    else f"workflow {args.workflow!r}" if args.workflow else f"worker {args.worker!r}")
            raise NotFound(f"no event for {what} in the ledger")
        return 0
    if args.verb == "tail":
        last = "0-0" if args.from_start else client.last_event_id()
        seen, away, wanted = 0, False, _filter(args)
        while args.count is None or seen < args.count:
            try:
                entries = client.read_events(last, block_ms=1000, count=500)
            except Unreachable as exc:
                # the server restarts or moves: wait for it (the connection follows SCITQ_HOME's file)
                if not away:
                    print(f"scitq: {describe(client.url)} unreachable ({exc}); waiting for it", file=sys.stderr)
                away = True
                time.sleep(1)
                continue
            away = False
            for eid, f in entries:
                last = eid
                if wanted.match(f):
                    print(format_event(eid, f, args.json), file=out, flush=True)
                    seen += 1
                    if args.count is not None and seen >= args.count:
                        return 0
        return 0
    if args.verb == "rejected":
        for eid, f in client.rejected(1000):
            print(redact(f"{eid}  {f.get('stream')} entry {f.get('entry')}: {f.get('reason')}"), file=out)
        return 0
    if args.verb == "rebuild":
        return _rebuild(client, args.verify, out, args.from_zero)
    if args.verb == "archive":
        return _archive(client, args, out)
    if args.verb == "check":
        from scitq.projections.check import check_ledger
        rep = check_ledger(client.r)
        print(rep.summary(), file=out)
        for p in rep.problems[:50]:
            print(f"  {p}", file=out)
        return 0 if rep.ok else 1
    raise BadInput(f"unknown verb {args.verb!r}")


def _archive(client: Client, args: Any, out) -> int:
    """Run the archive in the server (it is the ledger's writer), or here when no server runs."""
    if args.keep is not None and args.keep < 1:
        raise BadInput(f"--keep must be at least 1, not {args.keep}")
    if args.age is not None and args.age < 0:
        raise BadInput(f"--age must not be negative, not {args.age}")
    if client.server_alive():
        res = client.archive(keep=args.keep, age=args.age, trim=not args.no_trim)
    else:
        from scitq.projections.archive import Archive
        from scitq.projections.ledger import archive_ledger
        from scitq.settings import settings
        cfg = settings()
        rep = archive_ledger(client.r, Archive(cfg.archive_url), keep=args.keep or cfg.archive_keep,
                             age=cfg.archive_age if args.age is None else args.age, segment=cfg.archive_segment,
                             trim=not args.no_trim)
        res = {"summary": rep.summary(), **rep.as_dict()}
    print(json.dumps(res) if args.json else res["summary"], file=out)
    return 0


def _rebuild(client: Client, verify: bool, out, from_zero: bool = False) -> int:
    if client.server_alive():
        res = client.rebuild(verify, from_zero=from_zero)
        summary, equal, diffs = res["summary"], res["equal"], res["differences"]
    else:
        from scitq.projections.store import rebuild
        if not client.r.set(keys.SERVER_LOCK, "rebuild", nx=True, ex=600):
            raise ScitqError("a scitq server holds the lock but does not answer: try again in a few seconds")
        try:
            report, _ = rebuild(client.r, verify=verify, from_zero=from_zero)
        finally:
            client.r.delete(keys.SERVER_LOCK)
        summary, equal, diffs = report.summary(), report.equal, report.differences
    print(summary, file=out)
    if verify and not equal:
        for k in diffs[:20]:
            print(f"  differs: {k}", file=out)
        return 1
    return 0
