"""Provides `serve()`: the scitq server process (embedded Valkey or --redis URL, plus the control plane)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading

from scitq.connection import check, connect
from scitq.server.controlplane import AlreadyRunning, ControlPlane
from scitq.server import shared_config
from scitq.server.embedded import EmbeddedValkey
from scitq.settings import Settings

__all__ = ["serve", "ControlPlane", "EmbeddedValkey", "AlreadyRunning", "JobRunner"]

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
    runner = JobRunner(cfg.jobs_redis or (embedded.url if embedded is not None else redis_url)) if cfg.jobs else None
    plane.job_runner = runner.ensure if runner is not None else None

    def _stop(signum, frame):  # noqa: ARG001
        log.info("stopping (signal %d)", signum)
        plane.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    try:
        plane.run_with(ready)
    finally:
        if runner is not None:
            runner.stop()
        if embedded is not None and not keep_valkey:
            embedded.stop()
            log.info("embedded Valkey stopped")


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the server dies, even by kill -9 (Linux)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class JobRunner:
    """The job runner (`scitq jobs`, an RQ worker) as a child of the server, started with the first job.

    It connects with `url` (a credential allowed to make worker users), given in its environment, not on its
    command line; it stops with the server (SIGTERM: the job it runs ends first)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.proc: subprocess.Popen | None = None

    def ensure(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        env = {**os.environ, "SCITQ_SERVER": self.url}
        log.info("starting the job runner (deploy and destroy jobs)")
        self.proc = subprocess.Popen([sys.executable, "-m", "scitq.cli.main", "jobs"], env=env,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
