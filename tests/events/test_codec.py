"""The ledger's vocabulary: every event round-trips, entries stay readable, bad entries are refused clearly."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import msgspec
import pytest

from scitq.errors import BadInput
from scitq.events import EVENT_TYPES, decode_event, event_fields
from scitq.events.codec import ENTRY_FIELDS, without_empty_ids
from scitq.events.commands import decode_command, decode_fact

GOLDEN = Path(__file__).parent / "golden_v1.jsonl"     # every event type as scitq wrote it with version 1
GOLDEN_V2 = Path(__file__).parent / "golden_v2.jsonl"  # the same events as written before the compact entry
GOLDEN_V3 = Path(__file__).parent / "golden_v3.jsonl"  # the same events, compact entries, before started implied its output
GOLDEN_V4 = Path(__file__).parent / "golden_v4.jsonl"  # the same events, execution.started at 3, before every entry had the same fields
GOLDEN_V5 = Path(__file__).parent / "golden_v5.jsonl"  # the same events as written today (the fields of ENTRY_FIELDS)


def sample(cls):
    """An instance of `cls` with every required field filled with a plausible value."""
    values = {}
    for f in msgspec.structs.fields(cls):
        if f.required:
            tp = typing.get_args(f.type)[0] if typing.get_origin(f.type) is typing.Annotated else f.type
            values[f.name] = {int: 7, str: "x", float: 1.5, bool: True}.get(tp, None)
            if f.type == dict or str(f.type).startswith("dict"):
                values[f.name] = {"command": "echo hi"}
            if values[f.name] is None:
                values[f.name] = 7
    return cls(ts=1700000000.25, **values)


@pytest.mark.parametrize("tag", sorted(EVENT_TYPES))
def test_every_event_type_round_trips_through_a_ledger_entry(tag):
    event = sample(EVENT_TYPES[tag])
    fields = event_fields(event)
    assert fields["type"] == tag and fields["v"] == str(EVENT_TYPES[tag].version)
    assert decode_event(fields) == event


def test_ledger_entries_carry_plain_ids_for_redis_cli_readers():
    from scitq.events import ExecutionClaimed
    fields = event_fields(ExecutionClaimed(execution_id=3, task_id=12, batch="b1", attempt=2, worker="w1",
                                           worker_id=1, ts=1.0))
    assert fields["task"] == "12" and fields["batch"] == "b1" and fields["worker"] == "w1"
    assert json.loads(fields["data"])["attempt"] == 2


def test_golden_version_1_entries_are_upcast_to_the_entries_written_today():
    """Given entries written by version 1 of every event, when decoded today, then each gives the event
    that today's code writes (worker.signalled gains its `order`), through the upcasters."""
    old = [json.loads(line) for line in GOLDEN.read_text().splitlines()]
    new = {f["type"]: f for f in map(json.loads, GOLDEN_V5.read_text().splitlines())}
    assert {f["type"] for f in old} == set(EVENT_TYPES) == set(new)
    assert all(f["v"] == "1" for f in old)
    for fields in old:
        assert event_fields(decode_event(fields)) == new[fields["type"]]


def test_golden_entries_written_before_the_compact_entry_are_read_into_the_same_events():
    """Given the entries of every event as written before the compact entry (type and ids inside `data`),
    when decoded today, then each gives the same event, written today without the repetition."""
    before = [json.loads(line) for line in GOLDEN_V2.read_text().splitlines()]
    today = {f["type"]: f for f in map(json.loads, GOLDEN_V5.read_text().splitlines())}
    assert {f["type"] for f in before} == set(EVENT_TYPES)
    for fields in before:
        assert event_fields(decode_event(fields)) == today[fields["type"]]
        assert decode_event(fields) == decode_event(today[fields["type"]])


def test_golden_compact_entries_of_version_3_are_read_into_the_same_events_as_today():
    """Given the compact entries written before `execution.started` implied its output (its version 2),
    when decoded today, then each gives the same event as today's entry (a start without a claim)."""
    before = [json.loads(line) for line in GOLDEN_V3.read_text().splitlines()]
    today = {f["type"]: f for f in map(json.loads, GOLDEN_V5.read_text().splitlines())}
    assert {f["type"] for f in before} == set(EVENT_TYPES)
    for fields in before:
        assert event_fields(decode_event(fields)) == today[fields["type"]]
    started = decode_event(next(f for f in before if f["type"] == "execution.started"))
    assert started.attempt is None and started.worker_id is None


def test_golden_entries_of_today_round_trip_unchanged_with_their_version():
    for line in GOLDEN_V5.read_text().splitlines():
        fields = json.loads(line)
        assert fields["v"] == str(EVENT_TYPES[fields["type"]].version)
        assert list(event_fields(decode_event(fields)).items()) == list(fields.items())


def test_golden_entries_of_version_4_without_empty_ids_are_read_into_the_same_events_as_today():
    """Given the entries written before every entry had the same fields (an id the event lacks left out),
    when decoded today, then each gives the same event as today's entry, and shown without its empty
    ids today's entry is the one written then."""
    before = [json.loads(line) for line in GOLDEN_V4.read_text().splitlines()]
    today = {f["type"]: f for f in map(json.loads, GOLDEN_V5.read_text().splitlines())}
    assert {f["type"] for f in before} == set(EVENT_TYPES) == set(today)
    for fields in before:
        assert decode_event(fields) == decode_event(today[fields["type"]])
        assert event_fields(decode_event(fields)) == today[fields["type"]]
        assert without_empty_ids(today[fields["type"]]) == fields


@pytest.mark.parametrize("tag", sorted(EVENT_TYPES))
def test_every_entry_has_the_same_fields_in_the_same_order_with_an_empty_id_the_event_lacks(tag):
    """Given any event, when encoded, then its entry has exactly `type, v, task, batch, worker, data` in
    this order (a stream then stores the names once per node), and an id it lacks is an empty value that
    reads as absent."""
    event = sample(EVENT_TYPES[tag])
    fields = event_fields(event)
    assert tuple(fields) == ENTRY_FIELDS == ("type", "v", "task", "batch", "worker", "data")
    ids = event.ids()
    for plain in ("task", "batch", "worker"):
        assert fields[plain] == ids.get(plain, "")
    assert without_empty_ids(fields) == {"type": tag, "v": fields["v"], **ids, "data": fields["data"]}
    assert decode_event(fields) == event


def test_an_empty_id_field_is_read_as_no_id_and_a_set_one_as_the_id():
    from scitq.events import BatchCreated, WorkerDeleted
    batch_only = {"type": "batch.created", "v": "2", "task": "", "batch": "b1", "worker": "", "data": '{"ts":1.0}'}
    assert decode_event(batch_only) == BatchCreated(batch="b1", ts=1.0)
    worker = {b"type": b"worker.deleted", b"v": b"2", b"task": b"", b"batch": b"", b"worker": b"w1",
              b"data": b'{"ts":2.0,"worker_id":3}'}
    assert decode_event(worker) == WorkerDeleted(worker="w1", worker_id=3, ts=2.0)
    assert without_empty_ids({"type": "x", "task": "", "batch": "b", "data": "{}"}) == \
        {"type": "x", "batch": "b", "data": "{}"}
    kept = {"type": "x", "task": "4", "data": ""}
    assert without_empty_ids(kept) is kept      # nothing empty among the ids: the entry as it is


def test_a_compact_entry_does_not_repeat_its_type_and_ids_inside_data():
    from scitq.events import ExecutionClaimed
    fields = event_fields(ExecutionClaimed(execution_id=3, task_id=12, batch="b1", attempt=2, worker="w1",
                                           worker_id=1, ts=1.0))
    assert json.loads(fields["data"]) == {"ts": 1.0, "execution_id": 3, "attempt": 2, "worker_id": 1}
    assert len(fields["data"]) < 60


def _generic_entry(event):
    """The entry as the generic encoding builds it (every field to builtins, then the type and the plain
    ids taken out of `data`): what the per-type encoding must write."""
    ids = event.ids()
    fields = {"type": event.__struct_config__.tag, "v": str(type(event).version),
              **{plain: ids.get(plain, "") for plain in ("task", "batch", "worker")}}
    data = msgspec.to_builtins(event)
    del data["type"]
    for attr, plain in (("task_id", "task"), ("batch", "batch"), ("worker", "worker")):
        if plain in ids:
            data.pop(attr, None)
    fields["data"] = msgspec.json.encode(data).decode()
    return fields


def test_the_per_type_entry_encoding_writes_what_the_generic_encoding_wrote():
    """Given every event type (golden entries, and samples whose ids are empty, missing or set), when
    encoded, then the entry equals the one of the generic encoding, byte for byte."""
    events = [decode_event(json.loads(line)) for line in GOLDEN_V3.read_text().splitlines()]
    for cls in EVENT_TYPES.values():
        event = sample(cls)
        events.append(event)
        for attr, value in (("batch", ""), ("worker", None), ("worker", ""), ("batch", "b")):
            if attr in cls.__struct_fields__:
                events.append(msgspec.structs.replace(event, **{attr: value}))
    for event in events:
        assert list(event_fields(event).items()) == list(_generic_entry(event).items())


def test_a_version_1_worker_order_is_read_with_its_name_and_version_2_is_written():
    from scitq.events import WorkerSignalled
    v1 = {"type": "worker.signalled", "v": "1", "worker": "w1",
          "data": '{"type":"worker.signalled","ts":2.0,"worker_id":3,"worker":"w1","signal":-3}'}
    event = decode_event(v1)
    assert event == WorkerSignalled(ts=2.0, worker_id=3, worker="w1", signal=-3, order="reset resources")
    assert event_fields(event)["v"] == "3"
    assert WorkerSignalled(worker_id=3, worker="w1", signal=-2).order == "restart"


@pytest.mark.parametrize("fields, message", [
    ({"v": "1", "data": "{}"}, "lacks `type`"),
    ({"type": "task.exploded", "v": "1", "data": "{}"}, "unknown event type"),
    ({"type": "task.submitted", "v": "1", "data": "{not json"}, "corrupt task.submitted"),
    ({"type": "task.submitted", "v": "1", "data": '{"task_id": "x"}'}, "corrupt task.submitted"),
    ({"type": "task.submitted", "v": "0", "data": "{}"}, "no upcaster"),
    ({"type": "task.submitted", "v": "9", "data": "{}"}, "written by a newer scitq"),
    ({"type": "task.submitted", "v": "one", "data": "{}"}, "bad version"),
])
def test_a_corrupt_ledger_entry_is_refused_with_a_clear_message(fields, message):
    with pytest.raises(BadInput, match=message):
        decode_event(fields)


def test_a_malformed_command_names_the_bad_field():
    with pytest.raises(BadInput, match=r"\$\.tasks\[0\]\.retry"):
        decode_command("task.submit", '{"tasks": [{"command": "x", "retry": -1}]}')
    with pytest.raises(BadInput, match="unknown command"):
        decode_command("task.explode", "{}")
    with pytest.raises(BadInput, match="Object contains unknown field"):
        decode_command("task.submit", '{"tasks": [{"command": "x", "colour": "red"}]}')


def test_a_malformed_worker_report_is_refused():
    with pytest.raises(BadInput, match="attempt"):
        decode_fact("finished", '{"task_id": 1, "attempt": 0, "return_code": 0}')
    with pytest.raises(BadInput, match="unknown worker report"):
        decode_fact("exploded", "{}")


def test_the_ledger_entry_shown_in_docs_redis_md_is_the_one_scitq_writes():
    """Given the `redis-cli` reading of an entry in docs/redis.md ("Ledger entries"), then its fields and
    values, in order, are those `event_fields` writes for that `task.succeeded`."""
    import re

    from scitq.events import TaskSucceeded
    doc = (Path(__file__).parents[2] / "docs" / "redis.md").read_text()
    block = doc.split("XREVRANGE scitq:events + - COUNT 1\n", 1)[1].split("```", 1)[0]
    shown = [json.loads(f'"{v}"') for v in re.findall(r'\d+\)\s+"((?:[^"\\]|\\.)*)"', block)]
    written = event_fields(TaskSucceeded(task_id=42, batch="Default", execution_id=57, ts=1764514800.1229813))
    assert shown[1:] == [x for kv in written.items() for x in kv]
