"""The shape of every background loop: do a round of work, sleep when idle, back off on
failure. Used by the outbox relay, the mailer and the sandbox's webhook sender."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff: base, 2*base, 4*base, ... capped. `attempt` counts from 1."""
    return float(min(base * 2 ** max(attempt - 1, 0), cap))


class PollLoop:
    """Call `work()` until stopped. `work` returns how much it did; zero means idle, and the
    loop sleeps `idle_seconds` unless woken. An exception is logged and retried with backoff,
    so a loop outlives database and broker outages.

    `wakes_on` names the table whose new rows are this loop's work: on PostgreSQL the
    worker's doorbell (shared/doorbell.py) wakes the loop when another process adds one."""

    def __init__(self, name: str, work: Callable[[], int], idle_seconds: float,
                 on_error: Callable[[], None] = lambda: None, wakes_on: str | None = None) -> None:
        self.name = name
        self.work = work
        self.idle_seconds = idle_seconds
        self.on_error = on_error
        self.wakes_on = wakes_on
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def __call__(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                done = self.work()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - see class docstring
                failures += 1
                delay = backoff(failures)
                log.warning("loop_failed", loop=self.name, error=repr(exc), retry_in=delay)
                self.on_error()
                stop.wait(delay)
                continue
            if not done:
                self._wake.wait(self.idle_seconds)
                self._wake.clear()
