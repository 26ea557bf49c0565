"""Provides the worker's disk spool: every report and output chunk is written here first, then shipped in order.

While Redis is unreachable, entries pile up on disk and the tasks keep running; when it comes back
they are sent in their original order. Each entry has an explicit stream id (`<ms>-<n>`, increasing
per stream), so an entry sent twice is refused by Redis itself and never duplicated.

Memory is bounded: only a window of the backlog (`memory` bytes) is held in RAM, the rest stays in
the file and is read back as the window empties. When the disk refuses a write (full, quota, file
size limit), the spool says so once, keeps the entries that could not be written in memory (they
are shipped from there in order) and retries the disk with a back-off; appending never raises.

Durability (`fsync`): `entry` forces every entry to disk before `append` returns; `batch` (the
default) writes each entry to the file at once (it survives a crash of the worker) and forces the
file to disk at most every `fsync_interval` seconds (a power cut may lose that last interval);
`none` leaves it to the operating system.

With replicas (a Sentinel address, or SCITQ_WAIT_REPLICAS), a shipped batch is forgotten only once
that many replicas hold it (a `WAIT` after the batch, on the same connection): a failover right after
the send loses nothing, the batch is sent again and what the promoted replica already has is refused
as a duplicate.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import msgspec
import redis

from scitq.connection import replicas_to_wait
from scitq.settings import settings
from scitq.io.wire import execute

__all__ = ["Spool", "FSYNC_MODES"]

log = logging.getLogger("scitq.worker")

FSYNC_MODES = ("entry", "batch", "none")
BATCH = 500                 # entries sent in one pipeline
LINGER = 0.002              # the shipper waits this long after an entry for the next ones (one round trip for
                            # the reports of one moment: a start and a quick end, several claims)
DISK_RETRY_MAX = 60.0       # longest wait between two tries of a disk that refused a write

Entry = tuple[int, str, str, dict[str, str]]   # (bytes in the file, or 0 if only in memory; stream; id; fields)


class Spool:
    def __init__(self, directory: Path, r: redis.Redis, *, fsync: str = "batch", fsync_interval: float = 1.0,
                 memory: int = 16 * 1024 * 1024, wait_replicas: int | None = None,
                 wait_timeout: float | None = None) -> None:
        if fsync not in FSYNC_MODES:
            raise ValueError(f"spool fsync mode {fsync!r} is not one of {', '.join(FSYNC_MODES)}")
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.r = r
        cfg = settings()
        self.wait_replicas = replicas_to_wait(r, cfg) if wait_replicas is None else wait_replicas
        self.wait_ms = int(1000 * (cfg.wait_timeout if wait_timeout is None else wait_timeout))
        self.unconfirmed = False              # the last WAIT timed out (said once)
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self.memory = max(1, int(memory))
        self.path = self.dir / "spool.jsonl"
        self.offset_path = self.dir / "spool.offset"
        self.cond = threading.Condition()
        self.window: deque[Entry] = deque()   # the next entries of the file to send, at most `memory` bytes
        self.window_bytes = 0
        self.offset = 0                       # file position of the first entry not yet sent
        self.read_pos = 0                     # file position after the last entry loaded in the window
        self.file_end = 0                     # file position after the last complete entry
        self.on_disk = 0                      # entries in the file not yet sent (window included)
        self.unwritten: deque[Entry] = deque()   # entries the disk refused, after every file entry
        self.disk_ok = True
        self.disk_retry_at = 0.0
        self.disk_backoff = 1.0
        self.dirty = False                    # written since the last fsync
        self.last: dict[str, tuple[int, int]] = {}
        self.connected = True
        self.sent = 0
        self.appended_at = 0.0                # when the last entry was appended (monotonic)
        self.idle = False                     # the shipper waits for entries (an append wakes it; while it
                                              # lingers or sends, it does not need waking)
        self._stop = False
        self.warned = False                   # the disk refused a write and we said so
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self._load()
        os.ftruncate(self.fd, self.file_end)  # a torn last line of a crash goes
        self.offset_fd = os.open(self.offset_path, os.O_RDWR | os.O_CREAT, 0o600)
        self.thread = threading.Thread(target=self._ship, name="scitq-spool", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # --- loading ----------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            self.offset = int(self.offset_path.read_text().strip() or 0)
        except (OSError, ValueError):
            self.offset = 0
        with open(self.path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            self.offset = min(self.offset, size)
            fh.seek(self.offset)
            pos = self.offset
            for line in fh:
                if not line.endswith(b"\n"):
                    break   # torn last line of a crash: never acknowledged, dropped
                pos += len(line)
                self.on_disk += 1
                try:
                    stream, eid, _fields = json.loads(line)
                    ms, _, n = eid.partition("-")
                    self.last[stream] = max(self.last.get(stream, (0, 0)), (int(ms), int(n)))
                except ValueError:
                    continue
        self.read_pos = self.offset
        self.file_end = pos
        self._refill()
        if self.on_disk:
            log.info("spool: %d entries from a previous run still to send", self.on_disk)

    def _refill(self) -> None:
        """Load entries of the file after the window until the window holds `memory` bytes (lock held)."""
        if self.read_pos >= self.file_end:
            return
        with open(self.path, "rb") as fh:
            fh.seek(self.read_pos)
            while self.read_pos < self.file_end and (self.window_bytes < self.memory or not self.window):
                line = fh.readline()
                if not line.endswith(b"\n"):
                    break
                self.read_pos += len(line)
                try:
                    stream, eid, fields = json.loads(line)
                except ValueError:
                    stream, eid, fields = "", "", {}     # unreadable: passed over, counted as sent
                self.window.append((len(line), stream, eid, fields))
                self.window_bytes += len(line)

    # --- writing ----------------------------------------------------------------------------
    def _next_id(self, stream: str) -> str:
        now = int(time.time() * 1000)
        ms, n = self.last.get(stream, (0, 0))
        new = (now, 0) if now > ms else (ms, n + 1)
        self.last[stream] = new
        return f"{new[0]}-{new[1]}"

    def _write(self, data: bytes) -> bool:
        """Append `data` to the file; False (and the file as it was) if the disk refuses (lock held)."""
        done = 0
        try:
            while done < len(data):
                done += os.pwrite(self.fd, data[done:], self.file_end + done)
            if self.fsync == "entry":
                os.fsync(self.fd)
            else:
                self.dirty = True
        except OSError as exc:
            try:   # drop whatever part of the write reached the file
                os.ftruncate(self.fd, self.file_end)
            except OSError:
                pass
            if not self.warned:
                log.warning("spool: cannot write to %s (%s): keeping entries in memory and sending them from "
                            "there; trying the disk again with a back-off", self.path, exc)
                self.warned = True
            self.disk_ok = False
            self.disk_retry_at = time.monotonic() + self.disk_backoff
            self.disk_backoff = min(self.disk_backoff * 2, DISK_RETRY_MAX)
            return False
        self.file_end += len(data)
        if self.warned:
            log.warning("spool: %s takes entries again", self.path)
            self.warned = False
        self.disk_ok = True
        self.disk_backoff = 1.0
        return True

    def _retry_disk(self) -> None:
        """Once the back-off has passed, move the entries kept in memory to the file, in order (lock held;
        called by the shipper only, which is also the only one taking entries out of `unwritten`)."""
        if self.disk_ok or time.monotonic() < self.disk_retry_at:
            return
        if not self.unwritten:
            self.disk_ok = True            # nothing waits in memory: the next entry tries the disk
            return
        items = list(self.unwritten)
        if self._write(b"".join(_line(stream, eid, fields) for _, stream, eid, fields in items)):
            self.unwritten.clear()
            self.on_disk += len(items)

    def append(self, stream: str, fields: dict[str, Any]) -> None:
        """Write one entry for `stream` to disk (durable against a crash of this process), then ship it.

        Never raises for a disk problem: the entry is then kept in memory until the disk or Redis takes it."""
        fields = {k: str(v) for k, v in fields.items()}
        with self.cond:
            self.appended_at = time.monotonic()
            eid = self._next_id(stream)
            if self.disk_ok and not self.unwritten:
                line = _line(stream, eid, fields)
                if self._write(line):
                    self.on_disk += 1
                    if self.read_pos == self.file_end - len(line) and self.window_bytes < self.memory:
                        self.window.append((len(line), stream, eid, fields))
                        self.window_bytes += len(line)
                        self.read_pos = self.file_end
                    if self.idle:
                        self.cond.notify()
                    return
            self.unwritten.append((0, stream, eid, fields))
            if self.idle:
                self.cond.notify()

    def backlog(self) -> int:
        with self.cond:
            return self.on_disk + len(self.unwritten)

    def backlog_size(self) -> tuple[int, int]:
        """Entries waiting to be sent, and their size in bytes (in the file, or in memory when the disk refused)."""
        with self.cond:
            kept = sum(len(_line(s, e, f)) for _, s, e, f in self.unwritten)
            return self.on_disk + len(self.unwritten), self.file_end - self.offset + kept

    def in_memory(self) -> int:
        """Bytes of entries held in RAM (the window plus what the disk refused)."""
        with self.cond:
            return self.window_bytes + sum(len(_line(s, e, f)) for _, s, e, f in self.unwritten)

    def drain(self, timeout: float) -> bool:
        """Wait until everything is sent (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self._has_pending() and time.monotonic() < deadline:
                self.cond.wait(0.05)
            return not self._has_pending()

    def _has_pending(self) -> bool:
        return bool(self.on_disk or self.unwritten)

    def stop(self) -> None:
        with self.cond:
            self._stop = True
            self.cond.notify_all()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        with self.cond:
            self._sync()
            os.close(self.fd)
            os.close(self.offset_fd)
            self.fd = self.offset_fd = -1      # a late append fails (kept in memory), never writes elsewhere

    def _sync(self) -> None:
        if self.dirty and self.fsync != "none":
            try:
                os.fsync(self.fd)
            except OSError:
                pass
        self.dirty = False

    # --- shipping ---------------------------------------------------------------------------
    def _next_batch(self) -> tuple[str, list[Entry]]:
        """The next entries to send, in order: the file's, then those the disk refused (lock held)."""
        if not self.window:
            self._refill()
        if self.window:
            return "file", list(itertools.islice(self.window, BATCH))
        if self.read_pos >= self.file_end and self.unwritten:
            return "memory", list(itertools.islice(self.unwritten, BATCH))
        return "file", []

    def _ship(self) -> None:
        backoff = 0.2
        next_sync = time.monotonic() + self.fsync_interval
        while True:
            with self.cond:
                while not self._has_pending() and not self._stop:
                    self._idle_wait(min(1.0, self.fsync_interval))
                    if self.dirty and time.monotonic() >= next_sync:
                        self._sync()
                        next_sync = time.monotonic() + self.fsync_interval
                    self._retry_disk()
                if not self._has_pending() and self._stop:
                    return
                if self.dirty and time.monotonic() >= next_sync:
                    self._sync()
                    next_sync = time.monotonic() + self.fsync_interval
                self._retry_disk()
                until = self.appended_at + LINGER   # entries are on the disk already: waiting loses nothing
                while self.connected and not self._stop and time.monotonic() < until:
                    self.cond.wait(until - time.monotonic())
                source, batch = self._next_batch()
                if not batch:
                    self._idle_wait(0.1)
                    continue
            try:
                results = self._send(batch)
                if self.wait_replicas and not self._confirmed(results.pop()):
                    with self.cond:
                        if self._stop:
                            return
                        self._idle_wait(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if self.connected:
                    log.warning("spool: Redis unreachable (%s); %d entries kept", exc, self.backlog())
                self.connected = False
                with self.cond:
                    if self._stop:
                        return
                    self._idle_wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for (_, stream, eid, _f), res in zip([b for b in batch if b[1]], results):
                if isinstance(res, Exception) and "equal or smaller" not in str(res):
                    log.error("spool: entry %s for %s refused by Redis: %s", eid, stream, res)
            if not self.connected:
                log.info("spool: Redis is back, sent %d waiting entries", len(batch))
            self.connected = True
            backoff = 0.2
            with self.cond:
                self._sent(source, batch)
                self.cond.notify_all()

    def _send(self, batch: list[Entry]) -> list[Any]:
        """XADD every entry of `batch` with its id (then WAIT, with replicas) in one round trip: the replies in
        order, an entry refused by Redis as its error (see `wire.execute`: sent twice, an entry is refused)."""
        for escaped in (False, True):
            commands: list[tuple] = [("XADD", stream, eid, *itertools.chain.from_iterable(fields.items()))
                                     for _, stream, eid, fields in batch if stream]
            if self.wait_replicas:
                commands.append(("WAIT", str(self.wait_replicas), str(self.wait_ms)))
            if not commands:
                return []
            try:
                return execute(self.r, commands)
            except UnicodeEncodeError:   # a lone surrogate, in an entry read back from the file: sent escaped
                if escaped:
                    raise
                for _, _s, _e, fields in batch:
                    _escape_surrogates(fields)
        raise AssertionError("unreachable")

    def _idle_wait(self, timeout: float) -> None:
        """Wait `timeout` seconds, or less if an entry is appended meanwhile (lock held)."""
        self.idle = True
        try:
            self.cond.wait(timeout)
        finally:
            self.idle = False

    def _confirmed(self, replicas: object) -> bool:
        """Whether WAIT says enough replicas hold the batch; if not, it is kept and sent again."""
        if isinstance(replicas, int) and replicas >= self.wait_replicas:
            if self.unconfirmed:
                log.info("spool: the replicas confirm the reports again")
                self.unconfirmed = False
            return True
        if not self.unconfirmed:
            if isinstance(replicas, Exception):
                log.error("spool: WAIT refused (%s): the reports sent are kept until it is allowed "
                          "(or SCITQ_WAIT_REPLICAS=0)", replicas)
            else:
                log.warning("spool: %s of %d replica(s) confirmed the reports sent (WAIT): they are kept and "
                            "sent again until a replica holds them", replicas, self.wait_replicas)
            self.unconfirmed = True
        return False

    def _sent(self, source: str, batch: list[Entry]) -> None:
        """Forget a sent batch; empty the file when everything is out (lock held)."""
        if source == "memory":
            for _ in batch:
                self.unwritten.popleft()
        else:
            for _ in batch:
                size, *_ = self.window.popleft()
                self.window_bytes -= size
                self.offset += size
                self.on_disk -= 1
        self.sent += len(batch)
        if not self.on_disk and self.read_pos >= self.file_end:
            try:   # everything in the file is out: start it afresh
                os.ftruncate(self.fd, 0)
                self.offset = self.read_pos = self.file_end = 0
            except OSError:
                pass
        try:
            os.pwrite(self.offset_fd, str(self.offset).encode().ljust(20), 0)   # fixed width: no truncation
        except OSError as exc:   # the disk refuses even this: entries may be sent again, Redis refuses those
            log.debug("spool: offset not written (%s)", exc)


_encode = msgspec.json.Encoder().encode


def _line(stream: str, eid: str, fields: dict[str, str]) -> bytes:
    try:
        return _encode([stream, eid, fields]) + b"\n"
    except UnicodeEncodeError:   # a lone surrogate (a file name's undecodable byte, say): Redis takes UTF-8 only
        _escape_surrogates(fields)
        return _encode([stream, eid, fields]) + b"\n"


def _escape_surrogates(fields: dict[str, str]) -> None:
    """Replace in place each value holding a lone surrogate by its backslash escape (`\\udcff`), which UTF-8
    can carry: the entry is then written and sent as it reads."""
    for k, v in fields.items():
        try:
            v.encode()
        except UnicodeEncodeError:
            fields[k] = v.encode("utf-8", "backslashreplace").decode()
