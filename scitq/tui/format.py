"""Provides how the dashboard shows things: the clock, dates, durations, status colours, progress bars, events."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Callable

from rich.text import Text

__all__ = [
    "Clock", "STATUS_STYLE", "WORKER_STYLE", "status_text", "worker_status_text", "duration", "ago", "spread", "size",
    "progress_bar", "event_summary", "event_data", "event_time", "entry_key",
]

# v1 colours: worker running=blue, paused=yellow, offline=grey, failed=red; job succeeded=green,
# pending=grey, running=yellow, failed=red. Task statuses each get their own.
STATUS_STYLE: dict[str, str] = {
    "paused": "#b388ff",
    "waiting": "grey50",
    "pending": "grey70",
    "assigned": "#26a69a",
    "accepted": "#4dd0e1",
    "running": "#fdd835",
    "failed": "bold #ef5350",
    "succeeded": "#66bb6a",
    "debug": "#42a5f5",
    "blocked": "#ff8a65",         # a required task failed for good: it will not run unless that one is relaunched
    "refused": "grey50",
}
WORKER_STYLE: dict[str, str] = {
    "running": "bold #42a5f5",
    "paused": "#fdd835",
    "offline": "grey50",
    "failed": "#ef5350",
    "evicted": "#ef5350",
}

@dataclass
class Clock:
    """Where the dashboard reads the time and how it shows dates (tests freeze both)."""

    now: Callable[[], float] = field(default=time.time)
    tz: tzinfo | None = None          # None: the local time zone

    def date(self, ts: float | None) -> str:
        if not ts:
            return ""
        return datetime.fromtimestamp(ts, self.tz).strftime("%Y-%m-%d %H:%M:%S")

    def time(self, ts: float | None) -> str:
        if not ts:
            return ""
        dt = datetime.fromtimestamp(ts, self.tz)
        today = datetime.fromtimestamp(self.now(), self.tz).date()
        return dt.strftime("%H:%M:%S" if dt.date() == today else "%m-%d %H:%M")

    def precise(self, ts: float | None) -> str:
        if not ts:
            return ""
        return datetime.fromtimestamp(ts, self.tz).strftime("%H:%M:%S.%f")[:-3]


def status_text(status: str | None) -> Text:
    s = status or "?"
    return Text(s, style=STATUS_STYLE.get(s, ""))


def worker_status_text(status: str | None) -> Text:
    s = status or "?"
    return Text(f"● {s}", style=WORKER_STYLE.get(s, ""))


def duration(seconds: float | None) -> str:
    """v1 runtime format: `Ns`, `Nmin`, `Nh`, `Nd` with one decimal above a minute."""
    if seconds is None or seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def spread(average: float, low: float, high: float) -> str:
    """An average runtime and its range in the average's unit: `48s [45-52]`, `2.1m [0.3-5.0]`."""
    for unit, size in (("s", 1), ("m", 60), ("h", 3600), ("d", 86400)):
        if average < 60 * size or unit == "d":
            break
    digits = 0 if unit == "s" else 1

    def n(x: float) -> str:
        return f"{x / size:.{digits}f}"
    if n(low) == n(high):
        return f"{n(average)}{unit}"
    return f"{n(average)}{unit} [{n(low)}-{n(high)}]"


def size(value: Any) -> str:
    """A byte count (or rate) in short decimal units: `0`, `340k`, `1.2M`, `12G` ("" when unknown)."""
    try:
        n = float(value)
    except (TypeError, ValueError):
        return ""
    if n != n or n < 0:          # NaN, or nonsense
        return ""
    for unit in ("", "k", "M", "G", "T", "P"):
        if n < 999.5 or unit == "P":
            break
        n /= 1000
    return f"{n:.0f}{unit}" if n >= 9.95 or not unit else f"{n:.1f}{unit}"


def ago(clock: Clock, ts: float | None) -> str:
    if not ts:
        return "never"
    return f"{duration(max(0.0, clock.now() - ts))} ago"


_BAR_ORDER = tuple((s, STATUS_STYLE[s].replace("bold ", ""))
                   for s in ("succeeded", "failed", "blocked", "running", "paused", "accepted", "assigned"))


def progress_bar(counts: dict[str, Any], width: int = 20) -> Text:
    """A stacked bar (succeeded green, failed red, blocked orange, running yellow...) followed by the
    percentage finished (succeeded, failed or blocked)."""
    total = sum(int(counts.get(s) or 0) for s in ("paused", "waiting", "pending", "assigned", "accepted",
                                                   "running", "failed", "succeeded", "debug", "blocked"))
    bar = Text()
    if total <= 0:
        bar.append("─" * width, style="grey50")
        bar.append("    ")
        return bar
    used = 0
    for status, style in _BAR_ORDER:
        n = int(counts.get(status) or 0)
        cells = int(round(width * n / total)) if n else 0
        cells = min(cells, width - used)
        if n and cells == 0 and used < width:
            cells = 1
        bar.append("█" * cells, style=style)
        used += cells
    bar.append("░" * (width - used), style="grey50")
    done = sum(int(counts.get(s) or 0) for s in ("succeeded", "failed", "blocked"))
    bar.append(f" {100 * done // total:>3}%")
    return bar


_IDS = ("task", "batch", "worker")
_SKIP = {"type", "ts", "task_id", "batch", "worker"}


def event_data(fields: dict[str, str]) -> dict[str, Any]:
    try:
        data = json.loads(fields.get("data") or "{}")
    except ValueError:
        return {"corrupt": fields.get("data")}
    return data if isinstance(data, dict) else {"data": data}


def event_summary(fields: dict[str, str], data: dict[str, Any] | None = None) -> str:
    """The `key=value` details of a ledger entry (what is not already in its type and ids)."""
    data = event_data(fields) if data is None else data
    parts = []
    for k, v in data.items():
        if k in _SKIP or v in (None, [], {}, ""):
            continue
        if isinstance(v, str):
            v = f'"{v}"' if (" " in v or not v) else v
        elif isinstance(v, (dict, list)):
            v = json.dumps(v)
        parts.append(f"{k}={v}")
    return " ".join(parts)


def entry_key(eid: str) -> tuple[int, int]:
    """A stream entry id as a sortable pair."""
    ms, _, seq = eid.partition("-")
    return int(ms), int(seq or 0)


def event_time(eid: str, data: dict[str, Any]) -> float:
    ts = data.get("ts")
    if isinstance(ts, (int, float)) and ts:
        return float(ts)
    return int(eid.split("-")[0]) / 1000
