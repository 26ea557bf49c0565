"""Provides how every scitq process finds and connects to Redis/Valkey (address, connection file, errors)."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlparse

import redis

from scitq.errors import BadInput, Refused, Unreachable
from scitq.settings import Settings, settings as current_settings

__all__ = ["resolve_url", "connect", "write_connection_file", "read_connection_file", "check", "describe",
           "Follower", "FollowingConnection", "SENTINEL_SCHEME", "SentinelAddress", "parse_sentinel_url",
           "is_sentinel", "replicas_to_wait", "nodes"]

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}

log = logging.getLogger("scitq.connection")

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
_SENTINEL_FORM = "redis+sentinel://[user:pass@]host:port[,host:port...]/service[?db=N]"
_SENTINEL_QUERY = ("db", "sentinel_username", "sentinel_password")


@dataclass(frozen=True)
class SentinelAddress:
    """What a redis+sentinel:// URL names: the Sentinels to ask, the service (the primary's name in their
    configuration), the credential on the Valkey nodes, and the Sentinels' own credential if they have one."""
    sentinels: tuple[tuple[str, int], ...]
    service: str
    username: str | None = None
    password: str | None = None
    db: int = 0
    sentinel_username: str | None = None
    sentinel_password: str | None = None


def is_sentinel(url: str | None) -> bool:
    return bool(url) and url.split("://", 1)[0].lower() == SENTINEL_SCHEME  # type: ignore[union-attr]


def _bad_sentinel(url: str, why: str) -> BadInput:
    return BadInput(f"bad Sentinel URL {describe(url)!r}: {why}", hint=f"expected {_SENTINEL_FORM}")


def parse_sentinel_url(url: str) -> SentinelAddress:
    """Split `redis+sentinel://[user:pass@]host:port[,host:port...]/service[?db=N&sentinel_password=...]`.

    user:pass is the credential on the Valkey nodes (primary and replicas); Sentinels that have a password
    of their own take `sentinel_username` / `sentinel_password` in the query. The port defaults to 26379."""
    if not is_sentinel(url):
        raise _bad_sentinel(url, f"the scheme must be {SENTINEL_SCHEME}://")
    rest = url.split("://", 1)[1]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    auth, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, pw = auth.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if colon else None
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        item = item.strip()
        if item.startswith("["):      # [::1]:26379
            host, _, port = item[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = item.partition(":")
        if not host:
            raise _bad_sentinel(url, "a Sentinel address has no host")
        if port and not port.isdigit():
            raise _bad_sentinel(url, f"the port of {item!r} is not a number")
        sentinels.append((host, int(port) if port else SENTINEL_PORT))
    service = path.strip("/")
    if not service or "/" in service:
        raise _bad_sentinel(url, "it names no service (the primary's name in the Sentinels' configuration)")
    opts: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        if k not in _SENTINEL_QUERY:
            raise _bad_sentinel(url, f"unknown option {k!r} (known: {', '.join(_SENTINEL_QUERY)})")
        opts[k] = v
    db = opts.get("db", "0")
    if not db.isdigit():
        raise _bad_sentinel(url, f"db={db!r} is not a number")
    return SentinelAddress(tuple(sentinels), service, username, password, int(db),
                           opts.get("sentinel_username") or None, opts.get("sentinel_password") or None)


def replicas_to_wait(client: redis.Redis, cfg: Settings | None = None) -> int:
    """How many replicas must hold a write before it is acknowledged: SCITQ_WAIT_REPLICAS, else 1 when
    the client goes through Sentinel (a primary with a replica), else 0 (one node: nothing to wait for)."""
    cfg = cfg or current_settings()
    if cfg.wait_replicas is not None:
        return cfg.wait_replicas
    return 1 if _sentinel_pool(client) is not None else 0


def read_connection_file(path: Path) -> dict | None:
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "url" in data else None


def write_connection_file(path: Path, url: str, **extra: object) -> None:
    """Write the connection file atomically, readable by the owner only (it holds the password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url, **extra}, fh)
    os.replace(tmp, path)


def resolve_url(server: str | None = None, cfg: Settings | None = None) -> str:
    """Turn `-s`/`SCITQ_SERVER` (a v1 host, or a redis:// URL) or the local connection file into a Redis URL."""
    cfg = cfg or current_settings()
    target = server if server is not None else cfg.server
    conn = read_connection_file(cfg.connection_file)
    if target:
        if "://" in target:
            if is_sentinel(target):
                parse_sentinel_url(target)   # a bad one is said here, once
                return target
            parsed = urlparse(target)
            if parsed.scheme not in ("redis", "rediss", "unix"):
                raise BadInput(f"bad server address {describe(target)!r}: expected a host, or a redis://, "
                               f"rediss:// or {SENTINEL_SCHEME}:// URL")
            return target
        host, _, port = target.partition(":")
        if port and not port.isdigit():
            raise BadInput(f"bad server address {target!r}: port must be a number")
        if host in _LOCAL_HOSTS and not port and conn:
            return conn["url"]
        password = cfg.redis_password
        auth = f":{password}@" if password else ""
        return f"redis://{auth}{host}:{port or cfg.redis_port}/0"
    if conn:
        return conn["url"]
    raise Unreachable(
        f"no scitq server found (no {cfg.connection_file})",
        hint="start one with `scitq server`, or set SCITQ_SERVER / -s to its address",
    )


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    if is_sentinel(url):
        rest = url.split("://", 1)[1].partition("?")[0]
        netloc, _, path = rest.partition("/")
        return f"{SENTINEL_SCHEME}://{netloc.rpartition('@')[2]}/{path}"
    parsed = urlparse(url)
    host = parsed.hostname or "?"
    return f"{parsed.scheme}://{host}:{parsed.port or 6379}"


def tls_options(url: str, cfg: Settings | None = None) -> dict:
    """redis-py TLS arguments for a rediss:// URL from SCITQ_TLS_* (CA, client certificate, no-verify)."""
    if not url.startswith("rediss://"):
        return {}
    cfg = cfg or current_settings()
    opts: dict = {}
    for name, value in (("ssl_ca_certs", cfg.tls_ca), ("ssl_certfile", cfg.tls_cert), ("ssl_keyfile", cfg.tls_key)):
        if value:
            if not os.path.isfile(value):
                raise BadInput(f"TLS file {value!r} does not exist (SCITQ_TLS_CA / SCITQ_TLS_CERT / SCITQ_TLS_KEY)")
            opts[name] = value
    if cfg.tls_no_verify:
        if not _warned_no_verify:
            _warned_no_verify.append(url)
            logging.getLogger("scitq").warning(
                "TLS certificate of %s is NOT verified (SCITQ_TLS_NO_VERIFY): anyone on the path can pose as "
                "the server; give the CA with SCITQ_TLS_CA / --tls-ca instead", describe(url))
        opts.update(ssl_cert_reqs="none", ssl_check_hostname=False)
    return opts


_warned_no_verify: list[str] = []


class Follower:
    """The address a client found in the connection file, re-read when that address stops answering.

    Shared by every connection of one pool: when a connect fails, the file is read again; if the
    server now lives elsewhere (the embedded Valkey had to take another port, or the server was
    moved), every later connect goes there, and the move is said once.
    """

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self.url = url
        self.lock = threading.Lock()

    def current(self) -> str:
        """The server's address now: the connection file is read again; a move is said once."""
        conn = read_connection_file(self.path)
        if conn and conn["url"] != self.url:
            with self.lock:
                if conn["url"] != self.url:
                    log.warning("scitq: the server moved: following it to its new address %s (from %s)",
                                describe(conn["url"]), describe(self.url))
                    self.url = conn["url"]
        return self.url


class FollowingConnection(redis.Connection):
    """A redis connection that follows the connection file when its address stops answering."""

    def __init__(self, *args: object, follower: Follower, **kwargs: object) -> None:
        self.follower = follower
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._aim(follower.url)            # the pool's arguments may predate a move

    def _aim(self, url: str) -> None:
        parsed = urlparse(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 6379
        self.username = parsed.username or None
        self.password = parsed.password or None
        self._target = url

    def connect_check_health(self, *args: object, **kwargs: object) -> None:
        if self._sock:
            return
        if self._target != self.follower.url:   # another connection of the pool followed already
            self._aim(self.follower.url)
        try:
            super().connect_check_health(*args, **kwargs)  # type: ignore[arg-type]
        except (redis.ConnectionError, redis.TimeoutError):
            # refused, or something else answers there now (closed, timed out, refused the password)
            url = self.follower.current()
            if url == self._target:
                raise
            self.disconnect()
            self._aim(url)
            super().connect_check_health(*args, **kwargs)  # type: ignore[arg-type]


def connect(url: str | None = None, *, server: str | None = None, decode: bool = True,
            timeout: float | None = 10.0, cfg: Settings | None = None) -> redis.Redis:
    """A redis client for `url` (or the resolved server); the connection is opened lazily.

    When the URL is the one of the local connection file (the server was found through SCITQ_HOME),
    the client follows that file: if the address stops answering, it reads the file again and goes
    where the server now is.
    """
    url = url or resolve_url(server, cfg)
    options: dict = {"decode_responses": decode, "socket_connect_timeout": 5, "socket_timeout": timeout,
                     "health_check_interval": 30}
    if is_sentinel(url):
        return _sentinel_client(parse_sentinel_url(url), options)
    path = (cfg or current_settings()).connection_file
    conn = read_connection_file(path)
    if conn and conn["url"] == url and urlparse(url).scheme == "redis":
        pool = redis.ConnectionPool.from_url(url, connection_class=FollowingConnection,
                                             follower=Follower(path, url), **options)
        return redis.Redis(connection_pool=pool)
    return redis.Redis.from_url(url, **options, **tls_options(url, cfg))


def _sentinel_client(address: SentinelAddress, options: dict) -> redis.Redis:
    """A client of the service's current primary: each new connection asks the Sentinels where it is, so
    after a failover the next command reaches the promoted replica (and a demoted primary's READONLY
    answer drops the connection)."""
    from redis.sentinel import MasterNotFoundError, Sentinel

    where = ",".join(f"{h}:{p}" for h, p in address.sentinels)

    class _Sentinel(Sentinel):
        def discover_master(self, service_name: str):  # type: ignore[override]
            try:
                return super().discover_master(service_name)
            except MasterNotFoundError:   # redis-py's message is the repr of every Sentinel client
                raise MasterNotFoundError(f"no Sentinel at {where} names a primary that is up for service "
                                          f"{service_name!r} (down, unknown, or a failover under way)") from None

    sentinel_kwargs: dict = {"socket_connect_timeout": 1, "socket_timeout": 1,
                             "decode_responses": options["decode_responses"]}
    if address.sentinel_password:
        sentinel_kwargs.update(username=address.sentinel_username, password=address.sentinel_password)
    sentinel = _Sentinel(list(address.sentinels), sentinel_kwargs=sentinel_kwargs)
    return sentinel.master_for(address.service, redis_class=redis.Redis, username=address.username,
                               password=address.password, db=address.db, **options)


def _sentinel_pool(client: redis.Redis):
    from redis.sentinel import SentinelConnectionPool

    pool = client.connection_pool
    return pool if isinstance(pool, SentinelConnectionPool) else None


def nodes(client: redis.Redis) -> list[redis.Redis]:
    """The client itself, then (when it goes through Sentinel) one client per replica of its service, with
    the same credential: what is not replicated (ACL users) is done on each of them."""
    pool = _sentinel_pool(client)
    if pool is None:
        return [client]
    kw = {k: v for k, v in pool.connection_kwargs.items()
          if k in ("username", "password", "db", "decode_responses", "socket_connect_timeout", "socket_timeout")}
    replicas = pool.sentinel_manager.discover_slaves(pool.service_name)
    return [client, *(redis.Redis(host=host, port=port, **kw) for host, port in replicas)]


def check(client: redis.Redis) -> None:
    """Ping once and turn connection problems into Unreachable/Refused with a clear message."""
    kw = client.connection_pool.connection_kwargs
    where = f"{kw.get('host', '?')}:{kw.get('port', '?')}"
    pool = _sentinel_pool(client)
    if pool is not None:
        where = f"service {pool.service_name!r} (through Sentinel)"
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise Refused(f"Redis at {where} refused the password: {exc}") from None
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc) or "NOPERM" in str(exc):
            raise Refused(f"Redis at {where} refused us: {exc}") from None
        raise
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
            reason = re.sub(r"\s*\(_ssl\.c:\d+\)\W*$", "", str(exc).split("certificate verify failed:")[-1]).strip()
            raise Refused(f"TLS: the certificate of Redis at {where} is not trusted ({reason})",
                          hint=f"give the CA that signed it with SCITQ_TLS_CA or --tls-ca (now: "
                               f"{kw.get('ssl_ca_certs') or 'the system CAs'})") from None
        if "SSL" in str(exc) or "ssl" in type(exc).__name__.lower():
            raise Refused(f"TLS with Redis at {where} failed: {str(exc).splitlines()[0]}",
                          hint="check the rediss:// URL and SCITQ_TLS_* settings") from None
        raise Unreachable(f"cannot reach Redis at {where}: {exc}",
                          hint="is `scitq server` running? check SCITQ_SERVER / -s") from None
