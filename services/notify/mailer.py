"""The mailer: sends the emails the handlers recorded, over SMTP, until each one is sent.

Each email goes out in its own short transaction that holds the email's row lock while
the SMTP conversation runs, so two mailers never send the same email at once, and no lock
outlives one message. If the process dies between the server's "250 OK" and our commit,
the email is sent again after restart; its Message-ID is derived from the email's id, so
the MTA or the customer's mail client can recognise the duplicate.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import structlog
from sqlalchemy.orm import Session, sessionmaker

from services.notify import handlers, store
from services.notify.domain.layout import as_utc
from services.notify.models import EmailRow
from shared.clock import utcnow
from shared.config import Settings
from shared.db import unit_of_work
from shared.loops import PollLoop

log = structlog.get_logger(__name__)

SMTP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    timeout: float = SMTP_TIMEOUT_SECONDS

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(message)


def message_id(email_id: str, sender: str) -> str:
    """Stable across retries: the same email always carries the same Message-ID."""
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    return f"<{email_id}@{domain if at and domain else 'topup.invalid'}>"


def compose(row: EmailRow, sender: str) -> EmailMessage:
    """multipart/alternative: mail clients show the HTML part, the rest read the text."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.email
    message["Subject"] = row.subject
    message["Date"] = format_datetime(as_utc(row.created_at))
    message["Message-ID"] = message_id(row.id, sender)
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    message["Content-Language"] = row.language  # after the content: set_content drops Content-* headers
    return message


def describe(exc: BaseException) -> str:
    """What operators see in `last_error`: the exception and the server's answer. We send
    without credentials, so there is no secret to leak."""
    return f"{type(exc).__name__}: {exc}"


class Mailer:
    def __init__(self, sessions: sessionmaker[Session], server: SmtpServer | None, sender: str, *,
                 retry_base_seconds: float = 1.0, retry_cap_seconds: float = 300.0, batch_size: int = 50) -> None:
        self.sessions = sessions
        self.server = server
        self.sender = sender
        self.retry_base_seconds = retry_base_seconds
        self.retry_cap_seconds = retry_cap_seconds
        self.batch_size = batch_size
        self._said_disabled = False

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session]) -> Mailer:
        server = SmtpServer(settings.smtp_host, settings.smtp_port) if settings.smtp_host else None
        return cls(sessions, server, settings.smtp_from, retry_base_seconds=settings.retry_base_seconds)

    def send_due(self) -> int:
        """One round: send what is due, up to a batch. Returns how many emails were tried."""
        if self.server is None:
            if not self._said_disabled:
                log.warning("mailer_disabled", reason="SMTP_HOST is not set: emails stay pending")
                self._said_disabled = True
            return 0
        tried = 0
        while tried < self.batch_size and self.send_one(self.server):
            tried += 1
        return tried

    def send_one(self, server: SmtpServer) -> bool:
        """Send the next due email; False when none is due."""
        with unit_of_work(self.sessions) as session:
            row = store.next_due(session, utcnow())
            if row is None:
                return False
            bound = log.bind(email_id=row.id, order_id=row.order_id, kind=row.kind)
            try:
                server.send(compose(row, self.sender))
            except Exception as exc:  # noqa: BLE001 - one undeliverable email must not block the others
                delay = handlers.mark_failed(row, describe(exc), utcnow(),
                                             self.retry_base_seconds, self.retry_cap_seconds)
                bound.warning("email_send_failed", attempts=row.attempts, retry_in=delay, error=row.last_error)
            else:
                handlers.mark_sent(session, row, utcnow())
                bound.info("email_sent", attempts=row.attempts)
        return True

    def loop(self, idle_seconds: float) -> PollLoop:
        return PollLoop("notify.mailer", self.send_due, idle_seconds, wakes_on=EmailRow.__tablename__)
