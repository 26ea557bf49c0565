"""Runs `scitq server` as the release before `worker.signalled` version 2 wrote it (for the upgrade test).

This process only puts the event's version 1 shape back (no `order` field, `v` = 1); everything else is
today's code. Usage: python old_server.py [scitq server options]
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

if __name__ == "__main__":
    from scitq.cli.main import main
    sys.exit(main(["server", *sys.argv[1:]]))
