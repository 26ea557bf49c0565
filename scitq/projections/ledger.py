"""Provides the whole ledger (archive + live tail read as one) and `archive_ledger`, which moves old entries
of the live stream to the archive and trims them only once the archive holds them, checked."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from scitq import keys
from scitq.errors import BadInput, Conflict
from scitq.events.codec import decode_event
from scitq.projections.archive import Archive, ArchiveCorrupt, Manifest, Snapshot, parse_id
from scitq.projections.evolve import evolve
from scitq.projections.state import State

__all__ = ["ledger_archive", "whole_ledger", "archive_ledger", "ArchiveReport", "next_id", "snapshot_due",
           "fold_snapshot"]

Entry = tuple[str, dict[str, str]]
PAGE = 5000
KEEP_SNAPSHOTS = 2
SNAPSHOT_GROWTH = 0.5  # a new snapshot once the archive holds this share more entries than the latest one covers
LOCK_TTL = 30          # seconds; refreshed at every segment: a killed run's lock is free again this soon


def next_id(eid: str) -> str:
    """The smallest stream id after `eid`."""
    ms, seq = parse_id(eid)
    return f"{ms}-{seq + 1}"


def ledger_archive(r: Any) -> Archive | None:
    """The archive this ledger was archived to (named in the `scitq:archive` hash), None if never archived."""
    url = r.hget(keys.ARCHIVE, "url")
    return Archive(url) if url else None


def _stream(r: Any, after: str) -> Iterator[Entry]:
    cursor = "-" if after == "0-0" else f"({after}"
    while True:
        page = r.xrange(keys.EVENTS, min=cursor, count=PAGE)
        if not page:
            return
        yield from page
        cursor = f"({page[-1][0]}"


def whole_ledger(r: Any, after: str = "0-0", task: int | None = None,
                 archive: Archive | None | bool = True) -> Iterator[Entry]:
    """Every ledger entry after `after`, oldest first: the archived segments, then the live stream beyond
    them (an entry in both is given once). `archive=True`: the archive named in Redis; None/False: the
    stream alone. With `task`, archive segments that name no such task are skipped (a filter, not a promise).
    An archive run trimming the stream meanwhile is noticed, and what it moved is read from the archive."""
    use_archive = archive is not None and archive is not False
    arch = ledger_archive(r) if archive is True else (archive or None)
    start = after
    if arch is not None:
        m = arch.manifest()
        trimmed = r.hget(keys.ARCHIVE, "trimmed_below")
        if trimmed and parse_id(m.last_id) < parse_id(trimmed):
            raise ArchiveCorrupt(f"the archive at {arch.url} ends at {m.last_id or 'nothing'} but the live ledger "
                                 f"was trimmed below {trimmed}: entries are missing")
        yield from arch.entries(after, task, m)
        if parse_id(m.last_id) > parse_id(start):
            start = m.last_id
    elif use_archive and r.hget(keys.ARCHIVE, "trimmed_below"):
        raise ArchiveCorrupt("the live ledger was trimmed but no archive is named in scitq:archive")
    cursor = start
    while True:
        page = r.xrange(keys.EVENTS, min="-" if cursor == "0-0" else f"({cursor}", count=PAGE)
        trimmed = r.hget(keys.ARCHIVE, "trimmed_below") if use_archive else None
        if trimmed and parse_id(trimmed) > parse_id(cursor):
            # an archive run trimmed entries after `cursor` while we read: take them from the archive
            arch = arch or ledger_archive(r)
            if arch is None:
                raise ArchiveCorrupt("the live ledger was trimmed but no archive is named in scitq:archive")
            m = arch.manifest()
            if parse_id(m.last_id) < parse_id(trimmed):
                raise ArchiveCorrupt(f"the archive at {arch.url} ends at {m.last_id} but the live ledger was "
                                     f"trimmed below {trimmed}: entries are missing")
            for eid, f in arch.entries(cursor, task, m):
                yield eid, f
            cursor = max(cursor, m.last_id, key=parse_id)
            continue
        if not page:
            return
        yield from page
        cursor = page[-1][0]


@dataclass
class ArchiveReport:
    url: str = ""
    segments: int = 0          # written by this run
    events: int = 0            # archived by this run
    trimmed: int = 0           # live entries removed by this run
    last_id: str = "0-0"       # the archive's last entry
    trimmed_below: str = ""
    snapshot: str = ""         # snapshot written by this run (its last entry)
    live: int = 0              # entries left in the live stream
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"archived {self.events} events in {self.segments} segments to {self.url} "
                f"(archive up to {self.last_id}); trimmed {self.trimmed}, {self.live} left in the live ledger"
                + (f"; snapshot at {self.snapshot}" if self.snapshot else "") + f" ({self.seconds:.2f}s)")

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def archive_ledger(r: Any, archive: Archive, *, keep: int, age: float = 0.0, segment: int = 100_000,
                   trim: bool = True, snapshot: bool = True, now: float | None = None,
                   on_segment: Callable[[int], None] | None = None) -> ArchiveReport:
    """Copy the ledger entries the policy selects to `archive`, then trim them from the live stream.

    Selected: entries beyond the newest `keep` (or older than `age` seconds, when > 0), and only entries
    strictly before the views' checkpoint (a server starting from its views and the tail after their
    checkpoint never needs an archived entry). Each segment is read back and checked before the manifest
    names it; before trimming, every live entry to be removed is matched against the archive (ids and
    count), so nothing leaves the stream that the archive does not hold. The live stream keeps the last
    archived entry (XTRIM MINID removes only entries strictly below it).

    A snapshot of the state is taken when `snapshot_due` (the first run, then each time the archive grew by
    half what the latest snapshot covers: the whole state is folded, so this keeps its cost in proportion
    to the history). The server runs this in a process of its own (see `scitq.server.archiver`)."""
    if keep < 1 or segment < 1:
        raise BadInput("keep and segment must be at least 1")
    t0 = time.perf_counter()
    lock = _Lock(r)
    try:
        return _archive(r, archive, keep, age, segment, trim, snapshot, now, on_segment, t0, lock)
    finally:
        lock.release()


class _Lock:
    """`scitq:archive:lock`, held by one run: refreshed as the run goes, checked before each write."""

    def __init__(self, r: Any) -> None:
        self.r = r
        self.token = uuid.uuid4().hex
        if not r.set(keys.ARCHIVE_LOCK, self.token, nx=True, ex=LOCK_TTL):
            raise Conflict("another archive run is in progress",
                           hint=f"wait for it (a run that died frees {keys.ARCHIVE_LOCK} within {LOCK_TTL} s)")

    def hold(self) -> None:
        """Extend the lock; Conflict if another run took it (this one was too slow): nothing more is written."""
        if self.r.get(keys.ARCHIVE_LOCK) != self.token or not self.r.expire(keys.ARCHIVE_LOCK, LOCK_TTL):
            raise Conflict("the archive lock was lost to another run: this run stopped (nothing trimmed by it)")

    def release(self) -> None:
        if self.r.get(keys.ARCHIVE_LOCK) == self.token:
            self.r.delete(keys.ARCHIVE_LOCK)


def _archive(r: Any, archive: Archive, keep: int, age: float, segment: int, trim: bool, snapshot: bool,
             now: float | None, on_segment: Callable[[int], None] | None, t0: float, lock: _Lock) -> ArchiveReport:
    named = r.hget(keys.ARCHIVE, "url")
    if named and named != archive.url:
        raise BadInput(f"this ledger is archived to {named}, not {archive.url}",
                       hint="set SCITQ_ARCHIVE to the archive already in use")
    rep = ArchiveReport(url=archive.url)
    m = archive.manifest()
    checkpoint = parse_id(r.get(keys.CHECKPOINT) or "0-0")
    cutoff = ((now if now is not None else time.time()) - age) * 1000 if age > 0 else -1
    # live entries already archived: the last archived one, or more after a run that died before trimming
    leftover = sum(1 for _ in _stream_below(r, next_id(m.last_id))) if m.segments else 0
    selectable = max(0, r.xlen(keys.EVENTS) - leftover - keep)
    buf: list[Entry] = []
    taken = 0
    for eid, f in _stream(r, m.last_id):
        ms, seq = parse_id(eid)
        if (ms, seq) >= checkpoint or not (taken < selectable or ms < cutoff):
            break
        buf.append((eid, f))
        taken += 1
        if len(buf) >= segment:
            _add_segment(r, archive, m, buf, rep, on_segment, lock)
            buf = []
    if buf:
        _add_segment(r, archive, m, buf, rep, on_segment, lock)
    if rep.segments and snapshot and snapshot_due(m):
        _snapshot(archive, m, rep, lock)
    rep.last_id = m.last_id
    if trim and m.segments:
        _trim(r, archive, m, rep, lock)
    rep.live = r.xlen(keys.EVENTS)
    rep.seconds = time.perf_counter() - t0
    r.hset(keys.ARCHIVE, mapping={"last_id": m.last_id, "segments": len(m.segments), "events": m.events,
                                  "updated": f"{time.time():.3f}"})
    return rep


def _add_segment(r: Any, archive: Archive, m: Manifest, entries: list[Entry], rep: ArchiveReport,
                 on_segment: Callable[[int], None] | None, lock: _Lock) -> None:
    lock.hold()
    seg = archive.write_segment(entries)          # written, read back and checked
    lock.hold()
    m.segments.append(seg)
    archive.write_manifest(m)
    r.hset(keys.ARCHIVE, mapping={"url": archive.url, "last_id": seg.last})
    rep.segments += 1
    rep.events += seg.count
    if on_segment is not None:
        on_segment(rep.segments)


def snapshot_due(m: Manifest) -> bool:
    """Whether an archive run ending with manifest `m` takes a snapshot: there is none yet, or the archive
    holds SNAPSHOT_GROWTH more entries than the latest one covers."""
    if not m.snapshots:
        return True
    at = parse_id(m.snapshots[-1].id)
    covered = sum(s.count for s in m.segments if parse_id(s.last) <= at)
    return m.events - covered >= max(1, covered * SNAPSHOT_GROWTH)


def fold_snapshot(archive: Archive, m: Manifest, keepalive: Callable[[], None] = lambda: None) -> Snapshot:
    """The State at the archive's last entry (the latest snapshot plus the later segments), written to the
    archive and checked; `keepalive` is called as it goes."""
    state = archive.read_snapshot(m.snapshots[-1]) if m.snapshots else State()
    for i, (eid, f) in enumerate(archive.entries(state.last_event_id, manifest=m)):
        if i % 20_000 == 0:
            keepalive()
        try:
            evolve(state, decode_event(f))
        except BadInput:
            pass                     # set aside, as every replay does
        state.last_event_id = eid
    return archive.write_snapshot(state)


def _snapshot(archive: Archive, m: Manifest, rep: ArchiveReport, lock: _Lock) -> None:
    """A snapshot of the State at the archive's last entry: the previous snapshot plus the new segments."""
    snap = fold_snapshot(archive, m, lock.hold)
    lock.hold()
    m.snapshots.append(snap)
    old, m.snapshots = m.snapshots[:-KEEP_SNAPSHOTS], m.snapshots[-KEEP_SNAPSHOTS:]
    archive.write_manifest(m)
    for s in old:
        archive.delete_file(s.name)
    rep.snapshot = snap.id


def _trim(r: Any, archive: Archive, m: Manifest, rep: ArchiveReport, lock: _Lock) -> None:
    """Remove from the stream the live entries strictly below the archive's last one, once every one of
    them is found in a segment read back now (checksum, count, ids)."""
    lock.hold()
    bound = m.last_id
    first = r.xrange(keys.EVENTS, count=1)
    if not first or parse_id(first[0][0]) >= parse_id(bound):
        return
    low = parse_id(first[0][0])
    archived: list[str] = []
    for seg in m.segments:
        if parse_id(seg.last) < low:
            continue
        archived += [eid for eid, _ in archive.read_segment(seg, fresh=True) if low <= parse_id(eid) < parse_id(bound)]
    live = [eid for eid, _ in _stream_below(r, bound)]
    if live != archived:
        missing = next((e for e in live if e not in set(archived)), None)
        raise ArchiveCorrupt(f"the archive does not hold every live entry below {bound} "
                             f"({len(archived)} archived, {len(live)} live"
                             + (f", {missing} missing" if missing else "") + "): nothing trimmed")
    lock.hold()
    r.hset(keys.ARCHIVE, "trimmed_below", bound)
    rep.trimmed = r.xtrim(keys.EVENTS, minid=bound, approximate=False)
    rep.trimmed_below = bound


def _stream_below(r: Any, bound: str) -> Iterator[Entry]:
    cursor = "-"
    while True:
        page = r.xrange(keys.EVENTS, min=cursor, max=f"({bound}", count=PAGE)
        if not page:
            return
        yield from page
        cursor = f"({page[-1][0]}"
