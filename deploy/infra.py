"""Real PostgreSQL and RabbitMQ for the tests, the bench and the floor.

Order of preference: TEST_DATABASE_URL / TEST_AMQP_URL; the local servers on their
standard ports (this machine has both); otherwise testcontainers starts them in Docker.
Each test gets its own databases and its own AMQP namespace, so tests never see each
other's rows or messages.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from kombu import Connection

from shared.messaging.topology import Topology


def _reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A URL of a PostgreSQL server where we may create databases."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
    elif _reachable("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432/postgres"
    else:
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as pg:
            yield pg.get_connection_url()


@contextlib.contextmanager
def rabbitmq_server() -> Iterator[str]:
    if url := os.environ.get("TEST_AMQP_URL"):
        yield url
    elif _reachable("127.0.0.1", 5672):
        yield "amqp://guest:guest@127.0.0.1:5672/%2F"
    else:
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13-alpine") as mq:
            params = mq.get_connection_params()
            yield f"amqp://guest:guest@{params.host}:{params.port}/%2F"


def _with_db(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


class Databases:
    """Creates throw-away databases on one server and drops them afterwards."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.created: list[str] = []

    def _admin(self) -> psycopg.Connection:  # type: ignore[type-arg]
        return psycopg.connect(self.server_url, autocommit=True)

    def create(self, label: str) -> str:
        name = f"t_{label}_{uuid.uuid4().hex[:10]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return _with_db(self.server_url, name)

    def left_open(self, grace: float = 5.0) -> dict[str, int]:
        """The connections still open to each database created here: a stopped system leaves
        none (one left behind keeps the database from being copied or dropped). A backend is
        listed until its process has ended, a moment after its client closed: it is given
        `grace` seconds, as long as CREATE DATABASE ... TEMPLATE waits for them."""
        deadline = time.monotonic() + grace
        while True:
            with self._admin() as conn:
                rows = conn.execute("SELECT datname, count(*) FROM pg_stat_activity WHERE datname = ANY(%s) "
                                    "GROUP BY datname", (self.created,)).fetchall()
            if not rows or time.monotonic() > deadline:
                return {str(name): int(count) for name, count in rows}
            time.sleep(0.05)

    def drop_all(self) -> None:
        with self._admin() as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


def new_namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def delete_namespace(amqp_url: str, namespace: str) -> None:
    """Remove a test's queues and exchanges from the shared broker."""
    topology = Topology(namespace)
    with Connection(amqp_url) as conn:
        channel = conn.channel()
        for queue in topology.all_queues():
            with contextlib.suppress(Exception):
                channel.queue_delete(queue.name)
        for service in ("order", "payment", "wallet", "notify"):
            with contextlib.suppress(Exception):
                channel.exchange_delete(topology.exchange(service).name)
        with contextlib.suppress(Exception):
            channel.exchange_delete(topology.dead_letter_exchange.name)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, chosen below the kernel's
    ephemeral range: a port from that range can be taken, between this answer and the
    server's bind, by any outgoing connection (a database or broker client picking its local
    port), which failed a whole test module's system once ("Address already in use")."""
    lo, hi = _lane(max(1024, _ephemeral_low() - 12000), _ephemeral_low())
    for _ in range(200):
        port = random.randrange(lo, hi)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _GIVEN.add(port)
            return port
    with socket.socket() as s:  # the range below is crowded: any port the kernel gives
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: the ports this process has handed out: a system picks its ports seconds before it binds
#: them (each service migrates first), and must not be handed one of its own twice
_GIVEN: set[int] = set()


def _lane(lo: int, hi: int) -> tuple[int, int]:
    """This test worker's own part of [lo, hi) when pytest-xdist runs several side by side
    (PYTEST_XDIST_WORKER gwN of PYTEST_XDIST_WORKER_COUNT): two workers picking the same free
    port before either bound it failed a whole module's system once; apart, they cannot."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    worker = int("".join(c for c in os.environ.get("PYTEST_XDIST_WORKER", "") if c.isdigit()) or 0)
    if count <= 1 or not 0 <= worker < count:
        return lo, hi
    width = (hi - lo) // count
    return lo + worker * width, lo + (worker + 1) * width


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768
