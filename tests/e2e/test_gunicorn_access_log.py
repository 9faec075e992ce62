"""gunicorn writes no access log unless ACCESS_LOG is on (deploy/gunicorn.conf.py): a line per
request is a cost every top-up pays many times over."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import requests

from deploy.infra import free_port
from tests.e2e.spawn import gunicorn, health, spawned
from tests.helpers import wait_for

APP = "tests.e2e.sleepy_app:app"


@pytest.mark.parametrize(("access_log", "logged"), [(None, False), ("false", False), ("true", True)])
def test_the_access_log_is_off_unless_access_log_is_true(tmp_path: Path, access_log: str | None,
                                                         logged: bool) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "ACCESS_LOG"}
    if access_log is not None:
        env["ACCESS_LOG"] = access_log
    log = tmp_path / "gunicorn.log"
    probe = f"/healthz?probe={uuid.uuid4().hex}"
    with spawned(gunicorn(APP, port), env, log):
        wait_for(lambda: health(port), timeout=20, what="gunicorn to serve")
        assert requests.get(f"http://127.0.0.1:{port}{probe}", timeout=5).ok
        if logged:
            wait_for(lambda: probe in log.read_text(errors="replace"), timeout=5, what="the access-log line")
    # Stopped: whatever the worker was to write about the request is in the file by now.
    lines = [line for line in log.read_text(errors="replace").splitlines() if probe in line]
    assert len(lines) == (1 if logged else 0), lines
    if logged:
        assert f'"GET {probe} HTTP/1.1" 200' in lines[0]
