"""Provides v1's asynchronous writes: a FIFO of writes kept while the server is away, and `LazyObject`.

v1's `Server(asynchronous=True)` never blocks a write when the server cannot be reached: the write is
queued, the call returns a `LazyObject` at once, and one background thread delivers the queued writes
in order when the server is back. Reading the lazy object (an attribute, a key) waits until the write
is delivered and its answer is known. Each write carries one idempotency key for all its attempts, so
a write whose answer was lost on the way is applied once.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from typing import Any, Callable

from scitq.errors import ScitqError, Unreachable

__all__ = ["LazyObject", "WriteQueue", "RETRY_FIRST", "resolve"]

RETRY_FIRST = 1.0   # seconds before the first new attempt; then doubled up to put_timeout


class _Pending:
    """One queued write: `send(key)` delivers it; `then(result)` turns the answer into what the caller sees."""

    def __init__(self, send: Callable[[], Any], what: str) -> None:
        self.send = send
        self.what = what
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class LazyObject:
    """The answer of a write still on its way: reading it waits until the write is delivered (v1 name)."""

    def __init__(self, pending: _Pending, then: Callable[[Any], Any] | None = None) -> None:
        object.__setattr__(self, "_pending", pending)
        object.__setattr__(self, "_then", then)
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "_known", False)
        object.__setattr__(self, "_value", None)

    def _get(self) -> Any:
        with self._lock:
            if not self._known:
                self._pending.done.wait()
                if self._pending.error is not None:
                    raise self._pending.error
                value = self._pending.result
                if self._then is not None:
                    value = self._then(value)
                object.__setattr__(self, "_value", value)
                object.__setattr__(self, "_known", True)
            return self._value

    def delivered(self) -> bool:
        """Whether the write has reached the server (never waits)."""
        return self._pending.done.is_set()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._get(), name)

    def __getitem__(self, key: Any) -> Any:
        return self._get()[key]

    def __contains__(self, key: Any) -> bool:
        return key in self._get()

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __eq__(self, other: Any) -> bool:
        return self._get() == other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        if not self._pending.done.is_set():
            return f"<LazyObject: {self._pending.what} waiting for the server>"
        return repr(self._get())


def resolve(obj: Any) -> Any:
    """The value behind a LazyObject (waiting for it), or `obj` itself."""
    return obj._get() if isinstance(obj, LazyObject) else obj


class WriteQueue:
    """Writes waiting for the server, delivered in order by one background thread.

    The thread runs only while writes wait, and is not a daemon: a script that ends during an outage
    waits for its queued writes to be delivered rather than losing them (v1 does the same).
    """

    def __init__(self, put_timeout: float) -> None:
        self.put_timeout = max(float(put_timeout), RETRY_FIRST)
        self._items: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._warned = False

    def size(self) -> int:
        """How many writes wait (the one being delivered included)."""
        with self._cond:
            return len(self._items)

    def put(self, send: Callable[[], Any], what: str) -> _Pending:
        """Queue a write after every write already queued; returns its pending answer."""
        item = _Pending(send, what)
        with self._cond:
            self._items.append(item)
            if not self._warned:
                print(f"scitq: the server cannot be reached: {what} and later writes are queued, "
                      f"delivered in order when it is back", file=sys.stderr)
                self._warned = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._deliver, name="scitq-v1-writes", daemon=False)
                self._thread.start()
        return item

    def drain(self) -> None:
        """Wait until every queued write is delivered (a synchronous write must not overtake them)."""
        with self._cond:
            while self._items:
                self._cond.wait()

    def _deliver(self) -> None:
        while True:
            with self._cond:
                if not self._items:
                    self._thread = None
                    self._warned = False
                    self._cond.notify_all()
                    return
                item = self._items[0]
            delay = RETRY_FIRST
            while True:
                try:
                    item.result = item.send()
                    break
                except Unreachable:
                    time.sleep(delay)
                    delay = min(delay * 2, self.put_timeout)
                except ScitqError as exc:      # refused by the server: the caller sees it when reading
                    print(f"scitq: queued {item.what} was refused: {exc}", file=sys.stderr)
                    item.error = exc
                    break
                except Exception as exc:  # noqa: BLE001 - never let one write stop the ones behind it
                    item.error = exc
                    break
            with self._cond:
                self._items.popleft()
                item.done.set()
                self._cond.notify_all()
