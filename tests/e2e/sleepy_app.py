"""A WSGI app that starts at once, for the tests of deploy/gunicorn.conf.py: `/healthz`
answers with the pid of the worker that served it, `/sleep?seconds=N` after N seconds (a
long poll's stand-in: a request a worker is still serving when its master dies)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/sleep":
        time.sleep(float(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["30"])[0]))
    body = json.dumps({"status": "ok", "pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
