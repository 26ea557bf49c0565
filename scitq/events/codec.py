"""Provides the encoding of events to ledger stream entries and back (one reused decoder per type).

An entry is `type`, `v` (the version of that type), the plain ids (`task`, `batch`, `worker`, for
`redis-cli` readers and filters) and `data`: the JSON of the rest of the event. The ids and the type are
not repeated inside `data` (since version 2 of every type, see `events/base.py`); entries of older
versions, which have them there too, are upcast when read.

Every entry has the same six fields in the same order (`ENTRY_FIELDS`), an id the event does not have
written as an empty value: a stream stores the field names of an entry only when they differ from the
first entry of its listpack node, so entries of one shape cost their values alone. Readers take an empty
id as absent (`without_empty_ids` gives the entry as it was written before, without such fields);
entries written before, which leave such a field out, read the same.
"""

from __future__ import annotations

from typing import Any

import msgspec

from scitq.errors import BadInput
from scitq.events import batch, deploy, execution, flavor, recruiter, task, worker
from scitq.events.base import Event
from scitq.events.upcasters import UPCASTERS, data_without_type, upcast

__all__ = ["EVENT_TYPES", "UPCASTERS", "ENTRY_FIELDS", "encode_event", "decode_event", "event_fields", "event_json",
           "without_empty_ids"]

# (attribute of the event, plain field of the entry)
PLAIN_IDS = (("task_id", "task"), ("batch", "batch"), ("worker", "worker"))
# the fields of every entry written, in this order
ENTRY_FIELDS = ("type", "v", "task", "batch", "worker", "data")
_ID_FIELDS = frozenset(plain for _, plain in PLAIN_IDS)


def _collect() -> dict[str, type[Event]]:
    types: dict[str, type[Event]] = {}
    for module in (task, execution, worker, batch, recruiter, flavor, deploy):
        for name in module.__all__:
            cls = getattr(module, name)
            types[cls.__struct_config__.tag] = cls
    return types


EVENT_TYPES: dict[str, type[Event]] = _collect()
for _tag, _cls in EVENT_TYPES.items():     # every type's last step: to the compact entry
    UPCASTERS.setdefault((_tag, _cls.version - 1), data_without_type)
_ENCODER = msgspec.json.Encoder()
_DECODERS = {tag: msgspec.json.Decoder(cls) for tag, cls in EVENT_TYPES.items()}


class _Layout:
    """How one event type is written: its tag and version, where its plain ids sit among its fields, and
    a Struct of the same fields (no tag, each optional) that encodes `data` in one call, omitting what
    the event's own encoding omits (its defaults) and the ids written as plain fields."""
    __slots__ = ("tag", "version", "ids", "defaults", "data")

    def __init__(self, cls: type[Event]) -> None:
        self.tag = cls.__struct_config__.tag
        self.version = str(cls.version)
        infos = msgspec.structs.fields(cls)
        names = [f.name for f in infos]
        plain = dict(PLAIN_IDS)
        self.ids = tuple((names.index(attr), field) for attr, field in PLAIN_IDS if attr in names)
        self.defaults = {i: infos[i].default for i, _ in self.ids}
        fields: list[tuple[str, Any, Any]] = []
        for f in infos:
            if f.name in plain or (f.default is msgspec.NODEFAULT and f.default_factory is msgspec.NODEFAULT):
                default: Any = msgspec.UNSET      # a plain id (set per event), or required (always given)
            elif f.default is not msgspec.NODEFAULT:
                default = f.default
            else:
                default = msgspec.field(default_factory=f.default_factory)
            fields.append((f.name, Any, default))
        self.data = msgspec.defstruct(f"{cls.__name__}Data", fields, omit_defaults=True)


_LAYOUTS: dict[type, _Layout] = {}


def event_fields(event: Event) -> dict[str, str]:
    """The stream entry of an event: plain `type`, `v`, ids, and `data` (JSON of the other fields), the
    fields of `ENTRY_FIELDS` in that order, an id the event does not have (or has empty) as ""."""
    cls = type(event)
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = _Layout(cls)
    values = list(msgspec.structs.astuple(event))
    fields = {"type": layout.tag, "v": layout.version, "task": "", "batch": "", "worker": ""}
    for i, plain in layout.ids:
        value = values[i]
        if value is not None and value != "" and value is not msgspec.UNSET:
            fields[plain] = str(value)          # as `Event.ids`
            values[i] = msgspec.UNSET
        elif value == layout.defaults[i]:
            values[i] = msgspec.UNSET
    fields["data"] = _ENCODER.encode(layout.data(*values)).decode()
    return fields


encode_event = event_fields


def without_empty_ids(fields: dict[str, str]) -> dict[str, str]:
    """An entry as a reader shows it: its plain id fields that are empty (the event has no such id) left
    out, as entries were written before every entry had the same fields. Other entries are returned as
    they are."""
    if any(k in _ID_FIELDS and not v for k, v in fields.items()):
        return {k: v for k, v in fields.items() if v or k not in _ID_FIELDS}
    return fields


def _plain(fields: dict[str, str]) -> dict[str, Any]:
    """The ids of an entry's plain fields, as the event's attributes (an empty field: no such id)."""
    out: dict[str, Any] = {}
    for attr, plain in PLAIN_IDS:
        value = fields.get(plain)
        if value:
            if attr == "task_id":
                try:
                    out[attr] = int(value)
                except ValueError:
                    raise BadInput(f"ledger entry has a bad task id {value!r}") from None
            else:
                out[attr] = value
    return out


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
        version = int(fields.get("v", 1))  # type: ignore[arg-type]
    except ValueError:
        raise BadInput(f"event {tag} has a bad version {fields.get('v')!r}") from None
    current = EVENT_TYPES[tag].version  # type: ignore[index]
    if version > current:
        raise BadInput(f"event {tag} has version {version}, written by a newer scitq (this one reads up to "
                       f"{current}): upgrade this program")
    ids = _plain(fields)  # type: ignore[arg-type]
    try:
        if version < current:
            data_v = upcast(tag, version, current, msgspec.json.decode(data))  # type: ignore[arg-type]
            if data_v is None:
                raise BadInput(f"event {tag} has version {version}, no upcaster to {current}")
            return msgspec.convert({**ids, **data_v}, EVENT_TYPES[tag])  # type: ignore[index]
        if ids:   # the ids first: a key given again inside `data` wins, as it did
            head = _ENCODER.encode(ids).decode()[1:-1]     # `"task_id":1,"batch":"b"`, in one call
            body = data.strip()  # type: ignore[union-attr]
            data = "{" + head + ("}" if body.replace(" ", "") == "{}" else "," + body[1:]) \
                if body.startswith("{") else body
        return decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadInput(f"corrupt {tag} event: {exc}") from None


def event_json(fields: dict[str, str]) -> dict[str, Any]:
    """The whole event of an entry as JSON values (type, ids and the rest), as older entries held it."""
    return msgspec.to_builtins(decode_event(fields))
