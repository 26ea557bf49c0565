"""Provides `publish()`: the configuration the server shares with its clients and workers (v1's
`/config/rclone` and `/config/remote`): the rclone configuration it was given and its remote URI."""

from __future__ import annotations

import logging

import redis

from scitq import keys
from scitq.io.config import io_settings
from scitq.settings import Settings

__all__ = ["publish"]

log = logging.getLogger("scitq.server")


def publish(r: redis.Redis, cfg: Settings) -> None:
    """Write (or clear) the shared configuration; called when the server starts."""
    values: dict[str, str] = {}
    path = io_settings().rclone_config
    if path:
        try:
            with open(path) as f:
                values["rclone"] = f.read()
        except OSError as exc:
            log.warning("rclone configuration %s not shared: %s", path, exc)
    if cfg.remote_uri:
        values["remote"] = cfg.remote_uri
    pipe = r.pipeline(transaction=True)
    pipe.delete(keys.SHARED_CONFIG)
    if values:
        pipe.hset(keys.SHARED_CONFIG, mapping=values)
    pipe.execute()
