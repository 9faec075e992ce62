"""A gunicorn master restarted after `kill -9` binds its port at once (deploy/gunicorn.conf.py):
the orphaned workers die with their master instead of holding the listening socket."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import requests

from deploy.infra import free_port
from tests.e2e.spawn import alive, children, gunicorn, health, spawned, stop_group
from tests.helpers import wait_for

APP = "tests.e2e.sleepy_app:app"


def test_a_master_started_after_a_kill_9_binds_at_once_and_the_orphans_die(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "LOG_LEVEL": "INFO"}
    with spawned(gunicorn(APP, port, workers=2), env, tmp_path / "first.log") as first:
        wait_for(lambda: health(port), timeout=20, what="the first master to serve")
        orphans = wait_for(lambda: _workers(first.pid, 2), what="its two workers")
        # A request in flight, as a long poll on order-web: without the fix its worker serves
        # it to the end (graceful_timeout) while holding the inherited listening socket.
        threading.Thread(target=_long_request, args=(port,), daemon=True).start()
        time.sleep(0.5)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(5)
        try:
            with spawned(gunicorn(APP, port, workers=2), env, tmp_path / "second.log") as second:
                try:
                    wait_for(lambda: _served_by(port, children(second.pid)), timeout=15)
                except AssertionError:
                    raise AssertionError(f"the new master does not serve:\n{_log(tmp_path / 'second.log')}") from None
                wait_for(lambda: not any(alive(pid) for pid in orphans), timeout=3, what="the orphans to exit")
        finally:
            stop_group(first.pid, signal.SIGKILL)  # the orphans, should the fix have failed


def _workers(master: int, count: int) -> list[int] | None:
    found = children(master)
    return found if len(found) == count else None


def _long_request(port: int) -> None:
    try:
        requests.get(f"http://127.0.0.1:{port}/sleep?seconds=30", timeout=40)
    except requests.RequestException:
        pass  # its worker died with its master: the connection is reset


def _served_by(port: int, workers: list[int]) -> dict[str, object] | None:
    """/healthz answered by one of `workers` (an orphan still accepting would answer too)."""
    answer = health(port)
    return answer if answer is not None and answer.get("pid") in workers else None


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
