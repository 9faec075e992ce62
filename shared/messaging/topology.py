"""All exchanges, queues and bindings, declared in one place.

Naming (by owner): one topic exchange per publishing service, `<ns>.<service>`; routing key
= message type; one queue per handler, `<ns>.<consumer service>.<handler>`. Every queue has
a retry queue (`.retry`, messages wait there for their backoff, then dead-letter back) and
a parking queue (`.dlq`) for messages that failed every attempt or cannot be read at all.

Queues are classic, or quorum queues (AMQP_QUEUE_TYPE=quorum): replicated over a RabbitMQ
cluster's nodes, so a node lost loses no message. Their dead-lettering (a retry's return
from its wait, a rejected message's way to parking) is then at-least-once: a message is
kept by its queue until the queue it goes to has confirmed it (RabbitMQ 3.10 and newer).
"""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue
from kombu.transport.virtual import Channel

from shared.config import Settings
from shared.contracts import contract


@dataclass(frozen=True)
class Subscription:
    service: str
    handler: str
    message_type: str


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    # wallet: accounts and the ledger
    Subscription("wallet", "open_account", "customer.registered"),
    Subscription("wallet", "update_customer", "customer.updated"),
    Subscription("wallet", "authorize_credit", "wallet.authorize_credit"),
    Subscription("wallet", "credit", "wallet.credit"),
    # payment: talks to the gateways
    Subscription("payment", "create_payment", "payment.create"),
    Subscription("payment", "refund_payment", "payment.refund"),
    Subscription("payment", "cancel_payment", "payment.cancel"),
    # order: the saga and the balance read model
    Subscription("order", "credit_authorized", "wallet.credit_authorized"),
    Subscription("order", "credit_refused", "wallet.credit_refused"),
    Subscription("order", "payment_created", "payment.created"),
    Subscription("order", "payment_captured", "payment.captured"),
    Subscription("order", "payment_failed", "payment.failed"),
    Subscription("order", "payment_attempt_failed", "payment.attempt_failed"),
    Subscription("order", "payment_refunded", "payment.refunded"),
    Subscription("order", "refund_failed", "payment.refund_failed"),
    Subscription("order", "credited", "wallet.credited"),
    Subscription("order", "credit_failed", "wallet.credit_failed"),
    Subscription("order", "receipt_sent", "receipt.sent"),
    Subscription("order", "account_updated", "wallet.account_updated"),
    Subscription("order", "receipt_issued", "receipt.issued"),
    Subscription("order", "payment_synced", "payment.synced"),
    # notify: receipts, and what the customer must know about their balance
    Subscription("notify", "remember_customer", "customer.registered"),
    Subscription("notify", "update_customer", "customer.updated"),
    Subscription("notify", "send_receipt", "order.completed"),
    Subscription("notify", "resend_receipt", "receipt.resend"),
    Subscription("notify", "send_password_reset", "customer.password_reset_requested"),
    Subscription("notify", "send_reversal_notice", "order.reversed"),
    Subscription("notify", "send_low_balance_reminder", "wallet.balance_low"),
    Subscription("notify", "send_expiry_reminder", "wallet.credit_expiring"),
    Subscription("notify", "send_expiry_notice", "wallet.credit_expired"),
)


#: how often a parked message may be looked at and handed back before a quorum queue would
#: drop it: never, in practice
PARKED_DELIVERY_LIMIT = 1_000_000


@dataclass(frozen=True)
class Topology:
    namespace: str
    #: "classic" or "quorum" (shared/config.py: AMQP_QUEUE_TYPE)
    queue_type: str = "classic"

    @classmethod
    def of(cls, settings: Settings) -> Topology:
        return cls(settings.amqp_namespace, settings.amqp_queue_type)

    def arguments(self, dead_letters: bool, **arguments: str | int) -> dict[str, str | int]:
        """A queue's arguments, with what its kind needs: a quorum queue says so, and one that
        dead-letters does it at least once (which needs `reject-publish` on overflow)."""
        if self.queue_type != "quorum":
            return arguments
        quorum = {"x-queue-type": "quorum"}
        if dead_letters:
            quorum.update({"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"})
        return {**arguments, **quorum}

    def exchange(self, service: str) -> Exchange:
        return Exchange(f"{self.namespace}.{service}", type="topic", durable=True)

    @property
    def dead_letter_exchange(self) -> Exchange:
        return Exchange(f"{self.namespace}.dead", type="direct", durable=True)

    def queue_name(self, sub: Subscription) -> str:
        return f"{self.namespace}.{sub.service}.{sub.handler}"

    def queue(self, sub: Subscription) -> Queue:
        name = self.queue_name(sub)
        return Queue(
            name,
            exchange=self.exchange(contract(sub.message_type).publisher),
            routing_key=sub.message_type,
            durable=True,
            queue_arguments=self.arguments(True, **{"x-dead-letter-exchange": self.dead_letter_exchange.name,
                                                    "x-dead-letter-routing-key": name}),
        )

    def retry_queue(self, sub: Subscription) -> Queue:
        """Where a failed message waits out its backoff, then dead-letters back to its queue."""
        name = self.queue_name(sub)
        return Queue(
            f"{name}.retry",
            durable=True,
            queue_arguments=self.arguments(True, **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": name}),
        )

    def parking_queue(self, sub: Subscription) -> Queue:
        name = self.queue_name(sub)
        # Listing parked messages (deploy/parked.py) hands them back unacked: on RabbitMQ 4 a
        # quorum queue would drop a message after 20 such returns (its default delivery limit)
        limit = {"x-delivery-limit": PARKED_DELIVERY_LIMIT} if self.queue_type == "quorum" else {}
        return Queue(f"{name}.dlq", exchange=self.dead_letter_exchange, routing_key=name, durable=True,
                     queue_arguments=self.arguments(False, **limit) or None)

    def subscriptions(self, service: str) -> list[Subscription]:
        return [s for s in SUBSCRIPTIONS if s.service == service]

    def all_queues(self) -> list[Queue]:
        return [q for s in SUBSCRIPTIONS for q in (self.queue(s), self.retry_queue(s), self.parking_queue(s))]

    def declare(self, channel: Channel) -> None:
        """Declare everything (idempotent). Every worker does it at start, so no message is
        ever published before the queue that must keep it exists."""
        for service in ("order", "payment", "wallet", "notify"):
            self.exchange(service)(channel).declare()
        self.dead_letter_exchange(channel).declare()
        for queue in self.all_queues():
            queue(channel).declare()
