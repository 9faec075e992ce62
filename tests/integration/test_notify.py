"""The notify service against real PostgreSQL, RabbitMQ and an SMTP server (MailSink)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pika
import pytest
from sqlalchemy import func, select

from deploy.infra import free_port
from services.notify import app as notify_app
from services.notify.models import InboxMessage, OutboxMessage, ReceiptRow
from services.notify.sink import MailSink
from shared.config import Settings
from shared.messaging.envelope import Envelope
from shared.messaging.worker import declare_topology
from shared.service import ServiceContext
from tests.helpers import publish_raw, wait_for

AUTH = {"Authorization": "Bearer dev-operator-token"}


@contextmanager
def running_notify(settings: Settings) -> Iterator[ServiceContext]:
    ctx = notify_app.start(settings)
    declare_topology(settings)
    worker = notify_app.create_worker(ctx=ctx)
    worker.start()
    try:
        yield ctx
    finally:
        worker.stop()
        ctx.engine.dispose()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail", port=free_port()) as mail:
        yield mail


@pytest.fixture
def notify(pg_settings: Settings, sink: MailSink) -> Iterator[ServiceContext]:
    with running_notify(pg_settings.with_changes(smtp_host="127.0.0.1", smtp_port=sink.port)) as ctx:
        yield ctx


def completed(order_id: str = "ord_1", **changes: Any) -> Envelope:
    payload = {
        "order_id": order_id, "customer_id": "cus_1", "email": "ana@example.com",
        "credit_amount": 11000, "charge_amount": 10000, "currency": "EUR", "method": "card",
        "card_brand": "visa", "card_last4": "4242",
        "completed_at": datetime(2026, 3, 14, 9, 26, tzinfo=UTC), "balance_after": 12500,
    }
    return Envelope.new("order.completed", {**payload, **changes}, correlation_id=order_id)


def reversed_(order_id: str = "ord_2") -> Envelope:
    return Envelope.new("order.reversed", {
        "order_id": order_id, "customer_id": "cus_1", "email": "ana@example.com", "charge_amount": 1999,
        "currency": "EUR", "method": "alipay", "reason": "balance_cap_exceeded",
        "reversed_at": datetime(2026, 3, 14, 10, 0, tzinfo=UTC)}, correlation_id=order_id)


def publish(settings: Settings, msg: Envelope) -> None:
    publish_raw(settings.amqp_url, settings.amqp_namespace, msg)


def receipts(ctx: ServiceContext, order_id: str) -> list[ReceiptRow]:
    with ctx.sessions() as s:
        return list(s.scalars(select(ReceiptRow).where(ReceiptRow.order_id == order_id)))


def outbox(ctx: ServiceContext, message_type: str) -> list[OutboxMessage]:
    with ctx.sessions() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.type == message_type)))


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def received_by_order_service(settings: Settings) -> list[Envelope]:
    """What the order service's receipt_sent queue got: proof the outbox row left the building."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        found: list[Envelope] = []
        while True:
            method, _props, body = channel.basic_get(f"{settings.amqp_namespace}.order.receipt_sent", auto_ack=True)
            if method is None:
                return found
            found.append(Envelope.from_json(body))
    finally:
        connection.close()


def test_a_completed_top_up_is_emailed_as_a_receipt(notify: ServiceContext, pg_settings: Settings,
                                                    sink: MailSink) -> None:
    publish(pg_settings, completed("ord_1"))
    [message] = wait_for(sink.messages, what="the receipt email")
    [row] = receipts(notify, "ord_1")
    assert message["To"] == "ana@example.com"
    assert message["From"] == "receipts@topup.example"
    assert message["Subject"] == "Your top-up receipt (ord_1)"
    assert message["Message-ID"] == f"<{row.id}@topup.example>"
    assert message.get_content_type() == "multipart/alternative"
    for body in parts(message):
        for expected in ("ord_1", "110.00 EUR", "100.00 EUR", "10.00 EUR", "Card (Visa) ending 4242",
                         "14 Mar 2026, 09:26 UTC", "125.00 EUR"):
            assert expected in body
    wait_for(lambda: receipts(notify, "ord_1")[0].status == "sent", what="receipt marked sent")
    [sent] = wait_for(lambda: received_by_order_service(pg_settings), what="receipt.sent published")
    assert sent.type == "receipt.sent"
    assert sent.payload["order_id"] == "ord_1" and sent.payload["receipt_id"] == row.id
    assert sent.correlation_id == "ord_1"


def test_a_receipt_is_emailed_once_however_often_the_order_completes(
        notify: ServiceContext, pg_settings: Settings, sink: MailSink) -> None:
    first = completed("ord_1")
    publish(pg_settings, first)
    publish(pg_settings, first)  # the broker redelivers: same message id
    publish(pg_settings, completed("ord_1"))  # the order service says it again: a new message id

    def handled_both() -> bool:
        with notify.sessions() as s:
            return s.scalar(select(func.count()).select_from(InboxMessage)) == 2
    wait_for(handled_both, what="both message ids handled")
    wait_for(lambda: receipts(notify, "ord_1")[0].status == "sent", what="receipt sent")
    time.sleep(10 * pg_settings.poll_seconds("notify"))  # rounds enough for a second email to show
    assert len(sink.messages()) == 1
    assert len(receipts(notify, "ord_1")) == 1
    assert len(outbox(notify, "receipt.sent")) == 1


def test_a_receipt_waits_for_the_mail_server_and_is_sent_when_it_is_back(
        pg_settings: Settings, tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    with running_notify(pg_settings.with_changes(smtp_host="127.0.0.1", smtp_port=port)) as notify:
        publish(pg_settings, completed("ord_1"))
        wait_for(lambda: receipts(notify, "ord_1") and receipts(notify, "ord_1")[0].attempts >= 2,
                 what="two failed attempts")
        [row] = receipts(notify, "ord_1")
        assert row.status == "pending" and row.sent_at is None
        assert row.last_error and "refused" in row.last_error.lower()
        assert not outbox(notify, "receipt.sent")
        with MailSink(tmp_path / "mail", port=port) as sink:
            [message] = wait_for(sink.messages, what="the receipt, once the server is up")
            assert message["Subject"] == "Your top-up receipt (ord_1)"
            wait_for(lambda: receipts(notify, "ord_1")[0].status == "sent", what="receipt marked sent")
        assert len(outbox(notify, "receipt.sent")) == 1


def test_a_reversed_top_up_is_emailed_as_a_reversal_notice(notify: ServiceContext, pg_settings: Settings,
                                                           sink: MailSink) -> None:
    publish(pg_settings, reversed_("ord_2"))
    [message] = wait_for(sink.messages, what="the reversal notice")
    assert message["To"] == "ana@example.com"
    assert message["Subject"] == "Your top-up was reversed (ord_2)"
    for body in parts(message):
        assert "because the balance would exceed its limit" in body
        assert "19.99 EUR you were charged has been returned to your original payment method (Alipay)" in body
    [row] = wait_for(lambda: [r for r in receipts(notify, "ord_2") if r.status == "sent"], what="notice sent")
    assert row.kind == "reversal"


def test_operator_sees_where_the_receipt_stands(notify: ServiceContext, pg_settings: Settings,
                                               sink: MailSink) -> None:
    publish(pg_settings, completed("ord_1"))
    wait_for(lambda: receipts(notify, "ord_1") and receipts(notify, "ord_1")[0].status == "sent")
    client = notify_app.create_app(ctx=notify).test_client()
    body = client.get("/v1/receipts/ord_1", headers=AUTH).get_json()
    assert body["order_id"] == "ord_1"
    [receipt] = body["receipts"]
    assert receipt["receipt_id"].startswith("rcp_")
    assert receipt["kind"] == "receipt" and receipt["status"] == "sent" and receipt["attempts"] == 1
    assert receipt["email"] == "ana@example.com" and receipt["subject"] == "Your top-up receipt (ord_1)"
    assert receipt["last_error"] is None and receipt["sent_at"] and receipt["created_at"]

    missing = client.get("/v1/receipts/ord_404", headers=AUTH)
    assert missing.status_code == 404
    assert missing.content_type == "application/problem+json"
    assert missing.get_json()["code"] == "receipt_not_found"
    assert client.get("/v1/receipts/ord_1").status_code == 401


def test_without_a_mail_server_receipts_are_kept_pending(pg_settings: Settings) -> None:
    with running_notify(pg_settings.with_changes(smtp_host=None)) as notify:
        publish(pg_settings, completed("ord_1"))
        wait_for(lambda: receipts(notify, "ord_1"), what="receipt recorded")
        time.sleep(10 * pg_settings.poll_seconds("notify"))
        [row] = receipts(notify, "ord_1")
        assert row.status == "pending" and row.attempts == 0
