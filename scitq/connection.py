"""Provides how every scitq process finds and connects to Redis/Valkey (address, connection file, errors)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlparse

import redis

from scitq.errors import BadInput, Refused, Unreachable
from scitq.settings import Settings, settings as current_settings

__all__ = ["resolve_url", "connect", "write_connection_file", "read_connection_file", "check", "describe"]

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


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
            parsed = urlparse(target)
            if parsed.scheme not in ("redis", "rediss", "unix"):
                raise BadInput(f"bad server address {target!r}: expected a host or a redis://, rediss:// URL")
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
    parsed = urlparse(url)
    host = parsed.hostname or "?"
    return f"{parsed.scheme}://{host}:{parsed.port or 6379}"


def connect(url: str | None = None, *, server: str | None = None, decode: bool = True,
            timeout: float | None = 10.0) -> redis.Redis:
    """A redis client for `url` (or the resolved server); the connection is opened lazily."""
    url = url or resolve_url(server)
    return redis.Redis.from_url(url, decode_responses=decode, socket_connect_timeout=5,
                                socket_timeout=timeout, health_check_interval=30)


def check(client: redis.Redis) -> None:
    """Ping once and turn connection problems into Unreachable/Refused with a clear message."""
    kw = client.connection_pool.connection_kwargs
    where = f"{kw.get('host', '?')}:{kw.get('port', '?')}"
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise Refused(f"Redis at {where} refused the password: {exc}") from None
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc) or "NOPERM" in str(exc):
            raise Refused(f"Redis at {where} refused us: {exc}") from None
        raise
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise Unreachable(f"cannot reach Redis at {where}: {exc}",
                          hint="is `scitq server` running? check SCITQ_SERVER / -s") from None
