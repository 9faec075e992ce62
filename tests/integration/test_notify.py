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
from services.notify.models import EmailRow, InboxMessage, OutboxMessage, ReceiptRow
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
        "language": "en", "time_zone": "Europe/Berlin", "promotion": "SPEND100GET10",
        "promotion_name": "Spend €100.00, get €10.00 off", "valid_until": datetime(2027, 3, 14, 9, 26, tzinfo=UTC),
    }
    return Envelope.new("order.completed", {**payload, **changes}, correlation_id=order_id)


def reversed_(order_id: str = "ord_2") -> Envelope:
    return Envelope.new("order.reversed", {
        "order_id": order_id, "customer_id": "cus_1", "email": "ana@example.com", "charge_amount": 1999,
        "currency": "EUR", "method": "alipay", "reason": "balance_cap_exceeded",
        "reversed_at": datetime(2026, 3, 14, 10, 0, tzinfo=UTC)}, correlation_id=order_id)


def publish(settings: Settings, msg: Envelope) -> None:
    publish_raw(settings.amqp_url, settings.amqp_namespace, msg)


def receipts(ctx: ServiceContext, order_id: str, kind: str = "receipt") -> list[EmailRow]:
    """The emails of a kind about an order (the receipt's, by default)."""
    with ctx.sessions() as s:
        return list(s.scalars(select(EmailRow).where(EmailRow.order_id == order_id, EmailRow.kind == kind)))


def issued(ctx: ServiceContext, order_id: str) -> ReceiptRow | None:
    with ctx.sessions() as s:
        return s.get(ReceiptRow, order_id)


def outbox(ctx: ServiceContext, message_type: str) -> list[OutboxMessage]:
    with ctx.sessions() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.type == message_type)))


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def received_by_order_service(settings: Settings, queue: str = "receipt_issued") -> list[Envelope]:
    """What one of the order service's queues got: proof the outbox row left the building."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url))
    try:
        channel = connection.channel()
        found: list[Envelope] = []
        while True:
            method, _props, body = channel.basic_get(f"{settings.amqp_namespace}.order.{queue}", auto_ack=True)
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
    number = issued(notify, "ord_1").number  # type: ignore[union-attr]
    assert number.startswith("R-") and number.endswith("-000001")
    assert message["Subject"] == f"Your top-up receipt {number}"
    assert message["Message-ID"] == f"<{row.id}@topup.example>"
    assert message["Content-Language"] == "en"
    assert message.get_content_type() == "multipart/alternative"
    for body in parts(message):
        for expected in ("ord_1", number, "€110.00", "€100.00", "-€10.00", "Spend €100.00, get €10.00 off",
                         "Card (Visa) ending 4242", "Central European Standard Time", "€125.00", "March 14, 2027"):
            assert expected in body, expected
    wait_for(lambda: receipts(notify, "ord_1")[0].status == "sent", what="receipt marked sent")
    # One message tells the order service of the receipt and of its email (issue 10)
    [sent] = wait_for(lambda: received_by_order_service(pg_settings), what="receipt.issued published")
    assert sent.type == "receipt.issued" and sent.correlation_id == "ord_1"
    announced = sent.payload
    assert announced["order_id"] == "ord_1" and announced["receipt_id"] == row.id
    assert announced["sent_at"] == receipts(notify, "ord_1")[0].sent_at
    assert announced["receipt_number"] == number and announced["total_charged"] == 10000
    assert [line["amount"] for line in announced["lines"]] == [11000, -1000]
    assert outbox(notify, "receipt.sent") == []
    assert received_by_order_service(pg_settings, "receipt_sent") == []


def test_receipts_are_numbered_in_a_run_without_gaps_and_written_in_the_customers_language(
        notify: ServiceContext, pg_settings: Settings, sink: MailSink) -> None:
    publish(pg_settings, completed("ord_1"))
    publish(pg_settings, completed("ord_2", language="zh-CN", currency="CNY", credit_amount=50000,
                                   charge_amount=45000, balance_after=50000, method="wechat_pay", card_brand=None,
                                   card_last4=None, time_zone="Asia/Shanghai", promotion_name="满¥500.00减¥50.00"))
    messages = wait_for(lambda: len(sink.messages()) == 2 and sink.messages(), what="two receipts")
    numbers = sorted(issued(notify, order).number for order in ("ord_1", "ord_2"))  # type: ignore[union-attr]
    assert [n[-6:] for n in numbers] == ["000001", "000002"]
    [chinese] = [m for m in messages if m["Content-Language"] == "zh-CN"]
    assert chinese["Subject"].startswith("您的充值收据 R-")
    text, html = parts(chinese)
    assert "支付方式：微信支付" in text and "实付金额：¥450.00" in text and "中国标准时间" in text
    assert '<html lang="zh-CN">' in html


def test_a_copy_of_a_receipt_is_the_same_receipt_sent_again(notify: ServiceContext, pg_settings: Settings,
                                                          sink: MailSink) -> None:
    publish(pg_settings, completed("ord_1"))
    wait_for(lambda: receipts(notify, "ord_1") and receipts(notify, "ord_1")[0].status == "sent", what="receipt")
    copy = Envelope.new("receipt.resend", {"order_id": "ord_1", "customer_id": "cus_1", "resend_id": "rsd_1",
                                           "email": "ana.new@example.com"}, correlation_id="ord_1")
    publish(pg_settings, copy)
    publish(pg_settings, copy)  # redelivered
    first, again = wait_for(lambda: len(sink.messages()) == 2 and sink.messages(), what="the copy")
    assert again["To"] == "ana.new@example.com" and again["Subject"] == first["Subject"]
    assert parts(again) == parts(first), "the same receipt, word for word"
    wait_for(lambda: receipts(notify, "ord_1", "receipt_copy")[0].status == "sent", what="the copy sent")
    kinds = sorted(Envelope.from_json(r.body).payload["kind"] for r in outbox(notify, "receipt.sent"))
    assert kinds == ["receipt_copy"], "the receipt's own sending came with its announcement"
    time.sleep(10 * pg_settings.poll_seconds("notify"))
    assert len(sink.messages()) == 2


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
    sendings = [r for r in outbox(notify, "receipt.issued") if Envelope.from_json(r.body).payload.get("sent_at")]
    assert len(sendings) == 1 and outbox(notify, "receipt.sent") == []


def test_a_receipt_waits_for_the_mail_server_and_is_sent_when_it_is_back(
        pg_settings: Settings, tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    with running_notify(pg_settings.with_changes(smtp_host="127.0.0.1", smtp_port=port)) as notify:
        publish(pg_settings, completed("ord_1"))
        [row] = wait_for(lambda: [r for r in receipts(notify, "ord_1") if r.attempts >= 2], what="two failed attempts")
        # one read: between two tries, or already claimed for the next one (a busy machine)
        assert row.status in ("pending", "sending") and row.sent_at is None
        assert row.last_error and "refused" in row.last_error.lower()
        assert not outbox(notify, "receipt.sent")
        [announced] = [Envelope.from_json(r.body).payload for r in outbox(notify, "receipt.issued")]
        assert announced["sent_at"] is None, "the receipt can be fetched while its email waits"
        with MailSink(tmp_path / "mail", port=port) as sink:
            [message] = wait_for(sink.messages, what="the receipt, once the server is up")
            assert message["Subject"].startswith("Your top-up receipt R-")
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
        assert "€19.99 you were charged has been returned to your original payment method (Alipay)" in body
    [row] = wait_for(lambda: [r for r in receipts(notify, "ord_2", "reversal") if r.status == "sent"],
                     what="notice sent")
    assert row.kind == "reversal"


def test_operator_sees_where_the_receipt_stands(notify: ServiceContext, pg_settings: Settings,
                                               sink: MailSink) -> None:
    publish(pg_settings, completed("ord_1"))
    wait_for(lambda: receipts(notify, "ord_1") and receipts(notify, "ord_1")[0].status == "sent")
    client = notify_app.create_app(ctx=notify).test_client()
    body = client.get("/v1/receipts/ord_1", headers=AUTH).get_json()
    assert body["order_id"] == "ord_1" and body["receipt_number"].startswith("R-")
    [email] = body["emails"]
    assert email["email_id"].startswith("eml_")
    assert email["kind"] == "receipt" and email["status"] == "sent" and email["attempts"] == 1
    assert email["email"] == "ana@example.com" and email["subject"] == f"Your top-up receipt {body['receipt_number']}"
    assert email["last_error"] is None and email["sent_at"] and email["created_at"] and email["language"] == "en"

    missing = client.get("/v1/receipts/ord_404", headers={**AUTH, "Accept-Language": "zh-CN"})
    assert missing.status_code == 404
    assert missing.content_type == "application/problem+json"
    assert missing.get_json()["code"] == "receipt_not_found" and missing.get_json()["title"] == "此订单没有收据。"
    assert client.get("/v1/receipts/ord_1").status_code == 401


def test_without_a_mail_server_receipts_are_kept_pending(pg_settings: Settings) -> None:
    with running_notify(pg_settings.with_changes(smtp_host=None)) as notify:
        publish(pg_settings, completed("ord_1"))
        wait_for(lambda: receipts(notify, "ord_1"), what="receipt recorded")
        time.sleep(10 * pg_settings.poll_seconds("notify"))
        [row] = receipts(notify, "ord_1")
        assert row.status == "pending" and row.attempts == 0


def registered(customer_id: str = "cus_1", language: str = "zh-CN", version: int | None = None,
               email: str = "li@example.com") -> Envelope:
    payload: dict[str, Any] = {"customer_id": customer_id, "email": email, "country": "CN", "currency": "CNY",
                               "language": language, "time_zone": "Asia/Shanghai", "low_balance_threshold": None,
                               "reminders": True}
    if version is None:
        return Envelope.new("customer.registered", payload)
    return Envelope.new("customer.updated", {**payload, "version": version})


def test_balance_emails_go_to_the_customer_in_their_language_once_each(
        notify: ServiceContext, pg_settings: Settings, sink: MailSink) -> None:
    low = Envelope.new("wallet.balance_low", {"customer_id": "cus_1", "balance": 3000, "currency": "CNY",
                                              "threshold": 4000, "account_version": 7})
    publish(pg_settings, low)  # before the customer is known: retried until they are
    publish(pg_settings, registered())
    publish(pg_settings, low)
    expires = datetime(2026, 12, 24, 16, 0, tzinfo=UTC)
    publish(pg_settings, Envelope.new("wallet.credit_expiring", {
        "customer_id": "cus_1", "lot_id": "lot_1", "order_id": "ord_1", "amount": 3000, "currency": "CNY",
        "expires_at": expires}))
    publish(pg_settings, Envelope.new("wallet.credit_expired", {
        "customer_id": "cus_1", "lot_id": "lot_1", "entry_id": "je_9", "order_id": "ord_1", "amount": 3000,
        "currency": "CNY", "expired_at": expires, "balance_after": 0}))
    messages = wait_for(lambda: len(sink.messages()) == 3 and sink.messages(), timeout=20, what="three emails")
    subjects = sorted(m["Subject"] for m in messages)
    assert subjects == ["余额不足提醒：当前余额 ¥30.00", "您有 ¥30.00 余额将于 2026年12月25日 到期",
                        "您有 ¥30.00 余额已过期"]
    assert {m["To"] for m in messages} == {"li@example.com"}
    expired = next(m for m in messages if "已过期" in m["Subject"])
    assert "2026年12月25日 中国标准时间 00:00:00" in parts(expired)[0]
    time.sleep(10 * pg_settings.poll_seconds("notify"))
    assert len(sink.messages()) == 3
    assert not outbox(notify, "receipt.sent"), "no order's timeline hears of these"


def test_the_newest_profile_decides_where_and_how_to_write(notify: ServiceContext, pg_settings: Settings,
                                                          sink: MailSink) -> None:
    publish(pg_settings, registered(language="zh-CN", version=2, email="li.new@example.com"))
    publish(pg_settings, registered(language="en"))  # registration, overtaken by the update
    wait_for(lambda: handled(notify) == 2, what="both handled")
    publish(pg_settings, Envelope.new("wallet.balance_low", {"customer_id": "cus_1", "balance": 100,
                                                             "currency": "CNY", "threshold": 4000,
                                                             "account_version": 3}))
    [message] = wait_for(sink.messages, what="the reminder")
    assert message["To"] == "li.new@example.com" and message["Content-Language"] == "zh-CN"


def handled(ctx: ServiceContext) -> int:
    with ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(InboxMessage)) or 0)
