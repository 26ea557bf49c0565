"""Provides the upcasters: functions turning a ledger entry of an older event version into the next one.

An event type whose shape changes gets a higher `version` (a ClassVar on its Struct) and one upcaster
per step, registered here as `(tag, old version)`. Entries already in the ledger are never rewritten:
they are upcast each time they are read, so an upgraded server replays an old ledger unchanged.
"""

from __future__ import annotations

from typing import Any, Callable

from scitq.events.worker import WORKER_SIGNALS

__all__ = ["UPCASTERS", "upcaster", "upcast"]

Data = dict[str, Any]
UPCASTERS: dict[tuple[str, int], Callable[[Data], Data]] = {}


def upcaster(tag: str, version: int) -> Callable[[Callable[[Data], Data]], Callable[[Data], Data]]:
    """Register the function turning `data` of `tag` version `version` into version `version + 1`."""
    def register(fn: Callable[[Data], Data]) -> Callable[[Data], Data]:
        UPCASTERS[(tag, version)] = fn
        return fn
    return register


def upcast(tag: str, version: int, target: int, data: Data) -> Data | None:
    """`data` brought from `version` to `target` step by step; None when a step has no upcaster."""
    while version < target:
        step = UPCASTERS.get((tag, version))
        if step is None:
            return None
        data = step(data)
        version += 1
    return data


def data_without_type(data: Data) -> Data:
    """An entry that kept the type and the ids inside `data` becomes a compact one (the step every event
    type takes to the compact entry, registered for each by the codec): the type goes; the ids may stay,
    the plain fields say the same."""
    return {k: v for k, v in data.items() if k != "type"}


@upcaster("worker.signalled", 1)
def _worker_signalled_names_its_order(data: Data) -> Data:
    return {**data, "order": WORKER_SIGNALS.get(data.get("signal"), "")}  # type: ignore[arg-type]


@upcaster("execution.started", 1)
def _execution_started_compact(data: Data) -> Data:
    return data_without_type(data)


@upcaster("execution.started", 2)
def _execution_started_implies_its_output(data: Data) -> Data:
    """Version 3 implies the output stream and may carry the claim: a version 2 start carries no claim
    (its `execution.claimed` came before it, its `execution.output_opened` after it)."""
    return data
