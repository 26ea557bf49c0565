"""Provides access control: one Valkey/Redis ACL user per role, with the least each role needs (docs/security.md).

Roles and their user names:

- ``admin`` (the operator): everything, including CONFIG, FLUSH*, SHUTDOWN, ACL, FUNCTION.
- ``server`` / ``server-NAME``: every scitq key (sole writer of the ledger, views and queues), FUNCTION LOAD of
  its library and FCALL; none of the admin commands.
- ``worker-NAME``: its own worker keys (outbox, where it also registers, alive, stats, control, replies, the
  output streams of its executions), read and claim on the queues, read of the views; nothing else.
- ``submitter-NAME``: the inbox, the reply lists, read of every scitq key (views, outputs, ledger).
- ``viewer-NAME``: read of every scitq key.
- ``jobs-NAME`` (the job runner, `scitq jobs`): the RQ keys of the deploy and destroy jobs, the inbox and reply
  lists (it reports to the server), the announcements of new worker names, read of every scitq key, and ACL SETUSER/DELUSER/SAVE to make and revoke
  each deployed worker's own user. Making users is a strong right: keep this credential on the server's machine.

Key patterns come from scitq/keys.py, so a key rename changes the ACLs with it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlparse, urlunparse

import redis

from scitq import keys
from scitq.connection import is_sentinel, nodes
from scitq.errors import BadInput, Refused

__all__ = ["ROLES", "user_name", "role_of", "rules", "set_user", "add", "revoke", "list_users", "persist",
           "url_for", "probe", "Probe", "ensure_worker_credential", "UserInfo"]

ROLES = ("admin", "server", "worker", "submitter", "viewer", "jobs")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")

# Commands no role but admin may run (beyond what the key patterns forbid).
_ADMIN_ONLY = ["-@dangerous", "-@admin", "-@scripting", "-function", "-keys", "-config", "-flushall",
               "-flushdb", "-shutdown", "-debug", "-module", "-acl"]
# Commands without keys every role needs to talk at all (AUTH, HELLO, PING, SELECT, CLIENT SETINFO...).
_CONNECT = ["+@connection", "+multi", "+exec", "+discard"]
# Read and claim on the queues: no XACK/XDEL (the server acknowledges an entry once it checked that Valkey gave
# it to the worker that claims it), no XCLAIM/XAUTOCLAIM (taking another consumer's entries).
_QUEUE_CLAIM = ["+xreadgroup", "+xgroup|create", "+xpending", "+xinfo", "+xlen", "+xrange", "+xrevrange", "+exists",
                "+type"]


def user_name(role: str, name: str | None = None) -> str:
    """The ACL user name of `name` in `role`: `admin`, `server`, or `ROLE-NAME`."""
    if role not in ROLES:
        raise BadInput(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    if not name or name == role:
        if role in ("admin", "server"):
            return role
        raise BadInput(f"role {role} needs a NAME (e.g. `scitq access add {role} node1`)")
    if not _NAME.match(name):
        raise BadInput(f"bad name {name!r}: letters, digits, '.', '_', '@', '-' only, starting with a letter or digit")
    return f"{role}-{name}"


def role_of(user: str) -> str | None:
    """The role a user name stands for (None for users scitq did not create, like `default`)."""
    role = user.split("-", 1)[0]
    return role if role in ROLES else None


def rules(role: str, name: str | None = None) -> list[str]:
    """The ACL rules (ACL SETUSER arguments, after `reset`) of `role`; `name` is the worker's name."""
    if role == "admin":
        return ["~*", "&*", "+@all"]
    if role == "server":
        return [f"~{keys.ALL_PATTERN}", f"&{keys.ALL_PATTERN}", "+@all", *_ADMIN_ONLY, "+fcall", "+fcall_ro",
                "+function|list", "+function|load", *_CONNECT]
    if role == "worker":
        if not name:
            raise BadInput("role worker needs the worker's NAME")
        return [f"~{keys.worker_pattern(name)}", "+@read", "+@write", *_ADMIN_ONLY, *_CONNECT,
                f"({' '.join(['%R~' + keys.VIEW_PATTERN, '+@read', *_ADMIN_ONLY])})",
                f"({' '.join(['~' + keys.QUEUE_PATTERN, *_QUEUE_CLAIM])})",
                f"(%R~{keys.SHARED_CONFIG} +hget +hgetall)"]   # `scitq-manage config rclone --install`
    if role == "submitter":
        return [f"%R~{keys.ALL_PATTERN}", "+@read", *_ADMIN_ONLY, *_CONNECT,
                f"(~{keys.INBOX} +xadd)",
                f"(~{keys.REPLY_PATTERN} +blpop +lpop +del)"]
    if role == "viewer":
        return [f"%R~{keys.ALL_PATTERN}", "+@read", *_ADMIN_ONLY, *_CONNECT]
    if role == "jobs":
        return [f"%R~{keys.ALL_PATTERN}", "+@read", *_ADMIN_ONLY, *_CONNECT,
                "+acl|setuser", "+acl|deluser", "+acl|save", "+acl|whoami", "+acl|list",
                f"(~{keys.JOBS_PATTERN} &{keys.JOBS_PATTERN} +@all -@dangerous -@admin)",   # RQ runs Lua scripts
                f"(~{keys.INBOX} +xadd)",
                f"(~{keys.WORKER_ANNOUNCE} +xadd)",   # announces each worker it makes a user for
                f"(~{keys.REPLY_PATTERN} +blpop +lpop +del)"]
    raise BadInput(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")


def _admin_error(exc: redis.ResponseError, what: str) -> Refused:
    return Refused(f"cannot {what}: this credential is not admin's ({str(exc).splitlines()[0]})",
                   hint="use the admin URL (the connection file of `scitq server`, or -s redis://admin:...@host)")


def set_user(r: redis.Redis, user: str, password: str, role: str, name: str | None = None) -> None:
    """Create or reset `user` with `password` and the rules of `role` (ACL SETUSER, needs admin)."""
    try:
        r.execute_command("ACL", "SETUSER", user, "reset", "on", f">{password}", *rules(role, name))
    except redis.ResponseError as exc:
        raise _admin_error(exc, f"create user {user}") from None


def persist(r: redis.Redis) -> str:
    """Make the users survive a restart: ACL SAVE (aclfile), else CONFIG REWRITE; '' if saved, else why not."""
    try:
        r.execute_command("ACL", "SAVE")
        return ""
    except redis.ResponseError as exc:
        first = str(exc)
    try:
        r.execute_command("CONFIG", "REWRITE")
        return ""
    except redis.ResponseError as exc:
        return f"users are not saved, they last until Redis restarts ({first}; {exc})"


def add(r: redis.Redis, role: str, name: str | None = None, password: str | None = None) -> tuple[str, str, str]:
    """Create (or reset the password of) a user of `role` (a generated password unless given);
    returns (user, password, warning or ''). The users `admin` and `server` belong to the embedded server:
    a NAME is required for every role."""
    if not name or name == role:
        user_name(role, "x")   # an unknown role is reported first
        raise BadInput(f"role {role} needs a NAME (e.g. `scitq access add {role} node1`)")
    user = user_name(role, name)
    password = password or secrets.token_urlsafe(24)
    warnings = []
    for node in nodes(r):   # ACL users are not replicated: the primary and each replica get the user
        set_user(node, user, password, role, name)
        warnings.append(persist(node))
    if role == "worker":   # the server reads its outbox from now on: it registers there (no inbox right)
        r.xadd(keys.WORKER_ANNOUNCE, {"name": name})
    return user, password, "; ".join(sorted({w for w in warnings if w}))


def revoke(r: redis.Redis, user: str) -> str:
    """Delete a user (its open connections are closed); returns a persistence warning or ''."""
    if user in ("admin", "default", "server"):
        raise BadInput(f"refusing to revoke {user!r}: it would lock the operator or the embedded server out")
    primary, *replicas = nodes(r)
    try:
        deleted = primary.execute_command("ACL", "DELUSER", user)
        for node in replicas:   # ACL users are not replicated
            node.execute_command("ACL", "DELUSER", user)
    except redis.ResponseError as exc:
        raise _admin_error(exc, f"revoke {user}") from None
    if not deleted:
        raise BadInput(f"no user {user!r} (see `scitq access list`)")
    return "; ".join(sorted({w for w in (persist(n) for n in (primary, *replicas)) if w}))


@dataclass(frozen=True)
class UserInfo:
    user: str
    role: str
    enabled: bool


def list_users(r: redis.Redis) -> list[UserInfo]:
    """Every ACL user with its role (empty for users scitq did not create) and whether it is on."""
    try:
        lines = r.execute_command("ACL", "LIST")
    except redis.ResponseError as exc:
        raise _admin_error(exc, "list users") from None
    out = []
    for line in lines:
        line = line.decode() if isinstance(line, bytes) else line
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "user":
            out.append(UserInfo(parts[1], role_of(parts[1]) or "", "on" in parts[2:]))
    return out


def url_for(base_url: str, user: str, password: str, host: str | None = None) -> str:
    """`base_url` (host, port, db, scheme, query) with `user`'s credentials (and `host` instead, if given).
    A Sentinel URL keeps its Sentinels, service and options."""
    if is_sentinel(base_url):
        if host:
            raise BadInput("--host does not apply to a redis+sentinel:// URL (it names the Sentinels already)")
        scheme, _, rest = base_url.partition("://")
        netloc, slash, tail = rest.partition("/")
        return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{netloc.rpartition('@')[2]}{slash}{tail}"
    p = urlparse(base_url)
    host = host or p.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}" + (f":{p.port}" if p.port else "")
    return urlunparse((p.scheme, netloc, p.path or "/0", p.params, p.query, p.fragment))


@dataclass(frozen=True)
class Probe:
    user: str           # who we are ("" when the server does not tell)
    admin: bool         # may run ACL commands (the operator's credential)
    writes_ledger: bool  # may append to the ledger


def probe(r: redis.Redis) -> Probe:
    """What this connection's credential may do, found without changing anything.

    `XADD <ledger> 0-0 ...` is checked against the ACL before it runs, and when allowed it fails on its
    id (must be greater than 0-0) before touching the stream."""
    try:
        who = r.execute_command("ACL", "WHOAMI")
        user, admin = (who.decode() if isinstance(who, bytes) else str(who)), True
    except redis.ResponseError:
        user, admin = "", False
    try:
        r.execute_command("XADD", keys.EVENTS, "0-0", "probe", "1")
        writes = True   # not reached: 0-0 is always refused
    except redis.exceptions.NoPermissionError:
        writes = False
    except redis.ResponseError:
        writes = True
    return Probe(user, admin, writes)


def ensure_worker_credential(r: redis.Redis, user: str = "") -> Probe:
    """Refuse a worker credential that can write the ledger, unless it is the operator's (admin) own.

    A worker started by the operator with the admin URL (the connection file, the demo) runs as admin;
    a remote worker gets a `worker-NAME` user (`scitq access add worker NAME`). Any other credential that
    can write the ledger (the server's, a hand-made user) is a misconfiguration."""
    found = probe(r)
    if found.writes_ledger and not found.admin:
        who = f"user {found.user or user!r}" if found.user or user else "this credential"
        raise Refused(f"refusing to start: {who} can write the ledger ({keys.EVENTS}), a worker must not",
                      hint="give the worker its own user: `scitq access add worker NAME` on the server")
    return found


def credential_user(url: str) -> str:
    """The user name in a Redis URL ('' for the default user)."""
    return urlparse(url).username or ""
