"""Provides the server's history keepers: `Archiver` (a thread running the ledger archive by policy or on
request) and `pack_outputs` / `drop_outputs` (packing the output of ended attempts, deleting outputs)."""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import signal
import threading
import time
import warnings
from typing import Any, Sequence

import msgspec
import redis

from scitq import keys
from scitq.errors import ScitqError, error_kind, error_of_kind
from scitq.projections.archive import Archive, ArchiveCorrupt, ArchiveError, compress, default_codec, parse_id
from scitq.projections.ledger import ArchiveReport, archive_ledger, next_id
from scitq.projections.outputs import NEVER_DECODE, archived_pointer, merge, pack, unpack
from scitq.server.library import ensure_library
from scitq.settings import Settings

__all__ = ["Archiver", "pack_outputs", "drop_outputs"]

log = logging.getLogger("scitq.server")
CHUNK = 500


class Archiver:
    """Runs `archive_ledger` in its own thread: every `archive_interval` seconds when the policy selects
    something (more than `archive_keep` + one segment live entries, or entries older than `archive_age`),
    and at once when asked (`request`, the `admin.archive` command), answering on the command's reply list.
    The archive only reads the ledger and trims its oldest entries: it never holds up the server's rounds."""

    def __init__(self, r: redis.Redis, cfg: Settings) -> None:
        self.r = r
        self.cfg = cfg
        self.archive = Archive(cfg.archive_url)
        self._asked: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = time.monotonic() + min(cfg.archive_interval, 30.0) if cfg.archive_interval else float("inf")

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="scitq-archiver", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def request(self, cid: str, cmd: Any) -> None:
        """Run the archive now for command `cid` (answered when done)."""
        self._asked.put((cid, cmd))
        self.start()

    def due(self) -> bool:
        """Whether the policy selects entries now."""
        cfg = self.cfg
        live = self.r.xlen(keys.EVENTS)
        if live > cfg.archive_keep + cfg.archive_segment:
            return True
        if cfg.archive_age > 0 and live > 1:
            first = self.r.xrange(keys.EVENTS, count=2)
            named = self.r.hget(keys.ARCHIVE, "last_id")
            oldest = first[-1][0] if named and first and first[0][0] == named else (first[0][0] if first else None)
            return oldest is not None and parse_id(oldest)[0] < (time.time() - cfg.archive_age) * 1000
        return False

    def run_once(self, keep: int | None = None, age: float | None = None, trim: bool = True) -> dict[str, Any]:
        """One archive run, in a forked copy of this process: what it reads and folds (segments of the
        ledger, the snapshot of the whole history's state) goes away with the copy, so the server's
        memory stays that of its live tasks. Its errors are raised here as they were there."""
        cfg = self.cfg
        # the copy opens the archive anew (a filesystem object may hold threads, which a fork does not copy)
        res = in_child(lambda: archive_ledger(self.r, Archive(cfg.archive_url), keep=keep or cfg.archive_keep,
                                              age=cfg.archive_age if age is None else age,
                                              segment=cfg.archive_segment, trim=trim).as_dict(),
                       timeout=cfg.archive_timeout or None)
        rep = ArchiveReport(**res)
        if rep.events or rep.trimmed:
            log.info("%s", rep.summary())
        return {"summary": rep.summary(), **rep.as_dict()}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                cid, cmd = self._asked.get(timeout=1.0)
            except queue.Empty:
                cid, cmd = "", None
            if cid:
                self._answer(cid, cmd)
            elif time.monotonic() >= self._next:
                self._next = time.monotonic() + self.cfg.archive_interval
                try:
                    if self.due():
                        self.run_once()
                except ScitqError as exc:
                    log.error("ledger archive: %s", exc.message)
                except (redis.RedisError, OSError) as exc:
                    log.warning("ledger archive failed (%s): retried in %.0fs", exc, self.cfg.archive_interval)
                except Exception:  # noqa: BLE001 - never kill the server over its archive
                    log.exception("ledger archive failed")

    def _answer(self, cid: str, cmd: Any) -> None:
        try:
            result = self.run_once(keep=cmd.keep, age=cmd.age, trim=cmd.trim)
            answer = json.dumps({"ok": True, "result": result})
        except ScitqError as exc:
            answer = json.dumps({"ok": False, "error": exc.message, "hint": exc.hint, "kind": error_kind(exc)})
        except Exception as exc:  # noqa: BLE001
            log.exception("ledger archive failed")
            answer = json.dumps({"ok": False, "error": f"archive failed: {exc}", "kind": "error"})
        try:
            pipe = self.r.pipeline(transaction=True)
            pipe.lpush(keys.reply(cid), answer)
            pipe.expire(keys.reply(cid), 600)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("archive answer to %s not sent: %s", cid, exc)


def in_child(work: Any, timeout: float | None = None) -> Any:
    """`work()` (JSON in, JSON out) run in a forked copy of this process, its result or its error given back
    here. The copy opens Redis connections of its own (redis-py starts a new pool in a forked process).
    A copy that has not answered within `timeout` seconds (one that hangs: a lock some thread held at the
    fork, a filesystem that never answers) is killed, and the run fails with ArchiveError. Killing an
    archive run is safe: the manifest is written last and nothing is trimmed before it names a segment."""
    rfd, wfd = os.pipe()
    with warnings.catch_warnings():        # the copy runs `work` alone: the other threads are not copied
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:                                      # the copy: never returns
        os.close(rfd)
        try:
            out: dict[str, Any] = {"ok": True, "result": work()}
        except ArchiveError as exc:
            out = {"ok": False, "error": exc.message, "hint": exc.hint,
                   "kind": "corrupt" if isinstance(exc, ArchiveCorrupt) else "archive"}
        except ScitqError as exc:
            out = {"ok": False, "error": exc.message, "hint": exc.hint, "kind": error_kind(exc)}
        except (redis.RedisError, OSError) as exc:
            out = {"ok": False, "error": str(exc), "kind": "redis"}
        except BaseException as exc:  # noqa: BLE001 - said to the parent, which logs it
            out = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "kind": "crash"}
        try:
            data = json.dumps(out).encode()
            while data:
                data = data[os.write(wfd, data):]
        finally:
            os._exit(0)
    os.close(wfd)
    chunks = []
    deadline = None if timeout is None else time.monotonic() + timeout
    with os.fdopen(rfd, "rb", buffering=0) as fh:
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and (left <= 0 or not select.select([fh], [], [], left)[0]):
                _kill(pid)
                raise ArchiveError(f"the archive run did not end within {timeout:g} s (SCITQ_ARCHIVE_TIMEOUT): "
                                   "it was stopped, and the next run takes over where it was")
            chunk = fh.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:      # reaped by someone else: its answer is all we need
        pass
    try:
        out = json.loads(b"".join(chunks))
    except ValueError:
        raise ArchiveError("the archive run's process ended without an answer") from None
    if out["ok"]:
        return out["result"]
    kind, message, hint = out.get("kind"), out.get("error", "?"), out.get("hint")
    if kind == "corrupt":
        raise ArchiveCorrupt(message, hint)
    if kind == "archive":
        raise ArchiveError(message, hint)
    if kind == "redis":
        raise redis.ConnectionError(message)
    if kind == "crash":
        raise RuntimeError(message)
    raise error_of_kind(kind, message, hint)


def _kill(pid: int) -> None:
    """Kill and reap a forked copy."""
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def pack_outputs(r: redis.Redis, attempts: Sequence[tuple[int, int, str]], archive: Archive | None = None,
                 archive_above: int = 0, codec: str | None = None) -> int:
    """Pack the output of these ended attempts (task, attempt, output stream): their chunks (with any packed
    before) into one compressed value, put in `archive` instead when larger than `archive_above` bytes (0:
    never). The value is stored and the chunks it holds dropped from the stream in one step; a chunk written
    meanwhile stays live. Returns the number of outputs packed."""
    codec = codec or default_codec()
    done = 0
    for i in range(0, len(attempts), CHUNK):
        part = attempts[i:i + CHUNK]
        pipe = r.pipeline(transaction=False)
        for _t, _a, stream in part:
            pipe.xrange(stream)
        lives = pipe.execute()
        # what was packed before is read only for the outputs with live chunks (most tasks write nothing)
        written = [(p, live) for p, live in zip(part, lives) if live]
        if not written:
            continue
        pipe = r.pipeline(transaction=False)
        for (t, a, _s), _live in written:
            pipe.execute_command("GET", keys.output_packed(t, a), **NEVER_DECODE)
        olds = pipe.execute()
        pipe = r.pipeline(transaction=False)
        n = 0
        for ((t, a, stream), live), old in zip(written, olds):
            chunks = merge(unpack(old), live)
            value = pack(chunks, codec)
            if archive is not None and archive_above and len(value) > archive_above:
                name = f"outputs/{t}-{a}-{live[-1][0]}.{codec}"
                data = compress(msgspec.msgpack.encode([list(c) for c in chunks]), codec)
                archive.write_file(name, data)
                if archive.read_file(name) != data:
                    log.error("archived output %s reads back different: kept in Valkey", name)
                else:
                    value = archived_pointer(archive, name, codec, data, chunks)
            last = live[-1][0]
            pipe.execute_command("FCALL", "scitq_pack_output", 2, stream, keys.output_packed(t, a),
                                 last, next_id(last), value)
            n += 1
        if n:
            try:
                pipe.execute()
            except redis.ResponseError as exc:   # Valkey lost the library (a new Valkey): load it, write again
                if "function" not in str(exc).lower():
                    raise
                ensure_library(r, force=True)
                pipe.execute()
            done += n
    return done


def drop_outputs(r: redis.Redis, tasks: Sequence[tuple[int, int, list[str]]]) -> None:
    """Delete the outputs of deleted tasks (task, attempts, live streams known): every attempt's packed
    value (and its archived file) and live stream."""
    for i in range(0, len(tasks), CHUNK):
        part = [(t, a, streams) for t, n, streams in tasks[i:i + CHUNK] for a in range(1, n + 1)]
        pipe = r.pipeline(transaction=False)
        for t, a, _s in part:
            pipe.execute_command("GET", keys.output_packed(t, a), **NEVER_DECODE)
        for value in pipe.execute():
            if value and value[:1] == b"a":
                try:
                    ref = json.loads(value[1:])
                    Archive(ref["url"]).delete_file(ref["name"])
                except (ValueError, KeyError, OSError) as exc:
                    log.warning("archived output not deleted: %s", exc)
        names = {k for t, a, _s in part for k in (keys.output(t, a), keys.output_packed(t, a))}
        names.update(s for t, n, streams in tasks[i:i + CHUNK] for s in streams)
        for j in range(0, len(names), 1000):
            r.delete(*sorted(names)[j:j + 1000])
