"""Provides `serve()`: the scitq server process (embedded Valkey or --redis URL, plus the control plane)."""

from __future__ import annotations

import logging
import signal
import threading

from scitq.connection import check, connect
from scitq.server.controlplane import AlreadyRunning, ControlPlane
from scitq.server import shared_config
from scitq.server.embedded import EmbeddedValkey
from scitq.settings import Settings

__all__ = ["serve", "ControlPlane", "EmbeddedValkey", "AlreadyRunning"]

log = logging.getLogger("scitq.server")


def serve(cfg: Settings, redis_url: str | None = None, *, fsync: str = "everysec", port: int | None = None,
          ready: threading.Event | None = None, keep_valkey: bool = False, listen: str | None = None) -> None:
    """Run until SIGINT/SIGTERM. Without `redis_url`, own an embedded Valkey (stopped at exit), and
    connect to it as the `server` user (the connection file gets admin's URL)."""
    embedded = None
    if redis_url is None:
        embedded = EmbeddedValkey(cfg, port=port, fsync=fsync, listen=listen)
        embedded.start()
        redis_url = embedded.server_url
    r = connect(redis_url, timeout=30)
    check(r)
    shared_config.publish(r, cfg)
    plane = ControlPlane(r, cfg)

    def _stop(signum, frame):  # noqa: ARG001
        log.info("stopping (signal %d)", signum)
        plane.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    try:
        plane.run_with(ready)
    finally:
        if embedded is not None and not keep_valkey:
            embedded.stop()
            log.info("embedded Valkey stopped")
