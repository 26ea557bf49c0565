"""Provides `scitq-fetch` (and `scitq fetch`): v1's data command line over `scitq.io`.

    scitq-fetch [-v] [-p N] copy SRC [DEST]            rlist URI [--not-recursive] [--md5]
    scitq-fetch list URI [--not-recursive] [--md5]     nrlist URI [--md5]
    scitq-fetch sync SRC DEST [--include PATTERN]...   delete URI [--include PATTERN]... [--dryrun]
    scitq-fetch ncdu URI [--only-file]

Exit codes: 0 done, 1 a transfer failed, 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import logging
import os
import sys

from scitq.cli.common import ArgParser, redact_logs, run
from scitq.io.uri import redact

__all__ = ["main", "build_parser"]

PROG = "scitq-fetch"


def build_parser() -> ArgParser:
    p = ArgParser(prog=PROG, description="Copy, list, sync and delete data behind scitq URIs "
                                         "(s3://, azure://, ftp://, http(s)://, run+fastq://, rclone remotes, local paths)")
    p.add_argument("-v", "--verbose", action="store_true", help="say what is done")
    p.add_argument("-p", "--process", type=int, default=10, metavar="N", help="parallel transfers (default 10)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=ArgParser)
    c = sub.add_parser("copy", help="copy SRC to DEST (default: the current folder); DEST ending with / is a folder")
    c.add_argument("src")
    c.add_argument("dest", nargs="?", default=None)
    for verb, help_ in (("list", "list files (absolute names)"), ("rlist", "list files (relative names)")):
        lp = sub.add_parser(verb, help=help_)
        lp.add_argument("uri")
        lp.add_argument("--not-recursive", action="store_true", help="only the first level (folders end with /)")
        lp.add_argument("--md5", action="store_true", help="add the MD5 column")
    nr = sub.add_parser("nrlist", help="rlist, not recursive")
    nr.add_argument("uri")
    nr.add_argument("--md5", action="store_true")
    s = sub.add_parser("sync", help="copy what DEST lacks (by name and size); never deletes on DEST")
    s.add_argument("src")
    s.add_argument("dest")
    s.add_argument("--include", action="append", default=[], metavar="PATTERN", help="only matching names")
    d = sub.add_parser("delete", help="delete a file or every file under a folder")
    d.add_argument("uri")
    d.add_argument("--include", action="append", default=[], metavar="PATTERN")
    d.add_argument("--dryrun", action="store_true", help="only say what would be deleted")
    n = sub.add_parser("ncdu", help="browse sizes with ncdu")
    n.add_argument("uri")
    n.add_argument("--only-file", action="store_true", help="write the ncdu export and print its path")
    return p


def _date(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _listing(args, relative: bool, recursive: bool) -> int:
    from scitq import fetch

    for e in fetch.list_content(args.uri, no_rec=not recursive, md5=args.md5):
        cols = [e.rel_name if relative else e.name, _date(e.creation_date), _date(e.modification_date), str(e.size)]
        if args.md5:
            cols.append(e.md5 or "-")
        print(redact(" ".join(cols)))
    return 0


def _body(args) -> int:
    from scitq import fetch
    from scitq.io.progress import Watch

    if args.process < 1:
        from scitq.errors import BadInput
        raise BadInput(f"-p must be at least 1, not {args.process}")
    if args.verb == "copy":
        dest = args.dest if args.dest is not None else os.getcwd() + "/"
        watch = Watch.for_terminal()
        done = fetch.copy(args.src, dest, watch=watch, process=args.process)
        watch.finish()
        for item in done if args.verbose else []:
            print(redact(str(item)))
        return 0
    if args.verb in ("list", "rlist"):
        return _listing(args, args.verb == "rlist", not args.not_recursive)
    if args.verb == "nrlist":
        return _listing(args, True, False)
    if args.verb == "sync":
        watch = Watch.for_terminal()
        done = fetch.sync(args.src, args.dest, args.include or None, process=args.process, watch=watch)
        watch.finish()
        for rel in done if args.verbose else []:
            print(rel)
        return 0
    if args.verb == "delete":
        for name in fetch.delete(args.uri, args.include or None, args.dryrun):
            print(redact(f"{'would delete' if args.dryrun else 'deleted'} {name}"))
        return 0
    if args.verb == "ncdu":
        path = fetch.ncdu(args.uri, only_file=args.only_file)
        if path:
            print(path)
        return 0
    raise AssertionError(args.verb)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.verb is None:
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format=f"{PROG}: %(message)s")
    redact_logs()
    for noisy in ("botocore", "aiobotocore", "s3fs", "azure", "adlfs", "fsspec", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return run(PROG, lambda: _body(args), debug=args.debug or None)


if __name__ == "__main__":
    sys.exit(main())
