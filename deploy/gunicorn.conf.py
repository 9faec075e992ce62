"""gunicorn settings for every service's web process (override any with GUNICORN_CMD_ARGS)."""

import ctypes
import os
import shutil
import signal
import sys
import tempfile
from typing import Any

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
# Off unless ACCESS_LOG is on (1, true, yes, on, as shared/config.py reads a switch): a
# formatted line on stdout for every request is a cost each top-up pays many times over, and
# the services log what happens to orders and payments themselves.
accesslog = "-" if os.environ.get("ACCESS_LOG", "").strip().lower() in {"1", "true", "yes", "on"} else None
# Each worker process builds its own app (engine, pool) after the fork.
preload_app = False
# No control socket: gunicorn 27 opens one per user (~/.gunicorn/gunicorn.ctl), which every
# gunicorn on the host (four services, the tests) would overwrite and unlink in turn.
control_socket_disable = True

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# Prometheus' multiprocess mode: every worker process writes its counts to files in this
# folder and /metrics adds them up (shared/metrics.py), so a scrape answered by any worker
# tells the whole web process. A fresh folder per master, emptied when it starts: counts
# of an earlier run would add to this one's. (On a read-only root filesystem, point
# PROMETHEUS_MULTIPROC_DIR at a writable volume: the Kubernetes manifests mount /tmp.)
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="topup-metrics-")


def on_starting(server: Any) -> None:
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker gone: its live gauges leave the sum (nothing may stop the master here)."""
    try:
        from shared.metrics import process_died  # the master imports the project only here

        process_died(worker.pid)
    except Exception as exc:  # noqa: BLE001
        server.log.warning("forgetting worker %s's metrics failed: %r", worker.pid, exc)


def post_fork(server: Any, worker: Any) -> None:
    """A worker dies with its master. After a `kill -9` of the master its workers would live
    on, orphaned, holding the inherited listening socket until they notice (a second) and
    finish what they serve (a long poll: up to graceful_timeout), so the master started in
    its place failed with "Address already in use" (order-web, three times). Killed, not
    asked to stop: no master is left to watch over them, and the new one needs the port now;
    a request they were serving is lost as it would be with the master. Linux only (prctl).

    Not `reuse_port`: the new master would bind beside the orphans, but the kernel would go on
    handing connections to their sockets, reset when they close; and a worker killed for its
    timeout would take its own queue of connections with it."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        server.log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    elif os.getppid() != worker.ppid:
        os._exit(1)  # the master died before prctl: no signal will come


def worker_exit(server: Any, worker: Any) -> None:
    """A worker that stops gracefully writes the marks of the messages it published (else the
    relay of another process publishes them again, 5 s later) and closes its connections
    (ServiceContext.stop)."""
    ctx = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("topup")
    if ctx is not None:
        try:
            ctx.stop()
        except Exception as exc:  # noqa: BLE001 - the worker exits anyway; the relay covers the marks
            server.log.warning("stopping the service context failed: %r", exc)
