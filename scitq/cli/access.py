"""Provides `scitq access`: add, list and revoke the Valkey/Redis users of each role (docs/security.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from scitq import access
from scitq.cli.common import table
from scitq.connection import check, connect, resolve_url
from scitq.errors import BadInput

__all__ = ["add_parser", "dispatch"]


def add_parser(sub: Any) -> None:
    ac = sub.add_parser("access", help="users of the Redis/Valkey per role: add (prints a URL), list, revoke")
    ac.add_argument("-s", "--server", help="admin's redis:// URL (default: the local server's connection file)")
    verbs = ac.add_subparsers(dest="verb", metavar="VERB")
    a = verbs.add_parser("add", help="create a user (or give it a new password) and print its connection URL")
    a.add_argument("role", choices=[r for r in access.ROLES], metavar="ROLE",
                   help="one of " + ", ".join(access.ROLES))
    a.add_argument("name", nargs="?", help="the worker's name for `worker`; any name for the others (user ROLE-NAME)")
    a.add_argument("--host", help="host to put in the printed URL (default: the one connected to)")
    a.add_argument("--password-env", metavar="VAR",
                   help="take the password from environment variable VAR instead of generating one")
    a.add_argument("--json", action="store_true")
    ls = verbs.add_parser("list", help="every user, its role and whether it is on")
    ls.add_argument("--json", action="store_true")
    rv = verbs.add_parser("revoke", help="delete a user (its open connections are closed)")
    rv.add_argument("user", metavar="NAME", help="user name as listed (e.g. worker-node1)")
    for verb in (a, ls, rv):
        verb.add_argument("-s", "--server", default=argparse.SUPPRESS, help="admin's redis:// URL")


def dispatch(args: Any) -> int:
    if not args.verb:
        raise BadInput("missing verb: add, list or revoke (see scitq access --help)")
    url = resolve_url(args.server)
    r = connect(url)
    check(r)
    if args.verb == "add":
        password = None
        if args.password_env:
            password = os.environ.get(args.password_env, "")
            if not password:
                raise BadInput(f"--password-env {args.password_env}: that environment variable is empty or unset")
        user, password, warning = access.add(r, args.role, args.name, password)
        out = access.url_for(url, user, password, host=args.host)
        if args.json:
            print(json.dumps({"user": user, "role": args.role, "url": out}))
        else:
            print(out)
        if warning:
            print(f"scitq access: warning: {warning}", file=sys.stderr)
        return 0
    if args.verb == "list":
        users = access.list_users(r)
        if args.json:
            print(json.dumps([{"user": u.user, "role": u.role, "on": u.enabled} for u in users]))
        else:
            table([(u.user, u.role or "-", "on" if u.enabled else "off") for u in users], ["user", "role", "state"])
        return 0
    if args.verb == "revoke":
        warning = access.revoke(r, args.user)
        print(f"revoked {args.user}")
        if warning:
            print(f"scitq access: warning: {warning}", file=sys.stderr)
        return 0
    raise BadInput(f"unknown verb {args.verb!r}")

