"""The password-reset email: recorded once per request, written in the customer's language,
sent over real SMTP, and then forgotten: the token is never logged and not kept in the
notify database once the email left."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from deploy.infra import free_port
from services.notify import app as notify_app
from services.notify import handlers, store
from services.notify.app import MIGRATIONS
from services.notify.domain.password_reset import REDACTED
from services.notify.domain.receipt import Merchant
from services.notify.handlers import NotifyRules
from services.notify.mailer import Mailer, SmtpServer
from services.notify.models import EmailRow
from services.notify.sink import MailSink
from shared.config import Settings
from shared.db import make_engine, migrate, session_factory, unit_of_work
from shared.messaging.envelope import Envelope
from tests.helpers import wait_for
from tests.integration.test_notify import parts, publish, registered, running_notify

TOKEN = "rst-secret-7hQ2xLw9Vb3Nk5Pz8Rt4"
PAGE = "https://app.topup.example/reset-password"
RULES = NotifyRules(Merchant("topup"), password_reset_url=PAGE)


def requested(reset_id: str = "rst_1", language: str = "en", minutes: float = 15,
              token: str = TOKEN) -> Envelope:
    return Envelope.new("customer.password_reset_requested", {
        "reset_id": reset_id, "customer_id": "cus_1", "email": "li@example.com", "language": language,
        "token": token, "expires_at": datetime.now(UTC) + timedelta(minutes=minutes)})


def received(msg: Envelope) -> Envelope:
    """As the consumer hands it to the handler: through the wire, typed again."""
    return Envelope.from_json(msg.to_json())


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """The embedded default: the notify database on SQLite."""
    url = f"sqlite:///{tmp_path}/notify.db"
    migrate(url, MIGRATIONS)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def resets(sessions: sessionmaker[Session]) -> list[EmailRow]:
    with sessions() as session:
        return list(session.scalars(select(EmailRow).where(EmailRow.kind == "password_reset")))


def handle(sessions: sessionmaker[Session], msg: Envelope, rules: NotifyRules = RULES) -> None:
    with unit_of_work(sessions) as session:
        handlers.send_password_reset(session, received(msg), rules)


def test_one_email_per_reset_request_however_often_it_arrives(sessions: sessionmaker[Session]) -> None:
    first = requested("rst_1")
    handle(sessions, first)
    handle(sessions, first)  # redelivered
    handle(sessions, requested("rst_1"))  # announced again: a new message id, the same request
    [row] = resets(sessions)
    assert (row.reference, row.customer_id, row.email, row.status) == ("rst_1", "cus_1", "li@example.com", "pending")
    assert row.order_id is None, "about no order: no order's timeline or receipt page shows it"
    handle(sessions, requested("rst_2"))
    assert len(resets(sessions)) == 2, "another request, another email"


def test_the_email_is_in_the_language_of_the_request(sessions: sessionmaker[Session]) -> None:
    handle(sessions, requested("rst_zh", language="zh-CN"))
    handle(sessions, requested("rst_code", language="zh-CN"), NotifyRules(Merchant("topup")))
    by_reference = {row.reference: row for row in resets(sessions)}
    chinese = by_reference["rst_zh"]
    assert chinese.language == "zh-CN" and chinese.subject == "重置您的密码"
    assert "有人申请重置您账户的密码。" in chinese.text_body and "仅可使用一次" in chinese.text_body
    assert f"{PAGE}?token={TOKEN}" in chinese.text_body and f'href="{PAGE}?token={TOKEN}"' in chinese.html_body
    assert f"重置码：{TOKEN}" in by_reference["rst_code"].text_body, "no reset page: the code to type"


def test_a_request_that_expired_before_it_arrived_is_not_emailed(sessions: sessionmaker[Session]) -> None:
    handle(sessions, requested("rst_old", minutes=-1))
    assert resets(sessions) == []


def test_once_sent_the_email_keeps_no_token_and_a_failed_attempt_keeps_it_to_try_again(
        sessions: sessionmaker[Session], tmp_path: Path) -> None:
    handle(sessions, requested("rst_1"))
    nobody_listens = Mailer(sessions, SmtpServer("127.0.0.1", free_port(), timeout=2), "accounts@topup.example")
    nobody_listens.send_due()
    [row] = resets(sessions)
    assert row.status == "pending" and TOKEN in row.text_body and TOKEN in row.html_body
    with MailSink(tmp_path / "mail") as sink:
        mailer = Mailer(sessions, SmtpServer(sink.host, sink.port), "accounts@topup.example", retry_base_seconds=0)
        wait_for(lambda: mailer.send_due(), what="the retry")
        [message] = sink.messages()
    assert TOKEN in parts(message)[0] and TOKEN in parts(message)[1], "the customer got it"
    [row] = resets(sessions)
    assert row.status == "sent" and row.text_body == row.html_body == REDACTED
    assert row.subject == "Reset your password", "what it was stays visible"


def test_a_database_error_while_recording_does_not_carry_the_token_into_the_logs(
        sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers racing on one request both insert; the loser's error names the statement
    and, unless hidden, its parameters: the bodies, with the token."""
    handle(sessions, requested("rst_1"))
    monkeypatch.setattr(store, "find_email", lambda *_args: None)  # the race: the other insert not seen
    with pytest.raises(IntegrityError) as failure:
        handle(sessions, requested("rst_1"))
    assert "[SQL parameters hidden" in str(failure.value), "SQLAlchemy shortens long ones, but not always enough"
    assert TOKEN not in str(failure.value) and TOKEN not in repr(failure.value)
    assert TOKEN not in "".join(traceback.format_exception(failure.value))


def test_a_reset_requested_over_rabbitmq_is_emailed_once_and_never_logged(
        pg_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    with MailSink(tmp_path / "mail", port=free_port()) as sink, capture_logs() as logs:
        settings = pg_settings.with_changes(smtp_host=sink.host, smtp_port=sink.port, password_reset_url=PAGE)
        with running_notify(settings) as notify:
            publish(settings, registered())  # a zone to write the expiry in
            msg = requested("rst_1", language="zh-CN")
            publish(settings, msg)
            publish(settings, msg)
            [message] = wait_for(sink.messages, what="the reset email")
            wait_for(lambda: resets(notify.sessions)[0].status == "sent", what="marked sent")
            [row] = resets(notify.sessions)
            operator = notify_app.create_app(ctx=notify).test_client()
            looked_up = operator.get("/v1/receipts/rst_1", headers={"Authorization": "Bearer dev-operator-token"})
    text, html = parts(message)
    assert message["To"] == "li@example.com" and message["Subject"] == "重置您的密码"
    assert f"{PAGE}?token={TOKEN}" in text and "中国标准时间" in text and "15分钟" in text
    assert f'href="{PAGE}?token={TOKEN}"' in html
    assert row.text_body == row.html_body == REDACTED
    assert looked_up.status_code == 404 and TOKEN not in looked_up.get_data(as_text=True)
    assert "email_sent" in [entry["event"] for entry in logs], "the logs were captured"
    written = repr(logs) + caplog.text + "".join(capsys.readouterr())
    assert TOKEN not in written
