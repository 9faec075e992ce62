"""gunicorn settings for every service's web process (override any with GUNICORN_CMD_ARGS)."""

import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
timeout = 30
# Longer than any client or load balancer keeps an idle connection, so that it is always the
# client that closes one: a server closing it first races with the client reusing it, and
# the request is lost to a "connection reset" (seen in the bench with gunicorn's 2 s).
keepalive = int(os.environ.get("WEB_KEEPALIVE", "75"))
graceful_timeout = 20
accesslog = "-"
# Each worker process builds its own app (engine, pool) after the fork.
preload_app = False
