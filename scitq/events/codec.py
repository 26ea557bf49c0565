"""Provides the encoding of events to ledger stream entries and back (one reused decoder per type)."""

from __future__ import annotations

import msgspec

from scitq.errors import BadInput
from scitq.events import batch, deploy, execution, flavor, recruiter, task, worker
from scitq.events.base import SCHEMA_VERSION, Event
from scitq.events.upcasters import UPCASTERS, upcast

__all__ = ["EVENT_TYPES", "UPCASTERS", "encode_event", "decode_event", "event_fields"]


def _collect() -> dict[str, type[Event]]:
    types: dict[str, type[Event]] = {}
    for module in (task, execution, worker, batch, recruiter, flavor, deploy):
        for name in module.__all__:
            cls = getattr(module, name)
            types[cls.__struct_config__.tag] = cls
    return types


EVENT_TYPES: dict[str, type[Event]] = _collect()
_ENCODER = msgspec.json.Encoder()
_DECODERS = {tag: msgspec.json.Decoder(cls) for tag, cls in EVENT_TYPES.items()}


def event_fields(event: Event) -> dict[str, str]:
    """The stream entry of an event: plain `type`, `v`, ids, and `data` (JSON with the type tag)."""
    fields = {"type": event.__struct_config__.tag, "v": str(type(event).version)}
    fields.update(event.ids())
    fields["data"] = _ENCODER.encode(event).decode()
    return fields


encode_event = event_fields


def decode_event(fields: dict[str, str] | dict[bytes, bytes]) -> Event:
    """Decode one ledger entry; a corrupt or unknown entry raises BadInput naming what is wrong."""
    if fields and isinstance(next(iter(fields)), bytes):
        fields = {k.decode(): v.decode() for k, v in fields.items()}  # type: ignore[union-attr]
    tag = fields.get("type")
    data = fields.get("data")
    if not tag or data is None:
        raise BadInput("ledger entry lacks `type` or `data`")
    decoder = _DECODERS.get(tag)  # type: ignore[arg-type]
    if decoder is None:
        raise BadInput(f"unknown event type {tag!r}")
    try:
        version = int(fields.get("v", SCHEMA_VERSION))  # type: ignore[arg-type]
    except ValueError:
        raise BadInput(f"event {tag} has a bad version {fields.get('v')!r}") from None
    current = EVENT_TYPES[tag].version  # type: ignore[index]
    if version > current:
        raise BadInput(f"event {tag} has version {version}, written by a newer scitq (this one reads up to "
                       f"{current}): upgrade this program")
    try:
        if version < current:
            data_v = upcast(tag, version, current, msgspec.json.decode(data))  # type: ignore[arg-type]
            if data_v is None:
                raise BadInput(f"event {tag} has version {version}, no upcaster to {current}")
            return msgspec.convert(data_v, EVENT_TYPES[tag])  # type: ignore[index]
        return decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadInput(f"corrupt {tag} event: {exc}") from None
