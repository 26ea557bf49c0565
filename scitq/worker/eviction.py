"""Provides the watch for Azure Spot evictions on a worker: it polls the Instance Metadata Service's scheduled events.

Azure announces the eviction of a Spot VM about 30 s ahead as a `Preempt` event at
`http://169.254.169.254/metadata/scheduledevents` (an address only the VM itself can reach; the request must carry
`Metadata: true`). v1's worker polled it every 2 s and, on `Preempt`, set itself `evicted` so that the server
requeues its tasks at once. Standard library only: the worker does not import the cloud SDKs.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

__all__ = ["IMDS_EVENTS_URL", "preemption", "EvictionWatch"]

IMDS_EVENTS_URL = "http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01"

log = logging.getLogger(__name__)


def preemption(url: str = IMDS_EVENTS_URL, *, machine: str | None = None, timeout: float = 2.0) -> dict[str, Any] | None:
    """The `Preempt` event scheduled for this machine (`machine`: the VM name, None: any), or None when there is
    none or the metadata service cannot be read (not on Azure, network trouble): a watch must never fail."""
    req = urllib.request.Request(url, headers={"Metadata": "true"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))    # the service is never reached by proxy
    try:
        with opener.open(req, timeout=timeout) as resp:
            doc = json.load(resp)
    except (OSError, ValueError):
        return None
    events = doc.get("Events") if isinstance(doc, dict) else None
    for ev in events or []:
        if not isinstance(ev, dict) or ev.get("EventType") != "Preempt":
            continue
        resources = [str(r).lower() for r in ev.get("Resources") or []]
        if machine is None or not resources or machine.lower() in resources:
            return ev
    return None


class EvictionWatch:
    """Polls `url` every `interval` seconds in a daemon thread and calls `on_evict(event)` once, at the first
    `Preempt` event for `machine`; then it stops."""

    def __init__(self, on_evict: Callable[[dict[str, Any]], None], *, url: str = IMDS_EVENTS_URL,
                 interval: float = 2.0, machine: str | None = None) -> None:
        self.on_evict, self.url, self.interval, self.machine = on_evict, url, interval, machine
        self.event: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eviction-watch", daemon=True)

    def start(self) -> "EvictionWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            ev = preemption(self.url, machine=self.machine, timeout=min(2.0, self.interval + 1))
            if ev is not None:
                self.event = ev
                log.warning("Azure scheduled a Spot eviction of this machine (%s, not before %s)",
                            ev.get("EventId", "?"), ev.get("NotBefore", "?"))
                try:
                    self.on_evict(ev)
                except Exception:       # the watch reports; what the callback does is its own business
                    log.exception("eviction callback failed")
                return
            self._stop.wait(self.interval)
