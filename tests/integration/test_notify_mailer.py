"""The mailer against a real SMTP server (MailSink) and real databases, with faults injected
where the old mailer sent a receipt twice (issue 8): the database failing just after the
mail server said "250 OK", and a mailer dying in the middle of its work.

What the customer must see: exactly one email, unless a mailer crashed in the moment
between the mail server's answer and the database noting it."""

from __future__ import annotations

import smtplib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from deploy.infra import Databases, free_port
from services.notify import handlers, store
from services.notify.app import MIGRATIONS
from services.notify.domain.layout import RenderedEmail
from services.notify.domain.receipt import EmailKind, Merchant
from services.notify.handlers import NotifyRules
from services.notify.mailer import Mailer, SmtpServer
from services.notify.models import EmailRow, OutboxMessage
from services.notify.sink import MailSink, SaveToDirectory
from shared.db import make_engine, migrate, normalize_url, session_factory, unit_of_work
from shared.messaging.envelope import Envelope
from tests.helpers import wait_for
from tests.integration.test_notify import completed

SENDER = "receipts@topup.example"
LEASE = 1.0  # seconds; in production minutes, longer than any SMTP conversation


@dataclass
class Notify:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]


@contextmanager
def notify_database(url: str) -> Iterator[Notify]:
    migrate(url, MIGRATIONS)
    engine = make_engine(url)
    try:
        yield Notify(url, engine, session_factory(engine))
    finally:
        engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty notify database on each backend: PostgreSQL, and SQLite (the embedded default)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/notify.db"
        return
    databases = Databases(request.getfixturevalue("pg_server"))
    yield databases.create("notify")
    databases.drop_all()


@pytest.fixture
def db(url: str) -> Iterator[Notify]:
    with notify_database(url) as notify:
        yield notify


@pytest.fixture
def pg(databases: Databases) -> Iterator[Notify]:
    with notify_database(databases.create("notify")) as notify:
        yield notify


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail", port=free_port()) as mail:
        yield mail


def owe_receipt(db: Notify, order_id: str = "ord_1", address: str = "ana@example.com") -> str:
    """A receipt recorded as the handler records it: pending, due at once."""
    with unit_of_work(db.sessions) as session:
        return store.add_email(session, EmailKind.RECEIPT, order_id, "cus_1", address,
                               RenderedEmail(f"Your top-up receipt for {order_id}", "text", "<p>html</p>", "en"),
                               order_id=order_id)


def email(db: Notify, email_id: str) -> EmailRow:
    with db.sessions() as session:
        row = session.get(EmailRow, email_id)
        assert row is not None
        return row


def receipt_sent_announcements(db: Notify) -> int:
    with db.sessions() as session:
        return len(session.scalars(select(OutboxMessage).where(OutboxMessage.type == "receipt.sent")).all())


def mailer(db: Notify, server: SmtpServer, **options: Any) -> Mailer:
    return Mailer(db.sessions, server, SENDER, retry_base_seconds=0.05, **options)


def rounds(mailer: Mailer, count: int = 5) -> None:
    """What the worker's loop does: a round, and after a failure simply another round."""
    for _ in range(count):
        try:
            mailer.send_due()
        except Exception:  # noqa: BLE001 - the loop logs it and goes on
            continue


def nothing(_message: EmailMessage) -> None:
    pass


class Watched(smtplib.SMTP):
    """The mailer's SMTP client, calling `before` and `after` around each message it sends."""

    def __init__(self, server: SmtpServer, before: Callable[[EmailMessage], None] = nothing,
                 after: Callable[[EmailMessage], None] = nothing) -> None:
        self.before, self.after = before, after
        super().__init__(server.host, server.port, timeout=server.timeout)

    def send_message(self, msg: Any, *args: Any, **kwargs: Any) -> Any:
        self.before(msg)
        answer = super().send_message(msg, *args, **kwargs)
        self.after(msg)
        return answer


# -- a database fault just after the mail server accepted the email ------------------------
@contextmanager
def commit_fails_once_after_the_mail_arrived(engine: Engine, sink: MailSink) -> Iterator[list[bool]]:
    """The first COMMIT after the sink holds a message fails, as a commit fails when the
    database restarts or the network drops it."""
    fired: list[bool] = []

    def fail_once(_conn: Any) -> None:
        if not fired and sink.messages():
            fired.append(True)
            raise OperationalError("COMMIT", None, ConnectionError("the database went away"))

    event.listen(engine, "commit", fail_once)
    try:
        yield fired
    finally:
        event.remove(engine, "commit", fail_once)


def test_a_failed_commit_after_the_mail_server_accepted_does_not_email_the_receipt_twice(
        db: Notify, sink: MailSink) -> None:
    email_id = owe_receipt(db)
    with commit_fails_once_after_the_mail_arrived(db.engine, sink) as fired, capture_logs() as logs:
        rounds(mailer(db, SmtpServer("127.0.0.1", sink.port)))
    assert fired, "the fault happened"
    messages = sink.messages()
    assert len(messages) == 1, f"the customer got {len(messages)} receipts"
    assert "email_sent_record_retry" in [entry["event"] for entry in logs], "recording was retried"
    [message] = messages
    assert message["Message-ID"] == f"<{email_id}@topup.example>"
    row = email(db, email_id)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert receipt_sent_announcements(db) == 1


class GoodbyeFails(SaveToDirectory):
    """A server that accepts the message, then answers QUIT with an error."""

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        return "421 closing without a proper goodbye"


def test_a_server_that_accepted_the_mail_but_fumbles_the_goodbye_is_not_sent_it_again(
        db: Notify, sink: MailSink) -> None:
    assert sink._controller is not None
    sink._controller.handler = GoodbyeFails(sink.directory)
    email_id = owe_receipt(db)
    rounds(mailer(db, SmtpServer("127.0.0.1", sink.port)))
    assert len(sink.messages()) == 1
    assert email(db, email_id).status == "sent"


@dataclass(frozen=True)
class DatabaseDiesAfterSending(SmtpServer):
    """The mail server says 250, and at that moment every connection of the mailer's
    database is cut by the server (a failover, an operator's pg_terminate_backend)."""

    url: str = ""

    def connect(self) -> smtplib.SMTP:
        return Watched(self, after=self.cut_connections)

    def cut_connections(self, _message: EmailMessage) -> None:
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def test_connections_cut_after_the_mail_server_accepted_do_not_email_the_receipt_twice(
        pg: Notify, sink: MailSink) -> None:
    email_id = owe_receipt(pg)
    rounds(mailer(pg, DatabaseDiesAfterSending("127.0.0.1", sink.port, url=pg.url)))
    messages = sink.messages()
    assert len(messages) == 1, f"the customer got {len(messages)} receipts"
    [message] = messages
    assert message["Message-ID"] == f"<{email_id}@topup.example>"
    row = email(pg, email_id)
    assert row.status == "sent" and row.attempts == 1
    assert receipt_sent_announcements(pg) == 1


def test_when_the_database_stays_away_the_sent_email_is_recorded_before_anything_else_is_sent(
        db: Notify, sink: MailSink) -> None:
    """Longer than the few quick retries: the round gives up, and the next round records
    the email it sent before it claims anything, so nothing is sent twice."""
    first = owe_receipt(db, "ord_1")
    second = owe_receipt(db, "ord_2")  # due too, but the first email's record comes first
    failures: list[int] = []

    def database_away(_conn: Any) -> None:
        if sink.messages() and len(failures) < 8:
            failures.append(1)
            raise OperationalError("COMMIT", None, ConnectionError("the database is restarting"))

    event.listen(db.engine, "commit", database_away)
    try:
        the_mailer = mailer(db, SmtpServer("127.0.0.1", sink.port), record_retry_seconds=0.01)
        with pytest.raises(OperationalError):
            the_mailer.send_due()
        assert email(db, first).status == "sending" and email(db, second).status == "pending"
        rounds(the_mailer, 8)
    finally:
        event.remove(db.engine, "commit", database_away)
    assert len(failures) == 8
    assert [m["Message-ID"] for m in sink.messages()] == [f"<{first}@topup.example>", f"<{second}@topup.example>"]
    assert email(db, first).status == email(db, second).status == "sent"


# -- claims: no lock held while the mail server talks; an abandoned claim runs out ----------
@dataclass(frozen=True)
class LooksAtTheRowWhileSending(SmtpServer):
    """Before talking to the mail server, look at the email from another connection, as a
    second mailer or an operator would."""

    url: str = ""
    seen: list[tuple[str, bool]] | None = None

    def connect(self) -> smtplib.SMTP:
        return Watched(self, before=self.look)

    def look(self, message: EmailMessage) -> None:
        email_id = str(message["Message-ID"]).strip("<>").split("@")[0]
        with psycopg.connect(self.url, autocommit=True) as other:
            other.execute("SET lock_timeout = '100ms'")
            try:
                [(status,)] = other.execute("SELECT status FROM emails WHERE id = %s FOR UPDATE",
                                            (email_id,)).fetchall()
                locked = False
            except psycopg.errors.LockNotAvailable:
                status, locked = "?", True
        assert self.seen is not None
        self.seen.append((status, locked))


def test_no_transaction_is_open_while_the_mail_server_talks(pg: Notify, sink: MailSink) -> None:
    owe_receipt(pg)
    seen: list[tuple[str, bool]] = []
    mailer(pg, LooksAtTheRowWhileSending("127.0.0.1", sink.port, url=pg.url, seen=seen)).send_due()
    assert seen == [("sending", False)], "claimed and committed, not locked"
    assert len(sink.messages()) == 1


def test_a_fresh_claim_is_left_alone_and_an_abandoned_one_is_sent_after_its_lease(
        db: Notify, sink: MailSink) -> None:
    email_id = owe_receipt(db)
    server = SmtpServer("127.0.0.1", sink.port)
    crashed = mailer(db, server, lease_seconds=LEASE)
    assert crashed.claim() is not None  # ... and the process dies before sending

    other = mailer(db, server, lease_seconds=LEASE)
    assert other.send_due() == 0, "claimed by a mailer that may still be sending"
    row = email(db, email_id)
    assert row.status == "sending" and row.claimed_at is not None and not sink.messages()

    time.sleep(LEASE)
    assert other.send_due() == 1
    [message] = sink.messages()
    assert message["Message-ID"] == f"<{email_id}@topup.example>", "the same Message-ID as the lost attempt"
    row = email(db, email_id)
    assert row.status == "sent" and row.attempts == 1 and row.claim_token is None
    assert other.send_due() == 0


def test_a_refused_email_is_pending_again_with_a_backoff(db: Notify) -> None:
    email_id = owe_receipt(db)
    nobody_listens = SmtpServer("127.0.0.1", free_port(), timeout=2)
    with capture_logs() as logs:
        assert mailer(db, nobody_listens).send_due() == 1
    row = email(db, email_id)
    assert row.status == "pending" and row.attempts == 1 and row.claim_token is None
    assert row.last_error and "refused" in row.last_error.lower()
    assert row.claimed_at is not None and row.next_attempt_at > row.claimed_at
    assert [entry["event"] for entry in logs] == ["email_send_failed"]


def announcements(db: Notify) -> list[Envelope]:
    """What the notify service told the order service of receipts, in order."""
    with db.sessions() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.type.in_(("receipt.issued", "receipt.sent")))
                               .order_by(OutboxMessage.id)).all()
        return [Envelope.from_json(row.body) for row in rows]


def issue_receipt(db: Notify, order_id: str = "ord_1", times: int = 2) -> None:
    """order.completed, as the worker handles it with a mailer running; twice (said again)."""
    rules = NotifyRules(Merchant("topup"), mailer_runs=True)
    for _ in range(times):
        with unit_of_work(db.sessions) as session:
            handlers.send_receipt(session, Envelope.from_json(completed(order_id).to_json()), rules)


def test_a_receipt_is_announced_once_with_its_email_sent(db: Notify, sink: MailSink) -> None:
    """Issue 10: one message where there were two, and none before the email's outcome."""
    issue_receipt(db)
    assert announcements(db) == [], "a running mailer announces the receipt with its email's outcome"
    assert mailer(db, SmtpServer("127.0.0.1", sink.port)).send_due() == 1
    [announced] = announcements(db)
    [row] = emails_about(db, "ord_1")
    assert announced.type == "receipt.issued" and announced.correlation_id == "ord_1"
    assert announced.payload["sent_at"] == row.sent_at and announced.payload["receipt_id"] == row.id
    assert announced.payload["receipt_number"].endswith("-000001")
    issue_receipt(db, times=1)  # a late duplicate of order.completed now answers with the receipt again
    assert [a.type for a in announcements(db)] == ["receipt.issued", "receipt.issued"]
    assert announcements(db)[1].payload.get("sent_at") is None


def test_a_receipt_whose_first_sending_failed_is_announced_at_once_and_its_sending_later(
        db: Notify, sink: MailSink) -> None:
    issue_receipt(db)
    assert mailer(db, SmtpServer("127.0.0.1", free_port(), timeout=2)).send_due() == 1
    [announced] = announcements(db)
    assert announced.type == "receipt.issued" and announced.payload.get("sent_at") is None, \
        "the customer can fetch the receipt while its email waits for another try"
    wait_for(lambda: mailer(db, SmtpServer("127.0.0.1", sink.port)).send_due() == 1, what="the retry")
    first, sent = announcements(db)
    [row] = emails_about(db, "ord_1")
    assert first == announced and sent.type == "receipt.sent"
    assert sent.payload == {"order_id": "ord_1", "receipt_id": row.id, "sent_at": row.sent_at, "kind": "receipt"}


def emails_about(db: Notify, order_id: str) -> list[EmailRow]:
    with db.sessions() as session:
        return list(session.scalars(select(EmailRow).where(EmailRow.order_id == order_id)))


def test_a_mailer_whose_claim_ran_out_does_not_undo_the_one_that_took_over(db: Notify, sink: MailSink) -> None:
    email_id = owe_receipt(db)
    slow = mailer(db, SmtpServer("127.0.0.1", free_port(), timeout=2), lease_seconds=LEASE)
    stale = slow.claim()
    assert stale is not None
    time.sleep(LEASE)
    taken_over = mailer(db, SmtpServer("127.0.0.1", sink.port), lease_seconds=LEASE).claim()
    assert taken_over is not None and taken_over.token != stale.token
    slow._record_failure(stale, "SMTPServerDisconnected: late")  # the slow mailer's late answer
    row = email(db, email_id)
    assert row.status == "sending" and row.claim_token == taken_over.token and row.attempts == 0


def test_mailers_working_side_by_side_send_each_email_once(db: Notify, sink: MailSink) -> None:
    ids = {owe_receipt(db, f"ord_{n}") for n in range(24)}
    server = SmtpServer("127.0.0.1", sink.port)
    mailers = [mailer(db, server, batch_size=5) for _ in range(3)]

    def work(m: Mailer) -> None:
        while m.send_due():
            pass

    threads = [threading.Thread(target=work, args=(m,)) for m in mailers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    sent = [str(m["Message-ID"]).strip("<>").split("@")[0] for m in sink.messages()]
    assert sorted(sent) == sorted(ids)
    assert receipt_sent_announcements(db) == 24


# -- one SMTP connection a round -------------------------------------------------------------
Peer = tuple[str, int]


class CountsConnections(SaveToDirectory):
    """The sink, noting the connection (the client's address and port) of each greeting
    (a client says EHLO once a connection), each message and each goodbye."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.greetings: list[Peer] = []
        self.deliveries: list[Peer] = []
        self.goodbyes: list[Peer] = []

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        self.greetings.append(session.peer)
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        self.deliveries.append(session.peer)
        return answer

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.goodbyes.append(session.peer)
        return "221 Bye"


class RefusesNobody(CountsConnections):
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class HangsUpOnce(CountsConnections):
    """Hangs up without a word, once, on the `nth` email it is offered: at its MAIL (before
    the email), or at its DATA (the whole email received, not yet accepted)."""

    def __init__(self, directory: Path, at: str, nth: int) -> None:
        super().__init__(directory)
        self.at, self.nth = at, nth
        self.offered = 0
        self.hung_up = False

    def hangs_up(self, command: str, server: Any) -> bool:
        if self.hung_up or command != self.at or self.offered != self.nth:
            return False
        self.hung_up = True
        server.transport.close()
        return True

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        self.offered += 1
        if self.hangs_up("MAIL", server):
            return "421 unheard"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hangs_up("DATA", server):
            return "421 unheard"
        return await super().handle_DATA(server, session, envelope)


Handler = TypeVar("Handler", bound=SaveToDirectory)


def serve(sink: MailSink, handler: Handler) -> Handler:
    """The sink answers new connections with `handler`."""
    assert sink._controller is not None
    sink._controller.handler = handler
    return handler


def message_ids(sink: MailSink) -> Counter[str]:
    return Counter(str(m["Message-ID"]).strip("<>").split("@")[0] for m in sink.messages())


def test_a_round_sends_its_emails_over_one_connection_opened_only_when_there_is_something_to_send(
        db: Notify, sink: MailSink) -> None:
    server = serve(sink, CountsConnections(sink.directory))
    the_mailer = mailer(db, SmtpServer("127.0.0.1", sink.port))
    assert the_mailer.send_due() == 0
    assert server.greetings == [], "nothing due, no connection"

    ids = [owe_receipt(db, f"ord_{n}") for n in range(5)]
    assert the_mailer.send_due() == 5
    [connection] = server.greetings
    assert server.deliveries == [connection] * 5
    assert server.goodbyes == [connection], "closed at the end of the round"
    assert message_ids(sink) == Counter(ids)
    assert all(email(db, email_id).status == "sent" for email_id in ids)


def test_while_emails_queue_each_costs_one_transaction(db: Notify, sink: MailSink) -> None:
    """Issue 10: a sent email's record claims the next one in the same transaction; a round
    of five is one claim and five records, not five of each. A round that ends at its
    batch's size claims nothing it will not send."""
    ids = [owe_receipt(db, f"ord_{n}") for n in range(7)]
    commits: list[object] = []

    def count(conn: object) -> None:
        commits.append(conn)

    event.listen(db.engine, "commit", count)
    try:
        assert mailer(db, SmtpServer("127.0.0.1", sink.port), batch_size=5).send_due() == 5
    finally:
        event.remove(db.engine, "commit", count)
    assert len(commits) == 6
    assert [email(db, email_id).status for email_id in ids].count("sending") == 0, "nothing claimed for later"
    assert mailer(db, SmtpServer("127.0.0.1", sink.port)).send_due() == 2
    assert message_ids(sink) == Counter(ids), "each once"
    assert all(email(db, email_id).status == "sent" for email_id in ids)


def test_a_refused_recipient_leaves_the_connection_to_the_emails_after_it(db: Notify, sink: MailSink) -> None:
    server = serve(sink, RefusesNobody(sink.directory))
    first = owe_receipt(db, "ord_1")
    refused = owe_receipt(db, "ord_2", "nobody@example.com")
    last = owe_receipt(db, "ord_3")
    assert mailer(db, SmtpServer("127.0.0.1", sink.port)).send_due() == 3
    [connection] = server.greetings
    assert server.deliveries == [connection] * 2
    assert message_ids(sink) == Counter([first, last])
    row = email(db, refused)
    assert row.status == "pending" and row.attempts == 1 and row.last_error and "550" in row.last_error


@pytest.mark.parametrize("at", ["MAIL", "DATA"], ids=["before-the-third", "during-the-third"])
def test_a_connection_dropped_mid_round_leaves_the_unsent_emails_to_be_retried_and_each_arrives_once(
        db: Notify, sink: MailSink, at: str) -> None:
    server = serve(sink, HangsUpOnce(sink.directory, at, nth=3))
    ids = [owe_receipt(db, f"ord_{n}") for n in range(5)]
    the_mailer = mailer(db, SmtpServer("127.0.0.1", sink.port))

    assert the_mailer.send_due() == 3, "the round ends where its connection broke"
    assert len(server.greetings) == 1
    assert [email(db, email_id).status for email_id in ids[:2]] == ["sent", "sent"]
    dropped = email(db, ids[2])
    assert dropped.status == "pending" and dropped.attempts == 1, "a failed send: not marked sent"
    assert dropped.last_error and "SMTPServerDisconnected" in dropped.last_error
    assert dropped.claimed_at is not None and dropped.next_attempt_at > dropped.claimed_at, "with a backoff"
    assert [(email(db, i).status, email(db, i).attempts) for i in ids[3:]] == [("pending", 0)] * 2, "never claimed"

    tried = [3]

    def a_round() -> bool:
        tried.append(the_mailer.send_due())
        return all(email(db, email_id).status == "sent" for email_id in ids)

    wait_for(a_round, timeout=10, what="the rest to be sent")
    assert message_ids(sink) == Counter(ids), "each email once"
    assert [email(db, email_id).attempts for email_id in ids] == [1, 1, 2, 1, 1]
    assert receipt_sent_announcements(db) == 5
    assert len(server.greetings) == len([n for n in tried if n]), "a connection for each round that sent"


# -- the migration that brought claims, with emails in place --------------------------------
BEFORE_CLAIMS = "b71c4e2a9d10"


def migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url))
    (command.downgrade if down else command.upgrade)(config, revision)


def test_emails_recorded_before_the_upgrade_are_sent_by_the_new_mailer_and_a_downgrade_releases_claims(
        url: str, sink: MailSink) -> None:
    migrate_to(url, BEFORE_CLAIMS)
    engine = make_engine(url)
    insert = ("INSERT INTO emails (id, kind, reference, order_id, customer_id, email, language, subject, text_body, "
              "html_body, status, attempts, next_attempt_at, created_at, sent_at) VALUES "
              "(:id, 'receipt', :ref, :ref, 'cus_1', 'ana@example.com', 'en', 'Your receipt', 'text', 'html', "
              ":status, :attempts, :at, :at, :sent)")
    then = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(sa.text(insert), [
            {"id": "eml_old_sent", "ref": "ord_1", "status": "sent", "attempts": 1, "at": then, "sent": then},
            {"id": "eml_old_pending", "ref": "ord_2", "status": "pending", "attempts": 2, "at": then, "sent": None}])
    engine.dispose()

    with notify_database(url) as db:  # migrated to head, as a starting process does
        assert email(db, "eml_old_sent").status == "sent" and email(db, "eml_old_pending").claim_token is None
        assert mailer(db, SmtpServer("127.0.0.1", sink.port)).send_due() == 1
        [message] = sink.messages()
        assert message["Message-ID"] == "<eml_old_pending@topup.example>"
        assert email(db, "eml_old_pending").status == "sent" and email(db, "eml_old_pending").attempts == 3
        owe_receipt(db, "ord_3")
        assert mailer(db, SmtpServer("127.0.0.1", sink.port)).claim() is not None  # mid-send at the downgrade

    migrate_to(url, BEFORE_CLAIMS, down=True)
    engine = make_engine(url)
    with engine.begin() as conn:
        statuses = dict(conn.execute(sa.text("SELECT reference, status FROM emails")).all())
        columns = {c["name"] for c in sa.inspect(conn).get_columns("emails")}
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("emails")}
    engine.dispose()
    assert statuses == {"ord_1": "sent", "ord_2": "sent", "ord_3": "pending"}, "the old mailer sends ord_3"
    assert "claim_token" not in columns and "claimed_at" not in columns
    assert {"ix_emails_due", "ix_emails_order_id", "ix_emails_customer_id"} <= indexes
