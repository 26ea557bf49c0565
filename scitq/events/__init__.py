"""Provides the ledger's vocabulary: events (one module per aggregate), commands, facts and their codec."""

from __future__ import annotations

from scitq.events.base import Event, SCHEMA_VERSION
from scitq.events.batch import *  # noqa: F401,F403
from scitq.events.deploy import *  # noqa: F401,F403
from scitq.events.codec import EVENT_TYPES, decode_event, event_fields, event_json
from scitq.events.execution import *  # noqa: F401,F403
from scitq.events.flavor import *  # noqa: F401,F403
from scitq.events.recruiter import *  # noqa: F401,F403
from scitq.events.task import *  # noqa: F401,F403
from scitq.events.worker import *  # noqa: F401,F403
from scitq.events import batch as _b, deploy as _d, execution as _e, flavor as _f, recruiter as _r, task as _t
from scitq.events import worker as _w

__all__ = ["Event", "SCHEMA_VERSION", "EVENT_TYPES", "decode_event", "event_fields", "event_json",
           *_t.__all__, *_e.__all__, *_w.__all__, *_b.__all__, *_r.__all__,
           *_f.__all__, *_d.__all__]
