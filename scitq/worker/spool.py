"""Provides the worker's disk spool: every report and output chunk is written here first, then shipped in order.

While Redis is unreachable, entries pile up on disk and the tasks keep running; when it comes back
they are sent in their original order. Each entry has an explicit stream id (`<ms>-<n>`, increasing
per stream), so an entry sent twice is refused by Redis itself and never duplicated.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import redis

__all__ = ["Spool"]

log = logging.getLogger("scitq.worker")


class Spool:
    def __init__(self, directory: Path, r: redis.Redis) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.r = r
        self.path = self.dir / "spool.jsonl"
        self.offset_path = self.dir / "spool.offset"
        self.cond = threading.Condition()
        self.pending: deque[tuple[int, str, str, dict[str, str]]] = deque()   # (size, stream, id, fields)
        self.last: dict[str, tuple[int, int]] = {}
        self.pending_bytes = 0
        self.connected = True
        self.sent = 0
        self._stop = False
        self._load()
        self.fh = open(self.path, "ab")
        self.offset_fd = os.open(self.offset_path, os.O_RDWR | os.O_CREAT, 0o600)
        self.thread = threading.Thread(target=self._ship, name="scitq-spool", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # --- writing ----------------------------------------------------------------------------
    def _load(self) -> None:
        offset = 0
        try:
            offset = int(self.offset_path.read_text().strip() or 0)
        except (OSError, ValueError):
            offset = 0
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            for line in fh:
                if not line.endswith(b"\n"):
                    break   # torn last line of a crash: never acknowledged, dropped
                try:
                    stream, eid, fields = json.loads(line)
                except ValueError:
                    continue
                self.pending.append((len(line), stream, eid, fields))
                self.pending_bytes += len(line)
                ms, _, n = eid.partition("-")
                self.last[stream] = max(self.last.get(stream, (0, 0)), (int(ms), int(n)))
        if self.pending:
            log.info("spool: %d entries from a previous run still to send", len(self.pending))

    def _next_id(self, stream: str) -> str:
        now = int(time.time() * 1000)
        ms, n = self.last.get(stream, (0, 0))
        new = (now, 0) if now > ms else (ms, n + 1)
        self.last[stream] = new
        return f"{new[0]}-{new[1]}"

    def append(self, stream: str, fields: dict[str, Any]) -> None:
        """Write one entry for `stream` to disk (durable against a crash of this process), then ship it."""
        fields = {k: str(v) for k, v in fields.items()}
        with self.cond:
            eid = self._next_id(stream)
            line = (json.dumps([stream, eid, fields], separators=(",", ":")) + "\n").encode()
            self.fh.write(line)
            self.fh.flush()
            self.pending.append((len(line), stream, eid, fields))
            self.pending_bytes += len(line)
            self.cond.notify()

    def backlog(self) -> int:
        with self.cond:
            return len(self.pending)

    def backlog_size(self) -> tuple[int, int]:
        """Entries waiting to be sent, and their size on disk in bytes."""
        with self.cond:
            return len(self.pending), self.pending_bytes

    def drain(self, timeout: float) -> bool:
        """Wait until everything is sent (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.pending and time.monotonic() < deadline:
                self.cond.wait(0.05)
            return not self.pending

    def stop(self) -> None:
        with self.cond:
            self._stop = True
            self.cond.notify_all()
        self.thread.join(timeout=5)
        with self.cond:
            self.fh.close()
            os.close(self.offset_fd)

    # --- shipping ---------------------------------------------------------------------------
    def _ship(self) -> None:
        backoff = 0.2
        offset = 0
        try:
            offset = int(self.offset_path.read_text().strip() or 0)
        except (OSError, ValueError):
            pass
        while True:
            with self.cond:
                while not self.pending and not self._stop:
                    self.cond.wait(1.0)
                if not self.pending and self._stop:
                    return
                batch = list(self.pending)[:500]
            try:
                pipe = self.r.pipeline(transaction=False)
                for _, stream, eid, fields in batch:
                    pipe.xadd(stream, fields, id=eid)
                results = pipe.execute(raise_on_error=False)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if self.connected:
                    log.warning("spool: Redis unreachable (%s); %d entries kept on disk", exc, len(self.pending))
                self.connected = False
                with self.cond:
                    if self._stop:
                        return
                    self.cond.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for (_, stream, eid, _f), res in zip(batch, results):
                if isinstance(res, Exception) and "equal or smaller" not in str(res):
                    log.error("spool: entry %s for %s refused by Redis: %s", eid, stream, res)
            if not self.connected:
                log.info("spool: Redis is back, sent %d waiting entries", len(batch))
            self.connected = True
            backoff = 0.2
            with self.cond:
                for _ in batch:
                    size, *_ = self.pending.popleft()
                    self.pending_bytes -= size
                    offset += size
                self.sent += len(batch)
                if not self.pending:
                    # everything is out: start the file afresh
                    self.fh.truncate(0)
                    self.fh.seek(0)
                    offset = 0
                os.pwrite(self.offset_fd, str(offset).encode().ljust(20), 0)   # fixed width: no truncation
                self.cond.notify_all()
