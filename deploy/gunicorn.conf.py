"""gunicorn settings for every service's web process (override any with GUNICORN_CMD_ARGS)."""

import os

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
accesslog = "-"
# Each worker process builds its own app (engine, pool) after the fork.
preload_app = False
