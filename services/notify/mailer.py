"""The mailer: sends the emails the handlers recorded, over SMTP, until each one is sent.

Each email takes three steps, and no database transaction is open while the mail server
talks:

1. claim: a short transaction marks the email `sending` with a claim token and a lease
   (`next_attempt_at` moves to the lease's end), so no other mailer takes it meanwhile;
2. send over SMTP, with no transaction and no row lock held;
3. record: another short transaction marks it sent (or, if the server refused it, pending
   again with a backoff). A database fault while recording "sent" is retried, a few times
   at once and then at the start of every round before anything new is claimed: the email
   is never sent again because the database failed to note it.

A round of the mailer sends all it claims over one SMTP connection, opened for its first
email (an idle round opens none) and closed when the round ends. A connection that breaks
ends the round: the email being sent is a failed send like any other (pending again, after
a backoff), and the ones not yet claimed stay due for the next round and its new connection.
Each step is one statement (the claim an UPDATE of the oldest due email, picked with SKIP
LOCKED, RETURNING it; the record an UPDATE, and the order's `receipt.sent` if it is about
one); the claim also tells whether another email is due, so a round that took the last
one ends without asking the database once more for nothing.

So an email is sent once, except when a mailer dies (or the database stays out of reach
for longer than the lease, with another mailer running) between the server's "250 OK" and
the record: the claim then runs out and the email is sent again. Its Message-ID is derived
from the email's id, so the MTA or the customer's mail client can recognise the duplicate.
(The old mailer held the row lock through the SMTP conversation and sent again whenever
its commit failed afterwards: issue 8, 3 duplicate receipts in 280 orders.)
"""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, parseaddr
from typing import Any

import structlog
from sqlalchemy.orm import Session, sessionmaker

from services.notify import handlers, store
from services.notify.domain.layout import as_utc
from services.notify.models import EmailRow
from shared import metrics, tracing
from shared.clock import utcnow
from shared.config import Settings
from shared.db import unit_of_work
from shared.loops import PollLoop, backoff

log = structlog.get_logger(__name__)

SMTP_TIMEOUT_SECONDS = 10.0
#: how long a claim keeps other mailers away (MAIL_CLAIM_LEASE): far longer than an SMTP
#: conversation (each of its steps times out after SMTP_TIMEOUT_SECONDS), so only an abandoned
#: claim runs out; a mailer killed holding one (it claims the next email while recording the
#: last) delays that email this long
CLAIM_LEASE_SECONDS = 300.0
#: attempts at recording "sent" before the round gives up (and the next round tries again)
RECORD_ATTEMPTS = 5


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    timeout: float = SMTP_TIMEOUT_SECONDS

    def connect(self) -> smtplib.SMTP:
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


class SmtpConnection:
    """The one connection a round sends its emails over: opened for the first, so a round
    with nothing to send opens none, and closed by the round (one TCP and SMTP handshake a
    round instead of one an email)."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self.broken = False
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: Message) -> None:
        """Deliver, or raise as a failed send. A refusal (a recipient the server will not
        take) leaves the conversation open for the next email; a timeout, a hang-up or no
        server at all leaves it `broken`."""
        try:
            if self._smtp is None:
                self._smtp = self.server.connect()
            self._smtp.send_message(message)
        except Exception:
            self.broken = not self._still_talking()
            raise
        except BaseException:
            self.broken = True  # interrupted, maybe halfway through the message
            raise

    def _still_talking(self) -> bool:
        """After a failed send, whether the conversation can go on: the server answers a
        RSET, which also clears what the failure left half done for the next email."""
        if self._smtp is None:
            return False
        try:
            return self._smtp.rset()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def close(self) -> None:
        """Say goodbye (QUIT), unless the conversation broke. The server has answered every
        message by now: a goodbye that fails is no failure to send, and raising for it would
        send an email again."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if self.broken:
            smtp.close()
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def message_id(email_id: str, sender: str) -> str:
    """Stable across retries: the same email always carries the same Message-ID."""
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    return f"<{email_id}@{domain if at and domain else 'topup.invalid'}>"


def compose(email: store.ClaimedEmail, sender: str) -> Message:
    """multipart/alternative: mail clients show the HTML part, the rest read the text.

    Built with the standard library's compat32 classes, whose headers are kept as written:
    the default policy's `EmailMessage` parses every header it is given into an object and
    back, which made composing and flattening a receipt cost 1.2 ms against 0.36 ms (a
    fifth of the notify worker's time at saturation, issue 10). The words are UTF-8, the
    subject an RFC 2047 encoded word when it is not ASCII ("您的充值收据 R-…")."""
    message = MIMEMultipart("alternative")
    message["From"] = sender
    message["To"] = email.email
    subject = email.subject if email.subject.isascii() else Header(email.subject, UTF8)
    message["Subject"] = subject  # type: ignore[assignment]  # compat32 takes a Header too
    message["Date"] = format_datetime(as_utc(email.created_at))
    message["Message-ID"] = message_id(email.id, sender)
    message["Content-Language"] = email.language
    message.attach(MIMEText(email.text_body, "plain", UTF8))
    message.attach(MIMEText(email.html_body, "html", UTF8))
    return message


UTF8 = "utf-8"


def describe(exc: BaseException) -> str:
    """What operators see in `last_error`: the exception and the server's answer. We send
    without credentials, so there is no secret to leak."""
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Claim:
    """An email this mailer holds for one sending, composed while it was claimed."""

    email: store.ClaimedEmail
    message: Message

    @property
    def token(self) -> str:
        return self.email.token

    def log(self) -> Any:
        return log.bind(email_id=self.email.id, order_id=self.email.order_id, kind=self.email.kind)


class Mailer:
    def __init__(self, sessions: sessionmaker[Session], server: SmtpServer | None, sender: str, *,
                 retry_base_seconds: float = 1.0, retry_cap_seconds: float = 300.0, batch_size: int = 50,
                 lease_seconds: float = CLAIM_LEASE_SECONDS, record_retry_seconds: float = 0.1) -> None:
        self.sessions = sessions
        self.server = server
        self.sender = sender
        self.retry_base_seconds = retry_base_seconds
        self.retry_cap_seconds = retry_cap_seconds
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.record_retry_seconds = record_retry_seconds
        #: sent, but the database did not take the record yet: recorded before anything new
        self._unrecorded: list[tuple[Claim, datetime]] = []
        self._said_disabled = False
        #: whether the last round ended because nothing was left due (not at its batch's end)
        self._drained = True

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session]) -> Mailer:
        server = SmtpServer(settings.smtp_host, settings.smtp_port) if settings.smtp_host else None
        return cls(sessions, server, settings.smtp_from, retry_base_seconds=settings.retry_base_seconds,
                   lease_seconds=settings.mail_claim_lease_seconds)

    def send_due(self) -> int:
        """One round: send what is due, up to a batch. Returns how many emails were tried."""
        self._drained = True
        if self.server is None:
            if not self._said_disabled:
                log.warning("mailer_disabled", reason="SMTP_HOST is not set: emails stay pending")
                self._said_disabled = True
            return 0
        while self._unrecorded:  # raises while the database is still out of reach
            unrecorded, sent_at = self._unrecorded[0]
            self._record_sent(unrecorded, sent_at)
            self._unrecorded.pop(0)
        tried = 0
        connection = SmtpConnection(self.server)
        taken: Claim | None = None  # the next email, claimed as the last one was recorded
        try:
            while tried < self.batch_size and not connection.broken:
                next_one = taken or self.claim()
                if next_one is None:
                    break
                claim = next_one
                tried += 1
                taken = self.send_claimed(connection, claim, take_next=tried < self.batch_size)
                if taken is None and not claim.email.another_due:
                    break
            else:
                self._drained = False
        finally:
            connection.close()
        return tried

    def _round(self) -> int:
        """The loop's work: a round, told as idle once nothing is left due, so that the loop
        waits for the doorbell (or its poll) instead of asking again at once for nothing."""
        tried = self.send_due()
        return 0 if self._drained else tried

    def send_claimed(self, connection: SmtpConnection, claim: Claim, take_next: bool = False) -> Claim | None:
        """Send a claimed email and record the outcome. A sent email's record also claims
        the next due one, if `take_next` and another was due when this one was claimed: one
        transaction an email instead of two while emails queue (issue 10). Returns that
        claim."""
        email = claim.email
        with tracing.resumed("notify", email.trace_parent, f"send {email.kind} email", email.order_id):
            try:
                connection.send(claim.message)
            except Exception as exc:  # noqa: BLE001 - one undeliverable email must not block the others
                self._record_failure(claim, describe(exc))
                return None
            sent_at = utcnow()
            try:
                return self._record_sent(claim, sent_at, attempts=RECORD_ATTEMPTS,
                                         take_next=take_next and email.another_due)
            except Exception:
                self._unrecorded.append((claim, sent_at))
                raise

    def claim(self) -> Claim | None:
        """The next due email, claimed in a transaction of its own (committed on return)."""
        with unit_of_work(self.sessions) as session:
            return self._claim_in(session)

    def _claim_in(self, session: Session) -> Claim | None:
        email = store.claim_next(session, utcnow(), self.lease_seconds)
        return None if email is None else Claim(email, compose(email, self.sender))

    def _record_sent(self, claim: Claim, sent_at: datetime, attempts: int = 1, take_next: bool = False) -> Claim | None:
        """The mail server accepted it: record that, retrying a failing database a few times
        (the record is idempotent: an attempt whose commit did land is found sent), and with
        `take_next`, claim the next due email in the same transaction (a record that fails
        claims nothing). Returns that claim."""
        for attempt in range(1, attempts + 1):
            try:
                with unit_of_work(self.sessions) as session:
                    recorded = handlers.mark_sent(session, claim.email, sent_at)
                    taken = self._claim_in(session) if take_next else None
            except Exception as exc:
                if attempt == attempts:
                    claim.log().error("email_sent_not_recorded", error=repr(exc))
                    raise
                delay = backoff(attempt, base=self.record_retry_seconds, cap=2.0)
                claim.log().warning("email_sent_record_retry", attempt=attempt, retry_in=delay, error=repr(exc))
                time.sleep(delay)
                continue
            if recorded is None:
                claim.log().info("email_sent_recorded_before")
            else:
                claim.log().info("email_sent", attempts=recorded)
                metrics.EMAILS.labels(claim.email.kind, "sent").inc()
            return taken
        return None

    def _record_failure(self, claim: Claim, error: str) -> None:
        """The mail server refused or was unreachable: pending again after a backoff. If
        this fails too, the claim runs out and the email is tried again then."""
        with unit_of_work(self.sessions) as session:
            retry = handlers.mark_failed(session, claim.email, error, utcnow(), self.retry_base_seconds,
                                         self.retry_cap_seconds)
        if retry is not None:  # else the lease ran out and another mailer took it: its outcome counts
            metrics.EMAILS.labels(claim.email.kind, "failed").inc()
            claim.log().warning("email_send_failed", attempts=retry.attempts, retry_in=retry.delay, error=retry.error)

    def loop(self, idle_seconds: float) -> PollLoop:
        return PollLoop("notify.mailer", self._round, idle_seconds, wakes_on=EmailRow.__tablename__)
