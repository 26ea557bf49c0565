"""Provides compacted outputs: a finished attempt's chunks packed into one compressed value (or archived),
and the readers that see the packed chunks and any later live chunk as one output.

A packed value is one byte naming its form, then the rest:
`z`/`g`/`x` + the chunks `[[id, fd, text], ...]` as msgpack compressed with zstd/gzip/lzma, or
`a` + JSON `{"url", "name", "codec", "sha256", "count", "last"}`: the same compressed chunks in a file of the
ledger archive (outputs larger than a setting). Chunks keep their stream ids, so positions and "after this
entry" reads work the same on packed and live outputs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

import msgspec

from scitq import keys
from scitq.projections.archive import Archive, ArchiveCorrupt, compress, decompress, parse_id

__all__ = ["Chunk", "pack", "unpack", "archived_pointer", "merge", "read_outputs", "read_tails", "NEVER_DECODE"]

Chunk = tuple[str, str, str]          # (stream id, fd, text)
NEVER_DECODE = {"NEVER_DECODE": []}   # redis-py option: the reply stays bytes on a decoding client
_FORMS = {"zst": b"z", "gz": b"g", "xz": b"x"}
_CODECS = {v: k for k, v in _FORMS.items()}


def pack(chunks: Sequence[Chunk], codec: str) -> bytes:
    """The packed value of `chunks` (already in id order)."""
    return _FORMS[codec] + compress(msgspec.msgpack.encode([list(c) for c in chunks]), codec)


def archived_pointer(archive: Archive, name: str, codec: str, data: bytes, chunks: Sequence[Chunk]) -> bytes:
    """The packed value saying the chunks are in archive file `name` (holding `data`)."""
    return b"a" + json.dumps({"url": archive.url, "name": name, "codec": codec,
                              "sha256": hashlib.sha256(data).hexdigest(), "count": len(chunks),
                              "last": chunks[-1][0] if chunks else "0-0"}).encode()


def unpack(value: bytes | None) -> list[Chunk]:
    """The chunks of a packed value (an archived one is read from the archive); [] for None."""
    if not value:
        return []
    form, body = value[:1], value[1:]
    if form == b"a":
        ref = json.loads(body)
        arch = Archive(ref["url"])
        data = arch.read_file(ref["name"])
        if hashlib.sha256(data).hexdigest() != ref["sha256"]:
            raise ArchiveCorrupt(f"archived output {ref['name']} is corrupt: its checksum differs")
        return [tuple(c) for c in msgspec.msgpack.decode(decompress(data, ref["codec"]))]  # type: ignore[misc]
    codec = _CODECS.get(form)
    if codec is None:
        raise ArchiveCorrupt(f"packed output of unknown form {form!r}")
    return [tuple(c) for c in msgspec.msgpack.decode(decompress(body, codec))]  # type: ignore[misc]


def merge(packed: list[Chunk], live: list[tuple[str, dict[str, str]]]) -> list[Chunk]:
    """The packed chunks then the live ones not already packed (a chunk sent twice counts once), in id order."""
    seen = {c[0] for c in packed}
    extra = [(eid, f.get("fd", "stdout"), f.get("text", "")) for eid, f in live if eid not in seen]
    if not extra:
        return packed
    out = packed + extra
    if packed and parse_id(extra[0][0]) < parse_id(packed[-1][0]):
        out.sort(key=lambda c: parse_id(c[0]))
    return out


def _streams(attempts: Sequence[tuple[int, int]], streams: Sequence[str] | None) -> Sequence[str]:
    return streams if streams is not None else [keys.output(t, a) for t, a in attempts]


def read_outputs(r: Any, attempts: Sequence[tuple[int, int]],
                 streams: Sequence[str] | None = None) -> list[list[Chunk]]:
    """Every chunk of each (task, attempt) (its live stream: `streams`, default `keys.output`), packed or
    live, in one pipeline. The live stream is read before the packed value: a packing in between moves
    chunks from the first to the second, never out of both."""
    pipe = r.pipeline(transaction=False)
    for (t, a), stream in zip(attempts, _streams(attempts, streams)):
        pipe.xrange(stream)
        pipe.execute_command("GET", keys.output_packed(t, a), **NEVER_DECODE)
    res = pipe.execute()
    return [merge(unpack(res[2 * i + 1]), res[2 * i]) for i in range(len(attempts))]


def read_tails(r: Any, attempts: Sequence[tuple[int, int]], count: int,
               streams: Sequence[str] | None = None) -> list[list[tuple[str, dict[str, str]]]]:
    """The last `count` chunks of each (task, attempt), newest first, as stream entries (id, {fd, text})."""
    pipe = r.pipeline(transaction=False)
    for (t, a), stream in zip(attempts, _streams(attempts, streams)):
        pipe.xrevrange(stream, count=count)
        pipe.execute_command("GET", keys.output_packed(t, a), **NEVER_DECODE)
    res = pipe.execute()
    out = []
    for i in range(len(attempts)):
        live, packed = res[2 * i], res[2 * i + 1]
        if not packed:
            out.append(live)
            continue
        chunks = merge(unpack(packed), list(reversed(live)))
        out.append([(eid, {"fd": fd, "text": text}) for eid, fd, text in reversed(chunks[-count:])])
    return out
