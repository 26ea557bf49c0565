"""Provides the ledger archive: compressed segments of old ledger entries and snapshots of the state, on an fsspec URL.

Layout under the archive URL (a local directory, `s3://bucket/prefix`, any fsspec URL)::

    manifest.json                      the segments and snapshots, in ledger order (the only file rewritten)
    segments/<first>_<last>.jsonl.<z>  ledger entries `[id, fields]`, one JSON array a line
    snapshots/<id>.msgpack.<z>         the State folded up to ledger entry <id> (msgpack)
    outputs/<task>-<attempt>.<z>       outputs of finished executions too large to stay in Valkey

`<z>` is the codec: `zst` (zstandard, when installed), `gz` or `xz`. Every file is written whole,
then read back and checked (SHA-256 of the bytes, number and ids of the entries) before the manifest
names it; the manifest is written last. A file the manifest does not name is ignored.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import lzma
import os
import typing
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterator

import msgspec

from scitq.errors import ScitqError
from scitq.projections.state import HeldTasks, State, TaskExecutions

__all__ = ["Archive", "ArchiveError", "ArchiveCorrupt", "Segment", "Snapshot", "compress", "decompress", "default_codec",
           "parse_id", "encode_state", "decode_state"]

Entry = tuple[str, dict[str, str]]
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
CACHED_SEGMENTS = 2
_SEGMENTS: OrderedDict[tuple[str, str, str], list[Entry]] = OrderedDict()


class ArchiveError(ScitqError):
    """The ledger archive cannot be reached, read or written (credentials, network, permissions)."""


class ArchiveCorrupt(ArchiveError):
    """A file of the ledger archive is missing, unreadable or does not match the manifest."""


# --- codecs ------------------------------------------------------------------------------------
def default_codec() -> str:
    """`zst` when the zstandard module is installed, else `gz`."""
    try:
        import zstandard  # noqa: F401  (only whether it is there)
    except ImportError:
        return "gz"
    return "zst"


def compress(data: bytes, codec: str) -> bytes:
    if codec == "zst":
        import zstandard
        return zstandard.ZstdCompressor(level=3).compress(data)
    if codec == "gz":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if codec == "xz":
        return lzma.compress(data)
    raise ValueError(f"unknown codec {codec!r}")


def decompress(data: bytes, codec: str) -> bytes:
    if codec == "zst":
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if codec == "gz":
        return gzip.decompress(data)
    if codec == "xz":
        return lzma.decompress(data)
    raise ValueError(f"unknown codec {codec!r}")


def parse_id(eid: str) -> tuple[int, int]:
    """A stream entry id as a comparable pair (`'0-0'` is the smallest)."""
    ms, _, seq = eid.partition("-")
    return int(ms), int(seq or 0)


# --- snapshots of the State --------------------------------------------------------------------
def _snapshot_type() -> tuple[type, frozenset[str]]:
    """A msgspec Struct with the State's lasting fields (not the view writer's bookkeeping: what is dirty,
    indexed or written); a dict keyed by tuples (the recruiters) is carried as a list of (key, value) pairs."""
    hints = typing.get_type_hints(State)
    fields_: list[tuple[str, Any]] = []
    pairs: set[str] = set()
    for f in dataclasses.fields(State):
        if f.name.startswith(("dirty_", "indexed_", "rewrite_")) or f.name.endswith("_written"):
            continue
        tp = hints[f.name]
        if typing.get_origin(tp) is dict and typing.get_origin(typing.get_args(tp)[0]) is tuple:
            k, v = typing.get_args(tp)
            tp = list[tuple[k, v]]
            pairs.add(f.name)
        fields_.append((f.name, tp))
    return msgspec.defstruct("StateSnapshot", fields_), frozenset(pairs)


_SNAP, _TUPLE_KEYED = _snapshot_type()
_SNAP_DECODER = msgspec.msgpack.Decoder(_SNAP)


def encode_state(state: State) -> bytes:
    values = {}
    for name in _SNAP.__struct_fields__:
        v = getattr(state, name)
        values[name] = list(v.items()) if name in _TUPLE_KEYED else v
    return msgspec.msgpack.encode(_SNAP(**values), enc_hook=_plain)


def _plain(obj: Any) -> Any:
    """The state's compact containers as the plain ones a snapshot holds (a dict of lists, a list)."""
    if isinstance(obj, TaskExecutions):
        return dict(obj.items())
    if isinstance(obj, HeldTasks):
        return list(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def decode_state(data: bytes) -> State:
    snap = _SNAP_DECODER.decode(data)
    values = {}
    for name in _SNAP.__struct_fields__:
        v = getattr(snap, name)
        values[name] = {tuple(k): val for k, val in v} if name in _TUPLE_KEYED else v
    return State(**values)


# --- the manifest ------------------------------------------------------------------------------
@dataclass
class Segment:
    name: str
    first: str
    last: str
    count: int
    sha256: str
    codec: str
    tasks: list[int] = field(default_factory=list)    # [lowest, highest] task id named, [] if none
    bytes: int = 0

    def has_task(self, task_id: int) -> bool:
        return bool(self.tasks) and self.tasks[0] <= task_id <= self.tasks[1]


@dataclass
class Snapshot:
    name: str
    id: str            # the last ledger entry folded into it
    sha256: str
    codec: str
    bytes: int = 0


@dataclass
class Manifest:
    segments: list[Segment] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)

    @property
    def last_id(self) -> str:
        return self.segments[-1].last if self.segments else "0-0"

    @property
    def events(self) -> int:
        return sum(s.count for s in self.segments)

    def to_json(self) -> bytes:
        return json.dumps({"version": MANIFEST_VERSION, "segments": [dataclasses.asdict(s) for s in self.segments],
                           "snapshots": [dataclasses.asdict(s) for s in self.snapshots]}, indent=1).encode()


class Archive:
    """One archive URL: the manifest, its segments, snapshots and large outputs."""

    def __init__(self, url: str, codec: str | None = None) -> None:
        import fsspec
        self.url = url.rstrip("/") or url
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url)
        except Exception as exc:  # noqa: BLE001 - unknown protocol, missing backend package
            raise ArchiveError(f"archive {self.url} cannot be opened: {exc}",
                               hint="SCITQ_ARCHIVE is an fsspec URL: a directory, s3://bucket/prefix, ...") from None
        self.root = self.root.rstrip("/")
        self.codec = codec or default_codec()
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def __repr__(self) -> str:
        return f"Archive({self.url!r})"

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    # --- files ----------------------------------------------------------------------------------
    def write_file(self, name: str, data: bytes) -> None:
        """Write `name` whole (on a local disk through a temporary file renamed: never half a file)."""
        path = self._path(name)
        try:
            if self.local:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = f"{path}.{uuid.uuid4().hex}.tmp"
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            else:
                self.fs.pipe_file(path, data)
        except Exception as exc:  # noqa: BLE001 - fsspec backends raise their own kinds
            raise ArchiveError(f"cannot write archive file {name} to {self.url}: {exc}") from None

    def read_file(self, name: str) -> bytes:
        try:
            return self.fs.cat_file(self._path(name))
        except FileNotFoundError:
            raise ArchiveCorrupt(f"archive file {name} is missing from {self.url}") from None
        except Exception as exc:  # noqa: BLE001 - fsspec backends raise their own kinds
            raise ArchiveError(f"archive file {name} cannot be read from {self.url}: {exc}") from None

    def delete_file(self, name: str) -> None:
        try:
            self.fs.rm_file(self._path(name))
        except (FileNotFoundError, OSError):
            pass

    # --- manifest -------------------------------------------------------------------------------
    def manifest(self) -> Manifest:
        try:
            raw = self.fs.cat_file(self._path(MANIFEST))
        except FileNotFoundError:
            return Manifest()
        except Exception as exc:  # noqa: BLE001 - fsspec backends raise their own kinds
            raise ArchiveError(f"the archive manifest of {self.url} cannot be read: {exc}") from None
        try:
            doc = json.loads(raw)
            return Manifest(segments=[Segment(**s) for s in doc.get("segments", [])],
                            snapshots=[Snapshot(**s) for s in doc.get("snapshots", [])])
        except (ValueError, TypeError) as exc:
            raise ArchiveCorrupt(f"the archive manifest of {self.url} is corrupt: {exc}") from None

    def write_manifest(self, m: Manifest) -> None:
        self.write_file(MANIFEST, m.to_json())

    # --- segments -------------------------------------------------------------------------------
    def write_segment(self, entries: list[Entry]) -> Segment:
        """Write `entries` as one segment, read it back and check it; the manifest is the caller's."""
        lines = b"".join(json.dumps([eid, f], separators=(",", ":")).encode() + b"\n" for eid, f in entries)
        data = compress(lines, self.codec)
        tasks = [int(f["task"]) for _, f in entries if f.get("task", "").isdigit()]
        first, last = entries[0][0], entries[-1][0]
        seg = Segment(name=f"segments/{first}_{last}.jsonl.{self.codec}", first=first, last=last,
                      count=len(entries), sha256=hashlib.sha256(data).hexdigest(), codec=self.codec,
                      tasks=[min(tasks), max(tasks)] if tasks else [], bytes=len(data))
        self.write_file(seg.name, data)
        self.verify_segment(seg)
        return seg

    def read_segment(self, seg: Segment, fresh: bool = False) -> list[Entry]:
        """The entries of `seg`, checked against the manifest (ArchiveCorrupt, one line, if they differ).
        The last segments read are kept decoded (a segment never changes once named by the manifest);
        `fresh` reads it from the archive again and keeps nothing (the archive run's checks: a server
        archiving by policy keeps no segment in its memory)."""
        if fresh:
            return self._read_segment(seg)
        key = (self.url, seg.name, seg.sha256)
        cached = _SEGMENTS.get(key)
        if cached is not None:
            _SEGMENTS.move_to_end(key)
            return cached
        entries = self._read_segment(seg)
        _SEGMENTS[key] = entries
        while len(_SEGMENTS) > CACHED_SEGMENTS:
            _SEGMENTS.popitem(last=False)
        return entries

    def _read_segment(self, seg: Segment) -> list[Entry]:
        data = self.read_file(seg.name)
        if hashlib.sha256(data).hexdigest() != seg.sha256:
            raise ArchiveCorrupt(f"archive segment {seg.name} is corrupt: its checksum differs from the manifest's")
        try:
            entries = [tuple(json.loads(line)) for line in decompress(data, seg.codec).splitlines() if line]
        except Exception as exc:  # noqa: BLE001 - any decoding failure is corruption
            raise ArchiveCorrupt(f"archive segment {seg.name} is corrupt: {exc}") from None
        if len(entries) != seg.count or not entries or entries[0][0] != seg.first or entries[-1][0] != seg.last:
            raise ArchiveCorrupt(f"archive segment {seg.name} is corrupt: {len(entries)} entries where the "
                                 f"manifest says {seg.count} from {seg.first} to {seg.last}")
        return entries  # type: ignore[return-value]

    def verify_segment(self, seg: Segment) -> None:
        """Read `seg` back from the archive itself (never from memory) and check it."""
        self.read_segment(seg, fresh=True)

    # --- snapshots ------------------------------------------------------------------------------
    def write_snapshot(self, state: State) -> Snapshot:
        data = compress(encode_state(state), self.codec)
        snap = Snapshot(name=f"snapshots/{state.last_event_id}.msgpack.{self.codec}", id=state.last_event_id,
                        sha256=hashlib.sha256(data).hexdigest(), codec=self.codec, bytes=len(data))
        self.write_file(snap.name, data)
        self.read_snapshot(snap)
        return snap

    def read_snapshot(self, snap: Snapshot) -> State:
        data = self.read_file(snap.name)
        if hashlib.sha256(data).hexdigest() != snap.sha256:
            raise ArchiveCorrupt(f"archive snapshot {snap.name} is corrupt: its checksum differs from the manifest's")
        try:
            state = decode_state(decompress(data, snap.codec))
        except Exception as exc:  # noqa: BLE001
            raise ArchiveCorrupt(f"archive snapshot {snap.name} cannot be decoded: {exc}") from None
        state.last_event_id = snap.id
        return state

    # --- reading the archived ledger --------------------------------------------------------------
    def entries(self, after: str = "0-0", task: int | None = None,
                manifest: Manifest | None = None) -> Iterator[Entry]:
        """Archived entries after `after`, oldest first (with `task`, segments naming no such task are skipped)."""
        m = manifest or self.manifest()
        low = parse_id(after)
        for seg in m.segments:
            if parse_id(seg.last) <= low:
                continue
            if task is not None and not seg.has_task(task):
                continue
            for eid, f in self.read_segment(seg):
                if parse_id(eid) > low:
                    yield eid, f
