"""The worker's watch for Azure Spot evictions, against a double of the Instance Metadata Service on loopback.

The real metadata address (169.254.169.254) is never called: every test points the watch at a small HTTP server
on 127.0.0.1 that answers scheduled events in the service's documented shape.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scitq.worker.eviction import IMDS_EVENTS_URL, EvictionWatch, preemption


class MetadataDouble:
    """Answers GET /metadata/scheduledevents with `events`; records the Metadata header of each request."""

    def __init__(self):
        self.events: list[dict] = []
        self.headers: list[str | None] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                double.headers.append(self.headers.get("Metadata"))
                if self.headers.get("Metadata") != "true":
                    self.send_response(400)
                    self.end_headers()
                    return
                data = json.dumps({"DocumentIncarnation": len(double.events), "Events": double.events}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metadata/scheduledevents?api-version=2020-07-01"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def imds():
    double = MetadataDouble()
    yield double
    double.close()


def _event(kind: str, *resources: str) -> dict:
    return {"EventId": f"{kind}-1", "EventType": kind, "ResourceType": "VirtualMachine", "Resources": list(resources),
            "EventStatus": "Scheduled", "NotBefore": "Mon, 30 Nov 2026 14:00:30 GMT", "EventSource": "Platform",
            "DurationInSeconds": -1, "Description": ""}


def test_a_preempt_event_for_this_machine_is_an_eviction(imds):
    """Uses the metadata service double."""
    assert preemption(imds.url, machine="scitq-node1") is None
    imds.events = [_event("Freeze", "scitq-node1"), _event("Preempt", "scitq-node2")]
    assert preemption(imds.url, machine="scitq-node1") is None
    imds.events.append(_event("Preempt", "scitq-node1"))
    assert preemption(imds.url, machine="SCITQ-node1")["EventId"] == "Preempt-1"
    assert preemption(imds.url)["EventType"] == "Preempt"
    assert set(imds.headers) == {"true"}


def test_an_unreachable_or_garbled_metadata_service_is_no_eviction(imds):
    """Uses no double for the first call (nothing listens on the port) and the double answering garbage after."""
    assert preemption("http://127.0.0.1:9/metadata/scheduledevents", timeout=0.5) is None
    imds.events = ["not an event"]    # type: ignore[list-item]
    assert preemption(imds.url) is None


def test_the_watch_calls_back_once_at_the_first_preempt_event_and_stops(imds):
    """Uses the metadata service double."""
    seen: list[dict] = []
    called = threading.Event()
    watch = EvictionWatch(lambda ev: (seen.append(ev), called.set()), url=imds.url, interval=0.05,
                          machine="scitq-node1").start()
    try:
        imds.events = [_event("Preempt", "scitq-node1")]
        assert called.wait(10)
        watch._thread.join(10)
        assert not watch._thread.is_alive() and len(seen) == 1 and watch.event == seen[0]
    finally:
        watch.stop()


def test_the_default_address_is_azures_metadata_service():
    """Uses no double: the constant only (the real address is never called in tests)."""
    assert IMDS_EVENTS_URL.startswith("http://169.254.169.254/metadata/scheduledevents?api-version=")


def test_a_worker_told_of_its_eviction_gives_its_task_back_without_using_a_retry_and_stops_claiming(procs, imds):
    """A real server and worker; the worker's watch polls the metadata double (SCITQ_EVICTION_WATCH=its URL)."""
    import json as _json

    from helpers import wait_for
    from scitq.api.client import Client
    from scitq.lib import Server

    procs.server()
    procs.worker("spot1", concurrency=1, extra_env={"SCITQ_EVICTION_WATCH": imds.url})
    s = Server()
    tid = s.task_create("sleep 30", retry=0)["task_id"]
    wait_for(lambda: s.task_get(tid)["status"] == "running", what="the task to run on the spot worker")

    imds.events.append(_event("Preempt", "anyvm"))

    c = Client()
    wait_for(lambda: [w.status for w in c.workers()] == ["evicted"], what="the worker to be marked evicted")
    wait_for(lambda: s.task_get(tid)["status"] == "pending", what="its task to go back to the queue")
    requeued = [_json.loads(f["data"]) for _, f in c.events() if f.get("type") == "task.requeued"]
    assert requeued and requeued[-1]["reason"] == "worker evicted"
    assert "eviction" in (procs.tmp / "worker-spot1.log").read_text().lower()
