"""Runs `scitq server` as the release before `worker.signalled` version 2 wrote it (for the upgrade test).

This process only puts the version 1 shapes back: that event without its `order` field, and every entry
with its type and ids inside `data` too, all at `v` = 1; everything else is today's code. Usage: python
old_server.py [scitq server options]
"""

import importlib
import sys
from typing import ClassVar

import msgspec

from scitq.events import base, codec, worker

evolve = importlib.import_module("scitq.projections.evolve")


class WorkerSignalled(base.Event, tag="worker.signalled", kw_only=True):
    version: ClassVar[int] = 1
    worker_id: int
    worker: str
    signal: int


evolve._HANDLERS[WorkerSignalled] = evolve._HANDLERS[worker.WorkerSignalled]
worker.WorkerSignalled = WorkerSignalled
codec.EVENT_TYPES["worker.signalled"] = WorkerSignalled
codec._DECODERS["worker.signalled"] = msgspec.json.Decoder(WorkerSignalled)
base.Event.version = 1
_ENCODER = msgspec.json.Encoder()


def event_fields(event: base.Event) -> dict[str, str]:
    fields = {"type": event.__struct_config__.tag, "v": str(type(event).version)}
    fields.update(event.ids())
    fields["data"] = _ENCODER.encode(event).decode()
    return fields


codec.event_fields = codec.encode_event = event_fields

if __name__ == "__main__":
    from scitq.cli.main import main
    sys.exit(main(["server", *sys.argv[1:]]))
