"""How many messages wait in each parking queue (`.dlq`, topology.py): what the operator
console shows beside the top-ups waiting for an operator. Through kombu, so on the embedded
run too, where every service shares one in-memory transport in the one process; reading,
replaying and discarding them is deploy/parked.py's (AMQP, for operators at a shell)."""

from __future__ import annotations

from kombu.exceptions import ChannelError

from shared.config import Settings
from shared.messaging.broker import close_quietly, connect
from shared.messaging.topology import SUBSCRIPTIONS, Topology


def parked_counts(settings: Settings) -> dict[str, int]:
    """`<service>.<handler>` -> messages parked, for every queue that holds any."""
    topology = Topology(settings.amqp_namespace)
    counts: dict[str, int] = {}
    connection = connect(settings.amqp_url, settings.amqp_heartbeat)
    try:
        channel = connection.channel()
        for sub in SUBSCRIPTIONS:
            try:
                _name, waiting, _consumers = channel.queue_declare(queue=f"{topology.queue_name(sub)}.dlq",
                                                                   passive=True)
            except ChannelError:
                waiting = 0  # not declared yet: nothing was ever parked there
                channel = connection.channel()  # RabbitMQ closes a channel whose passive declare failed
            if waiting:
                counts[f"{sub.service}.{sub.handler}"] = int(waiting)
    finally:
        # Quietly: closing one of kombu's in-memory channels walks the queues every thread
        # shares, and trips over another thread declaring one at that moment.
        close_quietly(connection)
    return counts
