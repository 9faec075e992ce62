"""Waiting for an order to change, so that a frontend need not poll (long polling).

A frontend that has an order's ETag asks `GET /v1/orders/{id}` with `If-None-Match: <etag>`
and `Prefer: wait=<seconds>` (RFC 7240): the answer comes as soon as the order changes, or
as `304 Not Modified` when the wait is over. Polling every quarter second instead costs the
order service a request per poll, and under load the polls multiply as the orders slow down.

Every change a customer can see on an order comes with a timeline entry; PostgreSQL
announces each entry's order id when it commits (shared/doorbell.py) to a listener thread
in each web process, which wakes the requests waiting on that order. A waiting request
holds one of the process's threads, so at most half of them may wait; beyond that, and on
SQLite (no notifications), the preference is ignored and the answer is immediate, which
RFC 7240 allows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared.db import is_sqlite
from shared.doorbell import Doorbell

#: the longest wait honoured; a client asking for more waits this long
MAX_WAIT_SECONDS = 20
#: a waiting request reads the order again this often even unwoken: the safety net for a
#: notification lost while the listener was reconnecting (or dropped by a pooler)
RECHECK_SECONDS = 5.0
CHANNEL = "order_timeline"

Spawn = Callable[[Callable[[threading.Event], None], str], threading.Thread]


def _thread(loop: Callable[[threading.Event], None], name: str) -> threading.Thread:
    """A listener that runs as long as the process (outside a service context: the unit tests)."""
    thread = threading.Thread(target=loop, args=(threading.Event(),), name=name, daemon=True)
    thread.start()
    return thread


def preferred_wait(prefer: str | None) -> int:
    """The `wait` preference of a Prefer header in seconds (0 when absent or unreadable)."""
    for preference in (prefer or "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                return max(0, min(int(value.strip().strip('"')), MAX_WAIT_SECONDS))
            except ValueError:
                return 0
    return 0


class Changes(threading.Event):
    """Set when the order changes; `count` says how many announcements came since watching
    began (several can come before the waiter looks: the event alone would say one)."""

    def __init__(self, listening: bool) -> None:
        super().__init__()
        self.count = 0
        #: whether the process was listening already when the watch began (the first watch
        #: starts the listener, which may miss what commits before it is connected)
        self.listening = listening

    def set(self) -> None:
        self.count += 1
        super().set()


class OrderWatch:
    def __init__(self, database_url: str, max_waiting: int, spawn: Spawn | None = None) -> None:
        self.database_url = database_url
        #: starts the listener as a thread of the process (ServiceContext.spawn): it ends
        #: when the process stops
        self.spawn = spawn or _thread
        self.enabled = not is_sqlite(database_url) and max_waiting > 0
        self._slots = threading.BoundedSemaphore(max(max_waiting, 1))
        self._waiting: dict[str, set[Changes]] = {}
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None

    @contextmanager
    def watching(self, order_id: str) -> Iterator[Changes | None]:
        """An event set when the order changes from now on (read the order after entering,
        so that no change can slip between the read and the wait), or None when this process
        cannot wait now."""
        if not self.enabled or not self._slots.acquire(blocking=False):
            yield None
            return
        changed = Changes(listening=self._listener is not None)
        self._listen()
        with self._lock:
            self._waiting.setdefault(order_id, set()).add(changed)
        try:
            yield changed
        finally:
            with self._lock:
                waiters = self._waiting.get(order_id, set())
                waiters.discard(changed)
                if not waiters:
                    self._waiting.pop(order_id, None)
            self._slots.release()

    def _changed(self, order_id: str) -> None:
        """A timeline entry of `order_id` committed; "" after reconnecting: any may have."""
        with self._lock:
            if order_id:
                waiters = list(self._waiting.get(order_id, ()))
            else:
                waiters = [event for events in self._waiting.values() for event in events]
        for event in waiters:
            event.set()

    def _listen(self) -> None:
        """Start listening on first use: only web processes that long-poll need the thread
        (started after gunicorn forked, in the process that serves the requests)."""
        with self._lock:
            if self._listener is None:
                doorbell = Doorbell(self.database_url, {CHANNEL: self._changed})
                self._listener = self.spawn(doorbell, "order-watch")
