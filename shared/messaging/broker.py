"""Connections to the broker, with kombu's defaults chosen on purpose.

- RabbitMQ: heartbeats on (kombu sends none unless asked), publisher confirms on, and a
  bounded connect timeout. Publishing itself never retries inside kombu: an unconfirmed
  message stays in the outbox and the relay tries again on its next round.
- Embedded default: kombu's in-memory transport, shared by every thread of one process,
  polled often so that a hop costs milliseconds rather than kombu's default second.
"""

from __future__ import annotations

from kombu import Connection


def close_quietly(connection: Connection) -> None:
    """Close a connection that may already be broken (that is why we are closing it)."""
    try:
        connection.close()
    except Exception:  # noqa: BLE001
        pass


def reopened(connection: Connection) -> Connection:
    """A fresh, not yet connected copy of a broken connection (same URL and options)."""
    close_quietly(connection)
    return connection.clone()


def keep_alive(connection: Connection) -> None:
    """Read the broker's heartbeats and send ours while a publisher is idle. One that never
    reads would either lose its connection to the broker's heartbeat check or, with
    heartbeats off, not notice a dead connection until a confirm never comes."""
    if is_memory(connection.as_uri()):
        return
    try:
        connection.drain_events(timeout=0.001)
    except (TimeoutError, BlockingIOError):
        pass
    connection.heartbeat_check()


#: the in-memory transport, named with a host: kombu warns "No hostname was supplied" each time
#: it describes a connection without one (every `as_uri`, every clone), which an idle `make
#: run` did 67 times a second; the memory transport itself ignores the host
MEMORY_URL = "memory://localhost/"


#: how often a consumer on the in-memory transport looks at its queues when they are empty:
#: it cannot wait for a message, only look again (each look costs a glance at every queue)
MEMORY_POLL_SECONDS = 0.05


def is_memory(url: str) -> bool:
    return url.startswith("memory://")


def connect(url: str, heartbeat: int = 30) -> Connection:
    if is_memory(url):
        return Connection(MEMORY_URL, transport_options={"polling_interval": MEMORY_POLL_SECONDS})
    return Connection(
        url,
        heartbeat=heartbeat,
        connect_timeout=5,
        transport_options={"confirm_publish": True},
    )
